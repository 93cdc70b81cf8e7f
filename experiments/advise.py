"""The width leverage-score initialisation is predicted to save on one data set, before
training (Hydra entry point).

    uv run python experiments/advise.py [data=digits_raw] [ridge=0.01]
    nnkrr-advise data=file data.path=my.npz        # from an installed wheel

Prints, for the training inputs: s_lambda, the law's statistic of the leverage function, the
predicted saving m_gauss/m_lev for the kernel approximation (spectral error eps) and for the
network (gap_rel to NTK-KRR), and the widths each sampler is predicted to need, each with a
90% interval (:func:`nnkrr.savings.predict`); writes them to ``advice.json`` in the run's
directory.
"""

from __future__ import annotations

import json
import logging

import hydra
import jax
from omegaconf import DictConfig

from experiments import cli

log = logging.getLogger(__name__)


def report(pred, dataset: str) -> str:
    """The prediction as the lines the command prints."""
    lines = [
        f"{dataset}: n = {pred.n} (leverage function of {pred.leverage_points} rows), "
        f"ridge {pred.lam:g}, s_lambda = {pred.s_lambda:.4g}, "
        f"{pred.predictor} = {pred.predictor_value:.4g} ({pred.seconds:.1f} s)",
        "predicted width m_gauss / m_lev at equal error [90%], and each sampler's width:",
    ]
    for kind, savings, widths in (
        ("kernel approximation, eps", pred.saving_spectral, pred.width_spectral),
        ("network, gap_rel", pred.saving_network, pred.width_network),
    ):
        for level, r in savings.items():
            w = widths[level]
            lines.append(
                f"  {kind} {level:g}: saving {r}; m_leverage {w['leverage']}, "
                f"m_gaussian {w['gaussian']}"
            )
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=cli.CONFIG_DIR, config_name="advise")
def main(cfg: DictConfig) -> float:
    job, out, own = cli.start(cfg, "advise")
    from nnkrr import savings

    ds = cli.load_data(job, own)
    pred = savings.predict(
        ds.x_train, job["ridge"], key=jax.random.key(job["seed"]), points=job["points"],
        num=job["draws"],
    )  # fmt: skip
    print(report(pred, ds.name))
    (out / "advice.json").write_text(
        json.dumps({"dataset": ds.name, **pred.as_dict()}, indent=2) + "\n"
    )
    log.info("advice written to %s", out / "advice.json")
    return pred.saving_spectral[min(pred.saving_spectral)].value


def console() -> None:
    """``nnkrr-advise``: this entry point as an installed command."""
    cli.run(main)


if __name__ == "__main__":
    console()
