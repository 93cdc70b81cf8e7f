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

**Predicting the saving before training** (:func:`predict`).  The law
``experiments/savings_law.py`` chose by leave-one-family-out error, :math:`R = C x^a` for a
statistic x of the leverage function under p (:func:`nnkrr.sampling.flatness`), and the
leverage width :math:`m_\mathrm{lev} = C' s_\lambda^{b}`, per level, with the 5–95% range of
their held-out log residuals as 90% intervals: their constants are in :data:`LAW_FILE`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path

import numpy as np

from nnkrr.scaling import STATS, check_bootstrap, resample_seeds
from nnkrr.scaling import curve as _curve
from nnkrr.scaling import width_at as _width_at

__all__ = [
    "LAW_FILE",
    "Estimate",
    "Prediction",
    "Savings",
    "law",
    "predict",
    "width_at_gap",
    "width_savings",
]


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


# --------------------------------------------------------------------------- prediction

#: The fitted law's constants, written by ``experiments/savings_law.py`` (shipped in the wheel).
LAW_FILE = Path(__file__).with_name("savings_law.json")


@functools.cache
def law() -> dict:
    """The law's constants (:data:`LAW_FILE`): the predictor's name, and per kind
    (``spectral``, ``network``) and level the fits and held-out log-residual ranges."""
    return json.loads(LAW_FILE.read_text())


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A predicted value with its 90% interval (from held-out residuals)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        fmt = "{:.3g}" if self.value < 100 else "{:.0f}"
        return f"{fmt.format(self.value)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"


@dataclasses.dataclass(frozen=True)
class Prediction:
    """:func:`predict`'s answer for one data set and ridge.

    Attributes:
      n: the data's rows; ``leverage_points``: the leverage function's (n, or a subsample's).
      lam: the ridge on K.
      s_lambda: the statistical dimension s_λ.
      predictor: the law's statistic (e.g. ``variance_ratio``); ``predictor_value`` its value.
      saving_spectral: level ε -> predicted m_gauss/m_lev for spectral error ε.
      saving_network: level (gap_rel) -> predicted m_gauss/m_lev for the network's gap.
      width_spectral, width_network: level -> ``{"leverage": Estimate, "gaussian": Estimate}``.
      seconds: the time the prediction took.
    """

    n: int
    leverage_points: int
    lam: float
    s_lambda: float
    predictor: str
    predictor_value: float
    saving_spectral: dict
    saving_network: dict
    width_spectral: dict
    width_network: dict
    seconds: float

    def as_dict(self) -> dict:
        """Plain floats and dicts (JSON)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=float))


def _statistic(name: str, stats: dict, n: int, lam: float) -> float:
    """A candidate predictor's value from :func:`nnkrr.sampling.flatness`'s statistics."""
    if name == "paper":
        return n / lam / stats["s_lambda"]
    if name == "coverage":
        return 1 / (1 - stats["zero_fraction"])
    return stats[name]


def _estimate(value: float, ln_low: float, ln_high: float) -> Estimate:
    return Estimate(value, value * math.exp(ln_low), value * math.exp(ln_high))


def predict(
    x,
    lam: float,
    *,
    key=None,
    kernel="relu_ntk",
    points: int | None = None,
    num: int = 65536,
) -> Prediction:
    r"""The width leverage sampling saves on data ``x`` at ridge ``lam`` on K, before training.

    Computes the leverage function (:func:`nnkrr.sampling.leverage`: exact up to
    :data:`nnkrr.sampling.LEVERAGE_EXACT_MAX_N` points, a subsample beyond, or ``points``),
    its statistics under p from ``num`` Gaussian draws (:func:`nnkrr.sampling.flatness`) and
    the law's predictions (:func:`law`):

    .. math:: R = C x^a, \qquad m_\mathrm{lev} = C' s_\lambda^{b}, \qquad
              m_\mathrm{gauss} = R\, m_\mathrm{lev},

    each per level, with 90% intervals from the law's held-out residuals (for
    :math:`m_\mathrm{gauss}` the two ranges added in quadrature).  The law was fitted at
    n = 128 (its ``fitted_on``); the widths extrapolate in s_λ, the savings in x.

    Args:
      x: inputs, shape ``(n, d)`` (unit-norm rows: the paper's setting).
      lam: the ridge λ on K, > 0.
      key: PRNG key of the draws (default ``key(0)``).
      kernel: the feature kernel (:data:`nnkrr.features.KERNELS`).
      points: the leverage function's subsample size (None: by n).
      num: Gaussian draws for the score statistics.

    Example:
      >>> from nnkrr import data
      >>> cone = predict(data.cone(0, 128).x_train, 0.1)
      >>> sphere = predict(data.synthetic(0, 128).x_train, 0.1)
      >>> cone.saving_spectral[0.25].value > 2 > sphere.saving_spectral[0.25].value
      True
    """
    import jax

    from nnkrr import _checks, sampling

    start = time.perf_counter()
    x = _checks.as_matrix("x", x)
    lam = _checks.check_number("lam", lam, positive=True)
    constants = law()
    key = jax.random.key(0) if key is None else key
    lev = sampling.leverage(x, lam, kernel=kernel, points=points)
    name = constants["predictor"]
    # the matrix variance terms only when the law is written in them (their cost: flatness)
    variance = name in ("variance_ratio", "intrinsic_dimension")
    stats = sampling.flatness(
        key, lev, num=num, variance_draws=sampling.VARIANCE_DRAWS if variance else 0
    )
    n = int(x.shape[0])
    value = _statistic(name, stats, n, lam)
    s_lam = stats["s_lambda"]
    out = {}
    for kind in ("spectral", "network"):
        savings, widths = {}, {}
        for level, c in constants[kind].items():
            r = _estimate(c["C"] * value ** c["a"], c["ln_low"], c["ln_high"])
            m_lev = _estimate(
                c["width_C"] * s_lam ** c["width_b"], c["width_ln_low"], c["width_ln_high"]
            )
            low = -math.hypot(c["ln_low"], c["width_ln_low"])
            high = math.hypot(c["ln_high"], c["width_ln_high"])
            m_gauss = _estimate(r.value * m_lev.value, low, high)
            savings[float(level)] = r
            widths[float(level)] = {"leverage": m_lev, "gaussian": m_gauss}
        out[kind] = (savings, widths)
    return Prediction(
        n=n,
        leverage_points=int(lev.x.shape[0]),
        lam=float(lam),
        s_lambda=float(s_lam),
        predictor=name,
        predictor_value=float(value),
        saving_spectral=out["spectral"][0],
        saving_network=out["network"][0],
        width_spectral=out["spectral"][1],
        width_network=out["network"][1],
        seconds=time.perf_counter() - start,
    )
