"""The Hydra entry points, run as users run them (subprocess, own output directory)."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from jax import enable_x64

from nnkrr import data, features, sampling

ROOT = Path(__file__).resolve().parents[1]


def run_app(script: str, *overrides: str, cwd: Path) -> None:
    """Run ``experiments/<script>`` as a user would; fail with its stderr."""
    cmd = [sys.executable, str(ROOT / "experiments" / script), *overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_krr_app_writes_correct_metrics(tmp_path):
    out = tmp_path / "run"
    run_app("krr.py", "data=wine", "lam=0.05", "seed=2", f"hydra.run.dir={out}", cwd=tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / ".hydra" / "config.yaml").exists()

    # Independent float64 NumPy computation of the same KRR.
    ds = data.load("wine", 2)

    def k(a, b):
        dot = a @ b.T
        norms = np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        return dot * (np.pi - np.arccos(np.clip(dot / norms, -1, 1))) / (2 * np.pi)

    alpha = np.linalg.solve(k(ds.x_train, ds.x_train) + 0.05 * np.eye(ds.n_train), ds.y_train)
    pred = k(ds.x_test, ds.x_train) @ alpha
    assert metrics["n_train"] == ds.n_train and metrics["dtype"] == "float64"
    np.testing.assert_allclose(metrics["test_mse"], np.mean((pred - ds.y_test) ** 2), rtol=1e-6)
    np.testing.assert_allclose(
        metrics["test_accuracy"], np.mean(pred.argmax(1) == ds.labels_test), rtol=0
    )


def test_spectral_multirun_gathers_reproducible_rows(tmp_path):
    sweep = tmp_path / "sweep"
    run_app(
        "spectral.py",
        "-m",
        "data=synthetic,cone",
        "data.n_train=40",
        "data.n_test=1",
        "data.dim=4",
        "widths=[32,256]",
        "seeds=2",
        "flatness_draws=4096",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(sweep / "spectral.parquet")
    assert len(frame) == 2 * 2 * 2 * 2  # datasets x samplers x widths x seeds
    assert (sweep / "eps_vs_m.png").stat().st_size > 10_000
    assert (sweep / "spectral.csv").exists()
    assert len(list(sweep.glob("*/spectral.parquet"))) == 2  # one directory per job
    assert set(frame["dataset"]) == {"synthetic", "cone"}

    # Recompute one leverage row from its coordinates, independently of the app.
    row = frame[(frame.dataset == "cone") & (frame.sampler == "leverage")].iloc[-1]
    with enable_x64():
        x = data.cone(0, n_train=40, n_test=1, dim=4).x_train
        k = features.RELU_NTK.exact(x)
        key = jax.random.fold_in(jax.random.key(0), int(row.seed))
        s = sampling.sample(key, x, int(row.m), sampler="leverage", lam=float(row.lam))
        eps = float(features.spectral_epsilon(k, features.rf_kernel(x, None, s), row.lam))
        s_lam = float(sampling.statistical_dimension(k, row.lam))
    np.testing.assert_allclose(row.eps, eps, rtol=1e-9)
    np.testing.assert_allclose(row.s_lambda, s_lam, rtol=1e-9)


REQUIRED = (
    "dataset n_train n_test dim sampler regime width seed lam kappa steps time_T gap_max gap_rms "
    "gap_rel gap_kernel gap_opt gap_nonlin spectral_eps s_lambda weight_move pattern_flips "
    "nn_test_mse krr_test_mse wall_s"
).split()


def test_sweep_multirun_table_and_figures(tmp_path):
    sweep = tmp_path / "sweep"
    run_app(
        "sweep.py",
        "-m",
        "model.width=16,64",
        "sampler=gaussian,leverage",
        "regime=lazy,paper",
        "data.n_train=24",
        "data.n_test=12",
        "data.dim=3",
        "seeds=2",
        "train.max_steps=400",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(sweep / "results.parquet")
    assert set(REQUIRED) <= set(frame.columns)
    assert len(frame) == 2 * 2 * 2 * 2 and set(frame.status) == {"ok"}
    assert frame.groupby(["width", "sampler", "regime"]).seed.nunique().eq(2).all()
    assert (sweep / "results.csv").exists()
    for png in ("gap_vs_width.png", "gap_decomposition.png"):
        assert (sweep / png).stat().st_size > 10_000
    # the decomposition adds up (signed parts; RMS of the sum <= sum of RMS)
    parts = frame[["gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]].sum(axis=1)
    assert (frame.gap_rms <= parts * (1 + 1e-9)).all()
    # regimes as configured: the lazy init outputs 0, the paper regime is centred at 0
    lazy, paper = frame[frame.regime == "lazy"], frame[frame.regime == "paper"]
    assert (lazy.gap_init < 1e-5).all() and (paper.kappa == 0.1).all()
    # KRR target is the same for every row of one regime
    assert lazy.krr_test_mse.nunique() == 1


def test_sweep_mlp_job_and_sampler_check(tmp_path):
    out = tmp_path / "mlp"
    run_app(
        "sweep.py",
        "model=mlp",
        "model.width=32",
        "seeds=2",
        "data.n_train=16",
        "data.n_test=8",
        "train.max_steps=200",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(out / "results.parquet")
    assert set(frame.model) == {"mlp"} and set(frame.depth) == {2} and len(frame) == 2
    assert np.isfinite(
        frame[["gap_rms", "gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]].to_numpy()
    ).all()
    assert (frame.gap_init > 0).all()  # no symmetric pairs for the MLP: f(W(0)) != 0
    cmd = [
        sys.executable,
        str(ROOT / "experiments" / "sweep.py"),
        "model=mlp",
        "sampler=leverage",
        f"hydra.run.dir={tmp_path / 'bad'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0 and "sampler must be gaussian" in proc.stderr
