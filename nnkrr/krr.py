"""Kernel ridge regression with an exact ridge ``lam``, solved by Cholesky.

Given a training kernel K (n x n), targets Y (n,) or (n, k) and lam > 0,

    alpha = (K + lam I)^{-1} Y,          f*(x) = K(x, X) alpha.

This is the minimiser of 1/2 ||Y - f(X)||^2 + lam/2 ||f||_H^2, the objective of the
paper's regularised network (Lee et al. 2020, Thm. 4.1) with the same lam.  Unlike
neural-tangents' ``predict.gp_inference`` / ``gradient_descent_mse``, which scale
``diag_reg`` by the mean trace of K unless ``diag_reg_absolute_scale=True``, lam here
is added to the diagonal exactly as given.

Both functions are jit-able (checks on values run only on concrete arrays); the
dtype follows the inputs, so pass float64 arrays (``jax_enable_x64``) for
ill-conditioned kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from nnkrr import _checks
from nnkrr._linalg import mm

__all__ = ["Factor", "factor", "fit_predict", "predict", "solve"]


def _as_targets(name: str, y, n: int, dtype) -> jax.Array:
    if y is None or not hasattr(y, "shape") and not isinstance(y, list | tuple):
        raise ValueError(f"{name} must be an array of shape (n,) or (n, k)")
    y = jnp.asarray(y, dtype=dtype)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) or ({n}, k), got {tuple(y.shape)}")
    _checks.check_finite(name, y)
    return y


@jax.jit
def _cholesky_solve(k_train: jax.Array, y: jax.Array, lam: jax.Array) -> jax.Array:
    n = k_train.shape[0]
    a = k_train + lam * jnp.eye(n, dtype=k_train.dtype)
    factor = jsl.cho_factor(a, lower=True)
    return jsl.cho_solve(factor, y)


class Factor(NamedTuple):
    r"""The Cholesky factor of :math:`K + \lambda I` (lower), for several solves with one K."""

    chol: jax.Array  # (n, n) lower triangular
    lam: float


@jax.jit
def _cholesky(k_train: jax.Array, lam: jax.Array) -> jax.Array:
    n = k_train.shape[0]
    return jsl.cho_factor(k_train + lam * jnp.eye(n, dtype=k_train.dtype), lower=True)[0]


_solve_factored = jax.jit(lambda chol, y: jsl.cho_solve((chol, True), y))


def factor(k_train, lam) -> Factor:
    r"""Factor :math:`K + \lambda I` once (:class:`Factor`); ``solve(f, y)`` then reuses it.

    Raises:
      ValueError: as :func:`solve`, when K + lam I is not numerically positive definite.
    """
    k_train = _checks.as_matrix("k_train", k_train, dtype=_checks.float_dtype_of(k_train))
    if k_train.shape[0] != k_train.shape[1]:
        raise ValueError(f"k_train must be square, got shape {tuple(k_train.shape)}")
    _checks.check_positive("lam", lam)
    chol = _cholesky(k_train, jnp.asarray(lam, dtype=k_train.dtype))
    if _checks.is_concrete(chol) and not bool(jnp.all(jnp.isfinite(chol))):
        raise ValueError(_not_pd(lam, k_train.dtype))
    return Factor(chol, float(lam))


def _not_pd(lam, dtype) -> str:
    return (
        f"Cholesky factorisation of k_train + lam * I failed (lam={lam}, dtype="
        f"{dtype}): the matrix is not numerically positive definite. Use float64 "
        "(jax.config.update('jax_enable_x64', True) and float64 inputs) or a larger lam."
    )


def solve(k_train, y, lam=None) -> jax.Array:
    r"""Ridge coefficients :math:`\alpha = (K + \lambda I)^{-1} Y` by Cholesky.

    Args:
      k_train: training kernel matrix K, shape ``(n, n)``, symmetric positive semi-definite.
      y: targets, shape ``(n,)`` or ``(n, k)`` (several outputs solved at once).
      lam: ridge :math:`\lambda > 0`, added to the diagonal as is; omitted when
        ``k_train`` is a :class:`Factor` (:func:`factor`), whose factorisation is reused.

    Returns:
      ``alpha`` with the shape of ``y``, in the dtype of ``k_train``.

    Raises:
      ValueError: on a non-square or non-finite ``k_train``, ``y`` of the wrong
        shape, ``lam <= 0``, or when K + lam I is not numerically positive definite
        (the message suggests float64 or a larger lam).

    Example:
      >>> import jax.numpy as jnp
      >>> solve(jnp.eye(2), jnp.array([1.0, 2.0]), 1.0)
      Array([0.5, 1. ], dtype=float32)
    """
    if isinstance(k_train, Factor):
        if lam is not None:
            raise ValueError("lam is the factor's own: omit it when k_train is a Factor")
        y = _as_targets("y", y, k_train.chol.shape[0], k_train.chol.dtype)
        return _solve_factored(k_train.chol, y)
    k_train = _checks.as_matrix("k_train", k_train, dtype=_checks.float_dtype_of(k_train))
    if k_train.shape[0] != k_train.shape[1]:
        raise ValueError(f"k_train must be square, got shape {tuple(k_train.shape)}")
    y = _as_targets("y", y, k_train.shape[0], k_train.dtype)
    _checks.check_positive("lam", lam)
    alpha = _cholesky_solve(k_train, y, jnp.asarray(lam, dtype=k_train.dtype))
    if _checks.is_concrete(alpha) and not bool(jnp.all(jnp.isfinite(alpha))):
        raise ValueError(_not_pd(lam, k_train.dtype))
    return alpha


def predict(k_test_train, alpha) -> jax.Array:
    r"""KRR prediction :math:`f^*(x) = K(x, X)\,\alpha`.

    Args:
      k_test_train: kernel between test and training points, shape ``(n_test, n)``.
      alpha: coefficients from :func:`solve`, shape ``(n,)`` or ``(n, k)``.

    Returns:
      Predictions, shape ``(n_test,)`` or ``(n_test, k)``.
    """
    k_test_train = _checks.as_matrix(
        "k_test_train", k_test_train, dtype=_checks.float_dtype_of(k_test_train)
    )
    alpha = _as_targets("alpha", alpha, k_test_train.shape[1], k_test_train.dtype)
    return mm(k_test_train, alpha)


def fit_predict(k_train, y, k_test_train, lam) -> jax.Array:
    """``predict(k_test_train, solve(k_train, y, lam))``."""
    return predict(k_test_train, solve(k_train, y, lam))
