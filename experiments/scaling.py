"""Scaling-law tables and figures from gathered tables (the imperative edge; the numerics are
:mod:`nnkrr.scaling`).

``spectral_scaling_figures`` is the gathering step of ``+experiment=spectral_scaling``
(``experiments/spectral.py``): for each (data set, n, lambda, sampler) the width
m*(eps) at which the median spectral error over seeds reaches eps, with a bootstrap interval
over seeds, beside the quantities Thm 3.3 is written in (Lee et al. 2020; Avron et al. 2017):

    leverage:  m >= (8/3) eps^-2 s_lam ln(16 s_lam / delta)
    Gaussian:  m >= (8/3) eps^-2 sup_w score(w) ln(16 s_lam / delta),  sup score <= n / lam

(unit-norm inputs for the last).  Every run is a point of ``spectral_scaling.png``:
m*(eps) eps^2 against s_lam ln(16 s_lam / delta) (leverage), and against the estimated
sup score and n / lam times the same logarithm (Gaussian), with the line y = (8/3) x, the
provable bound.  ``spectral_scaling_fits.md`` has the fitted constants C of y = C x and the
free log-log slopes, with bootstrap intervals over the points.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import plots
from nnkrr import scaling

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
KEYS = ["dataset", "n", "lam", "family", "sampler"]


def family(frame: pd.DataFrame) -> pd.Series:
    """The ridge family of each row: ``per_point`` (lam = n lam_per_point) or ``fixed``."""
    if "lam_per_point" not in frame:
        return pd.Series("fixed", index=frame.index)
    return frame.lam_per_point.isna().map({True: "fixed", False: "per_point"})


def spectral_scaling_table(frame: pd.DataFrame, eps_levels=EPS_LEVELS, n_boot: int = 2000):
    """One row per (data set, n, lambda, sampler, eps): m*(eps) (median over seeds) and its
    90% bootstrap interval, the theory's quantities and x = D ln(16 s_lam / delta)."""
    out = []
    frame = frame.assign(family=family(frame))
    for (dataset, n, lam, fam, sampler), group in frame.groupby(KEYS, sort=True):
        pivot = group.pivot_table(index="m", columns="seed", values="eps").sort_index()
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


