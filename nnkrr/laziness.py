r"""How far training leaves the lazy regime: activation-pattern flips, measured and predicted.

The network :math:`f(W, x) = \frac{\kappa}{\sqrt m}\sum_r a_r c_r \mathrm{relu}(w_r^\top x)`
follows its linearisation (and so NTK-KRR) while few activation patterns
:math:`1[w_r^\top x_i > 0]` change during training.  :func:`pattern_flips` measures the
fraction that did; :func:`predicted_flips` predicts it from the lazy (linearised) solution.

**The prediction.**  With ridge :math:`\lambda`, training time :math:`T` and centre
:math:`W_c`, gradient descent on :math:`\tfrac12\|Y - f\|^2 + \tfrac\lambda2\|W - W_c\|^2`
moves the weights as

.. math:: w_r(T) \approx \rho\, w_r(0) + \delta_r, \qquad
          \rho = e^{-\lambda T} \ (W_c = 0), \quad \rho = 1 \ (W_c = W(0)),

because the initial weights lie (up to an n-dimensional part) outside the row space of the
gradient features and only decay, while the data part converges to the linearised ridge
optimum :math:`\delta = G^\top \beta`, :math:`\beta = (\kappa^2 K + \lambda I)^{-1} Y` for
centre 0 and :math:`\beta = (\kappa^2 K + \lambda I)^{-1} (Y - f(W(0), X))` for centre
:math:`W(0)`, where it must also fit away the initial output (0 for the symmetric start):

.. math:: \delta_r^\top x_j = \frac{\kappa}{\sqrt m}\, a_r c_r\, u_j(w_r), \qquad
          u_j(w) = \sum_i \beta_i\, 1[w^\top x_i > 0]\, x_i^\top x_j .

A pattern flips when :math:`\delta_r^\top x_j` opposes :math:`w_r(0)^\top x_j` and exceeds
:math:`\rho\,|w_r(0)^\top x_j|`; the readout sign :math:`a_r` makes either sign equally
likely, so (Gaussian :math:`w_r`, :math:`c_r = 1`)

.. math:: \mathrm{flips} \approx \tfrac12\, P_{w \sim N(0, I),\, j}
          \Big[\tfrac{\kappa}{\sqrt m}\,|u_j(w)| > \rho\, |w^\top x_j|\Big],

estimated by Monte Carlo over ``num`` draws of w.  For small values it is
:math:`\approx \frac{\kappa\, e^{\lambda T}}{\sqrt m} \cdot \mathrm{const}` (centre 0): flips
fall like :math:`m^{-1/2}`, grow like :math:`e^{\lambda T}`, and at a fixed NTK-KRR target
(ridge r on K: :math:`\lambda = \kappa^2 r`, :math:`\beta = (K + rI)^{-1}Y / \kappa^2`) grow
like :math:`1/\kappa`: a smaller output scale needs larger moves of W for the same function.
:math:`\lambda T` itself does not depend on :math:`\kappa` at a fixed target
(:math:`T \propto 1/\kappa^2`).  The prediction is first order: it ignores that flipped
patterns change the features, so it is meant for the regime where flips are small.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from nnkrr import _checks
from nnkrr._linalg import mm

__all__ = ["pattern_flips", "predicted_flips"]


def pattern_flips(x, w0, wt, block: int | None = None) -> float:
    r"""Fraction of pairs (i, r) whose pattern :math:`1[w_r^\top x_i > 0]` differs between
    ``w0`` and ``wt`` (both ``(m, d)``), counted ``block`` neurons at a time (no ``(n, m)``
    intermediate larger than ``(n, block)``; ``None``: :data:`FLIPS_CHUNK_ENTRIES` / n, at
    most 16,384)."""
    x = _checks.as_matrix("x", x)
    w0, wt = _checks.as_matrix("w0", w0), _checks.as_matrix("wt", wt)
    if w0.shape != wt.shape:
        raise ValueError(f"w0 and wt must have the same shape, got {w0.shape} and {wt.shape}")
    _checks.check_same_features("x", x, "w0", w0)
    m = w0.shape[0]
    if block is None:
        block = min(16384, max(1, FLIPS_CHUNK_ENTRIES // x.shape[0]))
    block = min(_checks.check_positive_int("block", block), m)
    counts = np.asarray(_count_flips(x, w0, wt, block), np.int64)  # per block: no overflow
    return float(counts.sum()) / (x.shape[0] * m)


@functools.partial(jax.jit, static_argnums=3)
def _count_flips(x, w0, wt, block):
    pad = -w0.shape[0] % block
    w0p, wtp = (jnp.pad(w, ((0, pad), (0, 0))).reshape(-1, block, w.shape[1]) for w in (w0, wt))

    def count(_, ws):
        a, b = ws
        return None, jnp.sum((mm(a, x.T) > 0) != (mm(b, x.T) > 0), dtype=jnp.int32)

    return jax.lax.scan(count, None, (w0p, wtp))[1]


def predicted_flips(
    key: jax.Array, x, beta, *, kappa: float, width: int, decay: float, num: int = 4096
) -> float:
    r"""Pattern flips predicted by the linearised solution (module docstring).

    Args:
      key: PRNG key for the Monte Carlo draws of w.
      x: training inputs, ``(n, d)``.
      beta: dual coefficients :math:`(\kappa^2 K + \lambda I)^{-1} Y` (centre 0) or
        :math:`(\kappa^2 K + \lambda I)^{-1} (Y - f(W(0), X))` (centre W(0)), ``(n,)``.
      kappa: output scale :math:`\kappa`.
      width: m.
      decay: :math:`\rho`, the factor left of the initial weights: :math:`e^{-\lambda T}` for
        centre 0, 1 for centre :math:`W(0)`.
      num: Monte Carlo draws of w.
    """
    x = _checks.as_matrix("x", x)
    beta = _checks.as_matrix("beta", beta, ndim=1)
    if beta.shape[0] != x.shape[0]:
        raise ValueError(f"beta has {beta.shape[0]} entries but x has {x.shape[0]} rows")
    kappa = _checks.check_number("kappa", kappa, positive=True)
    width = _checks.check_positive_int("width", width)
    decay = _checks.check_number("decay", decay, positive=True)
    num = _checks.check_positive_int("num", num)
    chunk = min(num, max(1, FLIPS_CHUNK_ENTRIES // x.shape[0]))
    return float(_predicted_flips(key, x, beta, kappa / math.sqrt(width), decay, num, chunk))


#: Monte Carlo draws per step of :func:`predicted_flips`: ``FLIPS_CHUNK_ENTRIES / n`` of them
#: (at least 1), so a step's (draws, n) pre-activations stay at 128 MiB in float64.
FLIPS_CHUNK_ENTRIES = 2**24


@functools.partial(jax.jit, static_argnums=(5, 6))
def _predicted_flips(key, x, beta, scale, decay, num, chunk):
    w = jax.random.normal(key, (num, x.shape[1]), x.dtype)
    steps = -(-num // chunk)
    w = jnp.pad(w, ((0, steps * chunk - num), (0, 0))).reshape(steps, chunk, -1)

    def count(wc):  # padded draws (w = 0) have z = u = 0: never counted
        z = mm(wc, x.T)  # (chunk, n): w . x_j
        # u_j(w) = sum_i beta_i 1[w.x_i > 0] x_i.x_j, as ((1[.] beta) X) X^T: no (n, n) Gram
        u = mm(mm(jnp.where(z > 0, beta[None, :], 0), x), x.T)
        return jnp.sum(scale * jnp.abs(u) > decay * jnp.abs(z), dtype=jnp.int32)

    total = jnp.sum(jax.lax.map(count, w).astype(x.dtype))
    return 0.5 * total / (num * x.shape[0])
