r"""One job of the width sweep, callable from Python: a config in, a table of rows out.

A job is one (data, sampler, regime, model width): ``seeds`` networks are initialised from
independent feature samples (drawn in one vmapped, compiled call), trained by one compiled
program (:func:`nnkrr.train.fit`: run per seed on CPUs, vmapped on accelerators) next to
their linearisations, and compared with the exact NTK-KRR target

.. math:: f^*(x) = \kappa^2 K(x, X) (\kappa^2 K + \lambda I)^{-1} Y .

:func:`run` returns one row per seed: the gap :math:`f_\mathrm{nn}(T) - f^*` and its
decomposition (:mod:`nnkrr.gap`), the regime diagnostics (pattern flips and their lazy
prediction, :mod:`nnkrr.laziness`; weight movement; :math:`\lambda T`) and every config
value that changes the numbers (provenance), so rows from different sweeps can be merged and told apart.  No files, no Hydra, no global state
left behind (float64 is switched on for the references and restored afterwards)::

    from nnkrr import experiment
    cfg = experiment.compose(["model.width=256", "sampler=leverage"])  # configs/sweep.yaml
    rows = experiment.run(cfg)

``cfg`` is the composed ``configs/sweep.yaml`` (an omegaconf ``DictConfig`` or a plain
nested ``dict`` with the same keys).  :func:`validate` checks every value before any work
and raises :class:`ConfigError` naming the key as a user types it (``model.width``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

__all__ = ["ConfigError", "compose", "load_data", "reference", "run", "validate"]

DTYPES = ("float32", "float64")
#: Round-off level of a row's gap parts (``roundoff``), in units in the last place of the
#: training dtype of the larger of rms(f*) and ``abs_sum_rms``, the RMS over test points of
#: the output sum's absolute mass :math:`\sum_r |v_r| \sigma_r(x)` at initialisation (the
#: readout by magnitude).  A float sum of m terms rounds in proportion to its absolute
#: mass, which grows like sqrt(m) (kappa sqrt(m) |x| / sqrt(2 pi) for the paper's network),
#: not to its value: in ``experiments/sweep.py -m`` the symmetric start's f(W(0)) = 0 came
#: out at 0.09 to 0.18 ulps of the mass in every row, from width 64 (largest gap_init
#: 6.8e-8, mass 3.3) to 16384 (largest 9.6e-7, mass 51), while the former floor, 10 ulps of
#: rms(f*) = 3.6e-7, fell below it from m = 2^12 on.
ROUNDOFF_ULPS = 2
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigError(ValueError):
    """A config value is invalid; the message starts with its key (``model.width: ...``)."""


def kappa2_times(kappa: float, ridge: float) -> float:
    r"""The training ridge :math:`\lambda = \kappa^2 \cdot \mathrm{ridge}` that makes the target
    :math:`\kappa^2 K (\kappa^2 K + \lambda I)^{-1} Y = K (K + \mathrm{ridge}\, I)^{-1} Y`
    independent of :math:`\kappa` (the ``${nnkrr.kappa2_times:...}`` resolver of the configs)."""
    return _round(float(kappa) ** 2 * float(ridge))


def _round(value: float) -> float:
    """To 15 significant digits: 0.1**2 * 0.1 is 0.001 here, not 0.0010000000000000002."""
    return float(f"{value:.15g}")


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("nnkrr.kappa2_times", kappa2_times, replace=True)


_register_resolvers()


# --------------------------------------------------------------------------- config


def _plain(cfg) -> dict:
    """A resolved plain ``dict`` from a DictConfig or a (possibly interpolated) dict."""
    from omegaconf import DictConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"cfg: expected a DictConfig or a dict, got {type(cfg).__name__}")
        cfg = OmegaConf.create(dict(cfg))
    if "hydra" in cfg:  # a job's full config: its hydra node needs Hydra's runtime to resolve
        cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return OmegaConf.to_container(cfg, resolve=True)


def compose(overrides: Sequence[str] = (), config_name: str = "sweep") -> dict:
    """The composed ``configs/<config_name>.yaml`` with command-line style overrides, as a dict.

    Uses Hydra's compose API (no job, no output directory); for notebooks and scripts.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return _plain(hydra_compose(config_name, overrides=list(overrides)))


