"""Figures drawn from results tables (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = {"gaussian": "tab:blue", "leverage": "tab:orange"}


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
    """Fitted slope of median eps versus m, per (dataset, lam, kernel, sampler)."""
    return grouped_slopes(frame, ["dataset", "lam", "kernel", "sampler"], "m", "eps", "median")


def _loglog(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _spectral_panel(ax, frame: pd.DataFrame) -> None:
    row = frame.iloc[0]
    for sampler, group in frame.groupby("sampler"):
        stats = group.groupby("m")["eps"].quantile([0.25, 0.5, 0.75]).unstack()
        slope = loglog_slope(stats.index, stats[0.5])
        color = COLORS.get(sampler)
        ax.plot(
            stats.index,
            stats[0.5],
            "o-",
            color=color,
            label=f"{sampler} (median, slope {slope:.2f})",
        )
        ax.fill_between(stats.index, stats[0.25], stats[0.75], color=color, alpha=0.2)
    m = np.array(sorted(frame["m"].unique()), float)
    log_term = np.log(row["s_lambda"] / row["delta"])
    for label, q, style in [
        ("theory, Gaussian: √((n/λ)", row["n"] / row["lam"], "--"),
        ("theory, leverage: √(s_λ", row["s_lambda"], ":"),
    ]:
        ax.plot(
            m,
            np.sqrt(q * log_term / m),
            style,
            color="gray",
            label=f"{label}·log(s_λ/δ)/m), slope −1/2",
        )
    _loglog(
        ax,
        "number of features m",
        "spectral error ε",
        f"{row['dataset']} (n={row['n']}, d={row['dim']}), {row['kernel']}, "
        f"λ={row['lam']:g}\ns_λ={row['s_lambda']:.1f}, "
        f"flatness sup score/s_λ≈{row['flatness']:.2f}",
    )


def spectral_figure(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """One log-log panel of eps versus m per (dataset, lam, kernel): ``eps_vs_m.png``."""
    panels = list(frame.groupby(["dataset", "lam", "kernel"], sort=True))
    fig, axes = _grid(len(panels))
    for ax, (_, group) in zip(axes, panels, strict=False):
        _spectral_panel(ax, group)
    fig.tight_layout()
    path = Path(directory) / "eps_vs_m.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def gap_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Fitted slope of mean gap_rms versus width, per (dataset, regime, sampler)."""
    return grouped_slopes(frame, ["dataset", "regime", "sampler"], "width", "gap_rms")


def _setting(group: pd.DataFrame) -> str:
    """A panel's data and regime: ``synthetic (n=128, d=8), lazy regime``."""
    row = group.iloc[0]
    return f"{row.dataset} (n={row.n_train}, d={row.dim}), {row.regime} regime"


def _span(values, fmt: str) -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def _schedule(group: pd.DataFrame) -> str:
    """The training the panel's rows had: GD steps and lam*T, as ranges where they differ."""
    return f"{_span(group.steps, '{:,.0f}')} GD steps, λT={_span(group.lam_T, '{:.2g}')}"


def _grid(n: int, size=(5.5, 4.5)):
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
    fig, axes = _grid(len(panels))
    for ax, (_, group) in zip(axes, panels, strict=False):
        reference = None
        for sampler, sub in group.groupby("sampler"):
            stats = sub.groupby("width")["gap_rms"].agg(["mean", "std", "min", "max"])
            slope = loglog_slope(stats.index, stats["mean"])
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
        _loglog(
            ax,
            "width m",
            "RMS over test points of f_nn(T) − f*  (f* = NTK-KRR)",
            f"{_setting(group)}\n"
            f"λ={row.lam:g}, κ={row.kappa:g}, s_λ={row.s_lambda:.1f}, {_schedule(group)}",
        )
    fig.tight_layout()
    path_gap = directory / "gap_vs_width.png"
    fig.savefig(path_gap, dpi=120)
    plt.close(fig)

    parts = ["gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]
    styles = dict(zip(parts, ["o--", "s:", "^--", "v-."], strict=True))
    panels = list(ok.groupby(["dataset", "regime", "sampler"], sort=True))
    fig, axes = _grid(len(panels))
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
        _loglog(
            ax,
            "width m",
            "RMS over test points (mean over seeds)",
            f"{dataset}, {regime} regime, {sampler} init, {seeds} seeds\n{_schedule(group)}",
        )
    fig.tight_layout()
    path_dec = directory / "gap_decomposition.png"
    fig.savefig(path_dec, dpi=120)
    plt.close(fig)
    return [path_gap, path_dec]


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


def regime_map_figures(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``regime_map.png`` (rows: gap_rel, pattern flips with the lazy prediction dashed,
    weight movement; columns: dataset x centre; one line per kappa) and
    ``regime_map_table.md`` (:func:`regime_map_table`), plus the usual gap figures."""
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
        _loglog(axes[0, col], "width m", "gap_rel = RMS |f_nn − f*| / RMS f*", title)
        _loglog(axes[1, col], "width m", "pattern flips (fraction of (i, r))", title)
        _loglog(axes[2, col], "width m", "weight movement |W(T) − W(0)| / |W(0)|", title)
    fig.tight_layout()
    path_map = directory / "regime_map.png"
    fig.savefig(path_map, dpi=110)
    plt.close(fig)
    path_table = directory / "regime_map_table.md"
    path_table.write_text(regime_map_table(frame))
    return [path_map, path_table, *gap_figures(frame, directory)]


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


def _markdown_savings(table: pd.DataFrame) -> str:
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


def width_savings_figures(frame: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``width_savings.png`` (gap_rel vs width per dataset, both samplers, the two gap
    levels dotted) and ``width_savings_table.md`` (:func:`width_savings_table`)."""
    directory = Path(directory)
    table = width_savings_table(frame)
    ok = frame[frame["status"] == "ok"]
    panels = list(ok.groupby("dataset", sort=True))
    fig, axes = _grid(len(panels))
    for ax, (dataset, group) in zip(axes, panels, strict=False):
        for sampler, sub in group.groupby("sampler"):
            stats = sub.groupby("width")["gap_rel"].agg(["mean", "min", "max"])
            color = COLORS.get(sampler)
            ax.plot(stats.index, stats["mean"], "o-", color=color, label=f"{sampler} (mean)")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
        for r in table[table.dataset == dataset].itertuples():
            label = f"ε={r.eps:.3g}: ratio {r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}]"
            ax.axhline(r.eps, color="0.4", ls=":", lw=0.8, label=label)
        _loglog(
            ax,
            "width m",
            "gap_rel = RMS |f_nn − f*| / RMS f*",
            f"{_setting(group)}, flatness {group.flatness.median():.2f}\n"
            f"{_schedule(group)}, {group.init_seed.nunique()} seeds",
        )
    fig.tight_layout()
    path_fig = directory / "width_savings.png"
    fig.savefig(path_fig, dpi=120)
    plt.close(fig)
    path_table = directory / "width_savings_table.md"
    path_table.write_text(_markdown_savings(table))
    return [path_fig, path_table]
