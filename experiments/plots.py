"""Figures drawn from results tables and their analyses (matplotlib, Agg backend): drawing
only; the tables are :mod:`experiments.analysis`'s, and :mod:`experiments.findings` decides
what a sweep writes."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments import analysis  # noqa: E402

COLORS = {"gaussian": "tab:blue", "leverage": "tab:orange"}


def loglog_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    """Log-log axes with their labels, a grid and a legend."""
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _save(fig, path: Path, dpi: int = 120, rect=(0, 0, 1, 1)) -> Path:
    """Lay out ``fig`` (inside ``rect``, figure fractions), write it to ``path``, close it."""
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def span(values, fmt: str = "{:,.0f}") -> str:
    """``lo–hi`` of ``values`` as ``fmt`` prints them (``lo … hi`` when negative, with a true
    minus sign), or one number when both print alike."""
    lo, hi = float(np.min(values)), float(np.max(values))
    a, b = (fmt.format(v).replace("-", "−") for v in (lo, hi))
    return a if a == b else f"{a} … {b}" if lo < 0 else f"{a}–{b}"


def _spectral_panel(ax, frame: pd.DataFrame) -> None:
    row = frame.iloc[0]
    for sampler, group in frame.groupby("sampler"):
        stats = group.groupby("width")["spectral_eps"].quantile([0.25, 0.5, 0.75]).unstack()
        slope = analysis.loglog_slope(stats.index, stats[0.5])
        color = COLORS.get(sampler)
        ax.plot(
            stats.index,
            stats[0.5],
            "o-",
            color=color,
            label=f"{sampler} (median, slope {slope:.2f})",
        )
        ax.fill_between(stats.index, stats[0.25], stats[0.75], color=color, alpha=0.2)
    m = np.array(sorted(frame["width"].unique()), float)
    log_term = np.log(row["s_lambda"] / row["delta"])
    for label, q, style in [
        ("theory, Gaussian: √((n/λ)", row["n_train"] / row["ridge"], "--"),
        ("theory, leverage: √(s_λ", row["s_lambda"], ":"),
    ]:
        ax.plot(
            m,
            np.sqrt(q * log_term / m),
            style,
            color="gray",
            label=f"{label}·log(s_λ/δ)/m), slope −1/2",
        )
    loglog_axes(
        ax,
        "number of features m",
        "spectral error ε",
        f"{row['dataset']} (n={row['n_train']}, d={row['dim']}), {row['kernel']}, "
        f"λ={row['ridge']:g}\ns_λ={row['s_lambda']:.1f}, "
        f"flatness sup score/s_λ≈{row['flatness']:.2f}",
    )


def spectral_figure(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """One log-log panel of spectral_eps versus width m per (dataset, ridge, kernel):
    ``eps_vs_m.png``."""
    panels = list(frame.groupby(["dataset", "ridge", "kernel"], sort=True))
    fig, axes = _panel_grid(len(panels))
    for ax, (_, group) in zip(axes, panels, strict=False):
        _spectral_panel(ax, group)
    return [_save(fig, Path(directory) / "eps_vs_m.png")]


def _setting(group: pd.DataFrame) -> str:
    """A panel's data and regime: ``synthetic (n=128, d=8), lazy regime``."""
    row = group.iloc[0]
    return f"{row.dataset} (n={row.n_train}, d={row.dim}), {row.regime} regime"


def _schedule(group: pd.DataFrame) -> str:
    """The training the panel's rows had: GD steps and lam*T, as ranges where they differ."""
    return f"{span(group.steps, '{:,.0f}')} GD steps, λT={span(group.lam_T, '{:.2g}')}"


