"""Re-record tests/golden/job_rows.parquet: the rows of the golden jobs of
tests/test_experiment.py (GOLDEN), one table with a ``case`` column.

    uv run python scripts/record_golden_rows.py [CASE ...]   # default: every case

Only after a change that is meant to move a job's numbers (say which in the commit); the
cases not named keep their recorded rows.  Recorded first with the job code of 9a714c2
(before the job became a pipeline of stages); re-recorded for ``lazy_leverage`` when the
rejection sampler's score bound became 3-4x tighter and a job's seeds were drawn one by one
on CPUs (the same distribution, other draws).
"""

import sys
from pathlib import Path

import jax
import pandas as pd

jax.config.update("jax_enable_x64", True)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_experiment import GOLDEN  # noqa: E402

from nnkrr import experiment  # noqa: E402

PATH = ROOT / "tests" / "golden" / "job_rows.parquet"


def main() -> None:
    cases = sys.argv[1:] or sorted(GOLDEN)
    old = pd.read_parquet(PATH)
    frames = []
    for case in GOLDEN:
        if case in cases:
            rows = experiment.run(experiment.compose(GOLDEN[case])).drop(columns="wall_s")
            rows.insert(0, "case", case)
        else:
            rows = old[old.case == case]
            other = [c for c in rows if c.startswith("data_") and rows[c].isna().all()]
            rows = rows.drop(columns=other)  # another data set's options
        frames.append(rows)
    pd.concat(frames, ignore_index=True).to_parquet(PATH, index=False)
    print(f"recorded {', '.join(cases)} into {PATH}")


if __name__ == "__main__":
    main()
