"""Writing and gathering results tables (the imperative edge; no numerics here).

Each Hydra job writes its own rows atomically (temporary file, then ``os.replace``)
into its job directory; :class:`GatherResults`, a Hydra callback, concatenates every
job's table of a multirun into the sweep directory and draws the sweep's figure.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write) -> None:
    """Write through a temporary file, then rename; the file gets the process umask's mode
    (0644 under the usual 022), not mkstemp's private 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_table(frame: pd.DataFrame, directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write ``name.csv`` and then ``name.parquet`` into ``directory``, each atomically: the
    parquet, which marks a job done (a resumed sweep skips it), comes last, and the
    temporary files a killed earlier write left are removed first."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
    for stale in (*directory.glob(f".{name}.csv.*.tmp"), *directory.glob(f".{name}.parquet.*.tmp")):
        stale.unlink(missing_ok=True)
    _atomic(csv, lambda tmp: frame.to_csv(tmp, index=False))
    _atomic(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    return parquet, csv


PACKAGES = (
    "nnkrr",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "numpy",
    "neural-tangents",
    "hydra-core",
    "omegaconf",
    "pandas",
    "scipy",
)


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def run_metadata(started: datetime, wall_s: float) -> dict:
    """How a job was run: package versions, jax backend and devices, git state, times."""
    import jax

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    devices = jax.devices()
    return {
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "python": sys.version.split()[0],
        "packages": versions,
        "jax_backend": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "host": platform.node(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "argv": sys.argv,
    }


def write_run_metadata(directory: str | Path, started: datetime, wall_s: float) -> Path:
    """Write :func:`run_metadata` as ``run.json`` into ``directory`` (atomically)."""
    path = Path(directory) / "run.json"
    text = json.dumps(run_metadata(started, wall_s), indent=2) + "\n"
    _atomic(path, lambda tmp: Path(tmp).write_text(text))
    return path


#: Columns renamed since tables were first written, per table name (old -> new): a table
#: read by :func:`read` (and so by :func:`gather`, ``publish.py`` and ``savings_law.py``)
#: carries today's names (:data:`nnkrr.row.COLUMNS`, :data:`nnkrr.spectral.COLUMNS`) even
#: when its sweep ran before the renames.  The spectral rows took the sweep's names.
LEGACY_COLUMNS = {
    "results": {"kernel_path": "backprop"},
    "spectral": {
        "n": "n_train",
        "m": "width",
        "seed": "init_seed",
        "eps": "spectral_eps",
        "lam": "ridge",
        "lam_per_point": "ridge_per_point",
    },
}


def read(path: str | Path) -> pd.DataFrame:
    """A job's or sweep's ``<name>.parquet`` under today's column names
    (:data:`LEGACY_COLUMNS` of ``name``, the file's stem)."""
    frame = pd.read_parquet(path)
    old = LEGACY_COLUMNS.get(Path(path).stem, {})
    if not any(c in frame.columns for c in old):
        return frame
    if Path(path).stem == "spectral" and "eps" not in frame.columns:
        return frame  # a spectral table's "n" / "seed" are old only beside its "eps"
    return frame.rename(columns=old)


#: Numeric keys gathered rows are sorted by (those present), then the job directory.
SORT_KEYS = ("dataset", "regime", "kappa", "lam", "ridge", "sampler", "width", "init_seed")


def job_tables(sweep_dir: str | Path, name: str) -> list[Path]:
    """Every job's ``<name>.parquet`` under ``sweep_dir``, at any depth (a job folder is one
    level down in sweeps of nnkrr's configs; a ``subdir`` of one's own may nest it), less the
    sweep's own gathered table."""
    sweep_dir = Path(sweep_dir)
    return sorted(p for p in sweep_dir.rglob(f"{name}.parquet") if p.parent != sweep_dir)


def _job(sweep_dir: Path, job_dir: Path) -> str:
    return job_dir.relative_to(sweep_dir).as_posix()


def gather(sweep_dir: str | Path, name: str) -> pd.DataFrame:
    """Concatenate the jobs' tables (:func:`job_tables`; ``job`` column: the job's folder
    relative to ``sweep_dir``), sorted by the keys of :data:`SORT_KEYS` that the table has
    (numbers as numbers)."""
    frames = []
    for path in job_tables(sweep_dir, name):
        frame = read(path)
        frame.insert(0, "job", _job(Path(sweep_dir), path.parent))
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    keys = [k for k in SORT_KEYS if k in frame.columns] + ["job"]
    return frame.sort_values(keys, kind="stable", ignore_index=True)


def write_failure(directory: str | Path, err: BaseException) -> str:
    """Record a failed job as ``failure.json`` in its directory; return the error's last line.

    The sweep's task function returns ``"failed: <that line>"`` so that launchers can count
    the job as failed (:mod:`experiments.launchers`)."""
    path = Path(directory) / "failure.json"
    last = (str(err).strip().splitlines() or [""])[-1]
    error = f"{type(err).__name__}: {last}"
    text = json.dumps({"error": error, "type": type(err).__name__})
    _atomic(path, lambda tmp: Path(tmp).write_text(text + "\n"))
    return error


def _overrides(job_dir: Path) -> str:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return job_dir.name
    from omegaconf import OmegaConf

    return " ".join(OmegaConf.to_container(OmegaConf.load(path)))


def _log_path(job_dir: Path) -> str:
    logs = sorted(job_dir.glob("*.log"))
    return str(logs[0]) if logs else ""


def failures(sweep_dir: str | Path, table: str, jobs: list[str] | None = None) -> pd.DataFrame:
    """The jobs of a sweep that left no ``<table>.parquet``: one row per job with its
    ``overrides``, ``error`` (the last line of its exception, or why it has none) and ``log``.

    Args:
      sweep_dir: the sweep directory.
      table: the per-job table's stem.
      jobs: the job subdirectories this sweep launched; ``None``: every subdirectory holding
        a ``.hydra`` folder (a started job).
    """
    sweep_dir = Path(sweep_dir)
    if jobs is None:
        jobs = sorted(_job(sweep_dir, p.parent) for p in sweep_dir.rglob(".hydra"))
        jobs = [j for j in jobs if j != "."]  # a single run's own .hydra is no job of a sweep
    rows = []
    for name in jobs:
        job_dir = sweep_dir / name
        if (job_dir / f"{table}.parquet").exists():
            continue
        if (job_dir / "failure.json").exists():
            error = json.loads((job_dir / "failure.json").read_text())["error"]
        elif job_dir.exists():
            error = "no result: the job was killed, cancelled or timed out (see its log)"
        else:
            error = "no result: the job never started"
        rows.append(
            {
                "job": name,
                "overrides": _overrides(job_dir),
                "error": error,
                "log": _log_path(job_dir),
            }
        )
    return pd.DataFrame(rows, columns=["job", "overrides", "error", "log"])


def _config_loader():
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader()


def _grid(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides, expanded as Hydra's basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    sweeper = config.hydra.get("sweeper", {})
    if "BasicSweeper" not in str(sweeper.get("_target_", "")):
        return None  # another sweeper (optuna, ...) chooses its jobs as it goes
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    params += list(config.hydra.overrides.task)
    parser = OverridesParser.create(config_loader=_config_loader())
    return BasicSweeper.split_arguments(parser.parse_overrides(params), None)[0]


def _subdirs(jobs) -> list[str] | None:
    """The jobs' directories under the sweep's, where the grid names them (the default,
    ``${hydra.job.num}``, is set only as each job starts: then None)."""
    try:
        return [str(job.hydra.sweep.subdir) for _, job in jobs]
    except Exception:  # noqa: BLE001 - omegaconf's missing-value errors
        return None


class CheckJobs(Callback):
    """Hydra callback that checks a multirun's grid before any job is launched: every
    combination is composed and checked with ``validate``, and with ``data`` set its data
    read; invalid values end the sweep with exit code 1 and nothing on disk: one line when every
    job has the same error, otherwise one line per bad combination (``overrides: error``).
    The entry points without a gathered table (``advise.py``, ``krr.py``) use it alone;
    :class:`GatherResults` adds the gathering.

    Args:
      validate: ``"module:function"`` checking one job's config (raising ``ValueError``) and
        returning it as a plain dict, or null.
      data: ``"module:function"`` reading a checked job config's data set (raising
        ``ValueError`` naming the key: a missing file, a NaN, too few rows), called once per
        distinct ``data`` node of the grid before launching, or null.
      entry: passed to ``validate`` as its second argument when set (``nnkrr.config:check``
        takes the entry point whose schema applies: ``advise``, ``krr``).
    """

    def __init__(
        self, validate: str | None = None, data: str | None = None, entry: str | None = None
    ) -> None:
        self.validate = validate
        self.data = data
        self.entry = entry
        self.jobs: list[str] | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        # Compose every combination of the grid once: its job directory, and its check.
        try:
            combos = _grid(config)
            loader = _config_loader()
            jobs = [(c, loader.load_sweep_config(config, c)) for c in combos or []]
        except Exception as err:  # noqa: BLE001 - composition errors are Hydra's to report
            log.debug("could not expand the grid: %s", err)
            combos, jobs = None, []
        self.jobs = None if combos is None else _subdirs(jobs)
        if not self.validate:
            return
        validate = function_of(self.validate)
        args = () if self.entry is None else (self.entry,)
        check = lambda job: validate(job, *args)  # noqa: E731
        bad, checked = [], []
        for combo, job in jobs:
            try:
                checked.append((combo, check(job)))
            except ValueError as err:
                bad.append((combo, str(err)))
        if not bad and self.data:  # each distinct data config read once, before any job
            load, seen = function_of(self.data), {}
            for combo, job in checked:
                key = json.dumps(job["data"], sort_keys=True, default=str)
                if key not in seen:
                    try:
                        load(job)
                        seen[key] = None
                    except ValueError as err:
                        seen[key] = str(err)
                if seen[key]:
                    bad.append((combo, seen[key]))
        if bad:
            raise SystemExit(_refusal(bad, len(jobs)))
        what = "configs and data" if self.data else "configs"
        log.info("checked the %s of all %d jobs", what, len(jobs))


class GatherResults(CheckJobs):
    """Hydra callback around a multirun: checks the grid first (:class:`CheckJobs`), gathers
    and reports at the end.

    ``on_multirun_end``: concatenates the finished jobs' tables into the sweep directory,
    draws the sweep's figures, and, if some jobs of this sweep left no table (an exception:
    the job wrote ``failure.json``; or killed, cancelled, timed out), writes ``failures.csv``
    (overrides, the error's last line, the log's path), prints ``N of M jobs failed; see
    failures.csv`` and exits with code 1.

    Args:
      table: the per-job table's file stem (``<job dir>/<table>.parquet``).
      plot: ``"module:function"`` called as ``function(frame, path)`` to draw the
        sweep's figure(s) into the sweep directory, or null.
      validate, data: as :class:`CheckJobs`'s.
    """

    def __init__(
        self,
        table: str,
        plot: str | None = None,
        validate: str | None = None,
        data: str | None = None,
    ) -> None:
        super().__init__(validate, data)
        self.table = table
        self.plot = plot

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frame = gather(sweep_dir, self.table)
        if not frame.empty:
            parquet, csv = write_table(frame, sweep_dir, self.table)
            log.info(
                "gathered %d rows from %d jobs into %s and %s",
                len(frame),
                frame["job"].nunique(),
                parquet,
                csv,
            )
            if self.plot:
                for path in function_of(self.plot)(frame, sweep_dir):
                    log.info("figure written to %s", path)
        failed = failures(sweep_dir, self.table, self.jobs)
        total = (
            len(self.jobs)
            if self.jobs is not None
            else failed.shape[0] + (frame["job"].nunique() if not frame.empty else 0)
        )
        path = sweep_dir / "failures.csv"
        if failed.empty:
            if path.exists():
                path.unlink()  # a re-run finished what an earlier one left
            if frame.empty:  # no job of this sweep got as far as a table
                raise SystemExit(f"no job wrote {self.table}.parquet under {sweep_dir}")
            return
        _atomic(path, lambda tmp: failed.to_csv(tmp, index=False))
        for row in failed.itertuples():
            log.error("failed: %s: %s (log: %s)", row.overrides, row.error, row.log or "none")
        raise SystemExit(f"{len(failed)} of {total} jobs failed; see {path}")


def _refusal(bad: list[tuple[list[str], str]], total: int) -> str:
    """``Error in config: ...`` for the invalid jobs of a grid: one line when every job has
    the same error (a missing data file, say), otherwise a line per job after a count."""
    errors = {error for _, error in bad}
    if len(bad) == total and len(errors) == 1:
        return f"Error in config: {errors.pop()} (all {total} jobs; nothing was launched)"
    lines = "\n".join(f"{' '.join(combo)}: {error}" for combo, error in bad)
    return f"Error in config: {len(bad)} of {total} jobs are invalid; nothing was launched\n{lines}"


def function_of(spec: str):
    """The function a config names as ``"module:function"`` (``plot``, ``validate``, ``data``)."""
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)
