"""The analyses of gathered tables: slopes, needed widths, savings and scaling-law fits, as
tables (pandas in, pandas or Markdown out; no files, no figures).  The numerics are
:mod:`nnkrr.scaling` and :mod:`nnkrr.savings`; :mod:`experiments.findings` writes these tables
beside a sweep's figures (:mod:`experiments.plots`) and renders the published findings from them.

Spectral scaling (``+experiment=spectral_scaling``, ``experiments/spectral.py``): for each
(data set, n, lambda, sampler) the width m*(eps) at which the median spectral error over seeds
reaches eps, with a bootstrap interval over seeds, beside the quantities Thm 3.3 is written in
(Lee et al. 2020; Avron et al. 2017):

    leverage:  m >= (8/3) eps^-2 s_lam ln(16 s_lam / delta)
    Gaussian:  m >= (8/3) eps^-2 sup_w score(w) ln(16 s_lam / delta),  sup score <= n / lam

(unit-norm inputs for the last), and the fitted constants C of m* eps^2 = C x with the free
log-log slopes (:func:`spectral_scaling_fits`).  Equivalence scaling
(``+experiment=equivalence_scaling``): the width m*(n) at which the network's mean gap_rel
reaches a level, and its power law in n (:func:`equivalence_scaling_fits`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nnkrr import scaling


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & (y > 0) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def grouped_slopes(
    frame: pd.DataFrame, keys: list[str], x: str, y: str, agg: str = "mean"
) -> pd.DataFrame:
    """Fitted log-log slope of ``agg(y)`` (over seeds) versus ``x``, per group of ``keys``."""
    summary = frame.groupby(keys + [x], as_index=False)[y].agg(agg)
    return (
        summary.groupby(keys)
        .apply(lambda g: loglog_slope(g[x], g[y]), include_groups=False)
        .rename("slope")
        .reset_index()
    )


def spectral_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Fitted slope of median spectral_eps versus width m, per (dataset, ridge, kernel, sampler)
    of a spectral table (:data:`nnkrr.spectral.COLUMNS`)."""
    return grouped_slopes(
        frame, ["dataset", "ridge", "kernel", "sampler"], "width", "spectral_eps", "median"
    )


