"""Benchmark: leverage-score evaluation and sampling throughput.

    uv run python benchmarks/sampling.py [--quick]
    uv run python benchmarks/sampling.py --seeds 3     # a job's seeds: batched vs one by one

Prints
1. this machine's float32 matmul peak (best jit GEMM, measured in this run);
2. the ReLU-NTK scoring kernel score(w) = s^T M s, s = 1[X w >= 0], on batches of w:
   score evaluations per second and achieved FLOP/s (2 B n^2 per batch of B) as a
   fraction of that peak, per chunk size, plus the generic tr[Phi^T A Phi] path;
3. leverage samples per second (rejection and SIR) versus m and n, with the
   acceptance rate / effective sample size, on isotropic and cone data.

4. at large n (``--large``, or alone with ``--large-only``): leverage draws of m = 4096 on the
   cone and the sphere at n = 2048 and 4096 (d = 8, lambda = 0.1, float64, as in a job): rejection
   with the score bound against rejection with the bound it replaced (built in this run), and
   SIR: samples/s, acceptance or ESS fraction, scoring FLOP/s (2 n^2 per proposal) of the peak.

With ``--seeds S``: instead, a job's draw of S seeds (``sampling.sample_batch``) batched by
``vmap`` against one draw per seed (``seed_axis="loop"``), on the sphere at n = 128, d = 8,
lambda = 0.1 (the sweep's default data), m = 16384 and 2^20: the seconds of each (the
first call of each shape, compilation included, then at m = 16384 the best of two) and their
ratio, which ``nnkrr.sampling.SEED_AXIS`` is chosen by.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from nnkrr import data, sampling

from timing import best_time, matmul_peak


def seed_axes(seeds: int, widths=(16384, 2**20)) -> None:
    """The job's draw of ``seeds`` seeds, batched against one by one (module docstring)."""
    jax.config.update("jax_enable_x64", True)  # as in a job: float64 features
    x = data.synthetic(0, n_train=128, n_test=1, dim=8).x_train
    lev = sampling.leverage(x, 0.1)
    dev = jax.devices()[0]
    print(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}); sphere n = 128, d = 8,")
    print(
        f"lambda = 0.1, rejection, float64, {seeds} seeds; default seed axis here: "
        f"{sampling.resolve_seed_axis(None)}"
    )
    print(f"{'m':>8} {'vmap [s]':>9} {'loop [s]':>9} {'vmap/loop':>9} {'acceptance':>10}")
    for m in widths:
        keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(1), s))(jnp.arange(seeds))
        t = {}
        for axis in ("vmap", "loop"):
            runs = 2 if m <= 16384 else 1
            best = float("inf")
            for _ in range(runs):
                start = time.perf_counter()
                out = sampling.sample_batch(keys, x, m, sampler="leverage", lev=lev, seed_axis=axis)
                out.w.block_until_ready()
                best = min(best, time.perf_counter() - start)
            t[axis] = best
        acc = float(jnp.mean(out.stats["acceptance_rate"]))
        print(
            f"{m:8d} {t['vmap']:9.2f} {t['loop']:9.2f} {t['vmap'] / t['loop']:9.2f}x {acc:10.3f}",
            flush=True,
        )


