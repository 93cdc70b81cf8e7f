"""Benchmark: NTK-KRR by Cholesky of the stored K against matrix-free preconditioned CG.

    uv run python benchmarks/krr_solvers.py [--sizes 1024 2048 4096 8192] [--dim 40]
        [--lam 0.1] [--rank 512]
    uv run python benchmarks/krr_solvers.py --predictions [--sizes ...]   # accuracy only

On the sphere (d = --dim, the sweep's synthetic inputs' geometry), float64, for each n:

* ``dense``: K from the closed form, then ``krr.solve`` (Cholesky), the exact path of a job;
* ``cg``: ``krr.solve_cg`` without a preconditioner;
* ``pcg``: ``krr.solve_cg`` with ``krr.nystrom`` on ``--rank`` uniform landmarks (its set-up
  included in the time).

Prints each solver's time as a ratio to the dense path's, in the same run (machines differ
2-3x in GEMM peak), CG's iterations and recomputed relative residual, the largest relative
difference of alpha from the dense solution, and each path's n-sized memory: 8 n^2 bytes for
K (plus its factor, in place) against 8 n (block + rank) for the matrix-free path.

Then, at the largest n, one matvec (``krr.kernel_matvec``) against the machine's float64 GEMM
peak measured in the same run: its GEMM part (2 n^2 d FLOP for the inner products, 2 n^2 for
the product with v) as a rate and a fraction of the peak, and the share of its time spent
elsewhere (the kernel's elementwise arccos and scaling: the matvec's time less that of the same
blocked loop with the inner products alone).

With ``--predictions``: no timings; on the sphere and the cone, for each n, the matrix-free
solve as a job runs it (``krr.solve_cg``, tolerance ``krr.CG_TOL``, Nystrom preconditioner of
rank ``krr.NYSTROM_RANK``) against the Cholesky solve, compared where a user reads them: the
predictions at 1,024 test points, RMS relative difference ||p_cg - p_chol|| / ||p_chol||.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from nnkrr import data, kernels, krr  # noqa: E402
from nnkrr._linalg import mm  # noqa: E402

from timing import best_time, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--dim", type=int, default=40)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--rank", type=int, default=512)
    parser.add_argument("--predictions", action="store_true", help="accuracy of predictions only")
    args = parser.parse_args()
    if args.predictions:
        return predictions(args)
    print(f"sphere d={args.dim}, lam={args.lam}, float64, Nystrom rank {args.rank}, "
          f"matvec block {krr.MATVEC_BLOCK}, tol {krr.CG_TOL}; {jax.default_backend()}")  # fmt: skip
    print(
        "| n | dense s | cg / dense | cg iters | pcg / dense | pcg iters | pcg residual "
        "| max rel diff | K MiB | matrix-free MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        ds = data.synthetic(0, n_train=n, n_test=1, dim=args.dim)
        x, y = np.asarray(ds.x_train, np.float64), np.asarray(ds.y_train, np.float64)
        # compile each path once at this n (timings below are of the second call)
        for _ in range(2):
            dense, t_dense = timed(
                lambda: krr.solve(kernels.relu_ntk_closed_form(x), y, args.lam)  # noqa: B023
            )
        for _ in range(2):
            (_, info_cg), t_cg = timed(lambda: krr.solve_cg(x, y, args.lam))  # noqa: B023
        key = jax.random.key(0)
        for _ in range(2):
            (alpha, info), t_pcg = timed(
                lambda x=x, y=y, key=key: krr.solve_cg(
                    x, y, args.lam, preconditioner=krr.nystrom(key, x, args.lam, args.rank)
                )
            )
        diff = float(np.max(np.abs(np.asarray(alpha) - np.asarray(dense))) / np.max(np.abs(dense)))
        print(
            f"| {n} | {t_dense:.2f} | {t_cg / t_dense:.2f} | {int(info_cg.iterations)} | "
            f"{t_pcg / t_dense:.2f} | {int(info.iterations)} | {float(info.residual):.1e} | "
            f"{diff:.1e} | {8 * n * n / 2**20:.0f} | "
            f"{8 * n * (krr.MATVEC_BLOCK + args.rank) / 2**20:.0f} |",
            flush=True,
        )
    matvec_against_peak(x)


def predictions(args) -> None:
    print(f"d={args.dim}, lam={args.lam}, float64, Nystrom rank {krr.NYSTROM_RANK}, tol "
          f"{krr.CG_TOL}, 1,024 test points; {jax.default_backend()}")  # fmt: skip
    print(
        "| data | n | CG iterations | CG residual | RMS rel. diff of predictions | max rel. diff |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("synthetic", "cone"):
        for n in args.sizes:
            ds = getattr(data, name)(0, n_train=n, n_test=1024, dim=args.dim)
            x, y = np.asarray(ds.x_train, np.float64), np.asarray(ds.y_train, np.float64)
            xt = np.asarray(ds.x_test, np.float64)
            dense = krr.solve(kernels.relu_ntk_closed_form(x), y, args.lam)
            p_dense = np.asarray(mm(kernels.relu_ntk_closed_form(xt, x), dense))
            precond = krr.nystrom(jax.random.key(0), x, args.lam, min(krr.NYSTROM_RANK, n))
            alpha, info = krr.solve_cg(x, y, args.lam, preconditioner=precond)
            p_cg = np.asarray(krr.kernel_matvec(x, alpha, rows=xt))
            rms = float(np.linalg.norm(p_cg - p_dense) / np.linalg.norm(p_dense))
            mx = float(np.max(np.abs(p_cg - p_dense)) / np.max(np.abs(p_dense)))
            print(f"| {name} | {n} | {int(info.iterations)} | {float(info.residual):.1e} | "
                  f"{rms:.1e} | {mx:.1e} |", flush=True)  # fmt: skip


def matvec_against_peak(x: np.ndarray) -> None:
    n, d = x.shape
    a = jax.random.normal(jax.random.key(1), (2048, 2048), np.float64)
    t_peak = best_time(lambda: mm(a, a), repeats=3)
    peak = 2 * 2048**3 / t_peak
    v = np.ones((n, 1))
    t_mv = best_time(lambda: krr.kernel_matvec(x, v), repeats=2)
    t_dot = best_time(
        lambda: krr.kernel_matvec(x, v, kernel=lambda p, q: mm(p, q.T), diagonal=None), repeats=2
    )
    gemm = 2 * n * n * (d + 1)
    print(
        f"\nmatvec at n={n}: GEMM part {gemm / t_mv / 1e9:.1f} GFLOP/s = {gemm / t_mv / peak:.3f} "
        f"of the float64 GEMM peak ({peak / 1e9:.0f} GFLOP/s here); the same loop with inner "
        f"products alone {t_dot / t_mv:.2f} of its time, so {1 - t_dot / t_mv:.0%} elementwise"
    )


if __name__ == "__main__":
    main()
