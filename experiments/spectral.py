"""Spectral error of Gaussian versus leverage-score random features (Hydra entry point).

    uv run python experiments/spectral.py -m      # default grid: synthetic and cone data
    nnkrr-spectral -m                             # the same, from an installed wheel

Each job runs :func:`nnkrr.spectral.run` (for each sampler, number of features m and seed: a
feature sample, its random-feature kernel K_m and eps = ||(K + lam I)^-1/2 (K_m - K)
(K + lam I)^-1/2||_2; the columns: ``nnkrr.spectral.COLUMNS``) and writes ``spectral.parquet``/``.csv`` and ``eps_vs_m.png`` into its directory;
a multirun gathers all jobs into the sweep directory (``results.GatherResults``).
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from experiments import analysis, cli, plots, results
from nnkrr import spectral
from nnkrr.config import ConfigError

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=cli.CONFIG_DIR, config_name="spectral")
def main(cfg: DictConfig) -> None:
    job, out, own = cli.start(cfg, "spectral")
    if (out / "spectral.parquet").exists() and not job["force"]:
        log.info("%s already has spectral.parquet: skipped (force=true recomputes)", out)
        return
    progress = cli.Progress("eps vs m")
    try:
        frame = spectral.run(job, progress=progress, checked=True)
    except ConfigError as err:  # a data file that cannot be read
        raise cli.refuse(err, own) from None
    finally:
        progress.close()
    first = frame.iloc[0]
    log.info(
        "%s: n=%d, d=%d, kernel=%s, ridge=%g: s_lambda=%.2f, sup score/s_lambda >= %.2f "
        "(provable bound %.1f), P_p(score=0)=%.3f",
        first.dataset,
        first.n_train,
        first.dim,
        first.kernel,
        first.ridge,
        first.s_lambda,
        first.flatness,
        first.bound_over_s_lambda,
        first.zero_fraction,
    )
    parquet, _ = results.write_table(frame, out, "spectral")
    plots.spectral_figure(frame, out)
    for row in analysis.spectral_slopes(frame).itertuples():
        log.info("%s %s: eps ~ m^%.3f", row.dataset, row.sampler, row.slope)
    summary = frame.groupby(["sampler", "width"])["spectral_eps"].median().unstack(0)
    log.info("median spectral_eps by width m:\n%s", summary.to_string(float_format="%.4f"))
    log.info("table: %s; figure: %s", parquet, out / "eps_vs_m.png")


def console() -> None:
    """``nnkrr-spectral``: this entry point as an installed command."""
    cli.run(main)


if __name__ == "__main__":
    console()
