r"""The problem a job solves: the data, the exact kernel and the NTK-KRR target.

For inputs X (n, d), targets Y (n,), output scale :math:`\kappa` and ridge :math:`\lambda`:

.. math:: f^*(x) = \kappa^2 K(x, X) (\kappa^2 K + \lambda I)^{-1} Y, \qquad
          s_\lambda = \sum_i \frac{\mu_i}{\mu_i + \lambda},

with :math:`\mu_i` the eigenvalues of :math:`\kappa^2 K`.  :func:`make_problem` factors
:math:`\kappa^2 K + \lambda I` once (:func:`nnkrr.krr.factor`); every later solve with the
same K (the residuals of the flips prediction) reuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nnkrr import data as data_lib
from nnkrr import krr
from nnkrr.scale import Scale

__all__ = ["Problem", "make_problem"]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """One job's data, exact kernels (times :math:`\\kappa^2`) and NTK-KRR target, float64.

    Shapes: ``x`` (n, d), ``y`` (n,), ``x_test`` (n_t, d), ``y_test`` (n_t,),
    ``k_train`` (n, n), ``k_test`` (n_t, n), ``f_star`` (n_t,), ``beta`` (n,),
    ``mu`` (n,) ascending.
    """

    dataset: data_lib.Dataset
    x: jax.Array
    y: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    lam: float
    k_train: jax.Array
    k_test: jax.Array
    factor: krr.Factor  # of k_train + lam I
    beta: jax.Array  # (k_train + lam I)^-1 y
    f_star: jax.Array  # k_test beta
    mu: np.ndarray  # eigenvalues of k_train, ascending

    @property
    def s_lambda(self) -> float:
        """The statistical dimension :math:`s_\\lambda = \\sum_i \\mu_i / (\\mu_i + \\lambda)`."""
        return float(np.sum(self.mu / (self.mu + self.lam)))


def make_problem(ds: data_lib.Dataset, target: int, kernel: Callable, scale: Scale) -> Problem:
    r"""The :class:`Problem` of data set ``ds``'s output column ``target`` for the exact
    kernel ``kernel(x, x_test) -> (K, K_test)`` (a model kind's, ``nnkrr.models.KINDS[kind]
    .kernel`` with its model config) at ``scale``: the kernel
    :math:`\kappa^2 K` and the ridge :math:`\lambda = \kappa^2 \cdot \mathrm{ridge}`.

    Needs ``jax_enable_x64`` (the references are float64)."""
    x, xt = jnp.asarray(ds.x_train, jnp.float64), jnp.asarray(ds.x_test, jnp.float64)
    y = jnp.asarray(ds.y_train[:, target], jnp.float64)
    yt = jnp.asarray(ds.y_test[:, target], jnp.float64)
    k_train, k_test = kernel(x, xt)
    kappa, lam = scale.kappa, scale.lam
    k_train, k_test = kappa**2 * k_train, kappa**2 * k_test
    fac = krr.factor(k_train, lam)
    beta = krr.solve(fac, y)
    mu = np.linalg.eigvalsh(np.asarray(k_train))
    return Problem(ds, x, y, xt, yt, lam, k_train, k_test, fac, beta, krr.predict(k_test, beta), mu)
