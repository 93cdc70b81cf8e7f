"""Submitit launchers that survive failed, cancelled and timed-out jobs, and say what is going on.

hydra-submitit-launcher waits for its jobs with ``[job.results()[0] for job in jobs]``: the first
job that was cancelled (``scancel``), killed by its time limit or lost raises, the multirun stops
there and its end-of-sweep callbacks (gathering, figures) never run.  On a cluster without
accounting (``sacct`` disabled) it cannot even see that such a job ended, polls ``sacct`` forever
and logs a warning per poll.  The launchers here (``configs/hydra/launcher/slurm*.yaml``):

* wait for *every* job, logging each change of state (``#3 model.width=64 ...: RUNNING``) and a
  count (``jobs: 1 queued, 2 running, 5 finished, 0 failed``);
* read SLURM job states with ``scontrol show job`` (works with accounting off; a job purged from
  the controller counts as ended) instead of ``sacct``, quietly;
* never raise for one job: a job that ended without a result is logged and handed to the sweeper
  as completed without a return value, so the sweep ends normally and
  :class:`experiments.results.GatherResults` gathers every finished job, writes ``failures.csv``
  and exits non-zero;
* end a sweep whose jobs the scheduler refuses (``sbatch: error: ...``: memory, partition,
  GPUs, time limit) before any job runs, with the scheduler's message and the
  ``hydra.launcher.*`` keys it concerns in one line (:class:`SubmissionRefused`), leaving
  nothing behind in the sweep directory but what was there before;
* checkpoint a job told it will be stopped (:func:`on_stop_signal`): SLURM's pre-timeout
  signal (``hydra.launcher.signal_delay_s`` before the limit) or a preemption makes submitit
  call the launcher's ``checkpoint``, which writes the job's training checkpoint
  (:mod:`experiments.checkpoint`) before submitit requeues the job; the requeued job
  resumes from it.  A job that times out more than ``hydra.launcher.max_num_timeout`` times
  fails as any other (its checkpoint stays: the same command run again goes on from it).

The launcher classes themselves are in ``hydra_plugins/nnkrr_launchers.py`` (Hydra accepts
launchers only from its ``hydra_plugins`` namespace); they wrap their parent's ``launch`` in
:func:`tolerant_map_array`.  submitit and hydra-submitit-launcher (the ``cluster`` extra) are
imported only inside the functions that need them: without that extra this module, the entry
points and Hydra's plugin scan all load, and only a submitit launcher is refused
(:func:`experiments.cli.run`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

from experiments import checkpoint

log = logging.getLogger(__name__)

POLL_S = 3.0  # seconds between state checks while waiting for the jobs

#: What a refusal of sbatch concerns: (words in its message, the ``hydra.launcher`` keys),
#: the first match wins (a refused memory request also reads "node configuration is not
#: available").  Only the keys the launcher config sets are named.
REFUSALS = (
    ("memory", ("mem_gb", "mem_per_cpu", "mem_per_gpu")),
    ("partition", ("partition",)),
    ("time limit", ("timeout_min",)),
    ("gres", ("gpus_per_node", "gpus_per_task", "gres")),
    ("gpu", ("gpus_per_node", "gpus_per_task", "gres")),
    ("account", ("account",)),
    ("qos", ("qos",)),
    ("node count", ("nodes",)),
    ("node configuration", ("nodes", "tasks_per_node", "cpus_per_task", "gpus_per_node")),
)


class SubmissionRefused(Exception):
    """The scheduler refused a sweep's jobs: its message and the launcher keys concerned."""


def refusal(message: str, params: dict) -> SubmissionRefused:
    """One line from sbatch's error ``message`` naming the ``hydra.launcher`` keys of
    ``params`` (the launcher's config) it concerns (:data:`REFUSALS`)."""
    lines = [
        line.strip().removeprefix("sbatch: error: ").strip()
        for line in message.strip().splitlines()
        if line.strip()
    ]
    text = "; ".join(dict.fromkeys(lines)) or "sbatch failed without a message"
    keys: tuple = ()
    for words, candidates in REFUSALS:
        if words in text.lower():
            keys = tuple(k for k in candidates if params.get(k) not in (None, "", 0))
            if keys:
                break
    named = ", ".join(f"hydra.launcher.{k}={params[k]}" for k in keys)
    return SubmissionRefused(
        f"the scheduler refused the jobs{f' ({named})' if named else ''}: {text}"
    )


#: The least time from a SLURM job's start to its pre-timeout signal (``60·timeout_min −
#: signal_delay_s``) a sweep is launched with: a job (and each requeued allocation) first
#: spends its start-up (imports 2.4 s, then compilation, data, K, the draw: 10.5-11.5 s to
#: the first step for the main job's widest leverage job and a cone job with m = 131,072,
#: ``benchmarks/results/cpu_startup.txt``) before training makes progress; a signal that
#: comes earlier requeues the job before submitit's handler is even installed, and every
#: allocation is wasted.  30 s leaves such a job two thirds of its window for training.
MIN_WINDOW_S = 30


