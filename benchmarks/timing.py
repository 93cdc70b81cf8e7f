"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def best_time(fn, repeats: int = 5) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, after one warm-up (compilation) run."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(sizes=(2048, 4096)) -> float:
    """Best float32 GEMM rate over a few square sizes, in FLOP/s (full fp32 precision, as
    the project's kernels use: no TF32 on GPUs)."""
    mm = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
    best = 0.0
    for n in sizes:
        a = jax.random.normal(jax.random.key(n), (n, n), jnp.float32)
        best = max(best, 2 * n**3 / best_time(lambda a=a: mm(a, a)))
    return best
