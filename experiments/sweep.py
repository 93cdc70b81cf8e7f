"""Wide regularised networks versus exact NTK-KRR, per width and sampler (Hydra entry point).

    uv run python experiments/sweep.py -m          # the default grid (README's main job)

One job = one (data, sampler, regime, width): ``seeds`` networks are initialised
from independent feature samples and trained together (vmapped), next to their
linearisations; the gap to NTK-KRR and its decomposition (``nnkrr.gap``) are
written as one row per seed to ``results.parquet``/``.csv`` in the job directory.
At the end of a multirun ``results.GatherResults`` gathers the rows into the sweep
directory and draws ``gap_vs_width.png`` and ``gap_decomposition.png``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import hydra
import jax
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from experiments import plots, results

log = logging.getLogger(__name__)


def tree_stack(trees):
    return jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *trees)


def sum_sq(tree) -> float:
    return sum(float(jax.numpy.sum(a.astype("float64") ** 2)) for a in jax.tree.leaves(tree))


class Setup(NamedTuple):
    """What a job trains and compares against (kernels already times kappa^2)."""

    k_train: jax.Array  # exact NTK (n, n)
    k_test: jax.Array  # (n_test, n)
    km_train: list  # per seed: NTK of the initial network, (n, n)
    km_test: list
    variables: dict  # Flax variables, leading seed axis
    net_apply: Callable
    lin_variables: dict
    lin_apply: Callable  # the linearisation around the initial parameters
    first_layer: Callable  # params of one seed -> first-layer weights (m, d)


def two_layer_setup(cfg, x, xt, dtype) -> Setup:
    """The paper's network: features from nnkrr.sampling, symmetric pairs in the lazy regime."""
    import jax.numpy as jnp

    from nnkrr import features, kernels, models, sampling

    reg, width, kappa2 = cfg.regime, int(cfg.model.width), float(cfg.regime.kappa) ** 2
    if reg.symmetric and width % 2:
        raise ValueError(f"model.width must be even with symmetric init, got {width}")
    n_features = width // 2 if reg.symmetric else width
    k_train, k_test = kernels.relu_ntk(x), kernels.relu_ntk(xt, x)
    if cfg.model.train_readout:
        k_train = k_train + kernels.arccos1_kernel(x)
        k_test = k_test + kernels.arccos1_kernel(xt, x)
    # Leverage scores at ridge lam / kappa^2: KRR with (kappa^2 K, lam) is KRR with (K, lam / kappa^2).
    lev = None
    if cfg.sampler.name == "leverage":
        lev = sampling.leverage(x, float(cfg.lam) / kappa2)
    variables, km_train, km_test = [], [], []
    for s in range(cfg.seeds):
        k_feat, k_sign = jax.random.split(jax.random.fold_in(jax.random.key(cfg.seed), s))
        kw = {}
        if lev is not None:
            kw = {"lev": lev, "method": cfg.sampler.method, "pool_size": cfg.sampler.pool_size}
        sample = sampling.sample(k_feat, x, n_features, sampler=cfg.sampler.name, **kw)
        w, c, a = sample.w, sample.scale, jax.random.rademacher(k_sign, (n_features,), jnp.float64)
        if reg.symmetric:
            w, c, a = models.symmetric_pairs(w, c, a)
        full = sampling.FeatureSample(w, c)
        km, kmt = features.rf_kernel(x, None, full), features.rf_kernel(xt, x, full)
        if cfg.model.train_readout:
            km = km + features.rf_kernel(x, None, full, "arccos1")
            kmt = kmt + features.rf_kernel(xt, x, full, "arccos1")
        km_train.append(kappa2 * km)
        km_test.append(kappa2 * kmt)
        variables.append(
            models.init_variables(
                sampling.FeatureSample(w.astype(dtype), c.astype(dtype)),
                a.astype(dtype),
                train_readout=cfg.model.train_readout,
            )
        )
    variables = tree_stack(variables)

    def network(linearized):
        return models.TwoLayerReLU(
            width=width,
            kappa=float(reg.kappa),
            linearized=linearized,
            train_readout=cfg.model.train_readout,
            chunk=cfg.model.chunk,
        )

    return Setup(
        kappa2 * k_train,
        kappa2 * k_test,
        km_train,
        km_test,
        variables,
        network(False).apply,
        variables,
        network(True).apply,
        lambda params: params["W"],
    )