class _Checker:
    """Reads keys of a plain config dict and raises ConfigError naming the dotted key."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg

    def get(self, key: str) -> Any:
        node: Any = self.cfg
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"{key}: missing from the config")
            node = node[part]
        return node

    def fail(self, key: str, what: str, value: Any) -> None:
        raise ConfigError(f"{key} must be {what}, got {value!r}")

    def integer(self, key: str, minimum: int, *, optional: bool = False) -> int | None:
        value = self.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            self.fail(key, f"an integer >= {minimum}" + (" or null" if optional else ""), value)
        return int(value)

    def number(
        self,
        key: str,
        *,
        low: float = 0.0,
        high: float = math.inf,
        optional: bool = False,
        closed_low: bool = False,
    ) -> float | None:
        value = self.get(key)
        if value is None and optional:
            return None
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (value >= low if closed_low else value > low)
        ok = ok and value < high
        if not ok:
            if high == math.inf:
                bounds = f"{'>=' if closed_low else '>'} {low:g}"
            else:
                bounds = f"in {'[' if closed_low else '('}{low:g}, {high:g})"
            what = f"a finite number {bounds}" + (" or null" if optional else "")
            self.fail(key, what, value)
        return float(value)

    def boolean(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.fail(key, "true or false", value)
        return value

    def choice(self, key: str, options: Sequence[str]) -> str:
        value = self.get(key)
        if value not in options:
            self.fail(key, "one of " + ", ".join(options), value)
        return value


# Data keys and their rules; each dataset config uses a subset (configs/data/*.yaml).
_DATA_RULES: dict[str, Callable[[_Checker, str], Any]] = {
    "seed": lambda c, k: c.integer(k, 0),
    "n_train": lambda c, k: c.integer(k, 1, optional=True),
    "n_test": lambda c, k: c.integer(k, 1, optional=True),
    "dim": lambda c, k: c.integer(k, 1),
    "noise": lambda c, k: c.number(k, closed_low=True),
    "frequency": lambda c, k: c.number(k),
    "terms": lambda c, k: c.integer(k, 1),
    "spread": lambda c, k: c.number(k),
    "clusters": lambda c, k: c.integer(k, 1),
    "sphere": lambda c, k: c.boolean(k),
    "standardise": lambda c, k: c.boolean(k),
}


def validate(cfg) -> dict:
    """Check every value of a sweep config; return it as a resolved plain dict.

    Raises:
      ConfigError: naming the first invalid key as typed on the command line, e.g.
        ``model.width must be an integer >= 1, got 0``.
    """
    import optax

    cfg = _plain(cfg)
    c = _Checker(cfg)
    c.integer("seed", 0)
    c.integer("seeds", 1)
    c.number("ridge")
    c.number("regime.kappa")  # before lam, which defaults to kappa^2 * ridge
    c.number("lam")
    c.integer("target", 0)
    c.boolean("force")
    c.choice("dtype", DTYPES)

    data = c.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("_target_"), str):
        c.fail("data", "a dataset config with a _target_ (data=synthetic, ...)", data)
    for key in data:
        if key == "_target_":
            continue
        if key not in _DATA_RULES:
            raise ConfigError(f"data.{key}: unknown data option")
        _DATA_RULES[key](c, f"data.{key}")

    kind = c.choice("model.kind", ("two_layer", "mlp"))
    c.integer("model.width", 1)
    c.boolean("model.train_readout")
    if kind == "two_layer":
        if c.get("model.kernel") is not None:
            c.choice("model.kernel", ("fused", "autodiff"))
        c.integer("model.chunk", 1, optional=True)
    else:
        c.integer("model.depth", 1)
        c.number("model.W_std")

    c.choice("sampler.name", ("gaussian", "leverage"))
    c.choice(
        "sampler.method", ("iid",) if c.get("sampler.name") == "gaussian" else ("rejection", "sir")
    )
    if "pool_size" in c.get("sampler"):
        c.integer("sampler.pool_size", 1, optional=True)
    if kind == "mlp" and c.get("sampler.name") != "gaussian":
        c.fail(
            "sampler",
            "gaussian for model=mlp (leverage sampling is defined for the two-layer network)",
            c.get("sampler.name"),
        )

    c.choice("regime.centre", ("zero", "init"))
    c.boolean("regime.symmetric")
    c.number("regime.kappa")
    if kind == "two_layer" and c.get("regime.symmetric") and c.get("model.width") % 2:
        c.fail(
            "model.width",
            "even with regime.symmetric=true (pairs (w, a), (w, -a))",
            c.get("model.width"),
        )

    name = c.get("train.optimizer")
    if (
        not isinstance(name, str)
        or name.startswith("_")
        or not callable(getattr(optax, name, None))
    ):
        c.fail("train.optimizer", "the name of an optax optimizer (sgd, adam, ...)", name)
    if not isinstance(c.get("train.optimizer_kwargs"), Mapping):
        c.fail(
            "train.optimizer_kwargs",
            "a mapping such as {momentum: 0.9}",
            c.get("train.optimizer_kwargs"),
        )
    c.number("train.learning_rate", optional=True)
    c.number("train.step_factor", high=2.0)
    c.number("train.time", optional=True)
    c.number("train.horizon_c")
    c.integer("train.max_steps", 1)
    c.integer("train.segments", 1)
    return cfg


# --------------------------------------------------------------------------- pieces


def load_data(cfg: dict):
    """The dataset of ``cfg['data']`` (its ``_target_`` called with the other keys)."""
    spec = dict(cfg["data"])
    module, _, name = spec.pop("_target_").rpartition(".")
    try:
        loader = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"data._target_: cannot import {module}.{name}: {err}") from None
    try:
        return loader(**spec)
    except (TypeError, ValueError) as err:  # e.g. n_train + n_test beyond the data set
        raise ConfigError(f"data ({module}.{name}): {err}") from None


def reference(k_train, k_test, y, lam: float):
    """The exact NTK-KRR target :math:`f^* = K_t (K + \\lambda I)^{-1} Y` (kernels times kappa^2)."""
    return _reference(k_train, k_test, y, lam)[0]


def _reference(k_train, k_test, y, lam: float):
    """:func:`reference` and its dual coefficients :math:`(K + \\lambda I)^{-1} Y`, one solve."""
    from nnkrr import krr

    beta = krr.solve(k_train, y, lam)
    return krr.predict(k_test, beta), beta


@contextlib.contextmanager
def _x64() -> Iterator[None]:
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def _tree_stack(trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _sum_sq(tree) -> float:
    return sum(float(jnp.sum(a.astype(jnp.float64) ** 2)) for a in jax.tree.leaves(tree))


@dataclasses.dataclass(frozen=True)
class _Setup:
    """What a job trains and compares against (kernels already times kappa^2)."""

    k_train: jax.Array  # exact NTK (n, n)
    k_test: jax.Array  # (n_test, n)
    km_train: jax.Array  # per seed: NTK of the initial network, (seeds, n, n)
    km_test: jax.Array  # (seeds, n_test, n)
    variables: dict  # Flax variables, leading seed axis
    net_apply: Callable
    lin_variables: dict
    lin_apply: Callable  # the linearisation around the initial parameters
    first_layer: Callable  # params of one seed -> first-layer weights (m, d)
    abs_variables: dict  # ``variables`` with the readout by magnitude (:func:`_abs_readout`)
    info: dict  # resolved kernel path and chunk (provenance); flatness of the leverage function


def _abs_readout(variables: dict, name: str) -> dict:
    r"""``variables`` with the readout weights ``name`` (in ``params`` or ``constants``) by
    magnitude: that network outputs :math:`\sum_r |v_r| \sigma_r(x)`, the absolute mass of
    the output sum, whose float round-off grows with it (``roundoff`` of a row)."""
    out = dict(variables)
    for collection in ("params", "constants"):
        if name in out.get(collection, {}):
            out[collection] = {**out[collection], name: jnp.abs(out[collection][name])}
    return out


def _seed_keys(cfg: dict) -> jax.Array:
    """Per-seed keys fold_in(key(data seed), s), s < seeds, as one (seeds,) key array."""
    base = jax.random.key(cfg["seed"])
    return jax.vmap(lambda s: jax.random.fold_in(base, s))(jnp.arange(cfg["seeds"]))


def _two_layer_setup(cfg: dict, x, xt, dtype) -> _Setup:
    """The paper's network; features from nnkrr.sampling, drawn for all seeds in one call."""
    from nnkrr import features, kernels, models, sampling

    reg, mdl, smp = cfg["regime"], cfg["model"], cfg["sampler"]
    width, kappa2 = mdl["width"], reg["kappa"] ** 2
    n_features = width // 2 if reg["symmetric"] else width
    k_train, k_test = kernels.relu_ntk(x), kernels.relu_ntk(xt, x)
    if mdl["train_readout"]:
        k_train = k_train + kernels.arccos1_kernel(x)
        k_test = k_test + kernels.arccos1_kernel(xt, x)
    # Leverage scores at ridge lam / kappa^2: KRR with (kappa^2 K, lam) is KRR with (K, lam / kappa^2).
    kw: dict[str, Any] = {"sampler": smp["name"]}
    flatness = math.nan
    if smp["name"] == "leverage":
        lev = sampling.leverage(x, cfg["lam"] / kappa2)
        # How far the leverage function is from flat (sup score / s_lambda, 65536 draws
        # from p): a property of the data and the ridge, recorded with the leverage rows.
        key = jax.random.fold_in(jax.random.key(cfg["seed"]), 2**29)
        flatness = sampling.flatness(key, lev)["flatness"]
        kw.update(
            lev=lev,
            method=smp["method"],
            pool_size=smp.get("pool_size"),
        )
    keys = jax.vmap(jax.random.split)(_seed_keys(cfg))
    sample = sampling.sample_batch(keys[:, 0], x, n_features, **kw)
    signs = jax.vmap(lambda k: jax.random.rademacher(k, (n_features,), jnp.float64))(keys[:, 1])
    w, c, a = sample.w, sample.scale, signs
    if reg["symmetric"]:
        w, c, a = jax.vmap(models.symmetric_pairs)(w, c, a)

    km_train, km_test = [], []
    for s in range(cfg["seeds"]):
        full = sampling.FeatureSample(w[s], c[s])
        km, kmt = features.rf_kernel(x, None, full), features.rf_kernel(xt, x, full)
        if mdl["train_readout"]:
            km = km + features.rf_kernel(x, None, full, "arccos1")
            kmt = kmt + features.rf_kernel(xt, x, full, "arccos1")
        km_train.append(kappa2 * km)
        km_test.append(kappa2 * kmt)
    variables = jax.vmap(
        lambda w, c, a: models.init_variables(
            sampling.FeatureSample(w, c), a, train_readout=mdl["train_readout"]
        )
    )(w.astype(dtype), c.astype(dtype), a.astype(dtype))

    path = models.resolve_kernel(mdl.get("kernel"))
    # One chunk for training and test inputs (resolved by the training set's size).
    chunk = models.resolve_chunk(mdl.get("chunk"), width, x.shape[0]) if path == "fused" else width

    def network(linearized):
        return models.TwoLayerReLU(
            width=width,
            kappa=reg["kappa"],
            linearized=linearized,
            train_readout=mdl["train_readout"],
            chunk=chunk,
            kernel=path,
        )

    return _Setup(
        kappa2 * k_train,
        kappa2 * k_test,
        jnp.stack(km_train),
        jnp.stack(km_test),
        variables,
        network(False).apply,
        variables,
        network(True).apply,
        lambda params: params["W"],
        _abs_readout(variables, "a"),  # c > 0 already
        {"kernel_path": path, "chunk": chunk, "flatness": flatness},
    )