def gap_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Fitted slope of mean gap_rms versus width, per (dataset, regime, sampler)."""
    return grouped_slopes(frame, ["dataset", "regime", "sampler"], "width", "gap_rms")


def threshold_widths(
    frame: pd.DataFrame, keys: list[str], column: str = "gap_rel", threshold: float = 0.05
) -> pd.DataFrame:
    """Smallest width of the grid whose mean ``column`` (over seeds) is below ``threshold``,
    per group of ``keys``; ``reached`` False (and ``width`` the grid's largest) where no
    width of the grid gets there."""
    ok = frame[frame["status"] == "ok"]
    means = ok.groupby(keys + ["width"], as_index=False)[column].mean()
    rows = []
    for key, group in means.groupby(keys, sort=True):
        group = group.sort_values("width")
        below = group[group[column] < threshold]
        reached = not below.empty
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "width": int(below["width"].iloc[0] if reached else group["width"].iloc[-1]),
                "reached": reached,
                f"{column}_there": float(
                    below[column].iloc[0] if reached else group[column].iloc[-1]
                ),
            }
        )
    return pd.DataFrame(rows)


def regime_map_table(frame: pd.DataFrame, threshold: float = 0.05) -> str:
    """Markdown: per dataset, centre and kappa, the smallest width with gap_rel < threshold
    (or "not reached by 2^k"), with GD steps, lam*T and the flips there."""
    keys = ["dataset", "centre", "kappa"]
    table = threshold_widths(frame, keys, "gap_rel", threshold)
    ok = frame[frame["status"] == "ok"]
    lines = [
        f"| data | centre | κ | smallest width with gap_rel < {threshold:.0%} | gap_rel there "
        "| flips there (predicted) | GD steps | λT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        at = ok[
            (ok.dataset == row.dataset)
            & (ok.centre == row.centre)
            & (ok.kappa == row.kappa)
            & (ok.width == row.width)
        ]
        width = f"2^{int(np.log2(row.width))}"
        where = width if row.reached else f"not reached by {width}"
        lines.append(
            f"| {row.dataset} | {row.centre} | {row.kappa:g} | {where} | "
            f"{row.gap_rel_there:.3f} | {at.pattern_flips.mean():.3f} "
            f"({at.pattern_flips_pred.mean():.3f}) | {at.steps.median():.0f} | "
            f"{at.lam_T.median():.2f} |"
        )
    return "\n".join(lines) + "\n"


def width_savings_table(
    frame: pd.DataFrame,
    fractions=(0.5, 0.25),
    column: str = "gap_rel",
    n_boot: int = 2000,
    *,
    by=("dataset",),
    levels=None,
) -> pd.DataFrame:
    """Per ``by`` group (a data set; or a data set and ``n_train``): m_gaussian(eps) /
    m_leverage(eps) (:func:`nnkrr.savings.width_savings`) at gap levels eps = ``fractions``
    x the smaller of the two samplers' mean ``column`` at the smallest width, or at the
    absolute ``levels`` when given, with 90% bootstrap intervals over seeds; the flatness,
    s_lambda, n and the ridge on K of the group."""
    from nnkrr import savings

    ok = frame[frame["status"] == "ok"]
    rows = []
    for key, group in ok.groupby(list(by), sort=True):
        curves = {}
        for sampler, sub in group.groupby("sampler"):
            wide = sub.pivot_table(index="width", columns="init_seed", values=column)
            curves[sampler] = wide.dropna(axis=1)
        if set(curves) != {"gaussian", "leverage"}:
            continue
        g, lev = curves["gaussian"], curves["leverage"]  # each on its own widths
        start = min(g.iloc[0].mean(), lev.iloc[0].mean())
        targets = (
            [(lv, math.nan) for lv in levels] if levels else [(start * f, f) for f in fractions]
        )
        for eps, fraction in targets:
            out = savings.width_savings(
                g.index.to_numpy(),
                g.to_numpy(),
                lev.to_numpy(),
                eps,
                n_boot=n_boot,
                widths_leverage=lev.index.to_numpy(),
            )
            rows.append(
                {
                    **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                    "eps": out.eps,
                    "fraction": fraction,
                    "m_gaussian": out.m_gaussian,
                    "m_leverage": out.m_leverage,
                    "ratio": out.ratio,
                    "low": out.low,
                    "high": out.high,
                    "defined": out.defined,
                    "flatness": group["flatness"].median(),  # leverage rows (NaN: Gaussian)
                    "s_lambda": group["s_lambda"].median(),
                    "n": int(group["n_train"].iloc[0]),
                    "ridge": float(group["ridge"].iloc[0]),
                    "seeds": int(min(g.shape[1], lev.shape[1])),
                    "steps": group["steps"].median(),
                    "lam_T": group["lam_T"].median(),
                }
            )
    return pd.DataFrame(rows)


def width_savings_markdown(table: pd.DataFrame) -> str:
    """:func:`width_savings_table` in Markdown (``width_savings_table.md``, the findings page)."""
    lines = [
        "| data | flatness sup score/s_λ | gap level ε (gap_rel) | m_gauss(ε) | m_lev(ε) "
        "| m_gauss/m_lev [90% bootstrap] | GD steps | λT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        ratio = (
            "grid does not bracket ε"
            if np.isnan(r.ratio)
            else (f"{r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}]")
        )
        widths = [f"{w:.0f}" if np.isfinite(w) else "—" for w in (r.m_gaussian, r.m_leverage)]
        lines.append(
            f"| {r.dataset} | {r.flatness:.2f} | {r.eps:.4f} | {widths[0]} | {widths[1]} | "
            f"{ratio} | {r.steps:.0f} | {r.lam_T:.2f} |"
        )
    return "\n".join(lines) + "\n"


#: The spectral errors at which the width needed is read off.
EPS_LEVELS = (0.5, 0.25)
#: Avron et al.'s constant: m >= AVRON_C eps^-2 D ln(16 s_lam / delta).
AVRON_C = 8 / 3
#: (sampler, predictor column, what it is): the theory's x for each sampler.
PREDICTORS = (
    ("leverage", "x_s_lambda", "s_λ ln(16 s_λ/δ)"),
    ("gaussian", "x_sup_score", "sup score ln(16 s_λ/δ)"),
    ("gaussian", "x_n_over_lam", "(n/λ) ln(16 s_λ/δ)"),
)
#: A spectral table's groups (its columns: :data:`nnkrr.spectral.COLUMNS`); the tables below
#: name them n, lam (the ridge on K: no output scale), family and sampler.
KEYS = ["dataset", "n_train", "ridge", "family", "sampler"]


def family(frame: pd.DataFrame) -> pd.Series:
    """The ridge family of each spectral row: ``per_point`` (ridge = n ridge_per_point) or
    ``fixed``."""
    if "ridge_per_point" not in frame:
        return pd.Series("fixed", index=frame.index)
    return frame.ridge_per_point.isna().map({True: "fixed", False: "per_point"})


def spectral_scaling_table(frame: pd.DataFrame, eps_levels=EPS_LEVELS, n_boot: int = 2000):
    """One row per (data set, n, lambda, sampler, eps): m*(eps) (median over seeds) and its
    90% bootstrap interval, the theory's quantities and x = D ln(16 s_lam / delta)."""
    out = []
    frame = frame.assign(family=family(frame))
    for (dataset, n, lam, fam, sampler), group in frame.groupby(KEYS, sort=True):
        pivot = group.pivot_table(
            index="width", columns="init_seed", values="spectral_eps"
        ).sort_index()
        pivot = pivot.dropna(axis=1)
        first = group.iloc[0]
        s_lam, delta = float(first.s_lambda), float(first.delta)
        log = math.log(16 * s_lam / delta)
        for eps in eps_levels:
            need = (
                scaling.needed_width(
                    pivot.index.to_numpy(), pivot.to_numpy(), eps, n_boot=n_boot, seed=int(n)
                )
                if len(pivot) >= 2
                else scaling.NeededWidth(eps, math.nan, math.nan, math.nan, 0.0)
            )
            out.append(
                {
                    "dataset": dataset,
                    "n": int(n),
                    "lam": float(lam),
                    "family": fam,
                    "sampler": sampler,
                    "eps": eps,
                    "m_star": need.m,
                    "m_low": need.low,
                    "m_high": need.high,
                    "defined": need.defined,
                    "seeds": pivot.shape[1],
                    "widths": f"{int(pivot.index.min())}-{int(pivot.index.max())}",
                    "s_lambda": s_lam,
                    "sup_score": float(first.flatness) * s_lam,
                    "bound": float(first.bound_over_s_lambda) * s_lam,
                    "n_over_lam": n / lam,
                    "delta": delta,
                    "y": need.m * eps**2,
                    "x_s_lambda": s_lam * log,
                    "x_sup_score": float(first.flatness) * s_lam * log,
                    "x_n_over_lam": n / lam * log,
                }
            )
    return pd.DataFrame(out)


def spectral_scaling_fits(table: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """y = C x per (data set and all pooled, sampler, predictor, eps and both pooled): C with
    the slope fixed at 1, and the free log-log slope, with 90% bootstrap intervals over the
    points.  At the smallest n the two ridge families are one run: counted once."""
    table = table.drop_duplicates(subset=["dataset", "n", "lam", "sampler", "eps"])
    rows = []
    for dataset in ["all", *sorted(set(table.dataset))]:
        data = table if dataset == "all" else table[table.dataset == dataset]
        for sampler, column, label in PREDICTORS:
            sub = data[data.sampler == sampler]
            for eps in [*sorted(set(sub.eps)), "all"]:
                part = sub if eps == "all" else sub[sub.eps == eps]
                fixed = scaling.power_law(part[column], part.y, slope=1.0, n_boot=n_boot)
                free = scaling.power_law(part[column], part.y, n_boot=n_boot)
                rows.append(
                    {
                        "data": dataset,
                        "sampler": sampler,
                        "predictor": label,
                        "eps": eps,
                        "points": fixed.points,
                        "C": fixed.constant,
                        "C_low": fixed.constant_low,
                        "C_high": fixed.constant_high,
                        "C_over_8_3": fixed.constant / AVRON_C,
                        "rms_log_residual": fixed.rms_log_residual,
                        "slope": free.slope,
                        "slope_low": free.slope_low,
                        "slope_high": free.slope_high,
                        "rms_log_residual_free": free.rms_log_residual,
                    }
                )
    return pd.DataFrame(rows)


def spectral_n_exponents(table: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """The exponent a of m*(eps) = C n^a per (data set, ridge family, sampler, eps), with its
    90% bootstrap interval over the n (:func:`nnkrr.scaling.power_law`), and the same for
    s_lam: under lam fixed both grow with n (s_lam does); under lam = n lam0 an exponent near
    0 says the width stops growing once s_lam settles.  The smallest n, where the families
    are one run, belongs to both."""
    rows = []
    for (dataset, fam, sampler, eps), sub in table.groupby(
        ["dataset", "family", "sampler", "eps"], sort=True
    ):
        sub = sub[np.isfinite(sub.m_star)].sort_values("n")
        width = scaling.power_law(sub.n, sub.m_star, n_boot=n_boot)
        s_lam = scaling.power_law(sub.n, sub.s_lambda, n_boot=1)
        rows.append(
            {
                "dataset": dataset,
                "family": fam,
                "sampler": sampler,
                "eps": eps,
                "points": width.points,
                "n_min": int(sub.n.min()),
                "n_max": int(sub.n.max()),
                "exponent": width.slope,
                "low": width.slope_low,
                "high": width.slope_high,
                "s_lambda_exponent": s_lam.slope,
            }
        )
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, floats: str = "{:.3g}") -> str:
    """A table in Markdown, floats as ``floats`` formats them."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [floats.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: The relative gaps at which the width the network needs is read off.
GAP_LEVELS = (0.05, 0.025)
EQ_KEYS = ["dataset", "n_train", "sampler"]


def equivalence_scaling_table(frame: pd.DataFrame, levels=GAP_LEVELS, n_boot: int = 2000):
    """One row per (data set, n, sampler, gap level): m*(n), the width at which the mean
    ``gap_rel`` over seeds reaches the level (90% bootstrap interval over seeds), the target's
    scale (rms of the NTK-KRR predictor f* on the test points: the gap is relative to it) and
    the regime at the first grid width >= m* (median GD steps, lambda T, pattern flips)."""
    ok = frame[frame["status"] == "ok"]
    out = []
    for (dataset, n, sampler), group in ok.groupby(EQ_KEYS, sort=True):
        pivot = group.pivot_table(index="width", columns="init_seed", values="gap_rel")
        pivot = pivot.sort_index().dropna(axis=1)
        for level in levels:
            need = (
                scaling.needed_width(
                    pivot.index.to_numpy(),
                    pivot.to_numpy(),
                    level,
                    stat="mean",
                    n_boot=n_boot,
                    seed=int(n),
                )
                if len(pivot) >= 2
                else scaling.NeededWidth(level, math.nan, math.nan, math.nan, 0.0)
            )
            at = group[group.width >= need.m] if np.isfinite(need.m) else group.iloc[:0]
            at = at[at.width == at.width.min()] if len(at) else at
            out.append(
                {
                    "dataset": dataset,
                    "n": int(n),
                    "sampler": sampler,
                    "gap_level": level,
                    "m_star": need.m,
                    "m_low": need.low,
                    "m_high": need.high,
                    "defined": need.defined,
                    "seeds": pivot.shape[1],
                    "ridge": float(group.ridge.iloc[0]),
                    "lam": float(group.lam.iloc[0]),
                    "f_star_rms": float(group.f_star_rms.median()),
                    "flatness": float(group.flatness.median()),
                    "steps": float(at.steps.median()) if len(at) else math.nan,
                    "lam_T": float(at.lam_T.median()) if len(at) else math.nan,
                    "pattern_flips": float(at.pattern_flips.median()) if len(at) else math.nan,
                }
            )
    return pd.DataFrame(out)


def _mean_curve(group: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Widths (increasing) and the mean over seeds of ``column`` at each."""
    mean = group.groupby("width")[column].mean().sort_index()
    return mean.index.to_numpy(np.float64), mean.to_numpy(np.float64)


def _log_interp(widths: np.ndarray, values: np.ndarray, m: float) -> float:
    """``values`` at width ``m``, interpolated linearly in log-log; NaN outside the grid."""
    if not np.isfinite(m) or m < widths[0] or m > widths[-1] or np.any(values <= 0):
        return math.nan
    return float(np.exp(np.interp(np.log(m), np.log(widths), np.log(values))))


def equivalence_flips_table(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """What leverage saves at equal gap and at equal laziness, per (data set, n, gap level).

    At equal gap: R_gap = m*_gauss / m*_lev (``table``, :func:`equivalence_scaling_table`).
    At equal pattern flips: f = the Gaussian networks' mean flipped fraction at m*_gauss
    (log-log interpolated between grid widths); m_lev(f) the width at which the leverage
    networks' mean flips come down to f, and R_flips = m*_gauss / m_lev(f); beside it the
    leverage networks' gap_rel there. Where the leverage grid does not reach f,
    ``m_lev_flips`` is NaN and ``saving_flips_at_most`` = m*_gauss / (its widest width) bounds
    R_flips from above. Laziness in function space beside it: ``nonlin_share_gauss`` and
    ``nonlin_share_lev``, each sampler's mean gap_nonlin / gap_rms (the network's distance from
    its own linearisation, as a multiple of its distance from f*) at its m*."""
    ok = frame[frame["status"] == "ok"]
    out = []
    for (dataset, n, level), sub in table.groupby(["dataset", "n", "gap_level"]):
        by = sub.set_index("sampler").m_star
        if not {"gaussian", "leverage"} <= set(by.index):
            continue
        rows = ok[(ok.dataset == dataset) & (ok.n_train == n)]
        m_g = float(by["gaussian"])
        flips_g = _log_interp(*_mean_curve(rows[rows.sampler == "gaussian"], "pattern_flips"), m_g)
        rows = rows.assign(nonlin_share=rows.gap_nonlin / rows.gap_rms)
        share = {
            s: _log_interp(*_mean_curve(rows[rows.sampler == s], "nonlin_share"), float(by[s]))
            for s in ("gaussian", "leverage")
        }
        lev = rows[rows.sampler == "leverage"]
        widths, flips_l = _mean_curve(lev, "pattern_flips")
        m_f = (
            scaling.width_at(np.log(widths), np.log(flips_l), math.log(flips_g))
            if np.isfinite(flips_g) and np.all(flips_l > 0)
            else math.nan
        )
        out.append(
            {
                "dataset": dataset,
                "n": int(n),
                "gap_level": level,
                "m_gauss": m_g,
                "m_lev": float(by["leverage"]),
                "saving_gap": m_g / float(by["leverage"]),
                "flips_gauss": flips_g,
                "flips_lev_at_m_lev": _log_interp(widths, flips_l, float(by["leverage"])),
                "m_lev_flips": m_f,
                "saving_flips": m_g / m_f,
                "saving_flips_at_most": m_g / widths[-1] if not np.isfinite(m_f) else math.nan,
                "lev_widest": widths[-1],
                "gap_lev_at_m_lev_flips": _log_interp(*_mean_curve(lev, "gap_rel"), m_f),
                "nonlin_share_gauss": share["gaussian"],
                "nonlin_share_lev": share["leverage"],
            }
        )
    return pd.DataFrame(out)


def _exponent_row(dataset: str, what: str, level: float, fit: scaling.PowerLaw) -> dict:
    return {
        "dataset": dataset,
        "what": what,
        "gap_level": level,
        "points": fit.points,
        "exponent": fit.slope,
        "low": fit.slope_low,
        "high": fit.slope_high,
        "C": fit.constant,
    }


def equivalence_scaling_fits(table: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """The exponent a of m*(n) = C n^a per (data set, sampler, gap level), with its 90%
    bootstrap interval over the n; and per (data set, level) the width leverage saves,
    m*_gauss(n) / m*_lev(n), as its own power law in n."""
    rows = []
    for (dataset, sampler, level), sub in table.groupby(["dataset", "sampler", "gap_level"]):
        fit = scaling.power_law(sub.n, sub.m_star, n_boot=n_boot)
        rows.append(_exponent_row(dataset, f"m* ({sampler})", level, fit))
    for (dataset, level), sub in table.groupby(["dataset", "gap_level"]):
        wide = sub.pivot_table(index="n", columns="sampler", values="m_star")
        if {"gaussian", "leverage"} <= set(wide.columns):
            ratio = wide.gaussian / wide.leverage
            fit = scaling.power_law(ratio.index, ratio.to_numpy(), n_boot=n_boot)
            rows.append(_exponent_row(dataset, "m*_gauss / m*_lev", level, fit))
    return pd.DataFrame(rows)