def mlp_setup(cfg, x, xt, dtype) -> Setup:
    """A depth-L ReLU MLP in NTK parameterisation (Gaussian init); NTK at init by autodiff."""
    import jax.numpy as jnp

    from nnkrr import kernels, models

    if cfg.sampler.name != "gaussian":
        raise ValueError(
            "sampler must be gaussian for model=mlp (leverage sampling is "
            f"defined for the two-layer network), got {cfg.sampler.name!r}"
        )
    kappa = float(cfg.regime.kappa)
    model = models.MLP(
        width=int(cfg.model.width),
        depth=int(cfg.model.depth),
        kappa=kappa,
        W_std=float(cfg.model.W_std),
        train_readout=cfg.model.train_readout,
    )
    kw = {
        "depth": int(cfg.model.depth),
        "train_last": cfg.model.train_readout,
        "W_std": float(cfg.model.W_std),
    }
    k_train, k_test = kernels.mlp_ntk(x, **kw), kernels.mlp_ntk(xt, x, **kw)

    def jacobian(variables, xs):
        def f(params):
            return model.apply({"params": params, "constants": variables.get("constants", {})}, xs)

        jac = jax.jacobian(f)(variables["params"])
        return jnp.concatenate([j.reshape(xs.shape[0], -1) for j in jax.tree.leaves(jac)], 1)

    variables, km_train, km_test = [], [], []
    for s in range(cfg.seeds):
        v64 = model.init(jax.random.fold_in(jax.random.key(cfg.seed), s), x)
        j, jt = jacobian(v64, x), jacobian(v64, xt)
        km_train.append(j @ j.T)
        km_test.append(jt @ j.T)
        v64 = {"params": v64["params"], "constants": v64.get("constants", {})}
        variables.append(jax.tree.map(lambda a: a.astype(dtype), v64))
    variables = tree_stack(variables)
    lin_variables = jax.vmap(models.with_theta0)(variables)
    return Setup(
        kappa**2 * k_train,
        kappa**2 * k_test,
        km_train,
        km_test,
        variables,
        model.apply,
        lin_variables,
        models.linearize(model.apply),
        lambda params: params["W0"].T,
    )


