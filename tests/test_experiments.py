"""The Hydra entry points, run as users run them (subprocess, own output directory)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from nnkrr import data

ROOT = Path(__file__).resolve().parents[1]


def test_krr_app_writes_correct_metrics(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        str(ROOT / "experiments" / "krr.py"),
        "data=wine",
        "lam=0.05",
        "seed=2",
        f"hydra.run.dir={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
