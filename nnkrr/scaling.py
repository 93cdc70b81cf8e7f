r"""Scaling laws: the width a curve needs to reach a level, and power laws fitted to them.

**The width needed.**  For a curve measured at widths :math:`m_1 < \dots < m_k` with several
seeds (the spectral error :math:`\varepsilon(m)`, the relative gap), the width at which its
summary over seeds (the median, or the mean) first reaches the level :math:`\varepsilon`,

.. math:: m^*(\varepsilon) = \exp\Big(\log m_{j-1} + \frac{\log g_{j-1} - \log\varepsilon}
          {\log g_{j-1} - \log g_j}\,(\log m_j - \log m_{j-1})\Big),

:math:`j` the first grid point with :math:`g_j \le \varepsilon` (log-log interpolation: exact
for power laws :math:`g = A m^{-a}`).  NaN when the grid does not bracket :math:`\varepsilon`
(already below it at :math:`m_1`, or never reaching it).  :func:`needed_width` adds a
percentile interval from a bootstrap over seeds (seeds drawn with replacement at every width).

**Power laws.**  :func:`power_law` fits :math:`y = C x^a` by least squares in log-log (the
slope :math:`a` and constant :math:`C`), with bootstrap intervals over the points; with
``slope=1`` it fits the constant alone, :math:`C = \exp(\mathrm{mean}(\log y - \log x))`, the
form of Thm 3.3 (:math:`m^* \varepsilon^2 = C\, s_\lambda \log(s_\lambda/\delta)`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["NeededWidth", "PowerLaw", "held_out_residuals", "needed_width", "power_law", "width_at"]

STATS = {"median": np.median, "mean": np.mean}


def curve(widths, values, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``widths`` ``(k,)`` increasing and positive, ``values`` ``(k, seeds)`` positive."""
    widths = np.asarray(widths, np.float64)
    values = np.asarray(values, np.float64)
    if widths.ndim != 1 or widths.shape[0] < 2:
        raise ValueError(f"widths must be a vector of >= 2 widths, got shape {widths.shape}")
    if not (np.all(widths > 0) and np.all(np.diff(widths) > 0)):
        raise ValueError(f"widths must be positive and increasing, got {widths.tolist()}")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != widths.shape[0] or values.shape[1] < 1:
        raise ValueError(
            f"{name} must have shape (widths, seeds) = ({widths.shape[0]}, s), got {values.shape}"
        )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"{name} must be positive and finite")
    return widths, values


def width_at(log_m: np.ndarray, log_g: np.ndarray, log_eps: float) -> float:
    """The log-log interpolated width at which ``log_g`` first reaches ``log_eps`` (module
    docstring); NaN where the grid does not bracket it."""
    below = np.flatnonzero(log_g <= log_eps)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    j = below[0]
    t = (log_g[j - 1] - log_eps) / (log_g[j - 1] - log_g[j])
    return float(np.exp(log_m[j - 1] + t * (log_m[j] - log_m[j - 1])))


def resample_seeds(values: np.ndarray, n_boot: int, rng, stat) -> np.ndarray:
    """``(n_boot, k)``: the summary over seeds drawn with replacement at each width."""
    k, s = values.shape
    idx = rng.integers(0, s, size=(n_boot, k, s))
    return stat(np.take_along_axis(np.broadcast_to(values, (n_boot, k, s)), idx, axis=2), axis=2)


@dataclasses.dataclass(frozen=True)
class NeededWidth:
    """:func:`needed_width`'s answer: the width ``m`` with its bootstrap interval
    ``[low, high]`` and the fraction of bootstrap draws in which it was ``defined``."""

    eps: float
    m: float
    low: float
    high: float
    defined: float