def _mlp_setup(cfg: dict, x, xt, dtype) -> _Setup:
    """A depth-L ReLU MLP in NTK parameterisation (Gaussian init); NTK at init by autodiff."""
    from nnkrr import kernels, models

    mdl, kappa = cfg["model"], cfg["regime"]["kappa"]
    model = models.MLP(
        width=mdl["width"],
        depth=mdl["depth"],
        kappa=kappa,
        W_std=mdl["W_std"],
        train_readout=mdl["train_readout"],
    )
    kw = {"depth": mdl["depth"], "train_last": mdl["train_readout"], "W_std": mdl["W_std"]}
    k_train, k_test = kernels.mlp_ntk(x, **kw), kernels.mlp_ntk(xt, x, **kw)

    def jacobian(variables, xs):
        def f(params):
            return model.apply({"params": params, "constants": variables.get("constants", {})}, xs)

        jac = jax.jacobian(f)(variables["params"])
        return jnp.concatenate([j.reshape(xs.shape[0], -1) for j in jax.tree.leaves(jac)], 1)

    keys = _seed_keys(cfg)
    variables, km_train, km_test = [], [], []
    for s in range(cfg["seeds"]):
        v64 = model.init(keys[s], x)
        j, jt = jacobian(v64, x), jacobian(v64, xt)
        km_train.append(j @ j.T)
        km_test.append(jt @ j.T)
        v64 = {"params": v64["params"], "constants": v64.get("constants", {})}
        variables.append(jax.tree.map(lambda a: a.astype(dtype), v64))
    variables = _tree_stack(variables)
    lin_variables = jax.vmap(models.with_theta0)(variables)
    return _Setup(
        kappa**2 * k_train,
        kappa**2 * k_test,
        jnp.stack(km_train),
        jnp.stack(km_test),
        variables,
        model.apply,
        lin_variables,
        models.linearize(model.apply),
        lambda params: params["W0"].T,
        _abs_readout(variables, "readout"),
        {"kernel_path": "autodiff", "chunk": None},
    )


