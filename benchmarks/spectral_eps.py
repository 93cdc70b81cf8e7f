"""Benchmark: the spectral error eps by eigendecomposition against Lanczos, against n.

    uv run python benchmarks/spectral_eps.py [--n 512 1024 2048 4096] [--m 1024] [--lam 0.1]
        [--data synthetic]

For each n: the time of ``features.spectral_epsilon(k, k_m, lam, method=...)`` for one
approximation (Gaussian features, width ``--m``) by ``eigh`` (an eigendecomposition of K) and by
``lanczos`` (a Cholesky factor of K + lam I and ``LANCZOS_STEPS`` products), as the ratio
eigh / lanczos measured in the same run, with the two values' relative difference. The
crossover sets ``features.SPECTRAL_EIGH_MAX_N``.
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)

from nnkrr import data, features, sampling  # noqa: E402

from timing import best_time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--m", type=int, default=1024)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--data", choices=["cone", "synthetic"], default="synthetic")
    args = parser.parse_args()
    print(f"{args.data} d={args.dim} lam={args.lam} m={args.m}, float64, "
          f"{features.LANCZOS_STEPS} Lanczos steps; {jax.default_backend()}")  # fmt: skip
    print("| n | eigh / lanczos (time) | lanczos s | relative difference |")
    print("|---|---|---|---|")
    for n in args.n:
        x = getattr(data, args.data)(0, n_train=n, n_test=1, dim=args.dim).x_train
        k = features.RELU_NTK.exact(x)
        s = sampling.sample(jax.random.key(0), x, args.m, sampler="gaussian")
        k_m = features.rf_kernel(x, None, s)
        values, times = {}, {}
        for method in ("eigh", "lanczos"):
            values[method] = float(features.spectral_epsilon(k, k_m, args.lam, method=method))
            times[method] = best_time(
                lambda: features.spectral_epsilon(k, k_m, args.lam, method=method),  # noqa: B023
                repeats=2,
            )
        diff = abs(values["lanczos"] / values["eigh"] - 1)
        print(
            f"| {n} | {times['eigh'] / times['lanczos']:.2f} | {times['lanczos']:.2f} | {diff:.1e} |"
        )
    print(f"(eps at the largest n: {values['eigh']:.4f})")


if __name__ == "__main__":
    main()
