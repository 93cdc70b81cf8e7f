"""Checkpoints of a job's training in its directory, so that a killed or requeued job goes on
from its last saved segment instead of step 0.

:func:`nnkrr.train.fit` hands every finished segment to a :class:`nnkrr.train.Checkpointer`;
the ones here keep the latest segment of each training stage (``network``, ``linearised``)
in memory and write it to ``<job dir>/checkpoint/<stage>.npz``

* when ``checkpoint_s`` seconds have passed since the job started or since the last write
  (a job shorter than that writes none; ``checkpoint_s=0``: after every segment; ``null``:
  never), and
* at once when the job is told it will be stopped: the SLURM launchers' pre-timeout or
  preemption signal (``hydra.launcher.signal_delay_s`` before the time limit) calls
  :func:`flush_active` before submitit requeues the job (``hydra_plugins/nnkrr_launchers.py``).

A file is written whole to a temporary name and renamed over the old one (a kill mid-write
leaves the previous checkpoint).  It records a fingerprint of the job (its checked config
without ``force`` and ``checkpoint_s``, the nnkrr and jax versions and the backend); a
restarted job continues from a file only when the fingerprint and the carry's structure,
shapes and dtypes match, otherwise it says why and starts at step 0.  The continued
training runs the same compiled segments on the same numbers, so its rows equal an
uninterrupted run's.  The folder is removed once the job's table is written.

Cost (``benchmarks/checkpoint.py``, ``benchmarks/results/cpu_checkpoint.txt``): a file holds
the parameters, the optimizer state and the per-seed records, 4.0 bytes per weight and seed in
float32 (100 MB at m = 2^20, d = 8, 3 seeds); a write took 3-6% of one 20-step segment's
training from m = 2^14 to 2^20, so the default of one write per 300 s costs about 0.1%.  A
resumed job's ``wall_s`` counts its last run only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import numpy as np

from nnkrr import train

log = logging.getLogger(__name__)

FOLDER = "checkpoint"  # inside the job directory
UNFINGERPRINTED = ("force", "checkpoint_s")  # keys that do not change the numbers


def fingerprint(job: dict) -> str:
    """What a checkpoint must have been written by: the checked job config (less
    :data:`UNFINGERPRINTED`), nnkrr's and jax's versions and the backend."""
    import nnkrr

    spec = {k: v for k, v in job.items() if k not in UNFINGERPRINTED}
    text = json.dumps(
        [spec, nnkrr.__version__, jax.__version__, jax.default_backend()],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class JobCheckpoints:
    """The checkpoints of one job: :meth:`stage` gives the :class:`nnkrr.train.Checkpointer`
    of a training stage; :meth:`flush` writes what is held and not yet written;
    :meth:`remove` deletes the folder.

    Args:
      job_dir: the job's directory (checkpoints in ``job_dir/checkpoint/``).
      key: :func:`fingerprint` of the job.
      every_s: seconds between writes (``0``: after every segment; ``None``: only
        :meth:`flush` writes, when a signal asks for it).
      clock: seconds, monotonic (a test's clock).
    """

    def __init__(
        self,
        job_dir: Path,
        key: str,
        every_s: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(job_dir) / FOLDER
        self.key = key
        self.every_s = every_s
        self.clock = clock
        self.last_write = clock()
        self.held: dict[str, train.Segment] = {}  # latest segment of each stage
        self.written: dict[str, int] = {}  # segments done in each stage's file
        self.write_s: list[float] = []  # seconds each write took
        self.write_bytes = 0  # size of the last write
        self.writing = False  # a write is under way (a signal handler must not start one)

    def stage(self, label: str) -> _Stage:
        return _Stage(self, label)

    def path(self, label: str) -> Path:
        return self.folder / f"{label}.npz"

    def write(self, label: str) -> None:
        seg = self.held[label]
        start = time.perf_counter()
        self.writing = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            leaves, treedef = jax.tree.flatten(seg.carry)
            arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
            meta = {"key": self.key, "treedef": str(treedef), "done": seg.done, "step": seg.step}
            tmp = self.folder / f".{label}.{os.getpid()}.{time.monotonic_ns()}.tmp"
            with tmp.open("wb") as handle:
                np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(label))
        finally:
            self.writing = False
        self.written[label] = seg.done
        self.last_write = self.clock()
        self.write_s.append(time.perf_counter() - start)
        self.write_bytes = self.path(label).stat().st_size

    def flush(self) -> list[str]:
        """Write every held segment not yet on disk; returns ``"<stage> at step s"`` for each
        (none while a write is under way: a signal arrived during it; the previous file stays)."""
        done = []
        if self.writing:
            return done
        for label, seg in self.held.items():
            if self.written.get(label) != seg.done:
                self.write(label)
                done.append(f"{label} at step {seg.step}")
        return done

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Stage:
    """The :class:`nnkrr.train.Checkpointer` of one training stage of a job."""

    def __init__(self, job: JobCheckpoints, label: str) -> None:
        self.job, self.label = job, label

    def restore(self, start: train.Segment) -> train.Segment:
        path = self.job.path(self.label)
        if not path.exists():
            return start
        leaves, treedef = jax.tree.flatten(start.carry)
        with np.load(path) as saved:
            meta = json.loads(str(saved["meta"]))
            why = None
            if meta["key"] != self.job.key:
                why = "it was written by another config or version"
            elif meta["treedef"] != str(treedef) or len(saved.files) != len(leaves) + 1:
                why = "its training state has another structure"
            else:
                arrays = [saved[f"leaf_{i}"] for i in range(len(leaves))]
                if any(
                    a.shape != leaf.shape or a.dtype != leaf.dtype
                    for a, leaf in zip(arrays, leaves, strict=True)
                ):
                    why = "its arrays have other shapes or dtypes"
        if why is not None:
            log.warning("%s: not resumed from %s (%s); training from step 0", self.label, path, why)
            return start
        carry = jax.tree.unflatten(
            treedef,
            [jax.device_put(a, leaf.sharding) for a, leaf in zip(arrays, leaves, strict=True)],
        )
        seg = train.Segment(meta["done"], meta["step"], carry)
        self.job.held[self.label] = seg
        self.job.written[self.label] = seg.done
        log.info("%s: resumed at step %d from %s", self.label, seg.step, path)
        return seg

    def save(self, segment: train.Segment) -> None:
        self.job.held[self.label] = segment
        every = self.job.every_s
        if every is not None and self.job.clock() - self.job.last_write >= every:
            self.job.write(self.label)


_ACTIVE: list[JobCheckpoints] = []  # the running job's checkpoints (a stack, one per process)


@contextlib.contextmanager
def active(store: JobCheckpoints) -> Iterator[JobCheckpoints]:
    """Make ``store`` the one :func:`flush_active` writes while the job runs."""
    _ACTIVE.append(store)
    try:
        yield store
    finally:
        _ACTIVE.remove(store)


def flush_active() -> str:
    """Write the running job's held segments (the launchers' signal handler); what was written."""
    if not _ACTIVE:
        return "no training checkpoint (the job was not training)"
    written = _ACTIVE[-1].flush()
    where = _ACTIVE[-1].folder
    return (
        f"checkpoint written to {where}: {', '.join(written)}"
        if written
        else (f"checkpoint in {where} already up to date")
    )
