r"""One job of the width sweep, callable from Python: a config in, a table of rows out.

A job is one (data, sampler, regime, model width), run as a pipeline of named stages, each
a function in the module named after its concept:

==================  =====================================================================
problem             data, the model kind's exact kernel K, the NTK-KRR target, K factored
                    once (:func:`nnkrr.problem.make_problem`, ``Kind.kernel``)
network             the feature draw (:func:`nnkrr.sampling.draw_first_layer`, one compiled
                    call), the networks, their linearisations and :math:`K_m` at init
                    (``Kind.network`` of :data:`nnkrr.models.KINDS`)
schedule            step size and horizon (:func:`nnkrr.train.schedule`)
training            network and linearisation (:func:`nnkrr.train.fit`; the GD step chosen by
                    :func:`nnkrr.train.gd_step`)
measurements        gap and its decomposition, flips, movement (:func:`nnkrr.measurements.measure`)
row                 provenance and columns (:func:`nnkrr.row.rows`, :data:`nnkrr.row.COLUMNS`)
==================  =====================================================================

The target is :math:`f^*(x) = \kappa^2 K(x, X) (\kappa^2 K + \lambda I)^{-1} Y = K(x, X)(K +
\mathrm{ridge}\, I)^{-1} Y`, with :math:`\kappa`, ridge and :math:`\lambda = \kappa^2 \cdot
\mathrm{ridge}` from the job's :class:`nnkrr.scale.Scale` (made once, read by every stage).  No files,
no Hydra, no global state: the references are float64, so the process must have
``jax_enable_x64`` on (set once, at its start; training runs in the config's ``dtype``)::

    import jax
    jax.config.update("jax_enable_x64", True)
    from nnkrr import config, experiment
    cfg = experiment.compose(["model.width=256", "sampler=leverage"])  # or config.Sweep(...)
    rows = experiment.run(cfg)

``cfg`` is a composed sweep config (:func:`nnkrr.config.compose`: a plain dict), an
omegaconf ``DictConfig`` with the same keys, or a :class:`nnkrr.config.Sweep`.
:func:`nnkrr.config.check` checks every value before any work and raises
:class:`~nnkrr.config.ConfigError` naming the key as a user types it (``model.width``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pandas as pd

from nnkrr import features, krr, measurements, models, problem, row, train
from nnkrr.config import ConfigError, check, compose
from nnkrr.scale import Scale

__all__ = ["ConfigError", "compose", "load_data", "run", "solver_of", "train_networks"]

_log = logging.getLogger(__name__)


def load_data(cfg: dict):
    """The data set of ``cfg["data"]`` (its ``_target_`` called with the other keys).

    Raises:
      ConfigError: naming the key, ``data.<key>: ...`` (a missing file, too few rows, ...).
    """
    spec = dict(cfg["data"])
    module, _, name = spec.pop("_target_").rpartition(".")
    try:
        loader = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"data._target_: cannot import {module}.{name}: {err}") from None
    try:
        return loader(**spec)
    except (TypeError, ValueError) as err:  # e.g. n_train + n_test beyond the data set
        raise ConfigError(f"data.{err}") from None


class _Stages:
    """Logs each stage's seconds (``nnkrr.experiment`` at INFO: ``stage training done in 12.3 s``)."""

    def __init__(self, start: float):
        self.last = start

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        _log.info("stage %s done in %.1f s", name, now - self.last)
        self.last = now


def solver_of(cfg: dict, n: int, d: int) -> str:
    """The job's KRR path, ``cholesky`` or ``cg``: the config's ``solver``, ``auto`` resolved by
    :func:`nnkrr.krr.choose_solver` (a model kind without a closed-form kernel stays on
    ``cholesky``)."""
    if models.KINDS[cfg["model"]["kind"]].formula is None:
        return "cholesky"
    return krr.choose_solver(n, d, jnp.float64, cfg["solver"])


