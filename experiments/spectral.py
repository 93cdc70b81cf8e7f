"""Spectral error of Gaussian versus leverage-score random features (Hydra entry point).

    uv run python experiments/spectral.py -m      # default grid: synthetic and cone data

For each sampler, number of features m and seed, draws a feature sample, forms the
random-feature kernel K_m and records eps = ||(K + lam I)^-1/2 (K_m - K) (K + lam I)^-1/2||_2.
Each job writes ``spectral.parquet``/``.csv`` and ``eps_vs_m.png`` into its directory;
a multirun gathers all jobs into the sweep directory (``results.GatherResults``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import jax
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm

from experiments import plots, results

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="../configs", config_name="spectral")
def main(cfg: DictConfig) -> None:
    jax.config.update("jax_enable_x64", bool(cfg.x64))
    from nnkrr import features, sampling  # after the precision is set

    out = Path(HydraConfig.get().runtime.output_dir)
    if (out / "spectral.parquet").exists() and not cfg.force:
        log.info("%s already has spectral.parquet: skipped (force=true recomputes)", out)
        return
    ds = hydra.utils.instantiate(cfg.data)
    x = jax.numpy.asarray(ds.x_train)
    spec = features.get_kernel(cfg.kernel)
    k = spec.exact(x)
    lev = sampling.leverage(x, cfg.lam, k=k, kernel=spec)
    flat = sampling.flatness(jax.random.key(10**6 + cfg.seed), lev, num=cfg.flatness_draws)
    log.info(
        "%s: n=%d, d=%d, kernel=%s, lam=%g: s_lambda=%.2f, sup score/s_lambda >= %.2f "
        "(provable bound %.1f), P_p(score=0)=%.3f",
        ds.name,
        ds.n_train,
        ds.dim,
        spec.name,
        cfg.lam,
        flat["s_lambda"],
        flat["flatness"],
        flat["bound_over_s_lambda"],
        flat["zero_fraction"],
    )

    rows = []
    grid = [(sampler, m) for sampler in cfg.samplers for m in cfg.widths]
    for sampler, m in tqdm(grid, desc=f"eps vs m ({ds.name})", mininterval=2):
        k_ms, stats, walls = [], [], []
        for seed in range(cfg.seeds):
            start = time.perf_counter()
            key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
            sample = sampling.sample(
                key,
                x,
                m,
                sampler=sampler,
                lam=cfg.lam,
                kernel=spec,
                method=cfg.method,
                pool_size=cfg.pool_size,
                lev=lev,
            )
            k_ms.append(features.rf_kernel(x, None, sample, spec))
            stats.append({name: float(v) for name, v in sample.stats.items()})
            walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        eps = features.spectral_epsilon(k, jax.numpy.stack(k_ms), cfg.lam)  # one eigh of K
        eps_wall = (time.perf_counter() - start) / cfg.seeds
        for seed in range(cfg.seeds):
            rows.append(
                {
                    "dataset": ds.name,
                    "n": ds.n_train,
                    "dim": ds.dim,
                    "kernel": spec.name,
                    "lam": float(cfg.lam),
                    "sampler": sampler,
                    "method": cfg.method if sampler == "leverage" else "iid",
                    "m": m,
                    "seed": seed,
                    "eps": float(eps[seed]),
                    "s_lambda": flat["s_lambda"],
                    "flatness": flat["flatness"],
                    "bound_over_s_lambda": flat["bound_over_s_lambda"],
                    "zero_fraction": flat["zero_fraction"],
                    "delta": float(cfg.delta),
                    "acceptance_rate": stats[seed].get("acceptance_rate", float("nan")),
                    "ess_fraction": stats[seed].get("ess_fraction", float("nan")),
                    "wall_s": walls[seed] + eps_wall,
                }
            )
    frame = pd.DataFrame(rows)
    parquet, _ = results.write_table(frame, out, "spectral")
    plots.spectral_figure(frame, out)
    for row in plots.spectral_slopes(frame).itertuples():
        log.info("%s %s: eps ~ m^%.3f", row.dataset, row.sampler, row.slope)
    summary = frame.groupby(["sampler", "m"])["eps"].median().unstack(0)
    log.info("median eps by m:\n%s", summary.to_string(float_format="%.4f"))
    log.info("table: %s; figure: %s", parquet, out / "eps_vs_m.png")


if __name__ == "__main__":
    main()
