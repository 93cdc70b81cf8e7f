"""The SLURM path for real: sweeps through a single-node cluster (tests/slurm_cluster.py)."""

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from test_scale import ROOT, TINY, VOLATILE, table

pytestmark = pytest.mark.slow


def slurm_cmd(cluster, sweep_dir, *overrides):
    """The SLURM command of docs/scaling-out.md on a CPU partition (no GPU override needed)."""
    return [
        sys.executable,
        str(ROOT / "experiments" / "sweep.py"),
        "-m",
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={cluster.partition}",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=2",
        *TINY,
        *overrides,
        f"hydra.sweep.dir={sweep_dir}",
    ]


def intervals(sweep_dir):
    out = []
    for meta in Path(sweep_dir).glob("*/run.json"):
        info = json.loads(meta.read_text())
        start = datetime.fromisoformat(info["started"]).timestamp()
        out.append((start, start + info["wall_s"]))
    return out


def max_overlap(spans):
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    level = best = 0
    for _, step in events:
        level += step
        best = max(best, level)
    return best


def test_slurm_sweep_gives_the_basic_launchers_table(slurm, tmp_path, basic_launcher_table):
    sweep = tmp_path / "slurm"
    start = time.monotonic()
    proc = subprocess.run(
        slurm_cmd(slurm, sweep, "model.width=16,32", "hydra.launcher.array_parallelism=1"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=slurm.env,
    )
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    pd.testing.assert_frame_equal(basic_launcher_table, table(sweep))
    # array_parallelism=1: the two jobs never ran at the same time (the node has room for 2)
    spans = intervals(sweep)
    assert len(spans) == 2 and max_overlap(spans) == 1
    log = proc.stdout + proc.stderr
    assert "jobs: 0 queued, 0 running, 2 finished, 0 failed" in log
    assert "sacct" not in log and "Bypassing" not in log  # no per-poll warnings
    print(f"SLURM sweep: 2 jobs, {len(table(sweep))} rows, {wall:.1f} s")


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _wait_for_dir(parent: Path, pattern: str, timeout: float = 120) -> list[Path]:
    """The folders matching ``pattern`` in ``parent``, once there is one."""
    _wait_for(lambda: any(parent.glob(pattern)), timeout, f"{parent / pattern}")
    return sorted(parent.glob(pattern))


def _node_state(cluster):
    return cluster.run("sinfo", "-h", "-n", cluster.node, "-o", "%T").strip().rstrip("*~#")


def _running_tasks(cluster):
    out = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i")
    return out.split()


@contextlib.contextmanager
def _requeued_jobs_start_at_once(cluster):
    """SLURM holds a requeued batch job for two minutes (``Reason=BeginTime``, seen here:
    EligibleTime = requeue + 121 s); a busy cluster's queue would hide that, this test's
    would wait for it.  While the block runs, such a job is made eligible at once."""
    stop = threading.Event()

    def bump():
        while not stop.is_set():
            out = cluster.run("squeue", "-h", "-t", "PD", "-o", "%i %r", check=False)
            for line in out.splitlines():
                job, _, reason = line.partition(" ")
                if reason.strip() == "BeginTime":
                    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now", check=False)
            stop.wait(1.0)

    thread = threading.Thread(target=bump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


LONG = [  # a job of a few seconds' training a stage, checkpointed every 1/60 of it
    "data.n_train=16",
    "data.n_test=8",
    "data.dim=3",
    "seeds=2",
    "sampler=gaussian",
    "model.width=32",
    "train.time=1e9",  # with train.max_steps: the steps are the cap
    "train.segments=60",
]
STEPS = 1_000_000  # ~4-8 s a stage here; a progress line at each quarter
SIGNAL_DELAY_S = 20
PROGRESS = re.compile(r"^\[(?P<at>[^\]]+)\].* (?P<stage>network|linearised): (?P<done>\d+)/\d+$")


def _training(job_dir: Path) -> bool:
    """The job in ``job_dir`` has logged training progress (a quarter of a stage)."""
    log = job_dir / "sweep.log"
    return log.exists() and any(PROGRESS.match(ln) for ln in log.read_text().splitlines())


def test_a_timed_out_job_is_requeued_and_resumes_and_a_cancelled_one_is_rerun(slurm, tmp_path):
    """Under a 1-minute limit, the job's pre-timeout signal (``--signal=USR2@20`` in its batch
    script) sent while it trains: the job is checkpointed, requeued and resumed to the end,
    with the rows of the same job run at the same time without a limit (another sweep); a job
    of the same sweep cancelled while queued is listed in failures.csv (exit 1), and the same
    command run again finishes it.

    The test sends the signal itself (``scancel --signal=USR2``) once the job's log shows
    training: SLURM's own comes at a time (limit - delay, to its scheduler's resolution) that
    a job of fixed steps outlasts only on CPUs of known speed (machines of one kind here differ
    3-4x; a training sized from a calibration run ended before the signal when the load
    changed).  submitit handles both alike: under a 1-minute limit any USR2 is a timeout
    (its log: "this job is timed-out"), which counts against ``max_num_timeout``."""
    steps = STEPS

    def sweep_cmd(sweep, limit, *overrides):
        return [
            sys.executable,
            str(ROOT / "experiments" / "sweep.py"),
            "-m",
            "hydra/launcher=slurm",
            f"hydra.launcher.partition={slurm.partition}",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=2",
            f"hydra.launcher.signal_delay_s={SIGNAL_DELAY_S}",
            f"hydra.launcher.timeout_min={limit}",
            # about 3 allocations; room for the two jobs' sharing of the node's CPUs
            "hydra.launcher.max_num_timeout=10",
            *LONG,
            "checkpoint_s=0",
            *overrides,
            f"hydra.sweep.dir={sweep}",
        ]

    def start(cmd):
        return subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            env=slurm.env,
        )  # fmt: skip

    free, limited = tmp_path / "unlimited", tmp_path / "limited"
    # the limited sweep: the long job and a short one (60 steps) that is cancelled while queued
    cmd = sweep_cmd(limited, 1, f"train.max_steps={steps},60")
    procs = []
    try:
        with _requeued_jobs_start_at_once(slurm):
            procs.append(start(sweep_cmd(free, 10, f"train.max_steps={steps}")))
            _wait_for(lambda: len(_running_tasks(slurm)) == 1, 120, "the unlimited job")
            (unlimited_job,) = _running_tasks(slurm)
            procs.append(start(cmd))
            _wait_for(lambda: len(_running_tasks(slurm)) == 2, 120, "the limited long job")
            (long_job,) = set(_running_tasks(slurm)) - {unlimited_job}
            queued = slurm.run("squeue", "-h", "-t", "PD", "-o", "%i").split()
            assert len(queued) == 1, queued  # the node's two CPUs are taken
            slurm.run("scancel", queued[0])
            job_dir = limited / next(
                p.name for p in _wait_for_dir(limited, f"*train.max_steps={steps}*")
            )
            _wait_for(lambda: _training(job_dir), 120, "the limited job's training")
            slurm.run("scancel", "--signal=USR2", long_job)  # its pre-timeout signal
            outs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[0].returncode == 0, outs[0][1][-3000:]
    out, err = outs[1]
    log = out + err
    assert procs[1].returncode == 1, err[-3000:]
    assert f"1 of 2 jobs failed; see {limited / 'failures.csv'}" in err.strip().splitlines()
    failed = pd.read_csv(limited / "failures.csv")
    assert len(failed) == 1 and "train.max_steps=60" in failed.overrides[0], failed.to_string()
    assert ": CANCELLED" in log and "RUNNING (requeued 1x)" in log, log[-5000:]
    requeued = job_dir
    job_log = (requeued / "sweep.log").read_text()
    batch = "".join(p.read_text() for p in limited.rglob("*_submission.sh"))
    assert f"#SBATCH --signal=USR2@{SIGNAL_DELAY_S}" in batch  # what SLURM sends at the limit
    submitit_logs = "".join(p.read_text() for p in limited.rglob("*_log.err"))
    assert "this job is timed-out" in submitit_logs, submitit_logs[-3000:]
    assert "stop signal from the scheduler: checkpoint" in job_log, job_log[-3000:]
    assert "network: resumed at step" in job_log or "linearised: resumed at step" in job_log
    assert not (requeued / "checkpoint").exists()  # removed with the table written
    one, other = (
        pd.read_parquet(d / "results.parquet").drop(columns=VOLATILE, errors="ignore")
        for d in (requeued, next(free.glob(f"*train.max_steps={steps}*")))
    )
    assert (one.steps == steps).all()
    pd.testing.assert_frame_equal(one, other)  # requeued and resumed = uninterrupted

    again = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp_path, env=slurm.env, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "requeued" not in again.stdout + again.stderr
    rows = pd.read_parquet(limited / "results.parquet")
    assert len(rows) == 4 and sorted(rows.steps.unique())[-1] == steps
    assert not (limited / "failures.csv").exists()
    assert _node_state(slurm) == "idle"  # nothing stalled, nothing drained


@pytest.mark.parametrize(
    "override,named,message",
    [
        ("hydra.launcher.mem_gb=100000", "hydra.launcher.mem_gb=100000", "Memory specification"),
        ("hydra.launcher.partition=nope", "hydra.launcher.partition=nope", "invalid partition"),
        ("hydra.launcher.gpus_per_node=2", "hydra.launcher.gpus_per_node=2", "gres"),
    ],
)
def test_a_refused_submission_ends_the_sweep_in_one_line(slurm, tmp_path, override, named, message):
    sweep = tmp_path / "runs" / "refused"
    proc = subprocess.run(
        [*slurm_cmd(slurm, sweep, "model.width=16"), override],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=slurm.env,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error in launcher: the scheduler refused the jobs ({named}): ")
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no sweep folder, no .submitit
    assert _node_state(slurm) == "idle"