def _provenance(cfg: dict, ds, info: dict) -> dict:
    """The config values that change a row's numbers (besides the per-seed index)."""
    reg, smp, mdl, trn = cfg["regime"], cfg["sampler"], cfg["model"], cfg["train"]
    row = {
        "dataset": ds.name,
        "data_seed": cfg["seed"],
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "dim": ds.dim,
        "target": cfg["target"],
    }
    for key, value in sorted(cfg["data"].items()):
        if key not in ("_target_", "seed", "n_train", "n_test", "dim"):
            row[f"data_{key}"] = value
    row.update(
        sampler=smp["name"],
        method=smp["method"],
        pool_size=smp.get("pool_size"),
        regime=reg["name"],
        centre=reg["centre"],
        symmetric=reg["symmetric"],
        kappa=reg["kappa"],
        lam=cfg["lam"],
        ridge=_round(cfg["lam"] / reg["kappa"] ** 2),
        model=mdl["kind"],
        depth=mdl.get("depth", 1),
        train_readout=mdl["train_readout"],
        width=mdl["width"],
        dtype=cfg["dtype"],
        kernel_path=info["kernel_path"],
        chunk=info["chunk"],
        optimizer=trn["optimizer"],
        optimizer_kwargs=str(dict(sorted(trn["optimizer_kwargs"].items()))),
        step_factor=trn["step_factor"],
        horizon_c=trn["horizon_c"],
        max_steps=trn["max_steps"],
    )
    return row


