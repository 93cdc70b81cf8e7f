"""nnkrr: wide regularised ReLU networks versus NTK kernel ridge regression.

Modules (each concept lives in the module named after it):

* :mod:`nnkrr.kernels` -- exact NTKs (neural-tangents and closed form).
* :mod:`nnkrr.krr` -- kernel ridge regression with an exact ridge, by Cholesky.
* :mod:`nnkrr.data` -- datasets as arrays with seeded train/test splits.
* :mod:`nnkrr.features` -- random-feature kernels, ``rf_kernel``, ``spectral_epsilon``.
* :mod:`nnkrr.sampling` -- Gaussian and ridge-leverage-score sampling of features.
* :mod:`nnkrr.models` -- the paper's two-layer network (Flax), its linearisation, MLPs.
* :mod:`nnkrr.train` -- optax gradient descent on the regularised loss, one program per seed
  or seeds vmapped.
* :mod:`nnkrr.gap` -- the network-versus-NTK-KRR gap and its decomposition.
* :mod:`nnkrr.laziness` -- activation-pattern flips, measured and predicted.
* :mod:`nnkrr.savings` -- the width leverage initialisation saves at equal gap.
* :mod:`nnkrr.config` -- the typed config of every entry point: schemas, checks, reference.
* :mod:`nnkrr.problem` -- a job's data, exact kernel and NTK-KRR target (K factored once).
* :mod:`nnkrr.measurements` -- the gap, its decomposition and the regime, per seed.
* :mod:`nnkrr.row` -- the columns of a row (the one list of them) and the rows of a job.
* :mod:`nnkrr.experiment` -- one job of the sweep as a pipeline of stages: config in, rows out.

Those are imported on use (``from nnkrr import sampling``), so that ``import nnkrr``
does not pull in Flax and optax.
"""

from nnkrr import data, kernels, krr

__version__ = "0.1.0"
__all__ = ["data", "kernels", "krr"]
