"""Wide regularised networks versus exact NTK-KRR, per width and sampler (Hydra entry point).

    uv run python experiments/sweep.py -m          # the default grid (README's main job)
    nnkrr-sweep -m                                 # the same, from an installed wheel

The thin shell around :func:`nnkrr.experiment.run`: config in, files out.  One job = one
(data, sampler, regime, width); its rows (one per seed) go to ``results.parquet``/``.csv``
in the job directory, with ``run.json`` (package versions, device, git commit, times).  At
the end of a multirun ``results.GatherResults`` gathers the rows into the sweep directory
and draws ``gap_vs_width.png`` and ``gap_decomposition.png``.

Every config value is checked once before any work (:func:`nnkrr.config.check`; in a
multirun, every grid combination once more before any job is launched); an invalid one ends
the run with a one-line error naming its key, exit code 1 and no job folder left behind.  In
a multirun a job that fails writes ``failure.json`` instead of rows and the sweep goes on;
the gathering at the end reports it in ``failures.csv`` and exits non-zero.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import hydra
from omegaconf import DictConfig

from experiments import cache, checkpoint, cli, results
from nnkrr import experiment

log = logging.getLogger(__name__)

SUMMARY = [
    "init_seed",
    "gap_rms",
    "gap_rel",
    "gap_kernel",
    "gap_init",
    "gap_opt",
    "gap_nonlin",
    "weight_move",
    "pattern_flips",
    "status",
]


@hydra.main(version_base="1.3", config_path=cli.CONFIG_DIR, config_name="sweep")
def main(cfg: DictConfig) -> str | None:
    job, out, own = cli.start(cfg, "sweep")  # x64 on: float64 references; training in dtype
    multirun = own is None
    if (out / "results.parquet").exists() and not job["force"]:
        log.info("%s already has results.parquet: skipped (force=true recomputes)", out)
        return
    started, t0 = datetime.now(UTC), time.perf_counter()
    width, sampler = job["model"]["width"], job["sampler"]["name"]
    progress = cli.Progress(f"m={width} {sampler}")
    store = checkpoint.JobCheckpoints(out, checkpoint.fingerprint(job), job["checkpoint_s"])
    try:
        with checkpoint.active(store):
            frame = experiment.run(
                job,
                progress=progress,
                checked=True,
                checkpoints=store,
                # the sweep's jobs share targets and leverage set-ups (experiments/cache.py)
                cache=cache.SweepCache(out.parent / ".cache") if multirun else None,
            )
    except Exception as err:
        if multirun:  # the sweep goes on; GatherResults reports this job in failures.csv
            log.exception("job failed: %s", err)
            return f"failed: {results.write_failure(out, err)}"
        if isinstance(err, experiment.ConfigError):  # found once the data is read (target)
            raise cli.refuse(err, out) from None
        raise
    finally:
        progress.close()
    parquet, _ = results.write_table(frame, out, "results")
    results.write_run_metadata(out, started, time.perf_counter() - t0)
    store.remove()
    first = frame.iloc[0]
    log.info(
        "%s, %s sampler, %s regime, m=%d, %d seeds: lr=%.4g, T=%.4g (lam*T=%.3g), %d steps, "
        "s_lambda=%.2f",
        first.dataset,
        sampler,
        first.regime,
        width,
        len(frame),
        first.learning_rate,
        first.time_T,
        first.lam_T,
        first.steps,
        first.s_lambda,
    )
    if first.steps_capped:
        log.warning("training time capped at train.max_steps=%d steps", first.steps)
    log.info(
        "m=%d %s: mean gap_rms %.4g (rel %.3g); rows in %s\n%s",
        width,
        sampler,
        frame.gap_rms.mean(),
        frame.gap_rel.mean(),
        parquet,
        frame[SUMMARY].to_string(index=False, float_format="%.4g"),
    )


def console() -> None:
    """``nnkrr-sweep``: this entry point as an installed command."""
    cli.run(main)


if __name__ == "__main__":
    console()
