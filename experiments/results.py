"""Writing and gathering results tables (the imperative edge; no numerics here).

Each Hydra job writes its own rows atomically (temporary file, then ``os.replace``)
into its job directory; :class:`GatherResults`, a Hydra callback, concatenates every
job's table of a multirun into the sweep directory and draws the sweep's figure.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
from pathlib import Path

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
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


def gather(sweep_dir: str | Path, name: str) -> pd.DataFrame:
    """Concatenate ``<sweep_dir>/<job>/<name>.parquet`` over jobs (``job`` column added)."""
    frames = []
    for path in sorted(Path(sweep_dir).glob(f"*/{name}.parquet")):
        frame = pd.read_parquet(path)
        frame.insert(0, "job", path.parent.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