def _panel_grid(n: int, size=(5.5, 4.5)):
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def gap_figures(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``gap_vs_width.png`` and ``gap_decomposition.png`` from a sweep's results table."""
    directory = Path(directory)
    ok = frame[frame["status"] == "ok"]
    panels = list(ok.groupby(["dataset", "regime"], sort=True))
    fig, axes = _panel_grid(len(panels))
    for ax, (_, group) in zip(axes, panels, strict=False):
        reference = None
        for sampler, sub in group.groupby("sampler"):
            stats = sub.groupby("width")["gap_rms"].agg(["mean", "std", "min", "max"])
            slope = analysis.loglog_slope(stats.index, stats["mean"])
            color = COLORS.get(sampler)
            fit = f"slope {slope:.2f}, " if len(stats) > 1 else ""
            seeds = sub.init_seed.nunique()
            ax.errorbar(
                stats.index,
                stats["mean"],
                yerr=stats["std"].fillna(0),
                fmt="o-",
                color=color,
                capsize=3,
                label=f"{sampler}: {fit}mean ± sd over {seeds} seeds",
            )
            ax.fill_between(
                stats.index,
                stats["min"],
                stats["max"],
                color=color,
                alpha=0.15,
                label=f"{sampler}: min–max over seeds",
            )
            if reference is None and len(stats) > 1:
                reference = stats["mean"].iloc[0] * (stats.index / stats.index[0]) ** -0.5
                ax.plot(stats.index, reference, ":", color="0.4", label="m^-1/2 reference")
        row = group.iloc[0]
        loglog_axes(
            ax,
            "width m",
            "RMS over test points of f_nn(T) − f*  (f* = NTK-KRR)",
            f"{_setting(group)}\n"
            f"λ={row.lam:g}, κ={row.kappa:g}, s_λ={row.s_lambda:.1f}, {_schedule(group)}",
        )
    path_gap = _save(fig, directory / "gap_vs_width.png")

    parts = ["gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]
    styles = dict(zip(parts, ["o--", "s:", "^--", "v-."], strict=True))
    panels = list(ok.groupby(["dataset", "regime", "sampler"], sort=True))
    fig, axes = _panel_grid(len(panels))
    for ax, ((dataset, regime, sampler), group) in zip(axes, panels, strict=False):
        means = group.groupby("width")[["gap_rms", *parts]].mean()
        spread = group.groupby("width")["gap_rms"].agg(["min", "max"])
        floor = group.groupby("width")["roundoff"].max()
        seeds = group.init_seed.nunique()
        # the total: a wide translucent band (min-max over seeds) and a thick line, drawn
        # first, so that a part equal to it (often the kernel part) shows inside it
        ax.fill_between(spread.index, spread["min"], spread["max"], color="k", alpha=0.12,
                        label=f"total: min–max over {seeds} seeds")  # fmt: skip
        ax.plot(means.index, means["gap_rms"], "-", color="k", lw=4, alpha=0.35,
                label="total |f_nn(T) − f*| (mean)")  # fmt: skip
        hidden, shown = [], [means["gap_rms"].min(), spread["min"].min()]
        for part in parts:
            label = part.removeprefix("gap_")
            above = means[part].where(means[part] > floor)  # below round-off: not a trend
            if above.notna().any():
                ax.plot(means.index, above, styles[part], lw=1.2, ms=4, label=label)
                shown.append(above.min())
            else:
                hidden.append(label)
        bottom = np.nanmin(shown) / 3  # round-off far below the parts stays off the axis
        dtype = ", ".join(sorted(group["dtype"].unique()))
        note = f"; below it, not drawn: {', '.join(hidden)}" if hidden else ""
        if (floor > bottom).any():
            ax.fill_between(floor.index, bottom, floor.clip(lower=bottom), color="0.85",
                            label=f"{dtype} round-off{note}")  # fmt: skip
        elif hidden:
            ax.plot([], [], " ", label=f"below {dtype} round-off, not drawn: {', '.join(hidden)}")
        ax.set_ylim(bottom=bottom)
        loglog_axes(
            ax,
            "width m",
            "RMS over test points (mean over seeds)",
            f"{dataset}, {regime} regime, {sampler} init, {seeds} seeds\n{_schedule(group)}",
        )
    path_dec = _save(fig, directory / "gap_decomposition.png")
    return [path_gap, path_dec]


def regime_map_figure(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``regime_map.png``: rows gap_rel, pattern flips with the lazy prediction dashed,
    weight movement; columns dataset x centre; one line per kappa."""
    directory = Path(directory)
    ok = frame[frame["status"] == "ok"]
    panels = list(ok.groupby(["dataset", "centre"], sort=True))
    kappas = sorted(ok["kappa"].unique(), reverse=True)
    colors = dict(zip(kappas, plt.cm.viridis(np.linspace(0, 0.9, len(kappas))), strict=True))
    fig, axes = plt.subplots(3, len(panels), figsize=(5 * len(panels), 12), squeeze=False)
    for col, ((dataset, centre), group) in enumerate(panels):
        for kappa, sub in group.groupby("kappa"):
            means = sub.groupby("width")[
                ["gap_rel", "pattern_flips", "pattern_flips_pred", "weight_move"]
            ].mean()
            c = colors[kappa]
            axes[0, col].plot(means.index, means["gap_rel"], "o-", color=c, label=f"κ={kappa:g}")
            axes[1, col].plot(
                means.index, means["pattern_flips"], "o-", color=c, label=f"κ={kappa:g}"
            )
            axes[1, col].plot(means.index, means["pattern_flips_pred"], "--", color=c)
            axes[2, col].plot(
                means.index, means["weight_move"], "o-", color=c, label=f"κ={kappa:g}"
            )
        axes[0, col].axhline(0.05, color="0.5", lw=0.8, ls=":", label="gap_rel = 5%")
        axes[1, col].plot([], [], "k--", label="lazy prediction")
        title = (
            f"{dataset}, centre {centre}\n{_schedule(group)}, ridge on K={group.ridge.iloc[0]:g}"
        )
        loglog_axes(axes[0, col], "width m", "gap_rel = RMS |f_nn − f*| / RMS f*", title)
        loglog_axes(axes[1, col], "width m", "pattern flips (fraction of (i, r))", title)
        loglog_axes(axes[2, col], "width m", "weight movement |W(T) − W(0)| / |W(0)|", title)
    path_map = _save(fig, directory / "regime_map.png", 110)
    return [path_map]


def width_savings_figure(
    frame: pd.DataFrame, table: pd.DataFrame, directory: str | Path
) -> list[Path]:
    """``width_savings.png``: gap_rel vs width per dataset, both samplers, the gap levels of
    ``table`` (:func:`experiments.analysis.width_savings_table`) dotted with their ratios."""
    directory = Path(directory)
    ok = frame[frame["status"] == "ok"]
    panels = list(ok.groupby("dataset", sort=True))
    fig, axes = _panel_grid(len(panels))
    for ax, (dataset, group) in zip(axes, panels, strict=False):
        for sampler, sub in group.groupby("sampler"):
            stats = sub.groupby("width")["gap_rel"].agg(["mean", "min", "max"])
            color = COLORS.get(sampler)
            ax.plot(stats.index, stats["mean"], "o-", color=color, label=f"{sampler} (mean)")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
        for r in table[table.dataset == dataset].itertuples():
            label = f"ε={r.eps:.3g}: ratio {r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}]"
            ax.axhline(r.eps, color="0.4", ls=":", lw=0.8, label=label)
        loglog_axes(
            ax,
            "width m",
            "gap_rel = RMS |f_nn − f*| / RMS f*",
            f"{_setting(group)}\nflatness {group.flatness.median():.2f}, "
            f"{_schedule(group)}, {group.init_seed.nunique()} seeds",
        )
    path_fig = _save(fig, directory / "width_savings.png")
    return [path_fig]


def spectral_scaling_figure(
    table: pd.DataFrame, fits: pd.DataFrame, directory: str | Path
) -> list[Path]:
    """``spectral_scaling.png``: every run a point, m*(eps) eps^2 against the theory's x for
    each sampler and predictor (:data:`experiments.analysis.analysis.PREDICTORS`), with the provable
    bound y = (8/3) x and each data set's fitted y = C x (``fits``,
    :func:`experiments.analysis.spectral_scaling_fits`)."""
    directory = Path(directory)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    markers = {name: mk for name, mk in zip(sorted(set(table.dataset)), "osD^v", strict=False)}
    colors = {0.5: "tab:green", 0.25: "tab:purple"}
    for ax, (sampler, column, label) in zip(axes, analysis.PREDICTORS, strict=True):
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
        ax.plot(xs, analysis.AVRON_C * xs, "k--", lw=1, label="y = (8/3) x (the provable bound)")
        for dataset in markers:
            fit = fits[(fits.data == dataset) & (fits.predictor == label) & (fits.eps == "all")]
            constant = float(fit.C.iloc[0])
            ax.plot(
                xs,
                constant * xs,
                ":",
                color="0.4",
                lw=1,
                label=f"{dataset}: fit y = {constant:.3g} x",
            )
        for name, mk in markers.items():
            ax.plot([], [], mk, color="0.3", label=name)
        for eps, color in colors.items():
            ax.plot([], [], "s", color=color, label=f"ε = {eps}")
        ax.plot([], [], "o", color="0.3", label="filled: λ fixed")
        ax.plot([], [], "o", color="0.3", mfc="w", label="open: λ = n λ₀")
        seeds = int(sub.seeds.min()) if len(sub) else 0
        delta = float(table.delta.iloc[0]) if len(table) else math.nan
        loglog_axes(
            ax,
            label,
            "m*(ε) ε²  (median over seeds; bar: 90% bootstrap)",
            f"{sampler}: m*(ε) ε² vs {label}\n{seeds} seeds a width, δ = {delta:g}, "
            f"{len(sub)} points",
        )
        ax.legend(fontsize=7)
    path = _save(fig, directory / "spectral_scaling.png")
    return [path]


def equivalence_scaling_figure(
    frame: pd.DataFrame, table: pd.DataFrame, fits: pd.DataFrame, directory: str | Path
) -> list[Path]:
    """``equivalence_scaling.png``: m*(n) per data set, both samplers and gap levels
    (``table``, :func:`experiments.analysis.equivalence_scaling_table`), with the fitted
    exponents (``fits``)."""
    directory = Path(directory)
    datasets = sorted(set(table.dataset))
    cols = min(max(len(datasets), 1), 3)  # three panels a row
    rows = -(-max(len(datasets), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.8 * rows), squeeze=False)
    for ax in axes.flat[len(datasets) :]:
        ax.set_visible(False)
    styles = {0.05: "o-", 0.025: "s--"}
    for ax, dataset in zip(axes.flat, datasets, strict=False):
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
                color=COLORS.get(sampler),
                capsize=2,
                label=f"{sampler}, gap_rel {level:g}: m* ∝ n^{float(a.iloc[0]):.2f}",
            )
        ok = frame[(frame.dataset == dataset) & (frame.status == "ok")]
        loglog_axes(
            ax,
            "training points n",
            "m*: width where mean gap_rel reaches the level",
            f"{dataset} (d={ok.dim.iloc[0]}), {ok.regime.iloc[0]} regime, λ = n λ₀, "
            f"{ok.init_seed.nunique()} seeds\nbars: 90% bootstrap over seeds; "
            f"GD steps {ok.steps.min():.0f}–{ok.steps.max():.0f}",
        )
    path = _save(fig, directory / "equivalence_scaling.png")
    return [path]


def savings_law_figure(
    table: pd.DataFrame, lofo: pd.DataFrame, chosen: str, path: Path, checked=None
) -> Path:
    """The savings law (``experiments/savings_law.py``): each measured R against its
    held-out prediction (the law fitted without the point's family; table columns
    ``held_out_<candidate>``), for the chosen candidate and for sup score / s_λ (the law it
    replaces); colour: family, marker: kind; the held-out RMS error in each title.  With
    ``checked`` (``savings_law.validation``), the data sets outside the fit as stars."""
    shown = [chosen] + (["flatness"] if chosen != "flatness" else ["none"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.4), sharey=True)
    families = sorted(set(table.family))
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    markers = {"spectral": "o", "network": "s"}
    defined = table[np.isfinite(table.ratio)]
    top = np.nanmax(defined[[f"held_out_{c}" for c in shown] + ["high"]].to_numpy()) * 1.3
    if checked is not None and len(checked):
        top = max(top, np.nanmax(checked[["predicted", "measured_high"]].to_numpy()) * 1.3)
    for ax, name in zip(axes, shown, strict=True):
        for (kind, fam), sub in defined.groupby(["kind", "family"]):
            err = np.vstack([sub.ratio - sub.low, sub.high - sub.ratio]).clip(min=0)
            ax.errorbar(
                sub[f"held_out_{name}"], sub.ratio, yerr=np.nan_to_num(err), fmt=markers[kind],
                color=colours[fam], ms=5, capsize=2, alpha=0.8, label=f"{fam} ({kind})",
            )  # fmt: skip
        if checked is not None and len(checked):
            ok = checked[np.isfinite(checked.measured)]
            x = ok.predicted if name == chosen else ok.predicted_by_flatness
            err = np.vstack([ok.measured - ok.measured_low, ok.measured_high - ok.measured])
            ax.errorbar(x, ok.measured, yerr=np.nan_to_num(err.clip(min=0)), fmt="*", color="k",
                        ms=9, capsize=2, label="outside the fit: raw breast_cancer, wine, diabetes")  # fmt: skip
        ax.plot([0.7, top], [0.7, top], "k:", lw=1, label="measured = predicted")
        pooled = lofo[(lofo.candidate == name) & (lofo.family == "all")]
        rms = np.sqrt((pooled.rms_ln**2 * pooled.points).sum() / pooled.points.sum())
        ax.set(
            xscale="log", yscale="log", xlim=(0.7, top), ylim=(0.7, top),
            xlabel=f"R predicted without its family, from {name}",
            title=f"{name}: held-out RMS error ×{np.exp(rms):.2f}",
        )  # fmt: skip
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("R = m_gauss / m_lev measured\n(bars: 90% bootstrap over seeds)")
    handles, labels = axes[0].get_legend_handles_labels()
    keep = {lbl: h for h, lbl in zip(handles, labels, strict=True)}
    fig.legend(keep.values(), keep.keys(), fontsize=7, loc="lower center", ncol=4)
    fig.suptitle("What leverage sampling saves, predicted for families the law was not fitted on")
    return _save(fig, path, rect=(0, 0.16, 1, 1))
