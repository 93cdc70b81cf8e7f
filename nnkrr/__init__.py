"""nnkrr: wide regularised ReLU networks versus NTK kernel ridge regression.

Modules (each concept lives in the module named after it):

* :mod:`nnkrr.kernels` -- exact NTKs (neural-tangents and closed form).
* :mod:`nnkrr.krr` -- kernel ridge regression with an exact ridge, by Cholesky.
* :mod:`nnkrr.data` -- datasets as arrays with seeded train/test splits.
"""

from nnkrr import data, kernels, krr

__version__ = "0.1.0"
__all__ = ["data", "kernels", "krr"]