def _markdown(frame: pd.DataFrame, floats: str = "{:.3g}") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [floats.format(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def spectral_scaling_figures(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``spectral_scaling.png``, ``spectral_scaling_table.csv``/``.md`` and
    ``spectral_scaling_fits.md`` in ``directory`` (module docstring)."""
    directory = Path(directory)
    paths = []
    table = spectral_scaling_table(frame)
    fits = spectral_scaling_fits(table)
    table.to_csv(directory / "spectral_scaling_table.csv", index=False)
    shown = table[
        [
            "dataset",
            "n",
            "lam",
            "family",
            "sampler",
            "eps",
            "m_star",
            "m_low",
            "m_high",
            "s_lambda",
            "sup_score",
            "bound",
            "n_over_lam",
        ]
    ]
    (directory / "spectral_scaling_table.md").write_text(_markdown(shown))
    (directory / "spectral_scaling_fits.md").write_text(_markdown(fits))

    fig, axes = plots.plt.subplots(1, 3, figsize=(15, 4.8))
    markers = {name: mk for name, mk in zip(sorted(set(table.dataset)), "osD^v", strict=False)}
    colors = {0.5: "tab:green", 0.25: "tab:purple"}
    for ax, (sampler, column, label) in zip(axes, PREDICTORS, strict=True):
        sub = table[(table.sampler == sampler) & np.isfinite(table.m_star)]
        for r in sub.itertuples():
            filled = r.family == "fixed"
            err = [[r.y - r.m_low * r.eps**2], [r.m_high * r.eps**2 - r.y]]
            ax.errorbar(
                getattr(r, column),
                r.y,
                yerr=np.maximum(err, 0),
                fmt=markers[r.dataset],
                color=colors.get(r.eps, "k"),
                mfc=colors.get(r.eps, "k") if filled else "w",
                ms=6,
                lw=0.8,
                capsize=2,
            )
        xs = np.geomspace(max(table[column].min(), 1e-3) / 2, table[column].max() * 2, 10)
        ax.plot(xs, AVRON_C * xs, "k--", lw=1, label="y = (8/3) x (the provable bound)")
        for dataset in markers:
            one = sub[sub.dataset == dataset].drop_duplicates(["n", "lam", "eps"])
            fit = scaling.power_law(one[column], one.y, slope=1.0, n_boot=200)
            ax.plot(
                xs,
                fit.constant * xs,
                ":",
                color="0.4",
                lw=1,
                label=f"{dataset}: fit y = {fit.constant:.3g} x",
            )
        for name, mk in markers.items():
            ax.plot([], [], mk, color="0.3", label=name)
        for eps, color in colors.items():
            ax.plot([], [], "s", color=color, label=f"ε = {eps}")
        ax.plot([], [], "o", color="0.3", label="filled: λ fixed")
        ax.plot([], [], "o", color="0.3", mfc="w", label="open: λ = n λ₀")
        seeds = int(sub.seeds.min()) if len(sub) else 0
        delta = float(table.delta.iloc[0]) if len(table) else math.nan
        plots._loglog(
            ax,
            label,
            "m*(ε) ε²  (median over seeds; bar: 90% bootstrap)",
            f"{sampler}: m*(ε) ε² vs {label}\n{seeds} seeds a width, δ = {delta:g}, "
            f"{len(sub)} points",
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = directory / "spectral_scaling.png"
    fig.savefig(path, dpi=120)
    plots.plt.close(fig)
    return [
        *paths,
        path,
        directory / "spectral_scaling_table.md",
        directory / "spectral_scaling_fits.md",
    ]


# --------------------------------------------------------------------------- equivalence

#: The relative gaps at which the width the network needs is read off.
GAP_LEVELS = (0.05, 0.025)
EQ_KEYS = ["dataset", "n_train", "sampler"]


def equivalence_scaling_table(frame: pd.DataFrame, levels=GAP_LEVELS, n_boot: int = 2000):
    """One row per (data set, n, sampler, gap level): m*(n), the width at which the mean
    ``gap_rel`` over seeds reaches the level (90% bootstrap interval over seeds), and the
    regime at the first grid width >= m* (median GD steps, lambda T, pattern flips)."""
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
                    "flatness": float(group.flatness.median()),
                    "steps": float(at.steps.median()) if len(at) else math.nan,
                    "lam_T": float(at.lam_T.median()) if len(at) else math.nan,
                    "pattern_flips": float(at.pattern_flips.median()) if len(at) else math.nan,
                }
            )
    return pd.DataFrame(out)


def equivalence_scaling_fits(table: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """The exponent a of m*(n) = C n^a per (data set, sampler, gap level), with its 90%
    bootstrap interval over the n; and per (data set, level) the width leverage saves,
    m*_gauss(n) / m*_lev(n), as its own power law in n."""
    rows = []
    for (dataset, sampler, level), sub in table.groupby(["dataset", "sampler", "gap_level"]):
        fit = scaling.power_law(sub.n, sub.m_star, n_boot=n_boot)
        rows.append(
            {
                "dataset": dataset,
                "what": f"m* ({sampler})",
                "gap_level": level,
                "points": fit.points,
                "exponent": fit.slope,
                "low": fit.slope_low,
                "high": fit.slope_high,
                "C": fit.constant,
            }
        )
    for (dataset, level), sub in table.groupby(["dataset", "gap_level"]):
        wide = sub.pivot_table(index="n", columns="sampler", values="m_star")
        if {"gaussian", "leverage"} <= set(wide.columns):
            ratio = wide.gaussian / wide.leverage
            fit = scaling.power_law(ratio.index, ratio.to_numpy(), n_boot=n_boot)
            rows.append(
                {
                    "dataset": dataset,
                    "what": "m*_gauss / m*_lev",
                    "gap_level": level,
                    "points": fit.points,
                    "exponent": fit.slope,
                    "low": fit.slope_low,
                    "high": fit.slope_high,
                    "C": fit.constant,
                }
            )
    return pd.DataFrame(rows)


def equivalence_scaling_figures(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``equivalence_scaling.png`` (m*(n) per data set, both samplers and gap levels, with the
    fitted exponents), ``equivalence_scaling_table.{md,csv}``, ``equivalence_scaling_fits.md``,
    and the sweep's usual gap figures."""
    directory = Path(directory)
    table = equivalence_scaling_table(frame)
    fits = equivalence_scaling_fits(table)
    table.to_csv(directory / "equivalence_scaling_table.csv", index=False)
    (directory / "equivalence_scaling_table.md").write_text(_markdown(table))
    (directory / "equivalence_scaling_fits.md").write_text(_markdown(fits))
    datasets = sorted(set(table.dataset))
    fig, axes = plots.plt.subplots(
        1, max(len(datasets), 1), figsize=(6 * max(len(datasets), 1), 4.8), squeeze=False
    )
    styles = {0.05: "o-", 0.025: "s--"}
    for ax, dataset in zip(axes[0], datasets, strict=False):
        for (sampler, level), sub in table[table.dataset == dataset].groupby(
            ["sampler", "gap_level"]
        ):
            sub = sub[np.isfinite(sub.m_star)]
            if sub.empty:
                continue
            a = fits[
                (fits.dataset == dataset)
                & (fits.what == f"m* ({sampler})")
                & (fits.gap_level == level)
            ].exponent
            err = np.maximum([sub.m_star - sub.m_low, sub.m_high - sub.m_star], 0)
            ax.errorbar(
                sub.n,
                sub.m_star,
                yerr=err,
                fmt=styles.get(level, "o-"),
                color=plots.COLORS.get(sampler),
                capsize=2,
                label=f"{sampler}, gap_rel {level:g}: m* ∝ n^{float(a.iloc[0]):.2f}",
            )
        ok = frame[(frame.dataset == dataset) & (frame.status == "ok")]
        plots._loglog(
            ax,
            "training points n",
            "m*: width where mean gap_rel reaches the level",
            f"{dataset} (d={ok.dim.iloc[0]}), {ok.regime.iloc[0]} regime, λ = n λ₀, "
            f"{ok.init_seed.nunique()} seeds\nbars: 90% bootstrap over seeds; "
            f"GD steps {ok.steps.min():.0f}–{ok.steps.max():.0f}",
        )
    fig.tight_layout()
    path = directory / "equivalence_scaling.png"
    fig.savefig(path, dpi=120)
    plots.plt.close(fig)
    return [
        path,
        directory / "equivalence_scaling_table.md",
        directory / "equivalence_scaling_fits.md",
        *plots.gap_figures(frame, directory),
    ]
