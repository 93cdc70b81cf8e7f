"""Figures drawn from results tables (matplotlib, Agg backend)."""

from __future__ import annotations

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
    for ax, ((dataset, regime), group) in zip(axes, panels, strict=False):
        for sampler, sub in group.groupby("sampler"):
            stats = sub.groupby("width")["gap_rms"].agg(["mean", "std", "min", "max"])
            slope = loglog_slope(stats.index, stats["mean"])
            color = COLORS.get(sampler)
            fit = f"slope {slope:.2f}, " if len(stats) > 1 else ""
            ax.errorbar(
                stats.index,
                stats["mean"],
                yerr=stats["std"].fillna(0),
                fmt="o-",
                color=color,
                capsize=3,
                label=f"{sampler}: {fit}mean ± sd, {sub.init_seed.nunique()} seeds",
            )
            ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
        row = group.iloc[0]
        _loglog(
            ax,
            "width m",
            "RMS gap |f_nn − f*| on test",
            f"{dataset} (n={row.n_train}, d={row.dim}), {regime} regime\n"
            f"λ={row.lam:g}, κ={row.kappa:g}, s_λ={row.s_lambda:.1f}, "
            f"{group.steps.median():.0f} GD steps, λT={group.lam_T.median():.2g}",
        )
    fig.tight_layout()
    path_gap = directory / "gap_vs_width.png"
    fig.savefig(path_gap, dpi=120)
    plt.close(fig)

    parts = ["gap_rms", "gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]
    styles = dict(zip(parts, ["k-", "o-", "s:", "^--", "v-."], strict=True))
    panels = list(ok.groupby(["dataset", "regime", "sampler"], sort=True))
    fig, axes = _grid(len(panels))
    for ax, ((dataset, regime, sampler), group) in zip(axes, panels, strict=False):
        means = group.groupby("width")[parts].mean()
        floor = group.groupby("width")["roundoff"].max()
        hidden = []
        for part in parts:
            label = "total" if part == "gap_rms" else part.removeprefix("gap_")
            above = means[part].where(means[part] > floor)  # below round-off: not a trend
            if above.notna().any():
                ax.plot(means.index, above, styles[part], label=label)
            else:
                hidden.append(label)
        low = floor.min() / 30
        dtype = ", ".join(sorted(group["dtype"].unique()))
        note = f" (below it: {', '.join(hidden)})" if hidden else ""
        ax.fill_between(floor.index, low, floor, color="0.85", label=f"{dtype} round-off{note}")
        ax.set_ylim(bottom=low)
        _loglog(
            ax,
            "width m",
            "RMS on test points",
            f"{dataset}, {regime} regime, {sampler} init",
        )
    fig.tight_layout()
    path_dec = directory / "gap_decomposition.png"
    fig.savefig(path_dec, dpi=120)
    plt.close(fig)
    return [path_gap, path_dec]
