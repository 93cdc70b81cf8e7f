"""Benchmark: the spectral job's eps with K_m applied by its features against K_m formed.

    uv run python benchmarks/spectral_job.py [--n 2048 8192] [--m 1024 16384] [--seeds 5]
        [--data synthetic] [--lam 0.1]

For each n: the job's fixed part (K, the whitener W = L^-1 of K + lam I = L L^T, s_lam from it; seconds and
the two matrices' GiB) and, for each width m, the time of one cell of ``--seeds`` Gaussian
samples' eps two ways, as a ratio measured in the same run:

* ``formed``: each sample's K_m formed (``features.rf_kernel``, O(n^2 m d)) and its eps by
  Lanczos on the stored matrices (``features.spectral_epsilon(method="lanczos")``), the job
  before this change; it holds seeds x n^2 more floats;
* ``features``: ``features.rf_spectral_epsilon`` (Lanczos with K_m applied by its features and
  W stored, the samples' runs vmapped; O(steps n (n + m d))), the job now.

With the relative difference of the two eps (the same Lanczos; only rounding differs).
With ``--looped``, also the features path one sample at a time (``looped / batched``: what
vmapping a cell's samples saves, or costs, at each size; the same eps).
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from nnkrr import data, features, sampling  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--m", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--data", choices=["cone", "synthetic"], default="synthetic")
    parser.add_argument("--formed-max-n", type=int, default=8192, help="skip 'formed' above")
    parser.add_argument("--looped", action="store_true", help="also the samples one at a time")
    args = parser.parse_args()
    # the features path at every n (the job takes it from RF_SPECTRAL_FEATURES_FROM_N on): the
    # comparison that sets that threshold
    features.RF_SPECTRAL_FEATURES_FROM_N = 0
    print(f"{args.data} d={args.dim} lam={args.lam}, {args.seeds} Gaussian samples a cell, "
          f"float64, {features.LANCZOS_STEPS} Lanczos steps; {jax.default_backend()}")  # fmt: skip
    print("| n | fixed part s (K, whitener, s_λ) | K + whitener GiB | m | formed / features (time) "
          "| features s | relative difference | looped / batched (time) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n:
        x = getattr(data, args.data)(0, n_train=n, n_test=1, dim=args.dim).x_train
        start = time.perf_counter()
        k = jax.block_until_ready(features.RELU_NTK.exact(x))
        whitener = jax.block_until_ready(features.ridge_whitener(k, args.lam))
        s_lam = n - args.lam * float(jnp.sum(whitener**2))
        fixed = time.perf_counter() - start
        gib = 2 * n * n * 8 / 2**30  # K and its whitener
        for m in args.m:
            draws = [
                sampling.sample(jax.random.key(i), x, m, sampler="gaussian")
                for i in range(args.seeds)
            ]
            # compile once at this shape, then time
            features.rf_spectral_epsilon(x, draws[:1] * args.seeds, k, args.lam, whitener=whitener)
            eps_f, t_features = _timed(
                lambda: features.rf_spectral_epsilon(x, draws, k, args.lam, whitener=whitener)  # noqa: B023
            )
            if n <= args.formed_max_n:

                def formed(x=x, k=k, draws=draws):
                    return jnp.stack([
                        features.spectral_epsilon(
                            k, features.rf_kernel(x, None, d), args.lam, method="lanczos"
                        )
                        for d in draws
                    ])  # fmt: skip

                formed()
                eps_k, t_formed = _timed(formed)
                ratio = f"{t_formed / t_features:.2f}"
                diff = f"{float(jnp.max(jnp.abs(eps_k / eps_f - 1))):.1e}"
            else:
                ratio, diff = "(not run)", "—"
            looped = "(not run)"
            if args.looped:

                def one_by_one(x=x, k=k, draws=draws, w=whitener):
                    return jnp.concatenate([
                        features.rf_spectral_epsilon(x, [d], k, args.lam, whitener=w)
                        for d in draws
                    ])  # fmt: skip

                features.rf_spectral_epsilon(x, draws[:1], k, args.lam, whitener=whitener)
                eps_l, t_looped = _timed(one_by_one)
                assert float(jnp.max(jnp.abs(eps_l / eps_f - 1))) < 1e-8
                looped = f"{t_looped / t_features:.2f}"
            print(f"| {n} | {fixed:.1f} | {gib:.2f} | {m} | {ratio} | {t_features:.1f} | {diff} "
                  f"| {looped} |", flush=True)  # fmt: skip
        print(f"(n = {n}: s_λ = {s_lam:.1f})")


if __name__ == "__main__":
    main()
