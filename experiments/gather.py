"""Rebuild a sweep's gathered table (and figures) from its job directories.

    uv run python experiments/gather.py multirun/2026-11-28/10-00-00-123456            # width sweep
    uv run python experiments/gather.py SWEEP_DIR --table spectral --plot experiments.plots:spectral_figure

The same as the ``GatherResults`` callback at the end of a multirun: useful after a
cluster sweep whose launcher process died, or to merge jobs re-run later.  Exits with code 1
and one line when no job left a table, or when some jobs failed (``failures.csv``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from omegaconf import OmegaConf

from experiments.results import GatherResults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--table", default="results")
    parser.add_argument(
        "--plot",
        default="experiments.plots:gap_figures",
        help="module:function drawing figures, or '' for none",
    )
    args = parser.parse_args()
    if not Path(args.sweep_dir).is_dir():
        raise SystemExit(f"sweep_dir: no such directory {args.sweep_dir!r}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = OmegaConf.create({"hydra": {"sweep": {"dir": args.sweep_dir}}})
    GatherResults(args.table, args.plot or None).on_multirun_end(config)


if __name__ == "__main__":
    main()