def large_n(peak: float, sizes=(2048, 4096), m: int = 4096) -> None:
    """Leverage draws at large n: the score bound against the one it replaced (docstring, 4)."""
    import dataclasses

    jax.config.update("jax_enable_x64", True)
    print(
        f"\nLeverage draws at large n (m = {m}, d = 8, lambda = 0.1, float64; peak "
        f"{peak / 1e9:.1f} GFLOP/s fp32; one warm call, then the best of two)"
    )
    print(
        f"{'data':>9} {'n':>5} {'method':>18} {'bound/s_lam':>11} {'samples/s':>10} "
        f"{'acc./ESS':>8} {'time [s]':>8} {'GFLOP/s':>8} {'of peak':>7}"
    )
    for name in ("cone", "synthetic"):
        for n in sizes:
            x = data.load(name, 0, n_train=n, n_test=1, dim=8).x_train
            lev = sampling.leverage(x, 0.1)
            mm_ = jnp.asarray(lev.aux)
            former = jnp.minimum(jnp.sum(jnp.maximum(mm_, 0)), lev.lam_max_a * jnp.sum(x * x))
            variants = [
                ("rejection", "rejection", lev),
                ("rejection, former", "rejection", dataclasses.replace(lev, bound=former)),
                ("sir", "sir", lev),
            ]
            for label, method, lv in variants:

                def run(method=method, lv=lv, x=x, key=0):
                    out = sampling.sample(
                        jax.random.key(key), x, m, sampler="leverage", lev=lv, method=method
                    )
                    out.w.block_until_ready()
                    return out

                run(key=9)  # compile
                times, stats = [], None
                for key in (0, 1):
                    start = time.perf_counter()
                    stats = run(key=key).stats
                    times.append(time.perf_counter() - start)
                t = min(times)
                scored = float(stats.get("proposals", stats.get("pool_size")))
                quality = float(stats.get("acceptance_rate", stats.get("ess_fraction")))
                flops = 2 * scored * n * n / t
                ratio = float(lv.bound / lv.s_lambda)
                print(
                    f"{name:>9} {n:5d} {label:>18} {ratio:11.2f} {m / t:10.3e} {quality:8.4f} "
                    f"{t:8.2f} {flops / 1e9:8.1f} {flops / peak:7.1%}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid")
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=0, help="time a job's seed draw instead")
    parser.add_argument("--large", action="store_true", help="add the large-n rows")
    parser.add_argument("--large-only", action="store_true", help="only the large-n rows")
    args = parser.parse_args()
    if args.seeds:
        seed_axes(args.seeds)
        return
    if args.large_only:
        large_n(matmul_peak())
        return
    sizes = [256, 1024] if args.quick else [256, 1024, 2048, 4096]
    chunks = [1024] if args.quick else [256, 512, 1024, 2048, 4096]
    batch = 8192 if args.quick else 16384
    d = args.dim

    dev = jax.devices()[0]
    print(f"jax {jax.__version__} on {dev.platform} ({dev.device_kind}), float32, d = {d}")
    peak = matmul_peak()
    print(f"matmul peak (best jit GEMM 2048^2 / 4096^2, fp32): {peak / 1e9:.1f} GFLOP/s")
    print(
        "(shared machines drift: the peak is re-measured before each n, and each row's\n"
        " fraction is against the higher of the two peaks, so it is never flattered)\n"
    )

    print(f"ReLU-NTK scoring kernel s^T M s over B = {batch} weights")
    print(f"{'n':>6} {'chunk':>6} {'scores/s':>12} {'GFLOP/s':>9} {'of peak':>8}")
    for n in sizes:
        x = data.synthetic(0, n_train=n, n_test=1, dim=d).x_train
        lev = sampling.leverage(x, 1e-2)
        w = jax.random.normal(jax.random.key(1), (batch, d), jnp.float32)
        peak_n = max(peak, matmul_peak())
        for chunk in chunks:
            t = best_time(
                lambda lev=lev, w=w, c=chunk: sampling.leverage_scores(
                    w, None, None, None, lev=lev, chunk=c
                )
            )
            flops = 2 * batch * n * n / t
            print(f"{n:6d} {chunk:6d} {batch / t:12.3e} {flops / 1e9:9.1f} {flops / peak_n:8.1%}")
        gen = min(batch, max(256, 2**22 // n))
        wg = w[:gen]
        t = best_time(
            lambda lev=lev, wg=wg: sampling.leverage_scores(
                wg, None, None, None, lev=lev, chunk=1024, generic=True
            ),
            repeats=2,
        )
        flops = 2 * gen * n * n * d / t
        print(
            f"{n:6d} {'gen.':>6} {gen / t:12.3e} {flops / 1e9:9.1f} {flops / peak_n:8.1%}"
            "  (generic tr[Phi^T A Phi]: 2 B n^2 d FLOP, d times the work)"
        )

    print("\nLeverage sampling (relu_ntk, lam = 0.01), excluding compilation")
    print(
        f"{'data':>9} {'n':>5} {'m':>6} {'method':>9} {'samples/s':>11} {'acc./ESS':>9} "
        f"{'time [s]':>9}"
    )
    grid = [(128, 16384), (128, 2**20), (256, 1024), (256, 16384), (1024, 4096)]
    if args.quick:
        grid = grid[2:4]
    for name in ("synthetic", "cone"):
        for n, m in grid:
            x = data.load(name, 0, n_train=n, n_test=1, dim=d).x_train
            lev = sampling.leverage(x, 1e-2)
            for method in sampling.METHODS:

                def run(method=method, m=m, x=x, lev=lev):
                    return sampling.sample(
                        jax.random.key(0), x, m, sampler="leverage", lev=lev, method=method
                    )

                t = best_time(lambda run=run: run().w, repeats=2)
                stats = run().stats
                quality = stats.get("acceptance_rate", stats.get("ess_fraction"))
                print(
                    f"{name:>9} {n:5d} {m:6d} {method:>9} {m / t:11.3e} {float(quality):9.3g} "
                    f"{t:9.3f}"
                )
    if args.large:
        large_n(max(peak, matmul_peak()))


if __name__ == "__main__":
    main()
