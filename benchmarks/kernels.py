"""Benchmark: exact ReLU NTK via neural-tangents versus the closed form.

    uv run python benchmarks/kernels.py [--sizes 1024 2048 4096 8192] [--dim 64]

Prints, for float32 and float64, the time of ``relu_ntk`` (neural-tangents, batched
with ``nt.batch`` above ``AUTO_BATCH_ENTRIES``) and of ``relu_ntk_closed_form`` on an
(n, d) input (x2 = None), their ratio and the closed form's kernel entries per second; then the
largest n whose exact kernel plus Cholesky factor fits in a memory budget, read from
XLA's memory analysis of the compiled ``cholesky(K + lam I)`` program.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from nnkrr import kernels  # noqa: E402

from timing import best_time  # noqa: E402


def largest_n(dtype, dim: int, budget_bytes: int) -> tuple[int, int]:
    """Bisection on n for XLA's planned bytes of kernel + Cholesky <= budget."""
    lo, hi = 1024, 1024
    while kernels.peak_bytes_kernel_and_cholesky(hi, dim, dtype) <= budget_bytes:
        lo, hi = hi, hi * 2
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if kernels.peak_bytes_kernel_and_cholesky(mid, dim, dtype) <= budget_bytes:
            lo = mid
        else:
            hi = mid
    return lo, kernels.peak_bytes_kernel_and_cholesky(lo, dim, dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-gib", type=float, default=16.0)
    args = parser.parse_args()

    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind} "
        f"({jax.local_device_count()} device(s)); d = {args.dim}; best of {args.repeats}"
    )
    header = (
        f"{'dtype':8} {'n':>6} {'relu_ntk [s]':>13} {'closed [s]':>11} {'ratio':>7} "
        f"{'closed Mentries/s':>18}"
    )
    print(header)
    print("-" * len(header))
    try:  # neural-tangents 0.6.5 needs jax < 0.6; accelerator images may have a newer jax
        from nnkrr import _nt  # noqa: F401

        have_nt = True
    except (ImportError, AttributeError) as err:
        have_nt = False
        print(f"(neural-tangents unavailable on jax {jax.__version__}: {err}; closed form only)")
    for dtype in (jnp.float32, jnp.float64):
        for n in args.sizes:
            x = jax.random.normal(jax.random.key(n), (n, args.dim), dtype=dtype)
            t_nt = float("nan")
            if have_nt:
                t_nt = best_time(
                    lambda x=x, dtype=dtype: kernels.relu_ntk(x, dtype=dtype), args.repeats
                )
            t_cf = best_time(
                lambda x=x, dtype=dtype: kernels.relu_ntk_closed_form(x, dtype=dtype), args.repeats
            )
            print(
                f"{jnp.dtype(dtype).name:8} {n:6d} {t_nt:13.4f} {t_cf:11.4f} "
                f"{t_nt / t_cf:7.2f} {n * n / t_cf / 1e6:18.1f}"
            )

    budget = int(args.memory_gib * 2**30)
    print(
        f"\nLargest n with exact kernel + Cholesky within {args.memory_gib:g} GiB "
        "(XLA memory analysis of jit(cholesky(K(x) + lam I)), d = "
        f"{args.dim}):"
    )
    for dtype in (jnp.float32, jnp.float64):
        n, used = largest_n(dtype, args.dim, budget)
        per_entry = used / n**2
        print(
            f"  {jnp.dtype(dtype).name:8} n = {n:6d}  ({used / 2**30:.2f} GiB planned, "
            f"{per_entry:.1f} bytes per kernel entry = {per_entry / np.dtype(dtype).itemsize:.2f}"
            " n x n matrices)"
        )


if __name__ == "__main__":
    main()
