"""What a sweep writes beside its table, and the published findings, each defined once.

An :class:`Analysis` is what a sweep's gathering writes from its gathered table: the analysis
tables (:mod:`experiments.analysis`), as files, and the figures (:mod:`experiments.plots`).
A sweep's config names it (``hydra.callbacks.gather.plot: experiments.findings:GAP``, in
``configs/sweep.yaml`` and the presets).  A :class:`Finding` is one published result: its
preset command, its analysis (the object), how its row of the findings table and its blocks
of ``docs/findings.md`` render from the table and the analysis tables, and under which
names its figures are published.  ``experiments/publish.py`` turns :data:`FINDINGS` into the
README's and the site's pages.

A new finding: its preset (``configs/experiment/<name>.yaml``, whose ``plot`` names its
analysis), its analysis tables (a function in :mod:`experiments.analysis`), its figure (a
function in :mod:`experiments.plots`), and one :class:`Analysis` and one :class:`Finding`
record here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import analysis, plots
from experiments.plots import span as _span
from nnkrr import scaling

Tables = dict[str, pd.DataFrame]


def _no_tables(frame: pd.DataFrame) -> Tables:
    return {}


@dataclasses.dataclass(frozen=True)
class Analysis:
    """What a sweep's gathering writes into the sweep directory from its gathered ``frame``:

    * ``tables(frame)``: the analysis tables by name (:mod:`experiments.analysis`);
    * ``files(tables)``: the files written from them, name -> text (``.md``, ``.csv``);
    * ``figures``: the figure functions, each ``figure(frame, tables, directory) -> paths``.

    Called as ``analysis(frame, directory)`` (``experiments.results.GatherResults``'s
    ``plot``), it writes all of them and returns their paths; ``analysis(frame, tables,
    directory)`` writes from tables already computed (``publish.py``'s, once per run)."""

    figures: tuple[Callable[[pd.DataFrame, Tables, Path], list[Path]], ...]
    tables: Callable[[pd.DataFrame], Tables] = _no_tables
    files: Callable[[Tables], dict[str, str]] = lambda tables: {}

    def __call__(self, frame: pd.DataFrame, *args) -> list[Path]:
        tables, directory = args if len(args) == 2 else (self.tables(frame), *args)
        directory = Path(directory)
        paths = []
        for name, text in self.files(tables).items():
            (directory / name).write_text(text)
            paths.append(directory / name)
        for figure in self.figures:
            paths += figure(frame, tables, directory)
        return paths


def _gap(frame, tables, directory):
    return plots.gap_figures(frame, directory)


def _spectral_tables(frame: pd.DataFrame) -> Tables:
    table = analysis.spectral_scaling_table(frame)
    return {
        "spectral_scaling_table": table,
        "spectral_scaling_fits": analysis.spectral_scaling_fits(table),
        "spectral_n_exponents": analysis.spectral_n_exponents(table),
    }


_SPECTRAL_SHOWN = ["dataset", "n", "lam", "family", "sampler", "eps", "m_star", "m_low", "m_high",
                   "s_lambda", "sup_score", "bound", "n_over_lam"]  # fmt: skip


def _equivalence_tables(frame: pd.DataFrame) -> Tables:
    table = analysis.equivalence_scaling_table(frame)
    return {
        "equivalence_scaling_table": table,
        "equivalence_scaling_fits": analysis.equivalence_scaling_fits(table),
        "equivalence_flips_table": analysis.equivalence_flips_table(frame, table),
    }


#: A sweep's gap figures (``gap_vs_width.png``, ``gap_decomposition.png``).
GAP = Analysis(figures=(_gap,))
#: The spectral experiment's ``eps_vs_m.png``.
SPECTRAL = Analysis(
    figures=(lambda frame, tables, directory: plots.spectral_figure(frame, directory),)
)
#: ``+experiment=regime_map``: ``regime_map.png``, ``regime_map_table.md`` and the gap figures.
REGIME_MAP = Analysis(
    figures=(lambda frame, tables, directory: plots.regime_map_figure(frame, directory), _gap),
    files=lambda tables: {"regime_map_table.md": tables["regime_map_table"]},
    tables=lambda frame: {"regime_map_table": analysis.regime_map_table(frame)},
)
#: ``+experiment=width_savings``: ``width_savings.png`` and ``width_savings_table.md``.
WIDTH_SAVINGS = Analysis(
    figures=(
        lambda frame, tables, directory: plots.width_savings_figure(
            frame, tables["width_savings_table"], directory
        ),
    ),
    tables=lambda frame: {"width_savings_table": analysis.width_savings_table(frame)},
    files=lambda tables: {
        "width_savings_table.md": analysis.width_savings_markdown(tables["width_savings_table"])
    },
)
#: ``+experiment=spectral_scaling``: ``spectral_scaling.png``, its table (``.csv``, ``.md``),
#: fits (``.md``) and exponents in n (``spectral_n_exponents.md``).
SPECTRAL_SCALING = Analysis(
    figures=(
        lambda frame, tables, directory: plots.spectral_scaling_figure(
            tables["spectral_scaling_table"], tables["spectral_scaling_fits"], directory
        ),
    ),
    tables=_spectral_tables,
    files=lambda tables: {
        "spectral_scaling_table.csv": tables["spectral_scaling_table"].to_csv(index=False),
        "spectral_scaling_table.md": analysis.markdown_table(
            tables["spectral_scaling_table"][_SPECTRAL_SHOWN]
        ),
        "spectral_scaling_fits.md": analysis.markdown_table(tables["spectral_scaling_fits"]),
        "spectral_n_exponents.md": analysis.markdown_table(tables["spectral_n_exponents"]),
    },
)
#: ``+experiment=equivalence_scaling``: ``equivalence_scaling.png``, its table (``.csv``,
#: ``.md``) and fits (``.md``), and the gap figures.
EQUIVALENCE_SCALING = Analysis(
    figures=(
        lambda frame, tables, directory: plots.equivalence_scaling_figure(
            frame,
            tables["equivalence_scaling_table"],
            tables["equivalence_scaling_fits"],
            directory,
        ),
        _gap,
    ),  # fmt: skip
    tables=_equivalence_tables,
    files=lambda tables: {
        "equivalence_scaling_table.csv": tables["equivalence_scaling_table"].to_csv(index=False),
        "equivalence_scaling_table.md": analysis.markdown_table(
            tables["equivalence_scaling_table"]
        ),
        "equivalence_scaling_fits.md": analysis.markdown_table(tables["equivalence_scaling_fits"]),
        "equivalence_flips_table.md": analysis.markdown_table(tables["equivalence_flips_table"]),
    },
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """A published finding: the preset command behind it, its analysis, and how it renders.

    ``render(frame, tables) -> (regime, result)`` is its row of the findings table;
    ``blocks`` its generated blocks of ``docs/findings.md`` (marker -> ``block(tables)``);
    ``figures`` maps a figure its analysis draws to its name under ``docs/figures/``;
    ``detail(frame, tables) -> (setting, result)``, where given, its row of the detail table
    of ``docs/findings.md`` (:func:`detail_block`)."""

    name: str  # its folder under docs/results/
    what: str
    entry: str  # experiments/<entry>.py
    overrides: tuple[str, ...]
    table: str  # the gathered table's file name
    analysis: Analysis
    render: Callable[[pd.DataFrame, Tables], tuple[str, str]]
    figures: tuple[tuple[str, str], ...] = ()  # (file in the sweep dir, name in docs/figures)
    blocks: tuple[tuple[str, Callable[[Tables], str]], ...] = ()
    extensions: tuple[tuple[str, ...], ...] = ()  # more sweeps into the same sweep directory
    detail: Callable[[pd.DataFrame, Tables], tuple[str, str]] | None = None  # (setting, result)

    @property
    def command(self) -> str:
        return " && ".join(
            " ".join(["uv run python", f"experiments/{self.entry}.py", "-m", *self.overrides, *ext])
            for ext in ((), *self.extensions)
        )


def _pct(x: float) -> str:
    return f"{100 * x:.2g}%" if x < 0.1 else f"{100 * x:.0f}%"


def _num(x: float, fmt: str = "{:.2f}") -> str:
    return fmt.format(x).replace("-", "−")


def _slope(frame: pd.DataFrame, column: str) -> float:
    curve = frame.groupby("width")[column].mean()
    return scaling.power_law(curve.index, curve.to_numpy(), n_boot=1).slope


def _widths(frame: pd.DataFrame) -> str:
    lo, hi = int(frame.width.min()), int(frame.width.max())
    return f"2^{int(math.log2(lo))} … 2^{int(math.log2(hi))}"


def _flips_at_ends(ok: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Mean pattern flips per sampler at the smallest and at the largest width."""
    at = [
        ok[ok.width == w].groupby("sampler").pattern_flips.mean()
        for w in (ok.width.min(), ok.width.max())
    ]
    return at[0], at[1]


def _main(frame, _tables):
    ok = frame[frame.status == "ok"]
    by = {s: g for s, g in ok.groupby("sampler")}
    first, last = _flips_at_ends(ok)
    regime = (
        f"synthetic (sphere) n = {ok.n_train.iloc[0]}, lazy, {_span(ok.steps)} GD steps, "
        f"λT = {_span(ok.lam_T, '{:.1f}')}, flips {_span(first * 100, '{:.2g}')}% → "
        f"{_span(last * 100, '{:.2g}')}%"
    )
    result = (
        f"falls like m^{_num(_slope(by['gaussian'], 'gap_rms'))} (Gaussian), "
        f"m^{_num(_slope(by['leverage'], 'gap_rms'))} (leverage), {_widths(ok)}"
    )
    return regime, result


def _cone(frame, _tables):
    ok = frame[frame.status == "ok"]
    by = {s: g for s, g in ok.groupby("sampler")}
    at = ok[ok.width == 1024].groupby("sampler").gap_rms.mean()
    first, last = _flips_at_ends(ok)
    regime = (
        f"cone n = {ok.n_train.iloc[0]}, lazy, {_span(ok.steps)} steps, λT = "
        f"{_span(ok.lam_T, '{:.1f}')}, flips {_pct(first.gaussian)} → {_pct(last.gaussian)} "
        f"(Gaussian), {_pct(first.leverage)} → {_pct(last.leverage)} (leverage)"
    )
    result = (
        f"falls like m^{_num(_slope(by['gaussian'], 'gap_rms'))} (Gaussian), "
        f"m^{_num(_slope(by['leverage'], 'gap_rms'))} (leverage); at 2^10 {at.leverage:.3f} "
        f"against {at.gaussian:.3f}"
    )
    return regime, result


def _regime_paper(frame, _tables):
    ok = frame[frame.status == "ok"]
    g = ok[ok.sampler == "gaussian"].groupby("width")
    gap, flips = g.gap_rel.mean(), g.pattern_flips.mean()
    regime = (
        f"centre 0, κ = {ok.kappa.iloc[0]:g}, {_span(ok.steps)} steps, λT = "
        f"{_span(ok.lam_T, '{:.1f}')}, flips {_pct(flips.iloc[0])} → {_pct(flips.iloc[-1])}"
    )
    result = (
        f"gap_rel {_pct(gap.iloc[0])} → {_pct(gap.iloc[-1])} (Gaussian) over {_widths(ok)}: "
        "still far from lazy"
    )
    return regime, result


def _paper_wide(frame, _tables):
    ok = frame[frame.status == "ok"]
    g = ok[ok.sampler == "gaussian"].groupby("width")
    gap, flips = g.gap_rel.mean(), g.pattern_flips.mean()
    top = gap.index[-4:]  # the local slope over the last three doublings
    local = math.log(gap[top[-1]] / gap[top[0]]) / math.log(top[-1] / top[0])
    regime = (
        f"centre 0, κ = {ok.kappa.iloc[0]:g}, {_span(ok.steps)} steps, λT = {_span(ok.lam_T, '{:.1f}')}, "
        f"flips {_pct(flips.iloc[0])} → {_pct(flips.iloc[-1])}"
    )
    result = (
        f"gap_rel {_pct(gap.iloc[0])} → {_pct(gap.iloc[-1])} (Gaussian), local slope {_num(local)} "
        f"from 2^{int(math.log2(top[0]))} to 2^{int(math.log2(top[-1]))}"
    )
    return regime, result


def _regime_map(frame, _tables):
    ok = frame[frame.status == "ok"]
    reached = analysis.threshold_widths(ok, ["dataset", "centre", "kappa"])
    regime = (
        f"Gaussian, κ ∈ {{{', '.join(f'{k:g}' for k in sorted(set(ok.kappa), reverse=True))}}} × "
        f"centre {{0, W(0)}}, one target (ridge on K = {ok.ridge.iloc[0]:g}), {_widths(ok)}, "
        f"{_span(ok.steps)} steps, λT = {_span(ok.lam_T, '{:.1f}')}"
    )
    parts = []
    for (dataset, centre), sub in reached.groupby(["dataset", "centre"]):
        sub = sub.sort_values("kappa", ascending=False)
        where = ", ".join(
            f"2^{int(math.log2(r.width))}" if r.reached else "—" for r in sub.itertuples()
        )
        label = "centre 0" if centre == "zero" else "centre W(0)"
        parts.append(f"{dataset}, {label}: {where}")
    kappas = ", ".join(f"{k:g}" for k in sorted(set(ok.kappa), reverse=True))
    return regime, f"first width with gap_rel < 5% for κ = {kappas} (— not reached): " + "; ".join(
        parts
    )


def _spectral_default(frame, _tables):
    m = 4096 if 4096 in set(frame.width) else int(frame.width.max())
    at = frame[frame.width == m].groupby(["dataset", "sampler"]).spectral_eps.median()
    parts = []
    for dataset, sub in frame.groupby("dataset", sort=False):
        slopes = {
            s: scaling.power_law(
                g.groupby("width").spectral_eps.median().index,
                g.groupby("width").spectral_eps.median().to_numpy(),
                n_boot=1,
            ).slope
            for s, g in sub.groupby("sampler")
        }
        parts.append(
            f"{dataset} (flatness {sub.flatness.median():.1f}): {at[dataset, 'gaussian']:.2f} "
            f"(Gaussian) vs {at[dataset, 'leverage']:.2f} (leverage), slopes "
            f"{_num(slopes['gaussian'])} / {_num(slopes['leverage'])}"
        )
    regime = (
        f"no training; n = {frame.n_train.iloc[0]}, λ = {_span(frame.ridge, '{:g}')}, "
        f"{_widths(frame)}, {frame.init_seed.nunique()} seeds"
    )
    return regime, f"median ε at m = {m}: " + "; ".join(parts)


def _width_savings(frame, tables):
    table = tables["width_savings_table"]
    ok = frame[frame.status == "ok"]
    parts = []
    for dataset, sub in table.groupby("dataset", sort=False):
        parts.append(f"{dataset} {_span(sub.ratio, '{:.2f}')}×")
    regime = (
        f"lazy, n = {ok.n_train.iloc[0]}, {_span(ok.steps)} steps, λT = {_span(ok.lam_T, '{:.1f}')}, "
        f"flips {_span(ok.pattern_flips * 100, '{:.2g}')}% over the widths"
    )
    return regime, "m_gauss/m_lev at half and a quarter of the starting gap: " + ", ".join(parts)


def _savings_families(frame, tables):
    from experiments.savings_law import family, spectral_savings

    table = spectral_savings(frame, n_boot=200)
    at = table[table.level == "eps 0.25"].assign(family=lambda t: t.geometry.map(family))
    parts = [
        f"{fam} {_span(sub.ratio.dropna(), '{:.2g}')}×"
        for fam, sub in at.groupby("family", sort=False)
        if sub.ratio.notna().any()
    ]
    regime = (
        f"no training; n = {frame.n_train.iloc[0]}, λ = {_span(frame.ridge, '{:g}')}, "
        f"{frame.dataset.nunique()} geometries"
    )
    return regime, "m_gauss/m_lev at ε = 0.25: " + ", ".join(parts)


def _spectral_scaling(frame, tables):
    fits = tables["spectral_scaling_fits"]
    per = fits[(fits.data != "all") & (fits.eps == "all")]
    theory = per[per.predictor != "(n/λ) ln(16 s_λ/δ)"]
    paper = per[per.predictor == "(n/λ) ln(16 s_λ/δ)"]
    fixed = frame.ridge_per_point.isna()
    regime = (
        f"no training; n = {frame.n_train.min()} … {frame[fixed].n_train.max()} (λ fixed), "
        f"… {frame[~fixed].n_train.max()} (λ = n·λ₀)"
    )
    result = (
        f"leverage ∝ s_λ, Gaussian ∝ sup score (slopes {_span(theory.slope, '{:.2f}')}), "
        f"{_span(1 / theory.C_over_8_3, '{:.0f}')}× below 8/3; n/λ slopes "
        f"{_span(paper.slope, '{:.2f}')}"
    )
    return regime, result


def _equivalence_scaling(frame, tables):
    table, fits = tables["equivalence_scaling_table"], tables["equivalence_scaling_fits"]
    at = table[table.gap_level == min(analysis.GAP_LEVELS)]
    exps = fits[(fits.gap_level == min(analysis.GAP_LEVELS)) & fits.what.str.startswith("m* (")]
    exps = exps[np.isfinite(exps.exponent)]
    ok = frame[frame.status == "ok"]
    ns = sorted(set(ok.n_train))
    regime = (
        f"lazy, λ = n·λ₀, n = {ns[0]} … {ns[-1]}, {_span(at.steps.dropna())} steps at m*, "
        f"λT {_span(at.lam_T.dropna(), '{:.1f}')}, flips at m* "
        f"{_span(at.pattern_flips.dropna() * 100, '{:.2g}')}%"
    )
    level = _pct(min(analysis.GAP_LEVELS))
    parts = [f"m*({level}) ∝ n^a, a = {_span(exps.exponent, '{:.2f}')}"]
    wide = at.pivot_table(index=["dataset", "n"], columns="sampler", values="m_star")
    saved = (wide.gaussian / wide.leverage).groupby(level="dataset")
    parts.append(
        "m*_gauss/m*_lev "
        + ", ".join(f"{_span(r.dropna(), '{:.1f}')}× ({d})" for d, r in saved if r.notna().any())
    )
    widest = ok.groupby(["dataset", "sampler"]).width.max()  # each one's own grid
    for (dataset, sampler), sub in at.groupby(["dataset", "sampler"]):
        missing = int(sub.m_star.isna().sum())
        if missing:
            parts.append(
                f"{dataset} {sampler} > 2^{int(math.log2(widest[dataset, sampler]))} at {missing} "
                f"of {len(sub)} n"
            )
    return regime, "; ".join(parts)


# ---- the rows of docs/findings.md's detail table (``Finding.detail``) ----


def _setting(ok: pd.DataFrame) -> str:
    """Data, size, scale and seeds of a sweep's rows, as the detail table's setting."""
    r = ok.iloc[0]
    return (
        f"{r.dataset}, n = {r.n_train}, d = {r.dim}, ridge on K = {_span(ok.ridge, '{:g}')}, "
        f"κ = {_span(ok.kappa, '{:g}')}, centre {'W(0)' if r.centre == 'init' else '0'}, "
        f"{ok.init_seed.nunique()} seeds"
    )


def _laziness(ok: pd.DataFrame) -> str:
    """GD steps, λT and the flips and weight movement at the smallest and largest width."""
    first, last = _flips_at_ends(ok)
    flips = ", ".join(f"{_pct(first[s])} → {_pct(last[s])} ({s})" for s in first.index)
    move = [ok[ok.width == w].weight_move.mean() for w in (ok.width.min(), ok.width.max())]
    return (
        f"{_span(ok.steps)} GD steps, λT = {_span(ok.lam_T, '{:.1f}')}, pattern flips {flips}, "
        f"weight move {move[0]:.2g} → {move[1]:.2g}, from {_widths(ok).replace(' … ', ' to ')}"
    )


def _gap_detail(frame, _tables):
    ok = frame[frame.status == "ok"]
    parts = []
    for sampler, g in ok.groupby("sampler"):
        curve = g.groupby("width").gap_rms.mean()
        rel = g.groupby("width").gap_rel.mean()
        parts.append(
            f"{sampler}: slope {_num(_slope(g, 'gap_rms'))}, gap {curve.iloc[0]:.2g} → "
            f"{curve.iloc[-1]:.2g} (gap_rel {_pct(rel.iloc[0])} → {_pct(rel.iloc[-1])})"
        )
    return _setting(ok), "; ".join(parts) + "; " + _laziness(ok)


def _paper_wide_detail(frame, tables):
    setting, result = _gap_detail(frame, tables)
    ok = frame[frame.status == "ok"]
    g = ok[ok.sampler == "gaussian"].groupby("width")
    flips, pred = g.pattern_flips.mean(), g.pattern_flips_pred.mean()
    top = flips.index[-3:]
    said = ", ".join(f"{flips[w]:.3f} ({pred[w]:.3f})" for w in top)
    widths = " / ".join(f"2^{int(math.log2(w))}" for w in top)
    _, glance = _paper_wide(frame, tables)
    local = glance.split("local slope ")[1]
    return setting, (
        f"{result}; Gaussian local slope {local}; Gaussian flips (lazy prediction) at "
        f"{widths}: {said}"
    )


def _regime_map_detail(frame, tables):
    ok = frame[frame.status == "ok"]
    setting = (
        f"{', '.join(sorted(set(ok.dataset)))}, n = {ok.n_train.iloc[0]}, Gaussian, "
        f"{ok.init_seed.nunique()} seeds, ridge on K = {ok.ridge.iloc[0]:g} for every κ"
    )
    _, result = _regime_map(frame, tables)
    worst = []
    for (dataset, centre), sub in ok.groupby(["dataset", "centre"]):
        ratio = (
            sub.groupby(["kappa", "width"]).pattern_flips.mean()
            / sub.groupby(["kappa", "width"]).pattern_flips_pred.mean()
        )
        label = "centre 0" if centre == "zero" else "centre W(0)"
        worst.append(f"{dataset}, {label} {_span(ratio, '{:.2f}')}")
    return setting, f"{result}; measured/predicted flips over κ and width: " + "; ".join(worst)


def _width_savings_detail(frame, tables):
    table = tables["width_savings_table"]
    ok = frame[frame.status == "ok"]
    parts = []
    for dataset, sub in table.groupby("dataset", sort=False):
        ratios = ", ".join(
            f"{r.ratio:.2f}× [{r.low:.2f}, {r.high:.2f}] at gap_rel {r.eps:.3f}"
            for r in sub.itertuples()
        )
        parts.append(f"{dataset} (flatness {sub.flatness.iloc[0]:.2f}): {ratios}")
    flips = ok[ok.width == ok.width.max()].groupby(["dataset", "sampler"]).pattern_flips.mean()
    setting = (
        f"{', '.join(sorted(set(ok.dataset)))}; n = {ok.n_train.iloc[0]}, both samplers, "
        f"{_widths(ok)}, {ok.init_seed.nunique()} seeds, lazy"
    )
    return setting, (
        "m_gauss/m_lev [90% bootstrap over seeds]: "
        + "; ".join(parts)
        + f"; {_span(ok.steps)} GD steps, λT = {_span(ok.lam_T, '{:.1f}')}, pattern flips at "
        f"2^{int(math.log2(ok.width.max()))} {_span(flips * 100, '{:.2g}')}%"
    )


def _spectral_detail(frame, tables):
    setting = (
        f"{', '.join(sorted(set(frame.dataset)))}; n = {frame.n_train.iloc[0]}, "
        f"λ = {_span(frame.ridge, '{:g}')}, both samplers, {frame.init_seed.nunique()} seeds"
    )
    _, result = _spectral_default(frame, tables)
    zero = frame.groupby("dataset").zero_fraction.median()
    return setting, result + "; Gaussian half-spaces that miss every point: " + ", ".join(
        f"{d} {_pct(z)}" for d, z in zero.items()
    )


def _held_out_factor(lofo: pd.DataFrame, candidate: str, kind: str | None = None) -> float:
    """exp of the held-out RMS ln error of ``candidate``, pooled over levels (of ``kind``)."""
    rows = lofo[(lofo.candidate == candidate) & (lofo.family == "all")]
    if kind is not None:
        rows = rows[rows.kind == kind]
    return float(np.exp(np.sqrt((rows.rms_ln**2 * rows.points).sum() / rows.points.sum())))


def savings_law_row(folder: Path) -> tuple[str, str]:
    """The savings law's (regime, result) from its committed tables (``savings_law.py``)."""
    fits = pd.read_csv(folder / "savings_law_fits.csv")
    lofo = pd.read_csv(folder / "savings_law_lofo.csv")
    table = pd.read_csv(folder / "savings_law_table.csv")
    from experiments.savings_law import CANDIDATES

    chosen = fits.predictor.iloc[0]
    label = {name: text for name, text, _ in CANDIDATES}[chosen]
    ok = table[np.isfinite(table.ratio)]
    regime = (
        f"{len(ok)} ratios, {ok.geometry.nunique()} geometries in {ok.family.nunique()} "
        "families, each predicted with its family held out"
    )
    law = {
        kind: fits[fits.kind == kind].sort_values("level").iloc[0]
        for kind in ("spectral", "network")
    }
    result = (
        f"R = m_gauss/m_lev ≈ {law['spectral'].C:.2f} x^{law['spectral'].a:.2f} (spectral, "
        f"ε = {law['spectral'].level:g}), {law['network'].C:.2f} x^{law['network'].a:.2f} (network, "
        f"gap_rel {_pct(law['network'].level)}), x = {label}; held-out error "
        f"×{_held_out_factor(lofo, chosen, 'spectral'):.2f} (spectral), "
        f"×{_held_out_factor(lofo, chosen, 'network'):.2f} (network); the superseded sup score/s_λ "
        f"law ×{_held_out_factor(lofo, 'flatness', 'spectral'):.2f}, "
        f"×{_held_out_factor(lofo, 'flatness', 'network'):.2f}"
    )
    return regime, result


def _fmt(x: float, digits: int = 2) -> str:
    return _cell(x, lambda v: _num(v, f"{{:.{digits}g}}" if abs(v) < 1 else "{:.0f}"))


def _spectral_fits_block(tables) -> str:
    """Per data set and predictor: C of m* eps^2 = C D ln(16 s/delta), C / (8/3), the free
    slope, the residual (both eps and both ridge families pooled)."""
    fits = tables["spectral_scaling_fits"]
    fits = fits[(fits.data != "all") & (fits.eps == "all")]
    lines = [
        "| sampler, D | data | C [90%] | C / (8/3) | free log-log slope [90%] | rms ln residual |",
        "|---|---|---|---|---|---|",
    ]
    for r in fits.sort_values(
        ["sampler", "predictor", "data"], ascending=[False, False, False]
    ).itertuples():
        d = r.predictor.split(" ln")[0]
        lines.append(
            f"| {r.sampler}, {d} | {_sphere(r.data)} | "
            f"{r.C:.2g} [{r.C_low:.2g}, {r.C_high:.2g}] | 1/{1 / r.C_over_8_3:.0f} | "
            f"{r.slope:.2f} [{r.slope_low:.2f}, {r.slope_high:.2f}] | {r.rms_log_residual:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _spectral_exponents_block(tables) -> str:
    """Per data set, ridge family and sampler: m*(0.25) and m*(0.5) against n as n^a, with
    90% intervals (``analysis.spectral_n_exponents``), beside s_lambda's exponent."""
    exps = tables["spectral_n_exponents"]
    lines = [
        "| data | ridge | sampler | n | a of m*(0.5) ∝ n^a [90%] | a of m*(0.25) [90%] "
        "| a of s_λ |",
        "|---|---|---|---|---|---|---|",
    ]
    families = {"per_point": "λ = n·λ₀", "fixed": "λ fixed"}
    for (dataset, fam, sampler), sub in exps.groupby(["dataset", "family", "sampler"]):
        cells = [
            f"{_num(r.exponent)} [{_num(r.low)}, {_num(r.high)}]"
            for r in sub.sort_values("eps", ascending=False).itertuples()
        ]
        r = sub.iloc[0]
        lines.append(
            f"| {_sphere(dataset)} | {families[fam]} | {sampler} | {r.n_min:,} … {r.n_max:,} "
            f"({r.points}) | {' | '.join(cells)} | {_num(r.s_lambda_exponent)} |"
        )
    return "\n".join(lines) + "\n"


def _cell(x: float, fmt: Callable[[float], str]) -> str:
    """``x`` as ``fmt`` writes it, or a dash where it is missing (a level not reached)."""
    return fmt(x) if np.isfinite(x) else "—"


def _sphere(dataset: str) -> str:
    """The synthetic set's name as the prose says it: ``synthetic(nested)`` -> ``sphere(nested)``."""
    return (
        "sphere" + dataset.removeprefix("synthetic") if dataset.startswith("synthetic") else dataset
    )


def _arrow(values, fmt: str = "{:.0f}") -> str:
    """``first → last`` of a series ordered by n."""
    return f"{fmt.format(values.iloc[0])} → {fmt.format(values.iloc[-1])}"


def _spectral_summary_block(tables) -> str:
    """The spectral scaling section's prose numbers: s_λ over n per ridge family, the
    slopes against the theory's D, the constants against 8/3, what leverage saves."""
    table, fits = tables["spectral_scaling_table"], tables["spectral_scaling_fits"]
    s_lam = table.drop_duplicates(["dataset", "family", "n"]).sort_values("n")

    def short(g, whole) -> str:  # where a data set's n stops before the others'
        return f" to n = {g.n.max():,}" if g.n.max() < whole.n.max() else ""

    grow = {
        family: f"(n = {sub.n.min():,} … {sub.n.max():,}) "
        + ", ".join(
            f"{_arrow(g.s_lambda)} ({_sphere(d)}{short(g, sub)})" for d, g in sub.groupby("dataset")
        )
        for family, sub in s_lam.groupby("family")
    }
    per = fits[(fits.data != "all") & (fits.eps == "all")]
    paper = per.predictor.str.startswith("(n/λ)")
    theory = per[~paper]
    pooled = fits[(fits.data == "all") & (fits.eps == "all") & (fits.sampler == "leverage")]
    lev = table[(table.sampler == "leverage") & (table.eps == 0.25)].sort_values("n")
    flat = lev[lev.family == "per_point"]
    wide = table[table.eps == 0.25].pivot_table(
        index=["dataset", "family", "n"], columns="sampler", values="m_star"
    )
    saved = (wide.gaussian / wide.leverage).groupby(level="dataset")
    flatness = (table.sup_score / table.s_lambda).groupby(table.dataset)
    c = theory.groupby("data").C.mean()
    across = (
        f" Across geometries the constant moves {c.max() / c.min():.1f}× "
        f"({_sphere(c.idxmax())} above {_sphere(c.idxmin())}), so s_λ alone does not set the "
        f"leverage width (pooled over the data sets the slope in s_λ is "
        f"{pooled.slope.iloc[0]:.2f})."
        if len(c) > 1
        else ""
    )
    return (
        f"s_λ over n: λ fixed {grow['fixed']}; λ = n·λ₀ "
        f"{grow['per_point']}. Within one geometry the width each sampler needs is "
        f"proportional to the quantity its bound names — s_λ for leverage, the sup score for "
        f"Gaussian (free slopes {_span(theory.slope, '{:.2f}')}) — at "
        f"{_span([float(f'{v:.2g}') for v in 1 / theory.C_over_8_3], '{:g}')}× below Avron et "
        "al.'s constant 8/3; n/λ, the "
        f"paper's form of the Gaussian bound, does not predict it (slopes "
        f"{_span(per[paper].slope, '{:.2f}')}, residual "
        f"{_span(per[paper].rms_log_residual, '{:.2f}')} against "
        f"{_span(theory.rms_log_residual, '{:.2f}')}).{across} Under λ = n·λ₀ the leverage "
        f"m*(0.25) from n = {flat.n.min():,} to {flat.n.max():,}: "
        + ", ".join(
            f"{_sphere(d)} {_arrow(g.m_star)}{short(g, flat)} (s_λ {_arrow(g.s_lambda)})"
            for d, g in flat.groupby("dataset")
        )
        + ". What leverage saves, m*_gauss/m*_lev at ε = 0.25 over every n of both families: "
        + ", ".join(
            f"{_span(r.dropna(), '{:.2f}')}× on the {_sphere(d)} (flatness "
            f"{_span(flatness.get_group(d), '{:.1f}')})"
            for d, r in saved
        )
        + ".\n"
    )


def _equivalence_flips_block(tables) -> str:
    """What leverage saves at equal gap against at equal pattern flips, per data set, level
    and n (``analysis.equivalence_flips_table``)."""
    flips = tables["equivalence_flips_table"]
    lines = [
        "| data | gap level | n | m*_gauss / m*_lev (equal gap) | flips at m*: gaussian, leverage "
        "| m*_gauss / m_lev (equal flips) | leverage gap_rel there "
        "| ‖f_nn − f_lin‖ / gap at m*: gaussian, leverage |",
        "|---|---|---|---|---|---|---|---|",
    ]

    for _, r in flips.sort_values(
        ["dataset", "gap_level", "n"], ascending=[True, False, True]
    ).iterrows():
        if np.isfinite(r.saving_flips):
            at_flips, gap = f"{r.saving_flips:.2f}×", _pct(r.gap_lev_at_m_lev_flips)
        elif np.isfinite(r.saving_flips_at_most):
            at_flips, gap = (
                f"≤ {r.saving_flips_at_most:.2f}× (not reached by {r.lev_widest:,.0f})",
                "—",
            )
        else:
            at_flips, gap = "—", "—"
        lines.append(
            f"| {_sphere(r.dataset)} | {_pct(r.gap_level)} | {r.n} | "
            f"{_cell(r.saving_gap, '{:.1f}×'.format)} | "
            f"{_cell(r.flips_gauss, _pct)}, {_cell(r.flips_lev_at_m_lev, _pct)} | {at_flips} | "
            f"{gap} | {_cell(r.nonlin_share_gauss, '{:.2f}'.format)}, "
            f"{_cell(r.nonlin_share_lev, '{:.2f}'.format)} |"
        )
    return (
        "\n".join(lines)
        + "\n\n—: a sampler's networks do not reach the gap level within the widths run "
        "(its m* is not in the table), so neither ratio exists there.\n"
    )


HALVES_MIN_N = 6  # n points an exponent over each half of the n needs (three each)


def _equivalence_summary_block(tables) -> str:
    """The equivalence scaling section's prose numbers: GD steps and λT at m*, what
    leverage saves per n and its exponent, the flips at m* per sampler, how closely m*
    follows the target's scale (rms f*) across n, and m*'s exponent over the smaller and over
    the larger half of the n (a power law's exponent that shrinks with n: m* levelling off)."""
    table, fits = tables["equivalence_scaling_table"], tables["equivalence_scaling_fits"]
    lo, hi = min(analysis.GAP_LEVELS), max(analysis.GAP_LEVELS)
    steps = ", ".join(
        f"{_span(g.steps.dropna())} on the {_sphere(d)}" for d, g in table.groupby("dataset")
    )
    lam_t = table.groupby("n").lam_T.median()
    wide = table.set_index(["dataset", "gap_level", "n", "sampler"]).m_star.unstack("sampler")
    ratio = (wide.gaussian / wide.leverage).rename("ratio").reset_index()  # NaN: not reached
    parts = []
    for dataset, sub in ratio.groupby("dataset"):
        levels = []
        for level in (hi, lo):
            r = sub[sub.gap_level == level].sort_values("n").ratio
            fit = fits[(fits.dataset == dataset) & (fits.what == "m*_gauss / m*_lev")
                       & (fits.gap_level == level)].iloc[0]  # fmt: skip
            cells = ", ".join(_cell(v, "{:.1f}".format) for v in r)
            levels.append(
                f"{cells}× at {_pct(level)} (exponent in n {_num(fit.exponent)} "
                f"[{_num(fit.low)}, {_num(fit.high)}])"
            )
        parts.append(
            f"on the {_sphere(dataset)} (n = {sub.n.min():,} … {sub.n.max():,}) "
            + " and ".join(levels)
        )
    flips = table.groupby(["dataset", "sampler"]).pattern_flips
    flip_parts = [f"{_sphere(d)} {s} {_span(g.dropna() * 100, '{:.2g}')}%" for (d, s), g in flips]
    follows = []  # how m* follows the target's scale across n: Spearman's rho over the n
    for (dataset, sampler), sub in table[table.gap_level == hi].groupby(["dataset", "sampler"]):
        sub = sub.dropna(subset=["m_star"])
        rho = sub.f_star_rms.rank().corr(sub.m_star.rank()) if len(sub) > 2 else math.nan
        follows.append(f"{_sphere(dataset)} {sampler} {_cell(rho, _num)}")
    halves = []  # whether m* levels off: its exponent over the smaller and the larger n
    for (dataset, sampler), sub in table[table.gap_level == lo].groupby(["dataset", "sampler"]):
        sub = sub.dropna(subset=["m_star"]).sort_values("n")
        if len(sub) >= HALVES_MIN_N:
            k = len(sub) // 2
            a = [scaling.power_law(h.n, h.m_star, n_boot=1).slope for h in (sub[:k], sub[-k:])]
            halves.append(f"{_sphere(dataset)} {sampler} {_num(a[0])} → {_num(a[1])}")
    ns = sorted(set(table.n))
    levelling = (
        f" The exponent of m*({_pct(lo)}) over the smaller and over the larger half of the n "
        f"(where it is reached at {HALVES_MIN_N} n or more): " + ", ".join(halves) + "."
        if halves
        else ""
    )
    return (
        f"GD steps at m*: {steps}; λT (median at m*) {_arrow(lam_t, '{:.1f}')} from n = "
        f"{ns[0]} to {ns[-1]}. What leverage saves, m*_gauss/m*_lev by doublings of n: "
        + "; ".join(parts)
        + ". Pattern flips at m*: "
        + ", ".join(flip_parts)
        + f". Spearman's ρ of m*({_pct(hi)}) and rms f* over the n: "
        + ", ".join(follows)
        + "."
        + levelling
        + "\n"
    )


def _equivalence_block(tables) -> str:
    """Per data set and sampler: the target's scale (rms f*) and m*(n) at both gap levels by
    n, the exponent at the smaller level with its interval, the flips at m*."""
    table = tables["equivalence_scaling_table"]
    fits = tables["equivalence_scaling_fits"].set_index(["dataset", "what", "gap_level"])
    hi, lo = max(analysis.GAP_LEVELS), min(analysis.GAP_LEVELS)
    lines = [
        f"| data | sampler | n (doublings) | rms f* | m*({_pct(hi)}) | m*({_pct(lo)}) "
        f"| a of m*({_pct(lo)}) ∝ n^a [90%] | pattern flips at m* |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, sampler), sub in table.groupby(["dataset", "sampler"]):
        by_n = [sub[sub.gap_level == level].sort_values("n") for level in (hi, lo)]
        cells = [", ".join(_fmt(v) for v in rows.m_star) for rows in by_n]
        scale = ", ".join(f"{v:.2f}" for v in by_n[0].f_star_rms)
        fit = fits.loc[(dataset, f"m* ({sampler})", lo)]
        flips = sub.pattern_flips.dropna()
        lines.append(
            f"| {_sphere(dataset)} | {sampler} | {sub.n.min():,} … {sub.n.max():,} | {scale} | "
            f"{cells[0]} | {cells[1]} | {_num(fit.exponent)} [{_num(fit.low)}, {_num(fit.high)}] | "
            f"{_span(flips * 100, '{:.2g}')}% |"
        )
    return "\n".join(lines) + "\n"


def savings_law_block(folder: Path) -> str:
    """The leave-one-family-out table (:mod:`experiments.savings_law`): each candidate's
    held-out error per family, from ``folder``'s ``savings_law_lofo.md``."""
    return (folder / "savings_law_lofo.md").read_text()


def savings_fits_block(folder: Path) -> str:
    """The chosen law per kind and level: its constants, held-out error and interval, and
    the leverage width's fit, from ``savings_law_fits.csv``."""
    fits = pd.read_csv(folder / "savings_law_fits.csv")
    lines = [
        "| measurements, level | points | R = C x^a: C, a | held-out error | 90% interval of R "
        "| m_lev = C' s_λ^b: C', b | 90% interval of m_lev |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in fits.itertuples():
        level = f"ε = {r.level:g}" if r.kind == "spectral" else f"gap_rel {_pct(r.level)}"
        lines.append(
            f"| {r.kind}, {level} | {r.points} | {r.C:.2f}, {r.a:.2f} | "
            f"×{np.exp(r.rms_ln_held_out):.2f} | ×{np.exp(r.ln_low):.2f} … ×{np.exp(r.ln_high):.2f} | "
            f"{r.width_C:.3g}, {r.width_b:.2f} | ×{np.exp(r.width_ln_low):.2f} … "
            f"×{np.exp(r.width_ln_high):.2f} |"
        )
    return "\n".join(lines) + "\n"


def savings_validation_block(folder: Path) -> str:
    """Predicted against measured saving on the data sets outside the fit
    (``savings_law_validation.csv``)."""
    table = pd.read_csv(folder / "savings_law_validation.csv")
    stat = table.columns[4]
    lines = [
        f"| data | λ | level | {stat} | measured R [90%] | predicted R [90%] | predicted / measured "
        "| flatness | superseded law: C flatness^a |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        measured = (
            "not bracketed"
            if not np.isfinite(r.measured)
            else f"{r.measured:.2f} [{r.measured_low:.2f}, {r.measured_high:.2f}]"
        )
        factor = _cell(r.factor, "{:.2f}".format)
        lines.append(
            f"| {r.geometry} | {r.ridge:g} | {r.level.replace('eps', 'ε =')} | {getattr(r, stat):.3f} | "
            f"{measured} | {r.predicted:.2f} [{r.predicted_low:.2f}, {r.predicted_high:.2f}] | "
            f"{factor} | {r.flatness:.2f} | {r.predicted_by_flatness:.2f} |"
        )
    return "\n".join(lines) + "\n"


def savings_failures_block(folder: Path) -> str:
    """Where the law fails, in numbers: the range of savings it was fitted on, and on the
    validation sets beyond it the measured savings, the law's over-statement, how many
    measurements fall below its interval, and the sup law's factor there."""
    fitted = pd.read_csv(folder / "savings_law_table.csv")
    top = fitted.loc[fitted.ratio.idxmax()]
    table = pd.read_csv(folder / "savings_law_validation.csv").dropna(subset=["measured"])
    beyond = table[table.measured > top.ratio]
    below = int((beyond.measured < beyond.predicted_low).sum())
    sup = beyond.predicted_by_flatness / beyond.measured
    return (
        f"Beyond the range of savings it was fitted on (R ≤ {top.ratio:.1f}, {top.geometry}) it "
        f"overstates: on {', '.join(sorted(set(beyond.geometry)))}, whose leverage sampling "
        f"saves {_span(beyond.measured, '{:.0f}')}×, it predicts "
        f"{_span(beyond.factor, '{:.2f}')}× too much, and {below} of those {len(beyond)} "
        f"measurements fall below its 90% interval; the sup law refitted on the same "
        f"geometries (the validation table's last column) lands within "
        f"{_span(sup, '{:.1f}')}× of them.\n"
    )


#: The geometries of the savings law's network half beyond ``width_savings``' four.  Not
#: MNIST-1D: at n = 128 its lazy horizon takes ~2,100 GD steps and its gap_rel falls only
#: like m^-0.33 (0.21 at m = 512), so 5% lies past 2^14 and its jobs take minutes each here.
NETWORK_FAMILIES = ("cone_wide", "clusters", "anisotropic", "manifold", "digits", "breast_cancer",
                    "diabetes")  # fmt: skip

FINDINGS = (
    Finding("main", "network vs NTK-KRR gap", "sweep", (), "results.parquet", GAP, _main,
            (("gap_vs_width.png", "gap_vs_width_synthetic_lazy.png"),
             ("gap_decomposition.png", "gap_decomposition_synthetic_lazy.png")),
            detail=_gap_detail),
    Finding("cone", "the gap on anisotropic data", "sweep", ("data=cone",), "results.parquet",
            GAP, _cone, (("gap_vs_width.png", "gap_vs_width_cone_lazy.png"),),
            detail=_gap_detail),
    Finding("regime_paper", "the paper's regime", "sweep", ("regime=paper",), "results.parquet",
            GAP, _regime_paper, (("gap_vs_width.png", "gap_vs_width_synthetic_paper.png"),),
            detail=_gap_detail),
    Finding("paper_wide", "the paper's regime at scale", "sweep", ("+experiment=paper_wide",),
            "results.parquet", GAP, _paper_wide,
            (("gap_vs_width.png", "gap_vs_width_synthetic_paper_wide.png"),),
            detail=_paper_wide_detail),
    Finding("regime_map", "the regime map at one target", "sweep", ("+experiment=regime_map",),
            "results.parquet", REGIME_MAP, _regime_map, (("regime_map.png", "regime_map.png"),),
            (("regime-map", lambda tables: tables["regime_map_table"]),),
            detail=_regime_map_detail),
    Finding("width_savings", "width leverage saves at equal gap", "sweep",
            ("+experiment=width_savings",), "results.parquet", WIDTH_SAVINGS, _width_savings,
            (("width_savings.png", "width_savings.png"),),
            (("width-savings",
              lambda tables: analysis.width_savings_markdown(tables["width_savings_table"])),),
            detail=_width_savings_detail),
    Finding("spectral", "spectral error of K_m", "spectral", (), "spectral.parquet", SPECTRAL,
            _spectral_default, (("eps_vs_m.png", "eps_vs_m.png"),), detail=_spectral_detail),
    Finding("spectral_scaling", "width the kernel approximation needs (Thm 3.3)", "spectral",
            ("+experiment=spectral_scaling",), "spectral.parquet", SPECTRAL_SCALING,
            _spectral_scaling, (("spectral_scaling.png", "spectral_scaling.png"),),
            (("spectral-fits", _spectral_fits_block),
             ("spectral-exponents", _spectral_exponents_block),
             ("spectral-summary", _spectral_summary_block)),
            # the per-sample family, whose widths stay bounded, three n further
            (("data.n_train=4096,8192", "ridge_per_point=0.00078125"),
             ("data=synthetic,cone,mnist1d", "data.n_train=16384", "ridge_per_point=0.00078125"))),
    Finding("equivalence_scaling", "width the network needs against n", "sweep",
            ("+experiment=equivalence_scaling",), "results.parquet", EQUIVALENCE_SCALING,
            _equivalence_scaling, (("equivalence_scaling.png", "equivalence_scaling.png"),),
            (("equivalence", _equivalence_block),
             ("equivalence-summary", _equivalence_summary_block),
             ("equivalence-flips", _equivalence_flips_block)),
            # the cone's Gaussian networks need more than 2^14 to reach 2.5%; the sphere to
            # n = 8,192; MNIST-1D (real data) from 64 to 8,192; the sphere and the cone again
            # with one teacher for every n (nested sets), the cone's Gaussian networks to 2^16,
            # the nested sphere to n = 8,192
            (("data=cone", "sampler=gaussian", "model.width=32768,65536"),
             ("data=synthetic", "data.n_train=2048,4096,8192"),
             ("data=mnist1d", "data.n_train=64,128,256,512,1024,2048,4096,8192"),
             ("data=synthetic,cone", "data.nested=true"),
             ("data=cone", "data.nested=true", "sampler=gaussian", "model.width=32768,65536"),
             ("data=synthetic", "data.nested=true", "data.n_train=2048,4096,8192"))),
    Finding("savings_families", "what leverage saves on twelve geometries (kernel)", "spectral",
            ("+experiment=savings_families",), "spectral.parquet", SPECTRAL, _savings_families),
    Finding("savings_validation", "the savings law on three data sets outside its fit (kernel)",
            "spectral", ("+experiment=savings_families",
                         "data=breast_cancer_raw,wine_raw,diabetes_raw"), "spectral.parquet",
            SPECTRAL, _savings_families),
    Finding("savings_families_network", "what leverage saves on seven more geometries (network)",
            "sweep", ("+experiment=width_savings", f"data={','.join(NETWORK_FAMILIES)}"),
            "results.parquet", WIDTH_SAVINGS, _width_savings,
            (("width_savings.png", "width_savings_families.png"),)),
)  # fmt: skip
#: The savings law's folder under docs/results/ (``experiments/savings_law.py``, from the
#: tables of the findings above).
SAVINGS_LAW = "savings_law"