def check_settings(params: dict) -> None:
    """Refuse launcher settings that cannot work, before anything is submitted, naming the
    ``hydra.launcher`` keys: a pre-timeout signal (``signal_delay_s`` before the limit) that
    would come less than :data:`MIN_WINDOW_S` after a job starts, or before it starts."""
    limit, delay = params.get("timeout_min"), params.get("signal_delay_s")
    if limit is None or delay is None:
        return
    window = 60 * float(limit) - float(delay)
    if window < MIN_WINDOW_S:
        when = "before each job starts" if window <= 0 else f"{window:g} s after each job starts"
        raise SubmissionRefused(
            f"hydra.launcher.signal_delay_s={delay} with hydra.launcher.timeout_min={limit}: "
            f"the pre-timeout signal would come {when}, within its start-up "
            f"(set signal_delay_s <= {60 * float(limit) - MIN_WINDOW_S:g} or a longer timeout_min)"
        )


@contextlib.contextmanager
def refusals_in_one_line(sweep_dir: Path, params: dict) -> Iterator[None]:
    """Refuse settings that cannot work (:func:`check_settings`) and turn submitit's
    ``FailedJobError`` from sbatch into :func:`refusal`, after removing what the refused
    submission left in ``sweep_dir``: its pickles in ``.submitit/`` and,
    when nothing else is left but Hydra's ``multirun.yaml``, the directory itself and its
    parents left empty (up to the working directory)."""
    from submitit.core.utils import FailedJobError

    before = set(sweep_dir.rglob("*")) if sweep_dir.exists() else set()
    try:
        check_settings(params)
        yield
    except FailedJobError as err:
        _discard_new(sweep_dir, before)
        raise refusal(str(err), params) from None
    except SubmissionRefused:
        _discard_new(sweep_dir, before)
        raise


def _discard_new(sweep_dir: Path, before: set) -> None:
    for path in sorted(set(sweep_dir.rglob("*")) - before, reverse=True):  # files first
        if path.is_dir():
            with contextlib.suppress(OSError):
                path.rmdir()
        else:
            path.unlink()
    left = {p.name for p in sweep_dir.iterdir()} if sweep_dir.exists() else set()
    if left <= {"multirun.yaml", ".submitit"} and not any(sweep_dir.rglob("*/*")):
        shutil.rmtree(sweep_dir)
        stop, parent = Path.cwd().resolve(), sweep_dir.resolve().parent
        while parent != stop and stop in parent.parents and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _scontrol_states(job_id: str) -> dict[str, tuple[str, int]] | None:
    """``{"<array>_<task>" or "<id>": (STATE, restarts)}`` from ``scontrol show job -o``
    (restarts: how often SLURM requeued it); None if purged."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return None  # "Invalid job id specified": ended and purged (MinJobAge)
    states = {}
    for line in out.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        state = fields.get("JobState", "UNKNOWN"), int(fields.get("Restarts", "0") or 0)
        array, task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        if array and task:
            if "-" in task or "," in task:  # a pending range such as 2-5 or 2-5%2
                spec = task.split("%")[0]
                for part in spec.split(","):
                    lo, _, hi = part.partition("-")
                    for i in range(int(lo), int(hi or lo) + 1):
                        states[f"{array}_{i}"] = state
            else:
                states[f"{array}_{task}"] = state
        else:
            states[fields.get("JobId", job_id)] = state
    return states


def _make_watcher():
    from submitit.slurm.slurm import SlurmInfoWatcher

    class ScontrolWatcher(SlurmInfoWatcher):
        """submitit's job-state watcher, reading ``scontrol`` instead of ``sacct``."""

        def update(self) -> None:
            self._num_calls += 1
            for base in {x.split("_")[0] for x in self._registered - self._finished}:
                states = _scontrol_states(base)
                for job_id in self._registered - self._finished:
                    if job_id.split("_")[0] != base:
                        continue
                    if states is None:
                        state, restarts = "PURGED", 0  # gone from the controller: it has ended
                    else:
                        state, restarts = states.get(job_id, states.get(base, ("UNKNOWN", 0)))
                    self._info_dict[job_id] = {
                        "JobID": job_id,
                        "State": state,
                        "Restarts": restarts,
                    }
            self._last_status_check = time.time()
            for job_id in self._registered - self._finished:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

    return ScontrolWatcher(delay_s=POLL_S)


def _state(job) -> str:
    if job.paths.result_pickle.exists():
        try:  # the task function returns "failed: <error>" when it recorded its own failure
            value = job.results()[0].return_value
        except Exception:  # noqa: BLE001 - the job raised: submitit pickled the exception
            return "FAILED"
        if isinstance(value, str) and value.startswith("failed: "):
            return f"FAILED ({value.removeprefix('failed: ')})"
        return "FINISHED"
    try:
        state = job.state
    except Exception:  # noqa: BLE001 - a state we cannot read is not a reason to stop
        return "UNKNOWN"
    try:  # SLURM's restart count (scontrol); local jobs have none
        restarts = int(job.get_info(mode="cache").get("Restarts", 0))
    except Exception:  # noqa: BLE001
        restarts = 0
    return f"{state} (requeued {restarts}x)" if restarts else state