@hydra.main(version_base="1.3", config_path="../configs", config_name="sweep")
def main(cfg: DictConfig) -> None:
    jax.config.update("jax_enable_x64", True)  # float64 references; training in cfg.dtype
    import jax.numpy as jnp

    from nnkrr import features, gap, krr, train

    start = time.perf_counter()
    out = Path(HydraConfig.get().runtime.output_dir)
    if (out / "results.parquet").exists() and not cfg.force:
        log.info("%s already has results.parquet: skipped (force=true recomputes)", out)
        return
    dtype = jnp.dtype(cfg.dtype)
    ds = hydra.utils.instantiate(cfg.data)
    if not 0 <= cfg.target < ds.n_outputs:
        raise ValueError(f"target must be in [0, {ds.n_outputs}), got {cfg.target}")
    x, xt = jnp.asarray(ds.x_train), jnp.asarray(ds.x_test)
    y, yt = jnp.asarray(ds.y_train[:, cfg.target]), jnp.asarray(ds.y_test[:, cfg.target])
    reg, lam, width = cfg.regime, float(cfg.lam), int(cfg.model.width)
    builders = {"two_layer": two_layer_setup, "mlp": mlp_setup}
    if cfg.model.kind not in builders:
        raise ValueError(f"model.kind must be one of {sorted(builders)}, got {cfg.model.kind!r}")
    setup = builders[cfg.model.kind](cfg, x, xt, dtype)
    k_train, k_test, km_train, km_test, variables = setup[:5]
    mu = np.linalg.eigvalsh(np.asarray(k_train))
    s_lambda = float(np.sum(mu / (mu + lam)))

    # Step size from the spectrum of kappa^2 K_m, horizon from that of kappa^2 K.
    t = cfg.train
    lam_max = max(float(np.linalg.eigvalsh(np.asarray(k))[-1]) for k in km_train)
    lr = t.learning_rate or train.step_size(lam_max, lam, t.step_factor)
    time_t = t.time or train.horizon(float(mu[0]), lam, t.horizon_c)
    steps = math.ceil(time_t / lr)
    if steps > t.max_steps:
        log.warning(
            "T=%.4g needs %d steps of %.3g; capped at train.max_steps=%d",
            time_t,
            steps,
            lr,
            t.max_steps,
        )
        steps = t.max_steps
    time_t = steps * lr
    tcfg = train.TrainConfig(
        lam=lam,
        learning_rate=lr,
        steps=steps,
        centre=reg.centre,
        optimizer=t.optimizer,
        optimizer_kwargs=tuple(sorted(OmegaConf.to_container(t.optimizer_kwargs).items())),
    )
    log.info(
        "%s, %s sampler, %s regime, m=%d, %d seeds: lr=%.4g, T=%.4g, %d steps, s_lambda=%.2f",
        ds.name,
        cfg.sampler.name,
        reg.name,
        width,
        cfg.seeds,
        lr,
        time_t,
        steps,
        s_lambda,
    )

    xd, yd, xtd = x.astype(dtype), y.astype(dtype), xt.astype(dtype)
    trained = {}
    for label, apply_fn, init in (
        ("network", setup.net_apply, variables),
        ("linearised", setup.lin_apply, setup.lin_variables),
    ):
        with tqdm(
            total=steps, desc=f"m={width} {cfg.sampler.name} {label}", mininterval=2, leave=False
        ) as bar:
            state = train.fit(
                apply_fn,
                init,
                xd,
                yd,
                tcfg,
                segments=t.segments,
                progress=lambda done, bar=bar: bar.update(done - bar.n),
            )
        final = {"params": state.params, "constants": init["constants"]}
        apply = jax.jit(jax.vmap(apply_fn, in_axes=(0, None)))
        trained[label] = (state, apply(final, xtd), apply(final, xd))
        if label == "network":
            f0_train, f0_test = apply(variables, xd), apply(variables, xtd)
    state, f_nn, f_nn_train = trained["network"]
    _, f_lin, _ = trained["linearised"]

    f_star = krr.fit_predict(k_train, y, k_test, lam)  # the exact NTK-KRR target, once
    eps = features.spectral_epsilon(k_train, jnp.stack(km_train), lam)  # one eigh of K
    rows = []
    for s in range(cfg.seeds):
        parts = gap.decompose(
            f_star=f_star,
            km_train=km_train[s],
            km_test=km_test[s],
            y=y,
            lam=lam,
            f0_train=f0_train[s].astype(jnp.float64),
            f0_test=f0_test[s].astype(jnp.float64),
            f_lin=f_lin[s].astype(jnp.float64),
            f_nn=f_nn[s].astype(jnp.float64),
            centre=reg.centre,
        )
        p0 = jax.tree.map(lambda a, s=s: a[s], variables["params"])
        pt = jax.tree.map(lambda a, s=s: a[s], state.params)
        w0, wt = setup.first_layer(p0), setup.first_layer(pt)
        flips = jnp.mean((xd @ w0.T > 0) != (xd @ wt.T > 0))
        move = np.sqrt(sum_sq(jax.tree.map(jnp.subtract, pt, p0)) / sum_sq(p0))
        diverged = int(state.diverged_step[s]) >= 0
        rows.append(
            {
                "dataset": ds.name,
                "n_train": ds.n_train,
                "n_test": ds.n_test,
                "dim": ds.dim,
                "sampler": cfg.sampler.name,
                "method": cfg.sampler.method,
                "regime": reg.name,
                "centre": reg.centre,
                "symmetric": bool(reg.symmetric),
                "train_readout": bool(cfg.model.train_readout),
                "model": cfg.model.kind,
                "depth": int(cfg.model.get("depth", 1)),
                "width": width,
                "seed": s,
                "lam": lam,
                "kappa": float(reg.kappa),
                "optimizer": t.optimizer,
                "learning_rate": lr,
                "steps": steps,
                "time_T": time_t,
                "gap_max": float(jnp.max(jnp.abs(parts["total"]))),
                "gap_rms": float(gap.rms(parts["total"])),
                "gap_rel": float(gap.rms(parts["total"]) / gap.rms(f_star)),
                **{f"gap_{p}": float(gap.rms(parts[p])) for p in gap.PARTS},
                "spectral_eps": float(eps[s]),
                "s_lambda": s_lambda,
                "weight_move": move,
                "pattern_flips": float(flips),
                "nn_test_mse": float(jnp.mean((f_nn[s] - yt) ** 2)),
                "nn_train_mse": float(jnp.mean((f_nn_train[s] - y) ** 2)),
                "krr_test_mse": float(jnp.mean((f_star - yt) ** 2)),
                "status": "diverged" if diverged else "ok",
                "diverged_step": int(state.diverged_step[s]),
                "diverged_loss": float(state.diverged_loss[s]),
                "final_loss": float(state.loss[s]),
                "wall_s": time.perf_counter() - start,
            }
        )
    frame = pd.DataFrame(rows)
    parquet, _ = results.write_table(frame, out, "results")
    plots.gap_figures(frame, out)
    summary = frame[
        [
            "seed",
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
    ]
    log.info(
        "m=%d %s: mean gap_rms %.4g (rel %.3g); rows in %s\n%s",
        width,
        cfg.sampler.name,
        frame.gap_rms.mean(),
        frame.gap_rel.mean(),
        parquet,
        summary.to_string(index=False, float_format="%.4g"),
    )


if __name__ == "__main__":
    main()
