"""Spectral error of Gaussian versus leverage-score random features (Hydra entry point).

    uv run python experiments/spectral.py -m      # default grid: synthetic and cone data
    nnkrr-spectral -m                             # the same, from an installed wheel

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
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from experiments import cli, plots, results
from nnkrr import config, experiment

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=cli.CONFIG_DIR, config_name="spectral")
def main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    cfg = OmegaConf.create(cli.checked(cfg, "spectral", None if multirun else out))
    jax.config.update("jax_enable_x64", cfg.x64)  # per process, before any array
    from nnkrr import features, sampling

    if (out / "spectral.parquet").exists() and not cfg.force:
        log.info("%s already has spectral.parquet: skipped (force=true recomputes)", out)
        return
    try:
        ds = experiment.load_data(cfg)
    except experiment.ConfigError as err:
        raise cli.refuse(err, None if multirun else out) from None
    x = jax.numpy.asarray(ds.x_train)
    lam = cfg.lam if cfg.lam_per_point is None else config.per_point(ds.n_train, cfg.lam_per_point)
    spec = features.get_kernel(cfg.kernel)
    k = spec.exact(x)
    lev = sampling.leverage(x, lam, k=k, kernel=spec)
    flat = sampling.flatness(jax.random.key(10**6 + cfg.seed), lev, num=cfg.flatness_draws)
    log.info(
        "%s: n=%d, d=%d, kernel=%s, lam=%g: s_lambda=%.2f, sup score/s_lambda >= %.2f "
        "(provable bound %.1f), P_p(score=0)=%.3f",
        ds.name,
        ds.n_train,
        ds.dim,
        spec.name,
        lam,
        flat["s_lambda"],
        flat["flatness"],
        flat["bound_over_s_lambda"],
        flat["zero_fraction"],
    )

    rows = []
    grid = [(sampler, m) for sampler in cfg.samplers for m in cfg.widths]
    progress = cli.Progress(f"eps vs m ({ds.name})")
    done_below = set()  # samplers whose median eps fell below stop_below
    for done, (sampler, m) in enumerate(grid):
        progress("draws", done, len(grid))
        if sampler in done_below:
            continue
        k_ms, stats, walls = [], [], []
        for seed in range(cfg.seeds):
            start = time.perf_counter()
            key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
            sample = sampling.sample(
                key,
                x,
                m,
                sampler=sampler,
                lam=lam,
                kernel=spec,
                method=cfg.method,
                pool_size=cfg.pool_size,
                lev=lev,
            )
            k_ms.append(features.rf_kernel(x, None, sample, spec))
            stats.append({name: float(v) for name, v in sample.stats.items()})
            walls.append(time.perf_counter() - start)
        start = time.perf_counter()
        eps = features.spectral_epsilon(k, jax.numpy.stack(k_ms), lam)  # one eigh of K
        eps_wall = (time.perf_counter() - start) / cfg.seeds
        if cfg.stop_below is not None and float(jax.numpy.median(eps)) < cfg.stop_below:
            done_below.add(sampler)  # the larger widths of this sampler are not drawn
        for seed in range(cfg.seeds):
            rows.append(
                {
                    "dataset": ds.name,
                    "n": ds.n_train,
                    "dim": ds.dim,
                    "kernel": spec.name,
                    "lam": float(lam),
                    "lam_per_point": cfg.lam_per_point,
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
    progress("draws", len(grid), len(grid))
    progress.close()
    frame = pd.DataFrame(rows)
    parquet, _ = results.write_table(frame, out, "spectral")
    plots.spectral_figure(frame, out)
    for row in plots.spectral_slopes(frame).itertuples():
        log.info("%s %s: eps ~ m^%.3f", row.dataset, row.sampler, row.slope)
    summary = frame.groupby(["sampler", "m"])["eps"].median().unstack(0)
    log.info("median eps by m:\n%s", summary.to_string(float_format="%.4f"))
    log.info("table: %s; figure: %s", parquet, out / "eps_vs_m.png")


def console() -> None:
    """``nnkrr-spectral``: this entry point as an installed command."""
    cli.run(main)


if __name__ == "__main__":
    console()
