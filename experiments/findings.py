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
    }


_SPECTRAL_SHOWN = ["dataset", "n", "lam", "family", "sampler", "eps", "m_star", "m_low", "m_high",
                   "s_lambda", "sup_score", "bound", "n_over_lam"]  # fmt: skip


def _equivalence_tables(frame: pd.DataFrame) -> Tables:
    table = analysis.equivalence_scaling_table(frame)
    return {
        "equivalence_scaling_table": table,
        "equivalence_scaling_fits": analysis.equivalence_scaling_fits(table),
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
#: ``+experiment=spectral_scaling``: ``spectral_scaling.png``, its table (``.csv``, ``.md``)
#: and fits (``.md``).
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
    },
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """A published finding: the preset command behind it, its analysis, and how it renders.

    ``render(frame, tables) -> (regime, result)`` is its row of the findings table;
    ``blocks`` its generated blocks of ``docs/findings.md`` (marker -> ``block(tables)``);
    ``figures`` maps a figure its analysis draws to its name under ``docs/figures/``."""

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


def _width_savings(frame, tables):
    table = tables["width_savings_table"]
    ok = frame[frame.status == "ok"]
    parts = []
    for dataset, sub in table.groupby("dataset", sort=False):
        parts.append(f"{dataset} {_span(sub.ratio, '{:.2f}')}×")
    regime = (
        f"lazy, n = {ok.n_train.iloc[0]}, {_span(ok.steps)} steps, λT = {_span(ok.lam_T, '{:.1f}')}"
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
    ns = sorted(set(frame.n_train))
    regime = f"no training; n = {ns[0]} … {ns[-1]}, λ fixed or n·λ₀"
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
        f"λT {_span(at.lam_T.dropna(), '{:.1f}')}"
    )
    level = _pct(min(analysis.GAP_LEVELS))
    parts = [f"m*({level}) ∝ n^a, a = {_span(exps.exponent, '{:.2f}')}"]
    wide = at.pivot_table(index=["dataset", "n"], columns="sampler", values="m_star")
    saved = (wide.gaussian / wide.leverage).groupby(level="dataset")
    parts.append(
        "m*_gauss/m*_lev "
        + ", ".join(f"{_span(r.dropna(), '{:.1f}')}× ({d})" for d, r in saved if r.notna().any())
    )
    for (dataset, sampler), sub in at.groupby(["dataset", "sampler"]):
        missing = int(sub.m_star.isna().sum())
        if missing:
            parts.append(
                f"{dataset} {sampler} > 2^{int(math.log2(ok.width.max()))} at {missing} of {len(sub)} n"
            )
    return regime, "; ".join(parts)


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
    return "—" if not np.isfinite(x) else _num(x, f"{{:.{digits}g}}" if abs(x) < 1 else "{:.0f}")


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
            f"| {r.sampler}, {d} | {'sphere' if r.data == 'synthetic' else r.data} | "
            f"{r.C:.2g} [{r.C_low:.2g}, {r.C_high:.2g}] | 1/{1 / r.C_over_8_3:.0f} | "
            f"{r.slope:.2f} [{r.slope_low:.2f}, {r.slope_high:.2f}] | {r.rms_log_residual:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _equivalence_block(tables) -> str:
    """Per data set and sampler: m*(n) at both gap levels, the exponent at the smaller level
    with its interval, the flips at m*."""
    table = tables["equivalence_scaling_table"]
    fits = tables["equivalence_scaling_fits"].set_index(["dataset", "what", "gap_level"])
    hi, lo = max(analysis.GAP_LEVELS), min(analysis.GAP_LEVELS)
    ns = sorted(set(table.n))
    lines = [
        f"| data | sampler | m*({_pct(hi)}) at n = {ns[0]} … {ns[-1]} | m*({_pct(lo)}) at n = "
        f"{ns[0]} … {ns[-1]} | a of m*({_pct(lo)}) ∝ n^a [90%] | pattern flips at m* |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, sampler), sub in table.groupby(["dataset", "sampler"]):
        cells = [
            ", ".join(_fmt(v) for v in sub[sub.gap_level == level].sort_values("n").m_star)
            for level in (hi, lo)
        ]
        fit = fits.loc[(dataset, f"m* ({sampler})", lo)]
        flips = sub.pattern_flips.dropna()
        lines.append(
            f"| {'sphere' if dataset == 'synthetic' else dataset} | {sampler} | {cells[0]} | "
            f"{cells[1]} | {_num(fit.exponent)} [{_num(fit.low)}, {_num(fit.high)}] | "
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
        factor = f"{r.factor:.2f}" if np.isfinite(r.factor) else "—"
        lines.append(
            f"| {r.geometry} | {r.ridge:g} | {r.level.replace('eps', 'ε =')} | {getattr(r, stat):.3f} | "
            f"{measured} | {r.predicted:.2f} [{r.predicted_low:.2f}, {r.predicted_high:.2f}] | "
            f"{factor} | {r.flatness:.2f} | {r.predicted_by_flatness:.2f} |"
        )
    return "\n".join(lines) + "\n"


#: The geometries of the savings law's network half beyond ``width_savings``' four.  Not
#: MNIST-1D: at n = 128 its lazy horizon takes ~2,100 GD steps and its gap_rel falls only
#: like m^-0.33 (0.21 at m = 512), so 5% lies past 2^14 and its jobs take minutes each here.
NETWORK_FAMILIES = ("cone_wide", "clusters", "anisotropic", "manifold", "digits", "breast_cancer",
                    "diabetes")  # fmt: skip

FINDINGS = (
    Finding("main", "network vs NTK-KRR gap", "sweep", (), "results.parquet", GAP, _main,
            (("gap_vs_width.png", "gap_vs_width_synthetic_lazy.png"),
             ("gap_decomposition.png", "gap_decomposition_synthetic_lazy.png"))),
    Finding("cone", "the gap on anisotropic data", "sweep", ("data=cone",), "results.parquet",
            GAP, _cone, (("gap_vs_width.png", "gap_vs_width_cone_lazy.png"),)),
    Finding("regime_paper", "the paper's regime", "sweep", ("regime=paper",), "results.parquet",
            GAP, _regime_paper, (("gap_vs_width.png", "gap_vs_width_synthetic_paper.png"),)),
    Finding("paper_wide", "the paper's regime at scale", "sweep", ("+experiment=paper_wide",),
            "results.parquet", GAP, _paper_wide,
            (("gap_vs_width.png", "gap_vs_width_synthetic_paper_wide.png"),)),
    Finding("width_savings", "width leverage saves at equal gap", "sweep",
            ("+experiment=width_savings",), "results.parquet", WIDTH_SAVINGS, _width_savings,
            (("width_savings.png", "width_savings.png"),),
            (("width-savings",
              lambda tables: analysis.width_savings_markdown(tables["width_savings_table"])),)),
    Finding("spectral_scaling", "width the kernel approximation needs (Thm 3.3)", "spectral",
            ("+experiment=spectral_scaling",), "spectral.parquet", SPECTRAL_SCALING,
            _spectral_scaling, (("spectral_scaling.png", "spectral_scaling.png"),),
            (("spectral-fits", _spectral_fits_block),)),
    Finding("equivalence_scaling", "width the network needs against n", "sweep",
            ("+experiment=equivalence_scaling",), "results.parquet", EQUIVALENCE_SCALING,
            _equivalence_scaling, (("equivalence_scaling.png", "equivalence_scaling.png"),),
            (("equivalence", _equivalence_block),),
            # the cone's Gaussian networks need more than 2^14 to reach 2.5%
            (("data=cone", "sampler=gaussian", "model.width=32768,65536"),)),
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