# --------------------------------------------------------------------------- the job


def run(cfg, *, progress: Callable[[str, int, int], None] | None = None) -> pd.DataFrame:
    """Run one job of the width sweep and return its rows (one per seed).

    Args:
      cfg: the composed ``configs/sweep.yaml`` (DictConfig or plain dict; see :func:`compose`).
      progress: optional ``progress(label, steps_done, steps)`` called between training
        segments (``label`` is ``"network"`` or ``"linearised"``).

    Returns:
      A DataFrame with the provenance columns (:func:`_provenance`), ``init_seed``
      (the feature/sign draw s: keys ``fold_in(key(data_seed), s)``), the training
      schedule (``learning_rate``, ``steps``, ``time_T``, ``lam_T``), the gap
      (``gap_rms``, ``gap_max``, ``gap_rel`` = gap_rms / ``f_star_rms``), ``roundoff``
      (:data:`ROUNDOFF_ULPS` ulps of the training dtype times ``f_star_rms``), its parts (``gap_kernel``, ``gap_init``,
      ``gap_opt``, ``gap_nonlin``), ``spectral_eps``, ``s_lambda``, ``weight_move``,
      ``flatness`` (sup score / s_lambda of the ridge leverage function; leverage rows,
      NaN otherwise),
      ``pattern_flips`` and its lazy prediction ``pattern_flips_pred``
      (:func:`nnkrr.laziness.predicted_flips`; NaN for other models), test/train errors,
      divergence status and ``wall_s``.

    Raises:
      ConfigError: an invalid config value (before any work).
    """
    cfg = validate(cfg)
    start = time.perf_counter()
    with _x64():
        return _run(cfg, start, progress)


