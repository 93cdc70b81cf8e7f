"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd of our own.

Everything lives in a temporary directory (config, munge key and socket, spool and state
directories, logs) and uses ports of its own, so it never touches another SLURM on the machine.
Clients find it through ``SLURM_CONF``.  Needs Debian's ``slurm-wlm`` and ``munge`` packages
and root (slurmd runs jobs as their users); ``.ci/run`` installs the packages when missing.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
PARTITION = "debug"


@dataclasses.dataclass
class Cluster:
    """A running cluster: its config file, environment for clients, node and partition."""

    directory: Path
    conf: Path
    env: dict
    node: str
    cpus: int
    partition: str = PARTITION
    processes: list = dataclasses.field(default_factory=list)
    files: list = dataclasses.field(default_factory=list)

    def log_file(self, name: str):
        handle = (self.directory / "log" / name).open("w")
        self.files.append(handle)
        return handle

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30)
        if check and out.returncode:
            raise RuntimeError(f"{' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def stop(self) -> None:
        """Stop every daemon this cluster started, by pid (TERM, then KILL)."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for handle in self.files:
            handle.close()


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        return f"SLURM is not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "a test SLURM cluster needs root (slurmd runs jobs as their users)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 3 // 4
    return 4096


def start(directory: Path, timeout: float = 60.0) -> Cluster:
    """Start munged, slurmctld and slurmd under ``directory``; wait until the node is idle."""
    directory = Path(directory)
    for sub in ("munge", "ctld", "d", "log"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    key = directory / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = directory / "munge" / "munge.sock"
    node, cpus = socket.gethostname(), os.cpu_count() or 1
    conf = directory / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=nnkrrtest",
                f"SlurmctldHost={node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={sock}",
                f"StateSaveLocation={directory / 'ctld'}",
                f"SlurmdSpoolDir={directory / 'd'}",
                f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
                f"SlurmdPidFile={directory / 'slurmd.pid'}",
                f"SlurmctldLogFile={directory / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={directory / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "KillWait=5",
                # A step that outlives SIGKILL drains the node after this long (default 60 s).
                # The tests stop no process of a job (tests/test_slurm.py checks the node is
                # idle after each): none has drained it since.
                "UnkillableStepTimeout=15",
                "MinJobAge=600",
                "InactiveLimit=0",
                f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mb()} "
                "State=UNKNOWN",
                f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = dict(os.environ, SLURM_CONF=str(conf))
    cluster = Cluster(directory, conf, env, node, cpus)
    logs = directory / "log"
    try:
        cluster.processes.append(
            subprocess.Popen(
                [
                    _binary("munged"),
                    "-F",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={sock}",
                    f"--pid-file={directory / 'munge' / 'munged.pid'}",
                    f"--seed-file={directory / 'munge' / 'seed'}",
                    f"--log-file={logs / 'munged.log'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=cluster.log_file("munged.err"),
            )
        )
        _wait(lambda: sock.exists(), timeout, "munged did not create its socket", logs)
        for daemon in ("slurmctld", "slurmd"):
            cluster.processes.append(
                subprocess.Popen(
                    [_binary(daemon), "-D", "-f", str(conf)]
                    + (["-c"] if daemon == "slurmctld" else []),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=cluster.log_file(f"{daemon}.err"),
                )
            )

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True
            )
            return out.returncode == 0 and out.stdout.strip() == "idle"

        _wait(idle, timeout, "the node did not become idle", logs)
    except Exception:
        cluster.stop()
        raise
    return cluster


def _wait(ready, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-800:] for p in sorted(logs.iterdir()) if p.is_file()}
            raise RuntimeError(f"{what} within {timeout:.0f} s; logs: {tails}")
        time.sleep(0.3)