_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "UNKNOWN", "READY"}
_RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "PREEMPTED"}


def on_stop_signal() -> None:
    """In the job, on the scheduler's pre-timeout or preemption signal (before submitit
    decides whether to requeue it): write the training checkpoint and say so in the job's log."""
    log.warning("stop signal from the scheduler: %s", checkpoint.flush_active())
    _tolerate_requeue_race()


def _tolerate_requeue_race() -> None:
    """submitit requeues a SLURM job from inside it with ``scontrol requeue <id>``, and SLURM
    stops the job's processes at once, that scontrol among them: where the controller is
    quick (seen on the test cluster, every time) scontrol dies of the SIGTERM before it
    exits, submitit raises ``CalledProcessError`` and the job records a failure although it
    was requeued.  A scontrol ended by SIGTERM there means the requeue took: submitit then
    exits the job as after any requeue."""
    import signal

    from submitit.slurm import slurm

    original = slurm.SlurmJobEnvironment._requeue
    if getattr(original, "tolerant", False):
        return

    def requeue(env, countdown: int) -> None:
        try:
            original(env, countdown)
        except subprocess.CalledProcessError as err:
            if err.returncode != -signal.SIGTERM:
                raise
            log.warning("requeued (scontrol was stopped by the requeue it asked for)")

    requeue.tolerant = True
    slurm.SlurmJobEnvironment._requeue = requeue


def wait_for_all(jobs: Sequence, labels: Sequence[str]) -> list[JobReturn]:
    """Wait until every job has ended, logging state changes; one JobReturn per job."""
    last: dict[int, str] = {}
    while True:
        counts = {"queued": 0, "running": 0, "finished": 0, "failed": 0}
        changed = False
        for i, job in enumerate(jobs):
            ended = last.get(i, "") == "FINISHED" or last.get(i, "").startswith("FAILED")
            state = last[i] if ended else _state(job)  # a result pickle is read once
            if state != last.get(i):
                log.info("%s: %s", labels[i], state)
                last[i] = state
                changed = True
            if state == "FINISHED":
                counts["finished"] += 1
            elif state.startswith("FAILED"):
                counts["failed"] += 1
            elif state.split()[0] in _QUEUED:
                counts["queued"] += 1
            elif state.split()[0] in _RUNNING:
                counts["running"] += 1
            elif job.done():
                counts["failed"] += 1
            else:
                counts["running"] += 1
        if changed:
            log.info("jobs: %s", ", ".join(f"{v} {k}" for k, v in counts.items()))
        if counts["queued"] == counts["running"] == 0:
            break
        time.sleep(POLL_S)
    returns = []
    for i, job in enumerate(jobs):
        try:
            returns.append(job.results()[0])  # noqa: PERF401
        except Exception as err:  # noqa: BLE001 - cancelled, timed out, lost: reported at the end
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            log.error("%s ended without a result (%s): %s", labels[i], last[i], reason)
            returns.append(JobReturn(overrides=[], status=JobStatus.COMPLETED))
    return returns


class _WaitedJob:
    def __init__(self, ret: JobReturn) -> None:
        self._ret = ret

    def results(self) -> list[JobReturn]:
        return [self._ret]


@contextlib.contextmanager
def tolerant_map_array(labels: list[str], slurm: bool) -> Iterator[None]:
    """Make ``AutoExecutor.map_array`` wait for all jobs itself (tolerantly) for one launch."""
    import submitit
    from submitit.slurm.slurm import SlurmJob

    original = submitit.AutoExecutor.map_array
    original_watcher = SlurmJob.watcher

    def map_array(executor, fn, *iterables):
        # submitit echoes a refusing sbatch's stderr before raising it: the refusal is
        # reported once, in one line (refusals_in_one_line), anything else passed on
        echoed = io.StringIO()
        with contextlib.redirect_stderr(echoed):
            jobs = original(executor, fn, *iterables)
        sys.stderr.write(echoed.getvalue())
        return [_WaitedJob(r) for r in wait_for_all(jobs, labels)]

    submitit.AutoExecutor.map_array = map_array
    if slurm:
        SlurmJob.watcher = _make_watcher()
    try:
        yield
    finally:
        submitit.AutoExecutor.map_array = original
        SlurmJob.watcher = original_watcher


def labels(job_overrides: Sequence[Sequence[str]], first: int) -> list[str]:
    """``#<index> <overrides>`` for each job, as the launchers log them."""
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher  # extra `cluster`

    return [
        f"#{first + i} {' '.join(submitit_launcher.filter_overrides(o))}"
        for i, o in enumerate(job_overrides)
    ]
