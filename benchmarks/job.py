"""Benchmark: whole jobs of the width sweep at large n (matrix-free above the measured
crossover), the time of each stage.

    uv run python benchmarks/job.py [--n 16384] [--dim 40] [--ridge 10] [--width 4096]
        [--seeds 3] [--samplers gaussian leverage] [--solver auto] [--out rows.csv] [OVERRIDE ...]
    uv run python benchmarks/job.py --n 1048576 --ridge preset +experiment=large_n  # its ridge

One job per sampler (``nnkrr.experiment.run`` of the sweep config ``data.n_train=N
data.dim=D ridge=R model.width=M seeds=S sampler=...`` plus any further overrides; the second
reads the matrix-free target the first solved, as the jobs of a sweep do), with the
seconds of each stage that ``nnkrr.experiment`` logs (problem: the NTK-KRR target and
s_lambda; network: the feature draw; lambda_max: the step size's eigenvalue; training: network
and linearisation, every seed; measurements: the gap's parts, flips), each also as a multiple
of one matrix-free NTK matvec at the same n measured in the same run (``krr.kernel_matvec``,
the unit of the KRR solve), the solvers' iterations and residuals, s_lambda with its standard
error, the gap, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile

import jax

jax.config.update("jax_enable_x64", True)

from experiments.cache import SweepCache  # noqa: E402
from nnkrr import experiment, krr  # noqa: E402

from timing import best_time  # noqa: E402


class _Stages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.stages: dict[str, float] = {}

    def emit(self, record):
        if record.msg.startswith("stage "):
            self.stages[record.args[0]] = record.args[1]
            print(f"  stage {record.args[0]}: {record.args[1]:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--dim", type=int, default=40)
    parser.add_argument(
        "--ridge",
        default="10.0",
        help="ridge on K, or 'preset': the composed config's (e.g. +experiment=...)",
    )
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", default=["gaussian", "leverage"])
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--out", help="write the rows here (.csv)")
    parser.add_argument("overrides", nargs="*", help="further sweep overrides (key=value)")
    args = parser.parse_args()
    ridge = [] if args.ridge == "preset" else [f"ridge={float(args.ridge)}"]
    common = [f"data.n_train={args.n}", f"data.dim={args.dim}", *ridge,
              f"model.width={args.width}", f"seeds={args.seeds}", f"solver={args.solver}",
              *args.overrides]  # fmt: skip
    cfgs = [experiment.compose([*common, f"sampler={s}"]) for s in args.samplers]
    ds = experiment.load_data(cfgs[0])
    x = jax.numpy.asarray(ds.x_train)
    v = jax.numpy.ones((args.n,), x.dtype)
    unit = best_time(lambda: krr.kernel_matvec(x, v).block_until_ready(), repeats=2)
    handler = _Stages()
    log = logging.getLogger("nnkrr.experiment")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    print(f"{ds.name} n={args.n} d={args.dim} ridge={cfgs[0]['ridge']:g} m={args.width} "
          f"seeds={args.seeds} {' '.join(args.overrides)}; {jax.default_backend()}, "
          f"{len(jax.devices())} device(s); unit: one NTK matvec at this n, {unit:.2f} s")  # fmt: skip
    frames = []
    cache = SweepCache(tempfile.mkdtemp(prefix="nnkrr-cache-"))  # as a sweep's jobs share it
    for cfg in cfgs:
        handler.stages.clear()
        rows = experiment.run(cfg, cache=cache)
        frames.append(rows)
        r = rows.iloc[0]
        print(f"\n## sampler={r.sampler} (solver={r.krr_solver}; {r.steps} steps, lam_T="
              f"{r.lam_T:.3g}, learning rate {r.learning_rate:.3g}); whole job {r.wall_s:.0f} s "
              f"= {r.wall_s / 60:.1f} min")  # fmt: skip
        print("| stage | s | fraction | NTK matvecs |")
        print("|---|---|---|---|")
        for name, sec in handler.stages.items():
            print(f"| {name} | {sec:.1f} | {sec / r.wall_s:.2f} | {sec / unit:.1f} |")
        print(f"target (solved once, by the first job): CG {r.krr_iterations} iterations, residual {r.krr_residual:.2g}; "
              f"s_lambda {r.s_lambda:.1f} ± {r.s_lambda_se:.1f}")  # fmt: skip
        print("| seed | K_m CG iterations | residual | gap_rel | gap_kernel | gap_opt | gap_nonlin "
              "| pattern_flips | predicted | weight_move |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|")
        for _, s in rows.iterrows():
            print(f"| {s.init_seed} | {s.km_iterations} | {s.km_residual:.2g} | {s.gap_rel:.4f} | "
                  f"{s.gap_kernel:.3g} | {s.gap_opt:.3g} | {s.gap_nonlin:.3g} | "
                  f"{s.pattern_flips:.3g} | {s.pattern_flips_pred:.3g} | {s.weight_move:.3g} |")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak resident memory {peak:.2f} GiB")
    stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        print(f"peak device memory {stats['peak_bytes_in_use'] / 2**30:.2f} GiB "
              f"(of {stats.get('bytes_limit', 0) / 2**30:.0f} GiB)")  # fmt: skip
    if args.out:
        import pandas as pd

        pd.concat(frames, ignore_index=True).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
