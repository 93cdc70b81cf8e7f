"""Benchmark: leverage-score evaluation and sampling throughput.

    uv run python benchmarks/sampling.py [--quick]

Prints
1. this machine's float32 matmul peak (best jit GEMM, measured in this run);
2. the ReLU-NTK scoring kernel score(w) = s^T M s, s = 1[X w >= 0], on batches of w:
   score evaluations per second and achieved FLOP/s (2 B n^2 per batch of B) as a
   fraction of that peak, per chunk size, plus the generic tr[Phi^T A Phi] path;
3. leverage samples per second (rejection and SIR) versus m and n, with the
   acceptance rate / effective sample size, on isotropic and cone data.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from nnkrr import data, sampling

from timing import best_time, matmul_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid")
    parser.add_argument("--dim", type=int, default=16)
    args = parser.parse_args()
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
    grid = [(256, 1024), (256, 16384), (1024, 4096)]
    if args.quick:
        grid = grid[:2]
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


if __name__ == "__main__":
    main()
