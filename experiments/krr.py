"""Exact NTK kernel ridge regression on one dataset (Hydra entry point).

    uv run python experiments/krr.py [data=digits] [ridge=0.01] [x64=false]
    uv run python experiments/krr.py data.n_train=65536 solver=cg    # matrix-free
    nnkrr-krr data=digits                          # from an installed wheel

Fits f*(x) = kappa^2 K(x, X) (kappa^2 K + lam I)^{-1} Y with the exact two-layer ReLU NTK K,
by Cholesky of the stored K or matrix-free by CG (``solver``; :func:`nnkrr.krr.choose_solver`
by size and memory; CG's iterations and residual go into the metrics)
(:func:`nnkrr.problem.make_problem`, the sweep's target: with no overrides both entry points
use the same data, ridge and kappa and give the same f*), logs train/test error (and accuracy
for classification data), and writes ``metrics.json`` and ``predictions.npz`` (``train``,
``test``: f* on the training and test points, all output columns) into the run's directory.
"""

from __future__ import annotations

import json
import logging
import time

import hydra
import jax
import numpy as np
from omegaconf import DictConfig, OmegaConf

from experiments import cli
from nnkrr.scale import Scale

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=cli.CONFIG_DIR, config_name="krr")
def main(cfg: DictConfig) -> float:
    job, out, own = cli.start(cfg, "krr")
    cfg = OmegaConf.create(job)
    from nnkrr import kernels, krr

    ds = cli.load_data(job, own)
    start = time.perf_counter()
    scale = Scale(kappa=float(cfg.kappa), ridge=float(cfg.ridge))
    kappa2, lam = scale.kappa**2, scale.lam
    dtype = np.float64 if cfg.x64 else np.float32
    solver = krr.choose_solver(ds.n_train, ds.dim, dtype, cfg.solver)
    cg = {}
    if solver == "cholesky":
        k_train = kappa2 * kernels.relu_ntk(ds.x_train, batch_size=cfg.batch_size)
        k_test = kappa2 * kernels.relu_ntk(ds.x_test, ds.x_train, batch_size=cfg.batch_size)
        alpha = krr.solve(k_train, ds.y_train, lam)  # the sweep's f* (nnkrr.problem)
        pred_test = np.asarray(krr.predict(k_test, alpha))
        pred_train = np.asarray(krr.predict(k_train, alpha))
    else:  # f* = kappa^2 K(x, X) (kappa^2 K + lam I)^-1 Y = K(x, X) (K + ridge I)^-1 Y
        x, xt = (np.asarray(a, dtype) for a in (ds.x_train, ds.x_test))
        mesh = krr.device_mesh()  # the row blocks split over every device of the process
        pre = krr.nystrom(jax.random.key(cfg.seed), x, scale.ridge, min(cfg.rank, ds.n_train))
        alpha, info = krr.solve_cg(
            x, np.asarray(ds.y_train, dtype), scale.ridge, preconditioner=pre, mesh=mesh
        )
        pred_train = np.asarray(krr.kernel_matvec(x, alpha, mesh=mesh))
        pred_test = np.asarray(krr.kernel_matvec(x, alpha, rows=xt, mesh=mesh))
        cg = {
            "cg_iterations": int(info.iterations),
            "cg_residual": float(info.residual),
            "cg_converged": bool(info.converged),
            "cg_rank": min(cfg.rank, ds.n_train),
        }
        if not cg["cg_converged"]:
            log.warning("CG stopped at %d iterations, residual %.2g", *list(cg.values())[:2])
    wall = time.perf_counter() - start

    metrics = {
        "dataset": ds.name,
        "data_seed": int(cfg.seed),
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "dim": ds.dim,
        "lam": lam,
        "ridge": scale.ridge,
        "kappa": scale.kappa,
        "dtype": np.dtype(dtype).name,
        "solver": solver,
        **cg,
        "train_mse": float(np.mean((pred_train - ds.y_train) ** 2)),
        "test_mse": float(np.mean((pred_test - ds.y_test) ** 2)),
        "test_mse_of_zero": float(np.mean(ds.y_test**2)),
        "wall_s": wall,
    }
    if ds.labels_test is not None:
        metrics["test_accuracy"] = float(np.mean(pred_test.argmax(1) == ds.labels_test))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    np.savez(out / "predictions.npz", train=pred_train, test=pred_test)
    log.info(
        "NTK-KRR on %s (n_train=%d, n_test=%d, d=%d, ridge=%g, kappa=%g, %s): "
        "test MSE %.4g (predicting 0: %.4g), train MSE %.4g%s, %.2f s",
        ds.name,
        ds.n_train,
        ds.n_test,
        ds.dim,
        scale.ridge,
        scale.kappa,
        metrics["dtype"],
        metrics["test_mse"],
        metrics["test_mse_of_zero"],
        metrics["train_mse"],
        f", test accuracy {metrics['test_accuracy']:.3f}" if "test_accuracy" in metrics else "",
        wall,
    )
    log.info("metrics and predictions written to %s", out)
    return metrics["test_mse"]


def console() -> None:
    """``nnkrr-krr``: this entry point as an installed command."""
    cli.run(main)


if __name__ == "__main__":
    console()
