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


def test_a_table_written_before_the_renames_gathers_under_todays_names(tmp_path):
    """A resumed sweep mixes a job table of before the renames (spectral: n, m, seed, eps, lam;
    sweep: kernel_path) with today's: gathered, they are one table in today's columns, with
    the same values; a spectral table's own n_train is never renamed twice."""
    old = pd.DataFrame(
        {"dataset": "cone", "n": 64, "lam": [0.1, 0.1], "m": [32, 256], "seed": [0, 0],
         "eps": [0.9, 0.3], "lam_per_point": float("nan")}
    )  # fmt: skip
    new = old.rename(columns=results.LEGACY_COLUMNS["spectral"]).assign(width=[64, 128])
    results.write_table(old, tmp_path / "a", "spectral")
    results.write_table(new, tmp_path / "b", "spectral")
    gathered = results.gather(tmp_path, "spectral")
    assert list(gathered.columns) == ["job", *new.columns]
    assert gathered.width.tolist() == [32, 64, 128, 256]
    assert gathered.spectral_eps.tolist() == [0.9, 0.9, 0.3, 0.3]
    assert gathered.ridge.tolist() == [0.1] * 4
    sweep = pd.DataFrame({"dataset": ["x"], "lam": [0.1], "kernel_path": ["fused"], "width": [8]})
    results.write_table(sweep, tmp_path / "c", "results")
    read = results.read(tmp_path / "c" / "results.parquet")
    assert list(read.columns) == ["dataset", "lam", "backprop", "width"]  # lam stays lam here
