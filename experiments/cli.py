"""What every entry point shares at the edge: its config's check, refusals in one line that
leave no folder behind, and progress a person reads (bars on a terminal, lines in a log).
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from nnkrr import config

log = logging.getLogger(__name__)

CONFIG_DIR = str(config.config_dir())  # the entry points' hydra.main(config_path=...)


def discard_fresh_dir(out: Path) -> None:
    """Remove a job directory Hydra made for a refused config: only when it holds nothing
    but Hydra's own ``.hydra/`` and the job's log, then its parents that are left empty (up
    to the working directory)."""
    out = Path(out).resolve()
    if not out.is_dir():
        return
    if any(p.name != ".hydra" and p.suffix != ".log" for p in out.iterdir()):
        return
    shutil.rmtree(out)
    stop = Path.cwd().resolve()
    parent = out.parent
    while parent != stop and stop in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def refuse(err: Exception, out: Path | None = None) -> SystemExit:
    """``Error in config: <message>`` (one line, exit code 1), the job's fresh folder gone."""
    if out is not None:
        logging.shutdown()  # the job's log file is closed before its folder goes
        discard_fresh_dir(out)
    return SystemExit(f"Error in config: {err}")


def start(cfg, entry: str) -> tuple[dict, Path, Path | None]:
    """A job's start: ``(job, out, own)`` — its checked plain config (or :func:`refuse`), its
    output folder, and that folder when the job owns it (a single run: a refusal removes it;
    None in a multirun).  Sets ``jax_enable_x64`` to the config's ``x64`` (the sweep's: on;
    its references are float64), before any array."""
    import jax
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    out = Path(HydraConfig.get().runtime.output_dir)
    own = None if HydraConfig.get().mode == RunMode.MULTIRUN else out
    job = checked(cfg, entry, own)
    jax.config.update("jax_enable_x64", job.get("x64", True))
    return job, out, own


def load_data(job: dict, own: Path | None):
    """The job's data set (:func:`nnkrr.experiment.load_data`), or :func:`refuse`."""
    from nnkrr import experiment

    try:
        return experiment.load_data(job)
    except config.ConfigError as err:
        raise refuse(err, own) from None


def checked(cfg, entry: str, out: Path) -> dict:
    """The checked plain config of a job (:func:`nnkrr.config.check`), or :func:`refuse`."""
    try:
        return config.check(cfg, entry)
    except config.ConfigError as err:
        raise refuse(err, out) from None


class Progress:
    """Progress of named tasks: tqdm bars where stderr is a terminal, otherwise a log line
    at every quarter of each task (job logs and CI get no terminal escape codes).

    ``progress(label, done, total)`` is the callback of :func:`nnkrr.experiment.run`.
    """

    def __init__(self, prefix: str, *, interactive: bool | None = None) -> None:
        self.prefix = prefix
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.bars: dict[str, tqdm] = {}
        self.logged: dict[str, int] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.interactive:
            if label not in self.bars:
                self.bars[label] = tqdm(
                    total=total, desc=f"{self.prefix} {label}", mininterval=2, leave=False
                )
            self.bars[label].update(done - self.bars[label].n)
            return
        quarter = 4 * done // max(total, 1)
        if quarter > self.logged.get(label, 0):
            self.logged[label] = quarter
            log.info("%s %s: %d/%d", self.prefix, label, done, total)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def run(main) -> None:
    """Call a ``hydra.main`` function as a command: a bad override (Hydra's or omegaconf's
    refusal while composing, e.g. ``model.width=abc``) ends it with one line naming the key
    and exit code 1, like the checks of :func:`nnkrr.config.check`; so does a scheduler's
    refusal of the jobs (:class:`experiments.launchers.SubmissionRefused`)."""
    import os

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from experiments.launchers import SubmissionRefused

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra's errors reach this function
    try:
        main()
    except (HydraException, OmegaConfBaseException) as err:
        raise SystemExit(f"Error in config: {config.one_line(err)}") from None
    except SubmissionRefused as err:
        raise SystemExit(f"Error in launcher: {err}") from None