#: Up to this n the step size's :math:`\lambda_{\max}(K_m)` comes from the stored
#: :math:`K_m`'s full spectrum (``eigvalsh``, O(n^3) a seed); above it by Lanczos
#: (:func:`nnkrr.features.largest_eigenvalue`, O(n^2) a product), which the matrix-free path
#: uses at every n.  The two agree to round-off
#: (``tests/test_experiment.py::test_lanczos_step_size_above_the_eigvalsh_threshold_equals_the_exact_one``);
#: rows at n <= 2,048, the golden ones among them, keep the exact one.
EIGVALSH_MAX_N = 2048


def _largest_km_eigenvalue(net, x) -> float:
    r""":math:`\lambda_{\max}(\kappa^2 K_m)` over the seeds (the step size's): from the stored
    :math:`K_m` by ``eigvalsh`` up to :data:`EIGVALSH_MAX_N` points, else by Lanczos on its
    products (the stored matrix's, or the features' when none is stored)."""
    n = x.shape[0]
    if net.km_train is not None and n <= EIGVALSH_MAX_N:
        return float(jnp.max(jnp.linalg.eigvalsh(net.km_train)[:, -1]))
    if net.km_train is not None:
        operators = [jax.tree_util.Partial(jnp.matmul, km) for km in net.km_train]
    else:
        operators = [net.km_operator(s, x) for s in range(net.samples.w.shape[0])]
    return max(features.largest_eigenvalue(op, n, x.dtype) for op in operators)


def _require_x64() -> None:
    if not jax.config.jax_enable_x64:
        raise RuntimeError(
            "nnkrr.experiment.run computes its references in float64: call "
            "jax.config.update('jax_enable_x64', True) once at the start of the process "
            "(training still runs in the config's dtype)"
        )


def train_networks(
    net,
    prob: problem.Problem,
    tcfg: train.TrainConfig,
    segments: int,
    dtype,
    progress: Callable[[str, int, int], None] | None = None,
    checkpoints=None,
    step: train.Step | None = None,
) -> measurements.Trained:
    """The training stage: the network and its linearisation, every seed, for
    ``tcfg.steps`` steps; the network takes ``step`` (default: the one
    :func:`nnkrr.train.gd_step` chooses for it), the linearisation the generic step.
    ``checkpoints.stage(label)`` (``label`` ``"network"`` or ``"linearised"``), when given,
    is each fit's :class:`nnkrr.train.Checkpointer`."""
    xd, yd, xtd = prob.x.astype(dtype), prob.y.astype(dtype), prob.x_test.astype(dtype)
    outputs = {}
    if step is None:
        step = train.gd_step(net.module, tcfg, xd.shape[-1])
    for label, apply_fn, init, stage_step in (
        ("network", net.module.apply, net.variables, step),
        ("linearised", net.lin_apply, net.lin_variables, None),
    ):
        report = None
        if progress is not None:
            report = lambda done, label=label: progress(label, done, tcfg.steps)  # noqa: E731
        state = train.fit(
            apply_fn,
            init,
            xd,
            yd,
            tcfg,
            segments=segments,
            progress=report,
            step=stage_step,
            checkpoint=None if checkpoints is None else checkpoints.stage(label),
        )
        final = {"params": state.params, "constants": init["constants"]}
        apply = jax.jit(jax.vmap(apply_fn, in_axes=(0, None)))
        outputs[label] = (state, apply(final, xtd), apply(final, xd))
    apply = jax.jit(jax.vmap(net.module.apply, in_axes=(0, None)))
    state, f_nn, f_nn_train = outputs["network"]
    mass = apply(net.abs_variables, xtd).astype(jnp.float64)  # per seed, on the test points
    return measurements.Trained(
        state=state,
        f_nn=f_nn,
        f_nn_train=f_nn_train,
        f0_train=apply(net.variables, xd),
        f0_test=apply(net.variables, xtd),
        f_lin=outputs["linearised"][1],
        abs_sum_rms=jnp.sqrt(jnp.mean(mass**2, axis=1)),
    )


