r"""A job's scale record: the output scale :math:`\kappa`, the ridge on K and the training ridge
:math:`\lambda`, related once.

The network is :math:`f = \kappa/\sqrt{m} \sum_r a_r c_r \sigma(w_r \cdot x)`; its kernel is
:math:`\kappa^2 K`, and gradient descent on the loss with ridge :math:`\lambda` tends to
:math:`\kappa^2 K(x, X)(\kappa^2 K + \lambda I)^{-1} Y`.  With :math:`\lambda = \kappa^2 \cdot
\mathrm{ridge}` that is :math:`K(x, X)(K + \mathrm{ridge}\, I)^{-1} Y`, the same NTK-KRR target
in every regime: a config states ``ridge`` (and ``regime.kappa``); :class:`Scale` derives
:math:`\lambda`, and every consumer (the target, the leverage scores, the training loss, the
rows) reads it from there.

>>> s = Scale(kappa=0.1, ridge=0.1)
>>> s.lam, s.ridge
(0.001, 0.1)
"""

from __future__ import annotations

import dataclasses

from nnkrr.rules import POSITIVE

__all__ = ["Scale", "per_point", "round_15"]


def round_15(value: float) -> float:
    """To 15 significant digits: 0.1**2 * 0.1 is 0.001 here, not 0.0010000000000000002."""
    return float(f"{value:.15g}")


@dataclasses.dataclass(frozen=True)
class Scale:
    r"""Output scale :math:`\kappa > 0` and ridge on K; :attr:`lam` is the training ridge.

    Attributes:
      kappa: :math:`\kappa`, the network's output scale (its kernel is :math:`\kappa^2 K`).
      ridge: the ridge on K: the target is :math:`K(x, X)(K + \mathrm{ridge}\, I)^{-1} Y`.
    """

    kappa: float
    ridge: float

    def __post_init__(self):
        POSITIVE.require("kappa", self.kappa)
        POSITIVE.require("ridge", self.ridge)

    @property
    def lam(self) -> float:
        r""":math:`\lambda = \kappa^2 \cdot \mathrm{ridge}` (to 15 digits), the ridge of the
        training loss and of :math:`\kappa^2 K`."""
        return round_15(float(self.kappa) ** 2 * float(self.ridge))

    @classmethod
    def of(cls, cfg: dict) -> Scale:
        """The scale of a checked sweep config (``regime.kappa``, ``ridge``)."""
        return cls(kappa=float(cfg["regime"]["kappa"]), ridge=float(cfg["ridge"]))


def per_point(n: int, ridge0: float) -> float:
    r"""The per-sample ridge family :math:`\mathrm{ridge} = n\, \mathrm{ridge}_0` (the
    ``${nnkrr.per_point:${data.n_train},ridge0}`` resolver): with it the statistical dimension
    :math:`s_\lambda` of K settles as n grows (K's eigenvalues grow like n), where a fixed
    ridge lets it keep growing; ``experiments/spectral.py`` and the sweep's scaling presets
    run both families."""
    if n is None:
        raise ValueError("nnkrr.per_point needs data.n_train (null: the size is not known yet)")
    return round_15(int(n) * float(ridge0))
