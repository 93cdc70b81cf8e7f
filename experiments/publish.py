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
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf, open_dict

from experiments import findings
from experiments import results as results_io
from experiments.findings import FINDINGS, SAVINGS_LAW, Finding
from nnkrr import config, row, spectral

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
NOTEBOOKS = ("leverage_tutorial", "analysis")  # notebooks/<name>.ipynb, shown on the site
BEGIN, END = "<!-- nnkrr:{} -->", "<!-- /nnkrr:{} -->"


def figures(results: Path = RESULTS, out: Path = DOCS / "figures", only=None) -> list[Path]:
    """Redraw the figures of :data:`~experiments.findings.FINDINGS` (those named in ``only``,
    default all) into ``out`` from the committed tables: each finding's analysis writes
    into a scratch folder, its figures are copied under their published names and its table
    files (``.md``, ``.csv``) into the finding's folder under ``results``."""
    written = []
    for finding in FINDINGS:
        if only is not None and finding.name not in only:
            continue
        frame, tables = _tables(finding, results)
        with tempfile.TemporaryDirectory() as tmp:
            finding.analysis(frame, tables, tmp)
            for name in finding.analysis.files(tables):
                shutil.copy2(Path(tmp) / name, results / finding.name / name)
                written.append(results / finding.name / name)
            for drawn, published in finding.figures:
                shutil.copy2(Path(tmp) / drawn, out / published)
                written.append(out / published)
    return written


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes >= 10 else f"{int(minutes)} min {seconds % 60:.0f} s"


@functools.cache
def _tables(finding: Finding, results: Path) -> tuple[pd.DataFrame, dict]:
    """A finding's committed table and its analysis tables, computed once per regeneration."""
    frame = results_io.read(results / finding.name / finding.table)
    return frame, finding.analysis.tables(frame)


def findings_table(results: Path = RESULTS) -> str:
    """The findings table in Markdown, one row per finding of
    :data:`~experiments.findings.FINDINGS` and the savings law."""
    lines = ["| what | regime | result | command (time) |", "|---|---|---|---|"]
    for f in FINDINGS:
        regime, result = f.render(*_tables(f, results))
        meta = json.loads((results / f.name / "run.json").read_text())
        short = " ".join([f"{f.entry}.py -m", *f.overrides])
        lines.append(
            f"| {f.what} | {regime} | {result} | `{short}` ({_duration(meta['wall_s'])}) |"
        )
    regime, result = findings.savings_law_row(results / SAVINGS_LAW)
    lines.append(
        f"| one law for what leverage saves | {regime} | {result} | `savings_law.py` (from the "
        "tables above) |"
    )
    return "\n".join(lines) + "\n"


def detail_block(results: Path = RESULTS) -> str:
    """The detail table of docs/findings.md: one row per finding with a ``detail``, its
    setting and result from its committed table, its command, time and date (``run.json``)."""
    lines = ["| what | setting | result | command (time, date) |", "|---|---|---|---|"]
    for f in FINDINGS:
        if f.detail is None:
            continue
        setting, result = f.detail(*_tables(f, results))
        meta = json.loads((results / f.name / "run.json").read_text())
        lines.append(
            f"| {f.what} | {setting} | {result} | `{f.command}` ({_duration(meta['wall_s'])}, "
            f"{meta['date']}) |"
        )
    return "\n".join(lines) + "\n"


def findings_blocks(results: Path = RESULTS) -> dict[str, str]:
    """The generated blocks of docs/findings.md: marker name -> its Markdown (each finding's
    blocks, from its analysis tables, and the savings law's)."""
    out = {}
    for f in FINDINGS:
        for name, block in f.blocks:
            out[name] = block(_tables(f, results)[1])
    out["details"] = detail_block(results)
    out["savings-law"] = findings.savings_law_block(results / SAVINGS_LAW)
    out["savings-fits"] = findings.savings_fits_block(results / SAVINGS_LAW)
    out["savings-validation"] = findings.savings_validation_block(results / SAVINGS_LAW)
    out["savings-failures"] = findings.savings_failures_block(results / SAVINGS_LAW)
    return out


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
    page = DOCS / "findings.md"
    text = replace_block(page.read_text(), "findings", table, page)
    for name, body in findings_blocks(results).items():
        text = replace_block(text, name, body, page)
    out[page] = text
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

    A key renamed since the recording (:data:`nnkrr.config.schemas.RENAMED`) is compared
    under its new name, in the grid too.
    """
    from experiments.checkpoint import UNFINGERPRINTED
    from nnkrr.config.schemas import RENAMED

    renamed = RENAMED.get(entry, {})
    old, new = (OmegaConf.to_container(c, resolve=False) for c in (recorded, now))
    changed = []
    grids = [_grid(c) for c in (recorded, now)]
    grids[0] = {renamed.get(k, k): v for k, v in grids[0].items()}
    if json.dumps(grids[0], sort_keys=True) != json.dumps(grids[1], sort_keys=True):
        changed.append("hydra.sweeper.params")
    flat_old, flat_new = (_flat({k: v for k, v in c.items() if k != "hydra"}) for c in (old, new))
    flat_old = {renamed.get(k, k): v for k, v in flat_old.items()}
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


def sweep_overrides(overrides) -> tuple[list[str], dict[str, str]]:
    """``overrides`` split into the plain ones and the command line's sweeps (``key=a,b``):
    a multirun's config is composed without the sweeps, which Hydra's basic sweeper adds to
    the grid (``hydra.sweeper.params``)."""
    plain, grid = [], {}
    for override in overrides:
        key, _, value = override.partition("=")
        if "," in value and not value.startswith(("[", "{", "'", '"')):
            grid[key.lstrip("+")] = value
        else:
            plain.append(override)
    return plain, grid


def _grid(cfg) -> dict:
    """A recorded or composed multirun config's grid: its ``hydra.sweeper.params`` with the
    command line's sweeps (``hydra.overrides.task``) over them."""
    grid = dict(OmegaConf.to_container(cfg.hydra.sweeper.params or {}))
    grid.update(sweep_overrides(cfg.hydra.overrides.task)[1])
    return grid


def _composed(finding: Finding):
    from hydra import compose, initialize_config_dir

    config.register()
    plain, _ = sweep_overrides(finding.overrides)
    with initialize_config_dir(str(config.config_dir()), version_base="1.3"):
        cfg = compose(finding.entry, plain, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = list(finding.overrides)
    return cfg


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
    (without the sweep variables ``NNKRR_SWEEP``, ``NNKRR_SPECTRAL``, ``NNKRR_REGIME_MAP``;
    ``NNKRR_CACHE`` stays): the notebook with its outputs."""
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    sweeps = ("NNKRR_SWEEP", "NNKRR_SPECTRAL", "NNKRR_REGIME_MAP")
    saved = {k: os.environ.pop(k) for k in sweeps if k in os.environ}
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
