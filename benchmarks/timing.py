"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def timed(fn):
    """``(fn(), seconds)``: one call's result and wall time, its arrays ready."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def best_time(fn, repeats: int = 5) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, after one warm-up (compilation) run."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def marginal_time(run, steps: int, rounds: int = 5) -> tuple[float, float]:
    """(seconds per step, seconds per call besides its steps) of ``run(k)``, which does k
    steps: the best wall times of k = ``steps`` and ``3 * steps`` (each run once to compile,
    then timed in alternation ``rounds`` times) differ by ``2 * steps`` steps."""
    times = {k: [] for k in (steps, 3 * steps)}
    for k in times:
        jax.block_until_ready(run(k))
    for _ in range(rounds):
        for k in times:
            start = time.perf_counter()
            jax.block_until_ready(run(k))
            times[k].append(time.perf_counter() - start)
    t1, t3 = min(times[steps]), min(times[3 * steps])
    if not t3 > t1:
        raise SystemExit(f"{steps} vs {3 * steps} steps took {t1:.4f} vs {t3:.4f} s: raise --steps")
    step = (t3 - t1) / (2 * steps)
    return step, t1 - steps * step


def matmul_peak(sizes=(2048, 4096)) -> float:
    """Best float32 GEMM rate over a few square sizes, in FLOP/s (full fp32 precision, as
    the project's kernels use: no TF32 on GPUs)."""
    mm = jax.jit(lambda a, b: jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST))
    best = 0.0
    for n in sizes:
        a = jax.random.normal(jax.random.key(n), (n, n), jnp.float32)
        best = max(best, 2 * n**3 / best_time(lambda a=a: mm(a, a)))
    return best
