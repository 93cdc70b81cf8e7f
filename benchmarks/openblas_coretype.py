"""Benchmark: jax's CPU LAPACK under OpenBLAS's SkylakeX and Haswell kernels.

    uv run python benchmarks/openblas_coretype.py [--n 8192] [--crash-n 16384] [--repeats 3]

jax's CPU Cholesky and triangular solves call the OpenBLAS that scipy bundles; OpenBLAS picks
its kernels by CPU when it loads (``OPENBLAS_CORETYPE`` overrides), SkylakeX on this project's
AMD EPYC machines, and its threaded SkylakeX Cholesky segfaults at n = 16,384
(0.3.30/0.3.31).  :mod:`nnkrr` therefore sets ``OPENBLAS_CORETYPE=Haswell`` on such CPUs
(``nnkrr._blas``).  For each core type, in a fresh process (the variable is read once, when
the library loads), with ``nnkrr._blas`` bypassed:

* the float64 Cholesky of an (n, n) kernel + ridge and a triangular solve with 1 and with 5
  right-hand sides (the spectral job's Lanczos step for one sample and for a width's 5 seeds),
  best of ``--repeats``; the ratios Haswell / SkylakeX measured in the same run;
* whether the Cholesky at ``--crash-n`` finishes (its exit status; 139 is a segfault).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import jax.scipy.linalg as jsl
n, repeats, crash = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "crash"
x = jax.random.normal(jax.random.key(0), (n, 8))
k = x @ x.T / 8 + 0.1 * jnp.eye(n)
chol = jax.jit(jnp.linalg.cholesky)
solve = jax.jit(lambda l, b: jsl.solve_triangular(l, b, lower=True))
def best(f, *a):
    f(*a).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); f(*a).block_until_ready(); times.append(time.perf_counter() - t)
    return min(times)
if crash:
    t = time.perf_counter(); l = chol(k).block_until_ready(); t = time.perf_counter() - t
    print(json.dumps({"finite": bool(jnp.isfinite(l[-1, -1])), "seconds": t}))
    sys.exit(0)
l = chol(k)
out = {"cholesky": best(chol, k)}
for rhs in (1, 5):
    out[f"solve_{rhs}"] = best(solve, l, jnp.ones((n, rhs)))
import threadpoolctl
out["architecture"] = sorted({i.get("architecture") for i in threadpoolctl.threadpool_info()
                              if "scipy.libs" in i["filepath"]})
print(json.dumps(out))
"""


def _run(coretype: str | None, *args: str) -> tuple[int, dict | None]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}  # no nnkrr here
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, (json.loads(lines[-1]) if done.returncode == 0 and lines else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--crash-n", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"float64, jax CPU, {os.cpu_count()} cores; OpenBLAS kernels as loaded by default "
        f"(no OPENBLAS_CORETYPE) and with OPENBLAS_CORETYPE=Haswell"
    )
    times = {}
    print(
        f"| kernels | loaded as | Cholesky n={args.n} s | solve 1 rhs s | solve 5 rhs s | "
        f"Cholesky n={args.crash_n} |"
    )
    print("|---|---|---|---|---|---|")
    for name, coretype in (("default", None), ("Haswell", "Haswell")):
        rc, t = _run(coretype, str(args.n), str(args.repeats), "time")
        crash_rc, crash = _run(coretype, str(args.crash_n), "1", "crash")
        outcome = (
            f"finished in {crash['seconds']:.1f} s (compile included)"
            if crash_rc == 0
            else f"exit {crash_rc}" + (" (segfault)" if crash_rc in (139, -11) else "")
        )
        if t is None:
            print(f"| {name} | ? | failed (exit {rc}) | | | {outcome} |")
            continue
        times[name] = t
        print(
            f"| {name} | {','.join(t['architecture'])} | {t['cholesky']:.2f} | "
            f"{t['solve_1']:.3f} | {t['solve_5']:.3f} | {outcome} |"
        )
    if len(times) == 2:
        d, h = times["default"], times["Haswell"]
        print(
            f"Haswell / default time: Cholesky {h['cholesky'] / d['cholesky']:.2f}, solve 1 rhs "
            f"{h['solve_1'] / d['solve_1']:.2f}, solve 5 rhs {h['solve_5'] / d['solve_5']:.2f}; "
            f"5 rhs / 1 rhs under Haswell {h['solve_5'] / h['solve_1']:.2f}"
        )


if __name__ == "__main__":
    main()
