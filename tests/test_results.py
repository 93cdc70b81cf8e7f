"""experiments.results: atomic tables with the umask's mode, gathering sorted by numeric keys."""

import os

import pandas as pd

from experiments import results


def test_write_table_follows_the_umask(tmp_path):
    frame = pd.DataFrame({"width": [1, 2]})
    previous = os.umask(0o027)
    try:
        parquet, csv = results.write_table(frame, tmp_path, "t")
    finally:
        os.umask(previous)
    assert parquet.stat().st_mode & 0o777 == 0o640 and csv.stat().st_mode & 0o777 == 0o640
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), frame)
    assert not list(tmp_path.glob(".*tmp"))


def test_gather_sorts_numeric_keys_as_numbers(tmp_path):
    # job directories sort as strings (1024 before 128); rows must not
    for width in (1024, 128, 16384, 64):
        frame = pd.DataFrame(
            {"dataset": "synthetic", "sampler": "gaussian", "width": width, "init_seed": [1, 0]}
        )
        results.write_table(frame, tmp_path / f"model.width={width}", "results")
    gathered = results.gather(tmp_path, "results")
    assert gathered.width.tolist() == [64, 64, 128, 128, 1024, 1024, 16384, 16384]
    assert gathered.init_seed.tolist() == [0, 1] * 4
    assert gathered.job.iloc[0] == "model.width=64"