def _run(cfg: dict, start: float, progress) -> pd.DataFrame:
    from nnkrr import features, gap, krr, laziness, train

    ds = load_data(cfg)
    if not cfg["target"] < ds.n_outputs:
        raise ConfigError(
            f"target must be in [0, {ds.n_outputs}) for data {ds.name}, got {cfg['target']}"
        )
    dtype = jnp.dtype(cfg["dtype"])
    x, xt = jnp.asarray(ds.x_train, jnp.float64), jnp.asarray(ds.x_test, jnp.float64)
    y = jnp.asarray(ds.y_train[:, cfg["target"]], jnp.float64)
    yt = jnp.asarray(ds.y_test[:, cfg["target"]], jnp.float64)
    lam, trn = cfg["lam"], cfg["train"]
    setup = {"two_layer": _two_layer_setup, "mlp": _mlp_setup}[cfg["model"]["kind"]](
        cfg, x, xt, dtype
    )
    mu = np.linalg.eigvalsh(np.asarray(setup.k_train))
    s_lambda = float(np.sum(mu / (mu + lam)))

    # Step size from the spectrum of kappa^2 K_m, horizon from that of kappa^2 K.
    lam_max = float(jnp.max(jnp.linalg.eigvalsh(setup.km_train)[:, -1]))
    lr = trn["learning_rate"] or train.step_size(lam_max, lam, trn["step_factor"])
    time_t = trn["time"] or train.horizon(float(mu[0]), lam, trn["horizon_c"])
    steps = math.ceil(time_t / lr)
    capped = steps > trn["max_steps"]
    steps = min(steps, trn["max_steps"])
    time_t = steps * lr
    tcfg = train.TrainConfig(
        lam=lam,
        learning_rate=lr,
        steps=steps,
        centre=cfg["regime"]["centre"],
        optimizer=trn["optimizer"],
        optimizer_kwargs=tuple(sorted(trn["optimizer_kwargs"].items())),
    )

    xd, yd, xtd = x.astype(dtype), y.astype(dtype), xt.astype(dtype)
    trained = {}
    for label, apply_fn, init in (
        ("network", setup.net_apply, setup.variables),
        ("linearised", setup.lin_apply, setup.lin_variables),
    ):
        report = None
        if progress is not None:
            report = lambda done, label=label: progress(label, done, steps)  # noqa: E731
        state = train.fit(apply_fn, init, xd, yd, tcfg, segments=trn["segments"], progress=report)
        final = {"params": state.params, "constants": init["constants"]}
        apply = jax.jit(jax.vmap(apply_fn, in_axes=(0, None)))
        trained[label] = (state, apply(final, xtd), apply(final, xd))
        if label == "network":
            f0_train, f0_test = apply(setup.variables, xd), apply(setup.variables, xtd)
            # per seed, on the test points where the gap is measured
            mass = apply(setup.abs_variables, xtd).astype(jnp.float64)
            abs_sum_rms = jnp.sqrt(jnp.mean(mass**2, axis=1))
    state, f_nn, f_nn_train = trained["network"]
    _, f_lin, _ = trained["linearised"]

    f_star, beta = _reference(setup.k_train, setup.k_test, y, lam)  # the exact target, once
    eps = features.spectral_epsilon(setup.k_train, setup.km_train, lam)  # one eigh of K
    base = _provenance(cfg, ds, setup.info)
    krr_test_mse = float(jnp.mean((f_star - yt) ** 2))
    f_star_rms = float(gap.rms(f_star))
    # Gap parts below this are round-off of the training dtype, not a trend: ROUNDOFF_ULPS
    # units in the last place of the larger of the target's RMS and the output sum's
    # absolute mass (per seed).
    ulp = float(jnp.finfo(dtype).eps)
    # The lazy prediction of the flips (nnkrr.laziness), for the paper's network, per seed:
    # from centre W(0) the data part of W fits the residual Y - f(W(0), X), from centre 0
    # the target Y while W(0) decays by exp(-lam T).
    flips_pred = [math.nan] * cfg["seeds"]
    if cfg["model"]["kind"] == "two_layer" and not cfg["model"]["train_readout"]:
        if cfg["regime"]["centre"] == "init":  # every seed's residual in one solve
            residuals = y[:, None] - f0_train.astype(jnp.float64).T
            betas, decay = krr.solve(setup.k_train, residuals, lam).T, 1.0
        else:
            betas, decay = [beta] * cfg["seeds"], math.exp(-lam * time_t)
        key = jax.random.fold_in(jax.random.key(cfg["seed"]), 2**30)
        for s in range(cfg["seeds"]):
            flips_pred[s] = laziness.predicted_flips(
                key,
                x,
                betas[s],
                kappa=cfg["regime"]["kappa"],
                width=cfg["model"]["width"],
                decay=decay,
            )
    rows = []
    for s in range(cfg["seeds"]):
        parts = gap.decompose(
            f_star=f_star,
            km_train=setup.km_train[s],
            km_test=setup.km_test[s],
            y=y,
            lam=lam,
            f0_train=f0_train[s].astype(jnp.float64),
            f0_test=f0_test[s].astype(jnp.float64),
            f_lin=f_lin[s].astype(jnp.float64),
            f_nn=f_nn[s].astype(jnp.float64),
            centre=cfg["regime"]["centre"],
        )
        p0 = jax.tree.map(lambda a, s=s: a[s], setup.variables["params"])
        pt = jax.tree.map(lambda a, s=s: a[s], state.params)
        flips = laziness.pattern_flips(xd, setup.first_layer(p0), setup.first_layer(pt))
        move = math.sqrt(_sum_sq(jax.tree.map(jnp.subtract, pt, p0)) / _sum_sq(p0))
        diverged = int(state.diverged_step[s]) >= 0
        rows.append(
            {
                **base,
                "init_seed": s,
                "learning_rate": lr,
                "steps": steps,
                "steps_capped": capped,
                "time_T": time_t,
                "lam_T": lam * time_t,
                "gap_max": float(jnp.max(jnp.abs(parts["total"]))),
                "gap_rms": float(gap.rms(parts["total"])),
                "gap_rel": float(gap.rms(parts["total"])) / f_star_rms,
                "f_star_rms": f_star_rms,
                "abs_sum_rms": float(abs_sum_rms[s]),
                "roundoff": ROUNDOFF_ULPS * ulp * max(f_star_rms, float(abs_sum_rms[s])),
                **{f"gap_{p}": float(gap.rms(parts[p])) for p in gap.PARTS},
                "spectral_eps": float(eps[s]),
                "s_lambda": s_lambda,
                "flatness": setup.info.get("flatness", math.nan),
                "weight_move": move,
                "pattern_flips": flips,
                "pattern_flips_pred": flips_pred[s],
                "nn_test_mse": float(jnp.mean((f_nn[s].astype(jnp.float64) - yt) ** 2)),
                "nn_train_mse": float(jnp.mean((f_nn_train[s].astype(jnp.float64) - y) ** 2)),
                "krr_test_mse": krr_test_mse,
                "status": "diverged" if diverged else "ok",
                "diverged_step": int(state.diverged_step[s]),
                "diverged_loss": float(state.diverged_loss[s]),
                "final_loss": float(state.loss[s]),
                "wall_s": time.perf_counter() - start,
            }
        )
    return pd.DataFrame(rows)
