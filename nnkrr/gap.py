r"""The gap between a trained network and NTK kernel ridge regression, decomposed.

Target: exact NTK-KRR with kernel :math:`\kappa^2 K` and the training ridge :math:`\lambda`,

.. math:: f^*(x) = \kappa^2 K(x, X) (\kappa^2 K + \lambda I)^{-1} Y .

Write :math:`G` for the gradient features at :math:`W(0)` (so :math:`G G^\top = \kappa^2 K_m`) and
:math:`f_0 = f(W(0), \cdot)`.  The linearised model :math:`f_\mathrm{lin}(W, x) = \langle g(x), W\rangle`
(exact for ReLU by 1-homogeneity) has ridge optimum

.. math:: f_{\mathrm{lin},\infty}(x) = g(x) W_c + \kappa^2 K_m(x, X) (\kappa^2 K_m + \lambda I)^{-1} (Y - G W_c),

i.e. :math:`f_m^*` (KRR with :math:`\kappa^2 K_m`) when :math:`W_c = 0`, and
:math:`f_0 + f_m^*[Y - f_0(X)]` when :math:`W_c = W(0)`.  The signed gap on test points
splits exactly into

=============  =============================================================
``kernel``     :math:`f_m^* - f^*`: random-feature kernel versus exact kernel
``init``       :math:`f_{\mathrm{lin},\infty} - f_m^*`: the initial output (0 unless
               :math:`W_c = W(0)` and :math:`f_0 \ne 0`)
``opt``        :math:`f_\mathrm{lin}(T) - f_{\mathrm{lin},\infty}`: finite training time
``nonlin``     :math:`f_\mathrm{nn}(T) - f_\mathrm{lin}(T)`: the network versus its linearisation
=============  =============================================================

whose sum is :math:`f_\mathrm{nn}(T) - f^*`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nnkrr import krr, rules

__all__ = ["PARTS", "decompose", "parts", "rms"]

PARTS = ("kernel", "init", "opt", "nonlin")


def rms(v) -> jax.Array:
    """Root mean square over all entries."""
    return jnp.sqrt(jnp.mean(jnp.square(v)))


def decompose(
    *, f_star, km_train, km_test, y, lam, f0_train, f0_test, f_lin, f_nn, centre: str
) -> dict[str, jax.Array]:
    r"""Signed gap parts on the test points (module docstring).

    Kernels are already scaled by :math:`\kappa^2`.

    Args:
      f_star: the exact NTK-KRR prediction on the test points,
        ``krr.fit_predict(k_train, y, k_test, lam)`` (the same for every seed of a job).
      km_train, km_test: random-feature kernel :math:`K_m` of the initial network.
      y: training targets ``(n,)``.
      lam: ridge.
      f0_train, f0_test: initial outputs ``f(W(0), .)``.
      f_lin: trained linearised model on the test points.
      f_nn: trained network on the test points.
      centre: ``"zero"`` or ``"init"``.

    Returns:
      ``{"f_m", "f_lin_inf", "total", "kernel", "init", "opt", "nonlin"}``,
      each of shape ``(n_test,)``.
    """
    rules.CENTRE.require("centre", centre)
    f_m = krr.fit_predict(km_train, y, km_test, lam)
    if centre == "init":
        f_lin_inf = f0_test + krr.fit_predict(km_train, y - f0_train, km_test, lam)
    else:
        f_lin_inf = f_m
    return parts(f_star=f_star, f_m=f_m, f_lin_inf=f_lin_inf, f_lin=f_lin, f_nn=f_nn)


def parts(*, f_star, f_m, f_lin_inf, f_lin, f_nn) -> dict[str, jax.Array]:
    r"""The signed parts from the five predictions on the test points (module docstring):
    :math:`f^*`, :math:`f_m^*`, :math:`f_{\mathrm{lin},\infty}`, :math:`f_\mathrm{lin}(T)`,
    :math:`f_\mathrm{nn}(T)`; :func:`decompose` computes the two kernel ridge ones from
    stored :math:`K_m`, a matrix-free job by CG (:mod:`nnkrr.measurements`)."""
    return {
        "f_m": f_m,
        "f_lin_inf": f_lin_inf,
        "total": f_nn - f_star,
        "kernel": f_m - f_star,
        "init": f_lin_inf - f_m,
        "opt": f_lin - f_lin_inf,
        "nonlin": f_nn - f_lin,
    }
