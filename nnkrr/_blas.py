"""OpenBLAS's kernels for jax's, numpy's and scipy's CPU linear algebra, chosen before it loads.

OpenBLAS picks its kernels by CPU when its library loads, and reads ``OPENBLAS_CORETYPE`` then.
On CPUs with AVX-512 it picks SkylakeX kernels, whose threaded Cholesky (OpenBLAS 0.3.30 and
0.3.31, as bundled with scipy and numpy) kills the process at n = 16,384 in float64 (SIGSEGV or
SIGABRT, nothing written); the Haswell kernels do not, at 1.07-1.15x the Cholesky's time and
1.14-1.17x a triangular solve's (``benchmarks/results/cpu_openblas_coretype.txt``).  :func:`prefer_haswell`
sets ``OPENBLAS_CORETYPE=Haswell`` on such CPUs unless the variable is already set (set it to
``SkylakeX`` to keep those kernels); ``import nnkrr`` calls it first.  jax loads scipy's
OpenBLAS at its first CPU LAPACK call, so the setting reaches jax unless such a call (or an
``import scipy.linalg``) came before ``import nnkrr``; then :func:`prefer_haswell` warns.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

#: The kernels chosen where OpenBLAS would pick SkylakeX ones.
CORETYPE = "Haswell"


def _has_avx512(cpuinfo: str = "/proc/cpuinfo") -> bool:
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def prefer_haswell(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Set ``OPENBLAS_CORETYPE`` to :data:`CORETYPE` on an x86-64 Linux CPU with AVX-512 when it
    is unset; True when it set it.  Warns when scipy's linear algebra was already loaded (the
    setting then reaches this process's jax and scipy no more)."""
    if "OPENBLAS_CORETYPE" in os.environ or platform.machine() not in ("x86_64", "AMD64"):
        return False
    if not _has_avx512(cpuinfo):
        return False
    os.environ["OPENBLAS_CORETYPE"] = CORETYPE
    if "scipy.linalg" in sys.modules:
        warnings.warn(
            "nnkrr: OpenBLAS was loaded before nnkrr with its SkylakeX kernels, whose Cholesky "
            "crashes at n >= 16,384; set OPENBLAS_CORETYPE=Haswell in the environment (or "
            "import nnkrr first)",
            RuntimeWarning,
            stacklevel=3,
        )
    return True
