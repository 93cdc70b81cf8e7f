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
  and exits non-zero.

The launcher classes themselves are in ``hydra_plugins/nnkrr_launchers.py`` (Hydra accepts
launchers only from its ``hydra_plugins`` namespace); they wrap their parent's ``launch`` in
:func:`tolerant_map_array`.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator, Sequence

from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.hydra_submitit_launcher import submitit_launcher

log = logging.getLogger(__name__)

POLL_S = 3.0  # seconds between state checks while waiting for the jobs


def _scontrol_states(job_id: str) -> dict[str, str] | None:
    """``{"<array>_<task>" or "<id>": STATE}`` from ``scontrol show job -o``; None if purged."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        return None  # "Invalid job id specified": ended and purged (MinJobAge)
    states = {}
    for line in out.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        state = fields.get("JobState", "UNKNOWN")
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
                        state = "PURGED"  # gone from the controller: it has ended
                    else:
                        state = states.get(job_id, states.get(base, "UNKNOWN"))
                    self._info_dict[job_id] = {"JobID": job_id, "State": state}
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
        return job.state
    except Exception:  # noqa: BLE001 - a state we cannot read is not a reason to stop
        return "UNKNOWN"


_QUEUED = {"PENDING", "REQUEUED", "CONFIGURING", "UNKNOWN", "READY"}
_RUNNING = {"RUNNING", "COMPLETING", "SUSPENDED", "PREEMPTED"}


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
        jobs = original(executor, fn, *iterables)
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
    return [
        f"#{first + i} {' '.join(submitit_launcher.filter_overrides(o))}"
        for i, o in enumerate(job_overrides)
    ]
