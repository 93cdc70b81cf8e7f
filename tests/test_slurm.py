"""The SLURM path for real: sweeps through a single-node cluster (tests/slurm_cluster.py)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import slurm_cluster
from test_scale import ROOT, TINY, table

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


def _node_state(cluster):
    return cluster.run("sinfo", "-h", "-n", cluster.node, "-o", "%T").strip().rstrip("*~#")


def _running_tasks(cluster):
    out = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%F %K")
    return [(a, int(t)) for a, t in (line.split() for line in out.splitlines()) if t.isdigit()]


def test_cancelled_and_timed_out_jobs_are_finished_by_a_rerun(slurm, tmp_path):
    """scancel one job and let another die at its time limit; the sweep still gathers what
    finished, lists both in failures.csv and exits 1; the same command run again finishes them,
    every row exactly once."""
    sweep = tmp_path / "sweep"
    cmd = slurm_cmd(
        slurm,
        sweep,
        "model.width=16,32,64",
        "train.time=1e9",  # long enough (10^6 steps, ~25 s) to be caught running
        "train.max_steps=1000000",
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=5",
        "hydra.launcher.array_parallelism=2",
    )
    keep_stopped = threading.Event()
    python = []  # the stalled job's python processes
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=slurm.env
    )
    try:
        _wait_for(lambda: len(_running_tasks(slurm)) == 2, 120, "two running tasks")
        (array, a), (_, b) = sorted(_running_tasks(slurm), key=lambda t: t[1])
        # both have started training (their job directories exist) before they are stopped
        _wait_for(lambda: len(list(sweep.glob("*/.hydra"))) >= 2, 60, "two job directories")
        stalled = slurm_cluster.job_processes(slurm, array, b)
        # A stalled job: its time limit kills it.  SLURM resumes stopped processes to deliver
        # the pre-timeout signal (about 5 s before the limit) and the limit itself is enforced
        # up to ~30 s late, long enough for a fast job to finish: keep it stopped until killed.
        # Only the job's python: a stopped srun outlives the job's end, the node's step
        # cleanup then fails ("Kill task failed") and SLURM drains the node.
        python = [p for p in stalled if b"python" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert python
        for pid in python:
            os.kill(pid, signal.SIGSTOP)

        def stall():  # the job's python only: srun must be free to end the step once it dies
            while not keep_stopped.is_set():
                for pid in python:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGSTOP)
                time.sleep(0.2)

        staller = threading.Thread(target=stall, daemon=True)
        staller.start()
        slurm.run("scancel", f"{array}_{a}")
        out, err = first.communicate(timeout=240)
    finally:
        keep_stopped.set()
        for pid in python:  # never leave a stopped process behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if first.poll() is None:
            first.kill()
    assert first.returncode == 1, err[-3000:]
    # the summary line (a job's own pre-timeout error may be echoed after it)
    assert f"2 of 3 jobs failed; see {sweep / 'failures.csv'}" in err.strip().splitlines()
    failed = pd.read_csv(sweep / "failures.csv")
    # the cancelled job left no result; the stalled one was either killed outright or told by
    # submitit's pre-timeout signal (the job records that error itself)
    assert len(failed) == 2
    assert failed.error.str.startswith("no result: the job was killed").any()
    assert failed.error.str.contains("no result: the job was killed|timed-out").all()
    log = out + err
    assert ": CANCELLED" in log, log[-5000:]
    assert "jobs: 0 queued, 0 running, 1 finished, 2 failed" in log, log[-5000:]
    assert len(pd.read_parquet(sweep / "results.parquet")) == 2  # the job that finished, 2 seeds

    # The stalled step can outlast SLURM's kill timeout ("Kill task failed"): SLURM then drains
    # the node (seen once in several runs). That comes from how this test stalls a job, not
    # from the sweep, so once the step is cleaned up a drained node is put back in service.
    _wait_for(lambda: _node_state(slurm) in ("idle", "drained"), 150, "the node to settle")
    if _node_state(slurm) == "drained":
        slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=RESUME")
    done = {p: p.stat().st_mtime_ns for p in sweep.glob("*/results.parquet")}
    again = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp_path, env=slurm.env, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    frame = pd.read_parquet(sweep / "results.parquet")
    assert len(frame) == 6 and not frame.duplicated(["width", "init_seed"]).any()
    assert sorted(frame.width.unique()) == [16, 32, 64]
    assert not (sweep / "failures.csv").exists()
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # finished job not redone
