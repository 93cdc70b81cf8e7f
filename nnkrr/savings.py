r"""The width leverage-score initialisation saves: :math:`m_\mathrm{gauss}(\varepsilon) / m_\mathrm{lev}(\varepsilon)`.

The paper bounds the width each initialisation needs for the network to be
:math:`\varepsilon`-close to NTK-KRR; it leaves open how much smaller a network leverage
sampling needs *at equal gap*.  Measured curves answer it: for each sampler, the mean gap
(over seeds) at the grid widths :math:`m_1 < \dots < m_k`, and the width at which the curve
first reaches :math:`\varepsilon`,

.. math:: m(\varepsilon) = \exp\Big(\log m_{j-1} + \frac{\log g_{j-1} - \log\varepsilon}
          {\log g_{j-1} - \log g_j}\,(\log m_j - \log m_{j-1})\Big),

:math:`j` the first grid point with :math:`g_j \le \varepsilon` (log-log interpolation: exact
for power laws :math:`g = A m^{-a}`).  It is undefined (NaN) when the curve is already below
:math:`\varepsilon` at :math:`m_1` or never reaches it: the grid does not bracket
:math:`\varepsilon`.  The saving is the ratio of the two widths; its interval comes from a
bootstrap over seeds (seeds resampled with replacement at every width and sampler).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nnkrr.scaling import STATS, check_bootstrap, resample_seeds
from nnkrr.scaling import curve as _curve
from nnkrr.scaling import width_at as _width_at

__all__ = ["Savings", "width_at_gap", "width_savings"]


def width_at_gap(widths, gaps, eps: float) -> float:
    r"""Width at which the curve ``gaps`` (shape ``(k,)``, or ``(k, seeds)``: averaged over
    seeds) first reaches ``eps``, by log-log interpolation (module docstring); NaN where the
    grid does not bracket ``eps``."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    widths, gaps = _curve(widths, gaps, "gaps")
    return _width_at(np.log(widths), np.log(gaps.mean(axis=1)), np.log(eps))


@dataclasses.dataclass(frozen=True)
class Savings:
    """:func:`width_savings`' answer at one gap level.

    Attributes:
      eps: the gap level.
      ratio: :math:`m_\\mathrm{gauss}(\\varepsilon) / m_\\mathrm{lev}(\\varepsilon)` of the mean curves.
      low, high: the bootstrap percentile interval of the ratio (NaN if undefined).
      m_gaussian, m_leverage: the two widths.
      defined: fraction of bootstrap draws in which both widths were defined.
    """

    eps: float
    ratio: float
    low: float
    high: float
    m_gaussian: float
    m_leverage: float
    defined: float


def width_savings(
    widths,
    gaps_gaussian,
    gaps_leverage,
    eps: float,
    *,
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
    stat: str = "mean",
    widths_leverage=None,
) -> Savings:
    r"""How much narrower leverage initialisation is at gap ``eps``.

    Args:
      widths: grid widths, increasing, ``(k,)``.
      gaps_gaussian: gaps of Gaussian-initialised networks, ``(k, seeds)``.
      gaps_leverage: gaps of leverage-initialised networks, ``(k, seeds')``.
      eps: the gap level.
      n_boot: bootstrap resamples.
      level: coverage of the percentile interval.
      seed: NumPy seed of the bootstrap.
      stat: the curves' summary over seeds, ``"mean"`` or ``"median"``.
      widths_leverage: the leverage curve's own widths when its grid differs (default
        ``widths``).
    """
    check_bootstrap(eps, n_boot, level, stat)
    summary = STATS[stat]
    widths, g_gauss = _curve(widths, gaps_gaussian, "gaps_gaussian")
    widths_l, g_lev = _curve(
        widths if widths_leverage is None else widths_leverage, gaps_leverage, "gaps_leverage"
    )
    log_m, log_m_l, log_eps = np.log(widths), np.log(widths_l), np.log(eps)
    m_g = _width_at(log_m, np.log(summary(g_gauss, axis=1)), log_eps)
    m_l = _width_at(log_m_l, np.log(summary(g_lev, axis=1)), log_eps)

    rng = np.random.default_rng(seed)

    boot_g = resample_seeds(g_gauss, n_boot, rng, summary)
    boot_l = resample_seeds(g_lev, n_boot, rng, summary)
    ratios = np.array(
        [
            _width_at(log_m, np.log(bg), log_eps) / _width_at(log_m_l, np.log(bl), log_eps)
            for bg, bl in zip(boot_g, boot_l, strict=True)
        ]
    )
    finite = ratios[np.isfinite(ratios)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
    return Savings(
        eps=float(eps),
        ratio=m_g / m_l,
        low=float(low),
        high=float(high),
        m_gaussian=m_g,
        m_leverage=m_l,
        defined=finite.size / n_boot,
    )
