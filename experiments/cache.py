"""The sweep's cache: what the jobs of one sweep directory share is computed once.

Two things are cached, each under the digest of everything that determines it:

* the matrix-free path's NTK-KRR target (:class:`nnkrr.problem.Solved`: the coefficients, f*
  on the test points, s_lambda and the CG's record; a few MB at n = 65,536), keyed by
  :func:`nnkrr.problem.target_key` (the data, ridge, kernel and preconditioner);
* the leverage sampler's set-up with its flatness estimate (:class:`nnkrr.sampling.Leverage`:
  the leverage function's rows, A = (K + lam I)^-1 and the kernel's auxiliary matrix; 2 x 8
  n_s^2 bytes, n_s <= 4,096 rows), keyed by :func:`nnkrr.sampling.leverage_key` (the data,
  ridge, kernel, rows and the flatness key).

Each is one ``.npz`` in ``<sweep dir>/.cache/``, written to a temporary file and renamed, so
jobs running side by side never read half a file (two that start together both compute it,
and the second rename wins with the same numbers).  A cached value gives the same rows as a
computed one (arrays are stored exactly; tests/test_experiment.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from nnkrr.features import get_kernel
from nnkrr.problem import Solved
from nnkrr.sampling import Leverage

_SOLVED = ("s_lambda", "s_lambda_se", "iterations", "residual")
_LEVERAGE = ("defensive", "n", "x", "a", "s_lambda", "bound", "lam_max_a")


class SweepCache:
    """A directory of cached values, one ``.npz`` per key: a :class:`~nnkrr.problem.Solved`,
    or a ``(Leverage, flatness)`` pair (``get(key)`` returns what ``put(key, value)`` stored,
    or ``None``)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def get(self, key: str):
        path = self.directory / f"{key}.npz"
        if not path.exists():
            return None
        with np.load(path) as f:
            if str(f["kind"]) == "target":
                return Solved(
                    f["alpha"],
                    f["f_star"],
                    float(f["s_lambda"]),
                    float(f["s_lambda_se"]),
                    int(f["iterations"]),
                    float(f["residual"]),
                )
            arrays = {k: f[k] for k in _LEVERAGE}
            lev = Leverage(
                kernel=get_kernel(str(f["kernel"])),
                defensive=float(arrays["defensive"]),
                n=int(arrays["n"]),
                x=jnp.asarray(arrays["x"]),
                a=jnp.asarray(arrays["a"]),
                aux=jnp.asarray(f["aux"]) if "aux" in f.files else None,
                s_lambda=jnp.asarray(arrays["s_lambda"]),
                bound=jnp.asarray(arrays["bound"]),
                lam_max_a=jnp.asarray(arrays["lam_max_a"]),
            )
            return lev, float(f["flatness"])

    def put(self, key: str, value) -> None:
        if isinstance(value, Solved):
            arrays = {
                "kind": "target",
                "alpha": value.alpha,
                "f_star": value.f_star,
                **{k: np.asarray(getattr(value, k)) for k in _SOLVED},
            }
        else:
            lev, flatness = value
            arrays = {
                "kind": "leverage",
                "kernel": lev.kernel.name,
                "flatness": np.asarray(flatness),
                **{k: np.asarray(getattr(lev, k)) for k in _LEVERAGE},
                **({} if lev.aux is None else {"aux": np.asarray(lev.aux)}),
            }
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **arrays)
            os.replace(tmp, self.directory / f"{key}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
