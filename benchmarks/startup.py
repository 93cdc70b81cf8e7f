"""What a job (and each requeued allocation of it) pays before training makes progress.

    uv run python benchmarks/startup.py > benchmarks/results/cpu_startup.txt

A SLURM job requeued after its pre-timeout signal starts again from its checkpoint, but first
pays its start-up again: the interpreter and imports, the config, the data, the exact K and
its factor, the draw of the first layer, the compilation of the training segments.  Each job
below runs as a user runs it (``experiments/sweep.py``, its own process) with ``train.segments``
equal to ``train.max_steps`` (one GD step per segment); the start-up is the time from
launching the process to the job's first progress line (after its first segment, i.e. one
step), read from the job's log.  Printed against the imports alone and against
``experiments.launchers.MIN_WINDOW_S``, the least time from a job's start to its pre-timeout
signal the SLURM launchers accept.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.launchers import MIN_WINDOW_S  # noqa: E402

JOBS = {
    "main job (sphere n=128, m=16384, leverage, 3 seeds)": [
        "model.width=16384",
        "sampler=leverage",
    ],
    "cone n=128, m=131072, gaussian, 2 seeds": [
        "data=cone",
        "model.width=131072",
        "sampler=gaussian",
        "seeds=2",
    ],
}
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*network: \d+/\d+")


def startup_s(overrides: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "job"
        cmd = [sys.executable, str(ROOT / "experiments" / "sweep.py"), *overrides,
               "train.max_steps=8", "train.segments=8", f"hydra.run.dir={out}"]  # fmt: skip
        start = time.time()
        subprocess.run(cmd, check=True, capture_output=True, cwd=tmp)
        for line in (out / "sweep.log").read_text().splitlines():
            match = STAMP.match(line)
            if match:
                stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
                return stamp.timestamp() - start
    raise SystemExit(f"no progress line in the log of {overrides}")


def imports_s() -> float:
    start = time.perf_counter()
    code = "import jax, flax, optax, hydra, pandas; from nnkrr import experiment"
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    imports = min(imports_s() for _ in range(3))
    print(f"imports alone (jax, flax, optax, hydra, pandas, nnkrr): {imports:.1f} s")
    print(f"launchers.MIN_WINDOW_S = {MIN_WINDOW_S} s\n")
    print("| job | start-up to the first step, s (best of 2) | / imports | / MIN_WINDOW_S |")
    print("|---|---|---|---|")
    for name, overrides in JOBS.items():
        best = min(startup_s(overrides) for _ in range(2))
        print(f"| {name} | {best:.1f} | {best / imports:.1f} | {best / MIN_WINDOW_S:.2f} |")


if __name__ == "__main__":
    main()