def run(
    cfg: Any,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    checked: bool = False,
    checkpoints=None,
    cache=None,
) -> pd.DataFrame:
    """Run one job of the width sweep and return its rows (one per seed).

    Args:
      cfg: a sweep config (module docstring).
      progress: optional ``progress(label, steps_done, steps)`` called between training
        segments (``label`` is ``"network"`` or ``"linearised"``).
      checked: ``cfg`` is the plain dict :func:`nnkrr.config.check` returned (skip the check).
      checkpoints: where training saves its segments and resumes from them (an object
        whose ``stage(label)`` is a :class:`nnkrr.train.Checkpointer`, such as
        ``experiments.checkpoint.JobCheckpoints``); the rows are the same with or without.
      cache: where the jobs of a sweep keep what they share (``get(key)``/``put(key,
        value)``, such as ``experiments.cache.SweepCache``): the matrix-free path's solved
        target (:func:`nnkrr.problem.target_key`) and the leverage set-up with its flatness
        (:func:`nnkrr.sampling.leverage_key`); the rows are the same with or without.

    Returns:
      A DataFrame with the columns of :data:`nnkrr.row.COLUMNS` (and the data set's
      ``data_<key>`` columns).

    Raises:
      ConfigError: an invalid config value (before any work), or a data-dependent one
        (``target`` beyond the data's outputs, a bad data file) once the data is read.
      RuntimeError: ``jax_enable_x64`` is off.
    """
    cfg = cfg if checked else check(cfg)
    _require_x64()
    start = time.perf_counter()
    stage = _Stages(start)
    ds = load_data(cfg)
    if not cfg["target"] < ds.n_outputs:
        raise ConfigError(
            f"target must be in [0, {ds.n_outputs}) for data {ds.name}, got {cfg['target']}"
        )
    reg, trn, scale = cfg["regime"], cfg["train"], Scale.of(cfg)
    lam = scale.lam
    dtype = jnp.dtype(cfg["dtype"])
    kind = models.KINDS[cfg["model"]["kind"]]
    solver = solver_of(cfg, ds.n_train, ds.dim)
    prob = problem.make_problem(
        ds,
        cfg["target"],
        functools.partial(kind.kernel, cfg["model"]),
        scale,
        solver=solver,
        formula=None if kind.formula is None else kind.formula(cfg["model"]),
        rank=cfg["rank"],
        key=jax.random.fold_in(jax.random.key(cfg["seed"]), 2**28),
        cache=cache,
    )
    stage("problem")
    if solver == "cg":
        _log.info(
            "n = %d: solver=cg, nothing n x n is held; spectral_eps is unavailable (it needs K "
            "and K_m stored: NaN in the rows)",
            ds.n_train,
        )
    net, flatness = kind.network(
        cfg, scale, prob.x, prob.x_test, dtype, solver == "cholesky", cache
    )
    stage("network")
    lam_max = _largest_km_eigenvalue(net, prob.x)
    stage("lambda_max")
    sched = train.schedule(
        lam_max,
        prob.mu_min,
        lam,
        learning_rate=trn["learning_rate"],
        step_factor=trn["step_factor"],
        time=trn["time"],
        horizon_c=trn["horizon_c"],
        max_steps=trn["max_steps"],
    )
    tcfg = train.TrainConfig.of(
        trn, lam=lam, learning_rate=sched.learning_rate, steps=sched.steps, centre=reg["centre"]
    )
    step = train.gd_step(net.module, tcfg, prob.x.shape[-1])
    trained = train_networks(net, prob, tcfg, trn["segments"], dtype, progress, checkpoints, step)
    stage("training")
    measured = measurements.measure(
        prob,
        net,
        trained,
        centre=reg["centre"],
        kappa=scale.kappa,
        width=cfg["model"]["width"],
        lam_time=lam * sched.time,
        dtype=dtype,
        predict_flips=kind.predicts_flips(cfg["model"]),
        flatness=flatness,
        flips_key=jax.random.fold_in(jax.random.key(cfg["seed"]), 2**30),
    )
    stage("measurements")
    base = row.provenance(cfg, scale, ds, net.backprop, net.chunk, step.name)
    return pd.DataFrame(row.rows(base, sched, lam, measured, time.perf_counter() - start))
