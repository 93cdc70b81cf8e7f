"""Exact NTK kernel ridge regression on one dataset (Hydra entry point).

    uv run python experiments/krr.py [data=digits] [lam=0.1] [x64=false]

Fits f*(x) = K(x, X) (K + lam I)^{-1} Y with the exact two-layer ReLU NTK K,
logs train/test error (and accuracy for classification data), and writes
``metrics.json`` into the run's output directory.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import jax
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="krr")
def main(cfg: DictConfig) -> float:
    jax.config.update("jax_enable_x64", bool(cfg.x64))
    from nnkrr import kernels, krr  # after the precision is set

    ds = hydra.utils.instantiate(cfg.data)
    start = time.perf_counter()
    k_train = kernels.relu_ntk(ds.x_train, batch_size=cfg.batch_size)
    k_test = kernels.relu_ntk(ds.x_test, ds.x_train, batch_size=cfg.batch_size)
    alpha = krr.solve(k_train, ds.y_train, cfg.lam)
    pred_train = np.asarray(krr.predict(k_train, alpha))
    pred_test = np.asarray(krr.predict(k_test, alpha))
    wall = time.perf_counter() - start

    metrics = {
        "dataset": ds.name,
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "dim": ds.dim,
        "lam": float(cfg.lam),
        "dtype": str(k_train.dtype),
        "train_mse": float(np.mean((pred_train - ds.y_train) ** 2)),
        "test_mse": float(np.mean((pred_test - ds.y_test) ** 2)),
        "test_mse_of_zero": float(np.mean(ds.y_test**2)),
        "wall_s": wall,
    }
    if ds.labels_test is not None:
        metrics["test_accuracy"] = float(np.mean(pred_test.argmax(1) == ds.labels_test))
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info(
        "NTK-KRR on %s (n_train=%d, n_test=%d, d=%d, lam=%g, %s): "
        "test MSE %.4g (predicting 0: %.4g), train MSE %.4g%s, %.2f s",
        ds.name,
        ds.n_train,
        ds.n_test,
        ds.dim,
        cfg.lam,
        metrics["dtype"],
        metrics["test_mse"],
        metrics["test_mse_of_zero"],
        metrics["train_mse"],
        f", test accuracy {metrics['test_accuracy']:.3f}" if "test_accuracy" in metrics else "",
        wall,
    )
    log.info("metrics written to %s", out / "metrics.json")
    return metrics["test_mse"]


if __name__ == "__main__":
    main()
