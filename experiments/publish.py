"""Every generated number, table and page of the README and the docs, from the committed tables.

    uv run python experiments/publish.py             # regenerate (README.md, docs/)
    uv run python experiments/publish.py --check     # exit 1, naming each file that differs
    uv run python experiments/publish.py --rerun     # first rerun the presets whose tables are
                                                     # missing or stale, then regenerate
    uv run python experiments/publish.py --rerun main --launcher slurm_local   # one, launched

What is generated:

* the findings table (between ``<!-- nnkrr:findings -->`` and ``<!-- /nnkrr:findings -->`` in
  ``README.md`` and ``docs/index.md``): one row per preset of :data:`FINDINGS`, its regime and
  result computed from ``docs/results/<name>/`` (the gathered table and the sweep's
  ``multirun.yaml``), its time from that folder's ``run.json`` (written by ``--rerun``, which
  times the command);
* ``docs/columns.md`` (:func:`nnkrr.row.reference`, :func:`nnkrr.spectral.reference`; the
  configuration reference is written
  from the schemas when the site is built, ``docs/hooks.py``);
* with ``--figures`` (and after ``--rerun``): the savings law's table, fits and figure
  (:mod:`experiments.savings_law`) and every figure of :data:`FINDINGS`, redrawn from the
  tables by the function each preset's sweep draws with (:func:`figures`);
* with ``--notebooks``: ``docs/notebooks/*.ipynb``, the notebooks executed on their small
  default settings, with their outputs, for the site (:func:`notebooks`;
  ``tests/test_notebooks.py`` checks they are the notebooks' current outputs).

A preset's table is *stale* when a value that can change its numbers differs between the config
its ``multirun.yaml`` records and the one its command composes now (:func:`differences`);
``--rerun`` reruns those and the missing ones (``--force`` every named one), each into a fresh
sweep directory, and copies its gathered tables and figures into ``docs/``.  ``--check`` is the
one check of the published record (``tests/test_docs.py::test_the_published_record_is_current``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from nnkrr import config, row, scaling, spectral

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
NOTEBOOKS = ("leverage_tutorial", "analysis")  # notebooks/<name>.ipynb, shown on the site
BEGIN, END = "<!-- nnkrr:{} -->", "<!-- /nnkrr:{} -->"


@dataclasses.dataclass(frozen=True)
class Finding:
    """A published finding: the preset command behind it and how its row is rendered."""

    name: str  # its folder under docs/results/
    what: str
    entry: str  # experiments/<entry>.py
    overrides: tuple[str, ...]
    table: str  # the gathered table's file name
    render: Callable[[pd.DataFrame, Path], tuple[str, str]]  # -> (regime, result)
    figures: tuple[tuple[str, str], ...] = ()  # (file in the sweep dir, name in docs/figures)
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


def _span(values, fmt="{:,.0f}") -> str:
    """``lo–hi`` (``lo … hi`` when negative), or one number when they print alike."""
    lo, hi = float(np.min(values)), float(np.max(values))
    a, b = _num(lo, fmt), _num(hi, fmt)
    return a if a == b else f"{a} … {b}" if lo < 0 else f"{a}–{b}"


def _slope(frame: pd.DataFrame, column: str) -> float:
    curve = frame.groupby("width")[column].mean()
    return scaling.power_law(curve.index, curve.to_numpy(), n_boot=1).slope


def _widths(frame: pd.DataFrame) -> str:
    lo, hi = int(frame.width.min()), int(frame.width.max())
    return f"2^{int(math.log2(lo))} … 2^{int(math.log2(hi))}"


def _main(frame, _):
    ok = frame[frame.status == "ok"]
    by = {s: g for s, g in ok.groupby("sampler")}
    first = ok[ok.width == ok.width.min()].groupby("sampler").pattern_flips.mean()
    last = ok[ok.width == ok.width.max()].groupby("sampler").pattern_flips.mean()
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


def _cone(frame, _):
    ok = frame[frame.status == "ok"]
    by = {s: g for s, g in ok.groupby("sampler")}
    at = ok[ok.width == 1024].groupby("sampler").gap_rms.mean()
    first = ok[ok.width == ok.width.min()].groupby("sampler").pattern_flips.mean()
    last = ok[ok.width == ok.width.max()].groupby("sampler").pattern_flips.mean()
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


def _regime_paper(frame, _):
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


def _paper_wide(frame, _):
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


def _width_savings(frame, _):
    from experiments import plots

    table = plots.width_savings_table(frame)
    ok = frame[frame.status == "ok"]
    parts = []
    for dataset, sub in table.groupby("dataset", sort=False):
        parts.append(f"{dataset} {_span(sub.ratio, '{:.2f}')}×")
    regime = (
        f"lazy, n = {ok.n_train.iloc[0]}, {_span(ok.steps)} steps, λT = {_span(ok.lam_T, '{:.1f}')}"
    )
    return regime, "m_gauss/m_lev at half and a quarter of the starting gap: " + ", ".join(parts)


@functools.cache
def _spectral_fits(folder: Path) -> pd.DataFrame:
    """The spectral preset's fits, computed once per regeneration (row and findings block)."""
    from experiments import scaling as tables

    frame = pd.read_parquet(folder / "spectral.parquet")
    return tables.spectral_scaling_fits(tables.spectral_scaling_table(frame))


