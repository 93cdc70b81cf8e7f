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
    """Write ``name.parquet`` and ``name.csv`` into ``directory``, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
    _atomic(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    _atomic(csv, lambda tmp: frame.to_csv(tmp, index=False))
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


#: Numeric keys gathered rows are sorted by (those present), then the job directory.
SORT_KEYS = ("dataset", "regime", "kappa", "lam", "sampler", "width", "m", "init_seed", "seed")


def gather(sweep_dir: str | Path, name: str) -> pd.DataFrame:
    """Concatenate ``<sweep_dir>/<job>/<name>.parquet`` over jobs (``job`` column added),
    sorted by the keys of :data:`SORT_KEYS` that the table has (numbers as numbers)."""
    frames = []
    for path in sorted(Path(sweep_dir).glob(f"*/{name}.parquet")):
        frame = pd.read_parquet(path)
        frame.insert(0, "job", path.parent.name)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    keys = [k for k in SORT_KEYS if k in frame.columns] + ["job"]
    return frame.sort_values(keys, kind="stable", ignore_index=True)


class GatherResults(Callback):
    """Hydra callback: at the end of a multirun, gather the jobs' tables and plot them.

    Args:
      table: the per-job table's file stem (``<job dir>/<table>.parquet``).
      plot: ``"module:function"`` called as ``function(frame, path)`` to draw the
        sweep's figure(s) into the sweep directory, or null.
    """

    def __init__(self, table: str, plot: str | None = None) -> None:
        self.table = table
        self.plot = plot

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frame = gather(sweep_dir, self.table)
        if frame.empty:
            log.warning("no %s.parquet found under %s", self.table, sweep_dir)
            return
        parquet, csv = write_table(frame, sweep_dir, self.table)
        log.info(
            "gathered %d rows from %d jobs into %s and %s",
            len(frame),
            frame["job"].nunique(),
            parquet,
            csv,
        )
        if self.plot:
            module, function = self.plot.split(":")
            for path in getattr(importlib.import_module(module), function)(frame, sweep_dir):
                log.info("figure written to %s", path)
