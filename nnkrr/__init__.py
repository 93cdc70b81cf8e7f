"""nnkrr: wide regularised ReLU networks versus NTK kernel ridge regression.

Modules (each concept lives in the module named after it):

* :mod:`nnkrr.kernels` -- exact NTKs (neural-tangents and closed form).
* :mod:`nnkrr.krr` -- kernel ridge regression with an exact ridge, by Cholesky or matrix-free
  (preconditioned conjugate gradients on closed-form kernel matvecs).
* :mod:`nnkrr.data` -- datasets as arrays with seeded train/test splits.
* :mod:`nnkrr.features` -- random-feature kernels, ``rf_kernel``, ``spectral_epsilon``.
* :mod:`nnkrr.sampling` -- Gaussian and ridge-leverage-score sampling of features.
* :mod:`nnkrr.models` -- the paper's two-layer network (Flax), its linearisation, MLPs.
* :mod:`nnkrr.train` -- optax gradient descent on the regularised loss, one program per seed
  or seeds vmapped.
* :mod:`nnkrr.gap` -- the network-versus-NTK-KRR gap and its decomposition.
* :mod:`nnkrr.laziness` -- activation-pattern flips, measured and predicted.
* :mod:`nnkrr.savings` -- the width leverage initialisation saves at equal gap.
* :mod:`nnkrr.rules` -- the range rules of parameters, shared by config checks and functions.
* :mod:`nnkrr.scale` -- a job's output scale, ridge on K and training ridge, related once.
* :mod:`nnkrr.config` -- the typed config of every entry point: schemas, checks, Hydra store,
  reference.
* :mod:`nnkrr.problem` -- a job's data, exact kernel and NTK-KRR target (K factored once).
* :mod:`nnkrr.measurements` -- the gap, its decomposition and the regime, per seed.
* :mod:`nnkrr.row` -- the columns of a row (the one list of them) and the rows of a job.
* :mod:`nnkrr.experiment` -- one job of the sweep as a pipeline of stages: config in, rows out.
* :mod:`nnkrr.spectral` -- one job of the spectral experiment: config in, rows out.

Those are imported on use (``from nnkrr import sampling``), so that ``import nnkrr``
does not pull in Flax and optax.  :data:`LAYERS` orders them: a module imports only modules
of lower layers (``tests/test_layers.py``).
"""

from nnkrr import _blas

_blas.prefer_haswell()  # before numpy/scipy/jax load OpenBLAS (nnkrr._blas says why)

from nnkrr import data, kernels, krr  # noqa: E402

__version__ = "0.1.0"

#: The modules of nnkrr from the bottom up; a module imports only from layers below its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_blas", "_checks", "_linalg", "_nt", "rules"),
    ("scale", "kernels", "data", "laziness", "scaling"),
    ("krr",),
    ("features", "gap", "problem"),
    ("sampling",),
    ("models", "measurements", "savings"),
    ("train", "row"),
    ("config",),
    ("experiment",),
    ("spectral",),
)
__all__ = ["data", "kernels", "krr"]