@functools.cache
def _equivalence(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The equivalence preset's table and fits, computed once per regeneration."""
    from experiments import scaling as tables

    table = tables.equivalence_scaling_table(pd.read_parquet(folder / "results.parquet"))
    return table, tables.equivalence_scaling_fits(table)


def _spectral_scaling(frame, folder):
    fits = _spectral_fits(folder)
    per = fits[(fits.data != "all") & (fits.eps == "all")]
    theory = per[per.predictor != "(n/λ) ln(16 s_λ/δ)"]
    paper = per[per.predictor == "(n/λ) ln(16 s_λ/δ)"]
    ns = sorted(set(frame.n))
    regime = f"no training; n = {ns[0]} … {ns[-1]}, λ fixed or n·λ₀"
    result = (
        f"leverage ∝ s_λ, Gaussian ∝ sup score (slopes {_span(theory.slope, '{:.2f}')}), "
        f"{_span(1 / theory.C_over_8_3, '{:.0f}')}× below 8/3; n/λ slopes "
        f"{_span(paper.slope, '{:.2f}')}"
    )
    return regime, result


def _equivalence_scaling(frame, folder):
    from experiments import scaling as tables

    table, fits = _equivalence(folder)
    at = table[table.gap_level == min(tables.GAP_LEVELS)]
    exps = fits[(fits.gap_level == min(tables.GAP_LEVELS)) & fits.what.str.startswith("m* (")]
    exps = exps[np.isfinite(exps.exponent)]
    ok = frame[frame.status == "ok"]
    ns = sorted(set(ok.n_train))
    regime = (
        f"lazy, λ = n·λ₀, n = {ns[0]} … {ns[-1]}, {_span(at.steps.dropna())} steps at m*, "
        f"λT {_span(at.lam_T.dropna(), '{:.1f}')}"
    )
    level = _pct(min(tables.GAP_LEVELS))
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


def _savings_law(_, folder):
    fits = pd.read_csv(folder / "savings_law_fits.csv")
    law = fits[fits.predictor == "sup score / s_λ"].set_index("kind")
    paper = fits[fits.predictor == "(n/λ) / s_λ"].set_index("kind")
    table = pd.read_csv(folder / "savings_law_table.csv")
    regime = f"{int(np.isfinite(table.ratio).sum())} spectral and network ratios"
    result = (
        f"R = m_gauss/m_lev ≈ {law.C['spectral']:.2f} flatness^{law.slope['spectral']:.2f} "
        f"(spectral, ±{_pct(law.rms_ln_residual['spectral'])}), "
        f"{law.C['network']:.2f} flatness^{law.slope['network']:.2f} (network, "
        f"±{_pct(law.rms_ln_residual['network'])}); (n/λ)/s_λ overstates it "
        f"{_span(1 / paper.C[['spectral', 'network']], '{:.0f}')}×"
    )
    return regime, result


FINDINGS = (
    Finding("main", "network vs NTK-KRR gap", "sweep", (), "results.parquet", _main,
            (("gap_vs_width.png", "gap_vs_width_synthetic_lazy.png"),
             ("gap_decomposition.png", "gap_decomposition_synthetic_lazy.png"))),
    Finding("cone", "the gap on anisotropic data", "sweep", ("data=cone",), "results.parquet",
            _cone, (("gap_vs_width.png", "gap_vs_width_cone_lazy.png"),)),
    Finding("regime_paper", "the paper's regime", "sweep", ("regime=paper",), "results.parquet",
            _regime_paper, (("gap_vs_width.png", "gap_vs_width_synthetic_paper.png"),)),
    Finding("paper_wide", "the paper's regime at scale", "sweep", ("+experiment=paper_wide",),
            "results.parquet", _paper_wide,
            (("gap_vs_width.png", "gap_vs_width_synthetic_paper_wide.png"),)),
    Finding("width_savings", "width leverage saves at equal gap", "sweep",
            ("+experiment=width_savings",), "results.parquet", _width_savings,
            (("width_savings.png", "width_savings.png"),)),
    Finding("spectral_scaling", "width the kernel approximation needs (Thm 3.3)", "spectral",
            ("+experiment=spectral_scaling",), "spectral.parquet", _spectral_scaling,
            (("spectral_scaling.png", "spectral_scaling.png"),)),
    Finding("equivalence_scaling", "width the network needs against n", "sweep",
            ("+experiment=equivalence_scaling",), "results.parquet", _equivalence_scaling,
            (("equivalence_scaling.png", "equivalence_scaling.png"),),
            # the cone's Gaussian networks need more than 2^14 to reach 2.5%
            (("data=cone", "sampler=gaussian", "model.width=32768,65536"),)),
)  # fmt: skip
SAVINGS_LAW = "savings_law"
def figures(results: Path = RESULTS, out: Path = DOCS / "figures", only=None) -> list[Path]:
    """Redraw the figures of :data:`FINDINGS` (those named in ``only``, default all) into
    ``out`` from the committed tables: each with the function its preset's sweep draws with
    (``hydra.callbacks.gather.plot`` of the composed preset: named once, in the YAML), copied
    under the names of ``Finding.figures``."""
    from experiments import results as sweep_results

    written = []
    for finding in FINDINGS:
        if only is not None and finding.name not in only:
            continue
        draw = sweep_results.function_of(_composed(finding).hydra.callbacks.gather.plot)
        with tempfile.TemporaryDirectory() as tmp:
            draw(pd.read_parquet(results / finding.name / finding.table), tmp)
            for drawn, published in finding.figures:
                shutil.copy2(Path(tmp) / drawn, out / published)
                written.append(out / published)
    return written


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{int(minutes)} min {seconds % 60:.0f} s"


def findings_table(results: Path = RESULTS) -> str:
    """The findings table in Markdown, one row per :data:`FINDINGS` entry and the savings law."""
    lines = ["| what | regime | result | command (time) |", "|---|---|---|---|"]
    for f in FINDINGS:
        folder = results / f.name
        regime, result = f.render(pd.read_parquet(folder / f.table), folder)
        meta = json.loads((folder / "run.json").read_text())
        short = " ".join([f"{f.entry}.py -m", *f.overrides])
        lines.append(
            f"| {f.what} | {regime} | {result} | `{short}` ({_duration(meta['wall_s'])}) |"
        )
    folder = results / SAVINGS_LAW
    regime, result = _savings_law(None, folder)
    lines.append(
        f"| one law for what leverage saves | {regime} | {result} | `savings_law.py` (from the "
        "tables above) |"
    )
    return "\n".join(lines) + "\n"


def _fmt(x: float, digits: int = 2) -> str:
    return "—" if not np.isfinite(x) else _num(x, f"{{:.{digits}g}}" if abs(x) < 1 else "{:.0f}")


def width_savings_block(results: Path = RESULTS) -> str:
    """The width_savings preset's table (:func:`experiments.plots.width_savings_table`)."""
    from experiments import plots

    frame = pd.read_parquet(results / "width_savings" / "results.parquet")
    return plots._markdown_savings(plots.width_savings_table(frame))


def spectral_fits_block(results: Path = RESULTS) -> str:
    """Per data set and predictor: C of m* eps^2 = C D ln(16 s/delta), C / (8/3), the free
    slope, the residual (both eps and both ridge families pooled)."""

    fits = _spectral_fits(results / "spectral_scaling")
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


def equivalence_block(results: Path = RESULTS) -> str:
    """Per data set and sampler: m*(n) at both gap levels, the exponent at the smaller level
    with its interval, the flips at m*."""
    from experiments import scaling as tables

    table, fits = _equivalence(results / "equivalence_scaling")
    fits = fits.set_index(["dataset", "what", "gap_level"])
    hi, lo = max(tables.GAP_LEVELS), min(tables.GAP_LEVELS)
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


def savings_law_block(results: Path = RESULTS) -> str:
    """The savings law's fits per kind and predictor (:mod:`experiments.savings_law`)."""
    fits = pd.read_csv(results / SAVINGS_LAW / "savings_law_fits.csv")
    lines = [
        "| measurements | predictor | slope a [90%] | C [90%] | rms ln residual |",
        "|---|---|---|---|---|",
    ]
    for r in fits.itertuples():
        if r.predictor.startswith("none") and r.kind != "all":
            continue
        slope = (
            "—"
            if r.predictor.startswith("none")
            else (f"{r.slope:.2f} [{r.slope_low:.2f}, {r.slope_high:.2f}]")
        )
        lines.append(
            f"| {r.kind} ({r.points}) | {r.predictor} | {slope} | "
            f"{r.C:.2g} [{r.C_low:.2g}, {r.C_high:.2g}] | {r.rms_ln_residual:.2f} |"
        )
    return "\n".join(lines) + "\n"


#: Generated blocks of docs/findings.md: marker name -> renderer of the committed tables.
FINDINGS_BLOCKS = {
    "width-savings": width_savings_block,
    "spectral-fits": spectral_fits_block,
    "equivalence": equivalence_block,
    "savings-law": savings_law_block,
}


def replace_block(text: str, name: str, body: str, path: Path) -> str:
    begin, end = BEGIN.format(name), END.format(name)
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: no {begin} … {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}{end}{tail}"


def generated(results: Path = RESULTS) -> dict[Path, str]:
    """Every generated file's new text (README and docs pages)."""
    table = findings_table(results)
    out = {}
    for path in (ROOT / "README.md", DOCS / "index.md"):
        out[path] = replace_block(path.read_text(), "findings", table, path)
    findings = DOCS / "findings.md"
    text = replace_block(findings.read_text(), "findings", table, findings)
    for name, render in FINDINGS_BLOCKS.items():
        text = replace_block(text, name, render(results), findings)
    out[findings] = text
    out[DOCS / "columns.md"] = row.reference() + "\n" + spectral.reference()
    return out


def stale(finding: Finding, results: Path = RESULTS) -> str | None:
    """Why ``finding``'s table must be rerun (missing, or another grid or config), or None."""
    folder = results / finding.name
    if not (folder / finding.table).exists() or not (folder / "run.json").exists():
        return "no table"
    recorded = OmegaConf.load(folder / "multirun.yaml")
    changed = differences(recorded, _composed(finding), finding.entry)
    if changed:
        return f"its preset composes another config now ({', '.join(changed)})"
    return None


def differences(recorded, now, entry: str) -> list[str]:
    """The keys whose values could change a preset's numbers between the config its table
    was recorded with and the one it composes now: the grid (``hydra.sweeper.params``), and
    every task key with another value, less

    * the keys that never change a number (:data:`experiments.checkpoint.UNFINGERPRINTED`:
      ``force``, ``checkpoint_s``);
    * a key added to the schema since the recording and composed at its schema default
      (:func:`nnkrr.config.default`): the recorded run behaved as the default does, or the
      golden rows, which compare the code with recorded numbers, would have failed;
    * a key the schema no longer has: nothing reads it.
    """
    from experiments.checkpoint import UNFINGERPRINTED

    old, new = (OmegaConf.to_container(c, resolve=False) for c in (recorded, now))
    changed = []
    grids = [OmegaConf.to_container(c.hydra.sweeper.params or {}) for c in (recorded, now)]
    if json.dumps(grids[0], sort_keys=True) != json.dumps(grids[1], sort_keys=True):
        changed.append("hydra.sweeper.params")
    flat_old, flat_new = (_flat({k: v for k, v in c.items() if k != "hydra"}) for c in (old, new))
    plain_now = config.plain(OmegaConf.masked_copy(now, [k for k in now if k != "hydra"]))
    for key in sorted(flat_new):  # a key only in flat_old: the schema no longer has it
        if key.split(".")[0] in UNFINGERPRINTED:
            continue
        if key in flat_old:
            if json.dumps(flat_old[key], default=str) != json.dumps(flat_new[key], default=str):
                changed.append(key)
        elif flat_new[key] != config.default(entry, plain_now, key):
            changed.append(key)
    return changed


def _flat(node: dict, prefix: str = "") -> dict:
    """``{"a.b": value}`` for every leaf of a nested dict (lists are leaves)."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _composed(finding: Finding):
    from hydra import compose, initialize_config_dir

    config.register()
    with initialize_config_dir(str(config.config_dir()), version_base="1.3"):
        return compose(finding.entry, list(finding.overrides), return_hydra_config=True)


def rerun(finding: Finding, launcher: str | None, results: Path = RESULTS) -> None:
    """Run ``finding``'s preset into a fresh sweep directory (timed), then copy its gathered
    tables, ``multirun.yaml`` and figures into ``docs/``, with ``run.json``."""
    with tempfile.TemporaryDirectory(prefix=f"nnkrr-{finding.name}-") as tmp:
        sweep = Path(tmp) / "sweep"
        cmd = [sys.executable, str(ROOT / "experiments" / f"{finding.entry}.py"), "-m",
               *finding.overrides, f"hydra.sweep.dir={sweep}"]  # fmt: skip
        if launcher:
            cmd.append(f"hydra/launcher={launcher}")
        start = time.perf_counter()
        for i, ext in enumerate(((), *finding.extensions)):
            print(f"== {finding.name}: {' '.join([*cmd[1:], *ext])}", flush=True)
            subprocess.run([*cmd, *ext], check=True, cwd=tmp)
            if i == 0:  # the preset's own config (an extension's would overwrite it)
                preset_config = (sweep / "multirun.yaml").read_text()
        wall = time.perf_counter() - start
        folder = results / finding.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in sweep.iterdir():
            if (
                path.is_file()
                and path.suffix in (".parquet", ".yaml", ".md", ".csv")
                and path.name != Path(finding.table).with_suffix(".csv").name  # the rows again
            ):
                shutil.copy2(path, folder / path.name)
        (folder / "multirun.yaml").write_text(preset_config)
        for src, dst in finding.figures:
            shutil.copy2(sweep / src, DOCS / "figures" / dst)
        meta = {
            "command": finding.command + (f" hydra/launcher={launcher}" if launcher else ""),
            "wall_s": round(wall, 1),
            "date": datetime.now(UTC).date().isoformat(),
        }
        (folder / "run.json").write_text(json.dumps(meta, indent=1) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    parser.add_argument("--rerun", nargs="*", metavar="NAME", help="rerun missing or stale presets")
    parser.add_argument("--force", action="store_true", help="with --rerun: rerun every named one")
    parser.add_argument(
        "--launcher", help="with --rerun: a hydra/launcher option (slurm_local, ...)"
    )
    parser.add_argument("--figures", action="store_true", help="also redraw the savings law")
    parser.add_argument(
        "--notebooks", action="store_true", help="execute the notebooks into docs/notebooks/"
    )
    args = parser.parse_args(argv)
    if args.notebooks:
        for path in notebooks():
            print(f"executed {path.relative_to(ROOT)}")
    names = {f.name: f for f in FINDINGS}
    if args.rerun is not None:
        unknown = [n for n in args.rerun if n not in names]
        if unknown:
            parser.error(f"--rerun: unknown {', '.join(unknown)} (one of {', '.join(names)})")
        for name in args.rerun or names:
            why = "asked (--force)" if args.force and args.rerun else stale(names[name])
            if why:
                print(f"{name}: rerun ({why})")
                rerun(names[name], args.launcher)
            else:
                print(f"{name}: up to date")
    if args.rerun is not None or args.figures:
        from experiments import savings_law

        savings_law.savings_law(RESULTS, DOCS / "figures")
        for path in figures():
            print(f"drew {path.relative_to(ROOT)}")
    if args.check:
        problems = check()
        for line in problems:
            print(line)
        return 1 if problems else 0
    for path, text in generated().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"regenerated: {path.relative_to(ROOT)}")
    return 0


def execute_notebook(name: str):
    """``notebooks/<name>.ipynb`` executed in ``notebooks/`` on its small default settings
    (no ``NNKRR_*`` sweep variables): the notebook with its outputs."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("NNKRR_")}
    try:
        resources = {"metadata": {"path": str(ROOT / "notebooks")}}
        NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources).execute()
    finally:
        os.environ.update(saved)
    return nb


def notebooks(out: Path = DOCS / "notebooks") -> list[Path]:
    """Write each notebook of :data:`NOTEBOOKS`, executed, to ``out`` (the site's copies)."""
    import nbformat

    written = []
    for name in NOTEBOOKS:
        path = out / f"{name}.ipynb"
        if path.is_symlink():
            path.unlink()
        nbformat.write(execute_notebook(name), path)
        written.append(path)
    return written


def check(results: Path = RESULTS) -> list[str]:
    """What is out of date in the published record, one line each: a preset whose table is
    missing or stale (:func:`stale`), a generated page that differs from what the committed
    tables make (:func:`generated`).  Empty when all is current (``publish.py --check``)."""
    problems = [
        f"{f.name}: {why} (publish.py --rerun {f.name})"
        for f in FINDINGS
        if (why := stale(f, results))
    ]
    problems += [
        f"differs: {path.relative_to(ROOT)} (publish.py regenerates it)"
        for path, text in generated(results).items()
        if not path.exists() or path.read_text() != text
    ]
    return problems


if __name__ == "__main__":
    sys.exit(main())
