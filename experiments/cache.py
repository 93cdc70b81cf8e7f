"""The sweep's cache of NTK-KRR targets: the jobs of one sweep directory that share a target
(the same data, ridge, kernel and preconditioner: :func:`nnkrr.problem.target_key`) solve it
once.

Only the matrix-free path's target is cached (:class:`nnkrr.problem.Solved`: the coefficients,
f* on the test points, s_lambda and the CG's record; a few MB at n = 65,536), in
``<sweep dir>/.targets/<key>.npz``, written to a temporary file and renamed, so jobs running
side by side never read half a file (two that start together both solve it, and the second
rename wins with the same numbers).  A cached target gives the same rows as a solved one (the
arrays are stored exactly; tests/test_experiment.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from nnkrr.problem import Solved

_SCALARS = ("s_lambda", "s_lambda_se", "iterations", "residual")


class TargetCache:
    """A directory of :class:`nnkrr.problem.Solved` targets, one ``.npz`` per key."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def get(self, key: str) -> Solved | None:
        path = self.directory / f"{key}.npz"
        if not path.exists():
            return None
        with np.load(path) as f:
            return Solved(
                f["alpha"],
                f["f_star"],
                float(f["s_lambda"]),
                float(f["s_lambda_se"]),
                int(f["iterations"]),
                float(f["residual"]),
            )

    def put(self, key: str, solved: Solved) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(
                    out,
                    alpha=solved.alpha,
                    f_star=solved.f_star,
                    **{k: np.asarray(getattr(solved, k)) for k in _SCALARS},
                )
            os.replace(tmp, self.directory / f"{key}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