def check_bootstrap(eps, n_boot, level, stat: str = "mean") -> None:
    """Refuse a level eps <= 0, a coverage outside (0, 1), n_boot < 1, an unknown stat."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not (isinstance(n_boot, int) and n_boot >= 1):
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if stat not in STATS:
        raise ValueError(f"stat must be one of {sorted(STATS)}, got {stat!r}")


def needed_width(
    widths,
    values,
    eps: float,
    *,
    stat: str = "median",
    n_boot: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> NeededWidth:
    r"""The width :math:`m^*(\varepsilon)` at which the ``stat`` over seeds of ``values``
    (shape ``(k, seeds)`` at the ``k`` increasing ``widths``) first reaches ``eps``, with a
    ``level`` percentile interval from ``n_boot`` resamples of the seeds.

    Example:
      >>> import numpy as np
      >>> m = np.array([64.0, 256.0, 1024.0])
      >>> round(needed_width(m, 2 * m[:, None] ** -0.5, 0.125).m, 9)  # 2 m^-1/2 = 1/8 at m = 256
      256.0
    """
    check_bootstrap(eps, n_boot, level, stat)
    widths, values = curve(widths, values, "values")
    log_m, log_eps = np.log(widths), np.log(eps)
    m = width_at(log_m, np.log(STATS[stat](values, axis=1)), log_eps)
    boot = resample_seeds(values, n_boot, np.random.default_rng(seed), STATS[stat])
    draws = np.array([width_at(log_m, np.log(b), log_eps) for b in boot])
    finite = draws[np.isfinite(draws)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
    return NeededWidth(float(eps), m, float(low), float(high), finite.size / n_boot)


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """:func:`power_law`'s fit :math:`y = C x^a`: the ``slope`` a and ``constant`` C with
    their bootstrap intervals, the residuals' RMS in log ``y`` and the points used."""

    slope: float
    slope_low: float
    slope_high: float
    constant: float
    constant_low: float
    constant_high: float
    rms_log_residual: float
    points: int


def power_law(
    x, y, *, slope: float | None = None, n_boot: int = 2000, level: float = 0.9, seed: int = 0
) -> PowerLaw:
    r"""Fit :math:`y = C x^a` to the finite positive points (log-log least squares); with
    ``slope`` given, only :math:`C` (module docstring).  Intervals: percentiles over
    ``n_boot`` resamples of the points with replacement."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    need = 1 if slope is not None else 2
    if lx.size < need or (slope is None and np.ptp(lx) == 0):
        nan = float("nan")
        return PowerLaw(nan, nan, nan, nan, nan, nan, nan, int(lx.size))

    def fit(lx, ly):
        if slope is not None:
            return float(slope), float(np.mean(ly - slope * lx))
        if np.ptp(lx) == 0:
            return float("nan"), float("nan")
        a, b = np.polyfit(lx, ly, 1)
        return float(a), float(b)

    a, b = fit(lx, ly)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, lx.size, size=(n_boot, lx.size))
    boot = np.array([fit(lx[i], ly[i]) for i in idx])
    boot = boot[np.all(np.isfinite(boot), axis=1)]
    tail = 100 * (1 - level) / 2
    (a_lo, a_hi), (b_lo, b_hi) = (np.percentile(boot[:, j], [tail, 100 - tail]) for j in (0, 1))
    residual = float(np.sqrt(np.mean((ly - (a * lx + b)) ** 2)))
    return PowerLaw(
        a,
        float(a_lo),
        float(a_hi),
        float(np.exp(b)),
        float(np.exp(b_lo)),
        float(np.exp(b_hi)),
        residual,
        int(lx.size),
    )


def held_out_residuals(x, y, groups, *, slope: float | None = None) -> np.ndarray:
    r"""Leave-one-group-out residuals of :func:`power_law`: for each group g, :math:`y = C x^a`
    fitted on the other groups' points, and :math:`\ln(C x_i^a / y_i)` for g's points i.

    A law judged on the points it was fitted to describes them; these residuals say how it
    predicts a group it never saw.  Shapes: ``x``, ``y``, ``groups`` ``(k,)``.  NaN where a
    point is not finite and positive, or its fold has too few points to fit.

    >>> x = np.array([1.0, 2.0, 4.0, 8.0]); y = 3 * x**0.5
    >>> np.allclose(held_out_residuals(x, y, np.array([0, 0, 1, 1])), 0)
    True
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    groups = np.asarray(groups)
    if not (x.shape == y.shape == groups.shape) or x.ndim != 1:
        raise ValueError(
            f"x, y and groups must be vectors of one length, got {x.shape}, {y.shape}, {groups.shape}"
        )
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    for g in np.unique(groups):
        held = groups == g
        train = ok & ~held
        need = 1 if slope is not None else 2
        if train.sum() < need or (slope is None and np.ptp(np.log(x[train])) == 0):
            continue
        lx, ly = np.log(x[train]), np.log(y[train])
        a = float(slope) if slope is not None else float(np.polyfit(lx, ly, 1)[0])
        b = float(np.mean(ly - a * lx))
        pick = held & ok
        out[pick] = a * np.log(x[pick]) + b - np.log(y[pick])
    return out
