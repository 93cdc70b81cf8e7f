r"""The configuration of every entry point, described once: typed schemas with defaults and docs.

Each key of ``experiments/sweep.py``, ``experiments/spectral.py`` and ``experiments/krr.py``
is a field of a dataclass below: its type, its default, its doc (``metadata["doc"]``) and its
range (``metadata["check"]``).  The same description

* composes the configs: :func:`register` stores the schemas in Hydra's ``ConfigStore``
  (the config groups ``data``, ``sampler``, ``regime``, ``train``, ``model`` and the
  entry points' base configs ``sweep_schema``, ``spectral_schema``, ``krr_schema``, which
  ``configs/<entry point>.yaml`` extends with Hydra's own settings);
* checks them: :func:`check` refuses unknown keys (``+model.widht=128`` included), values of
  the wrong type or out of range, and the cross-key rules, raising :class:`ConfigError`
  naming the key as typed on the command line;
* documents them: :func:`reference` writes the configuration reference;
* builds them in code, for notebooks::

    from nnkrr import config, experiment
    cfg = config.Sweep(data=config.Cone(n_train=64), model=config.TwoLayer(width=256),
                       sampler=config.LEVERAGE)
    rows = experiment.run(cfg)

or from command-line style overrides, :func:`compose` (Hydra's compose API)::

    cfg = config.compose(["model.width=256", "sampler=leverage"])
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import types
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from omegaconf import II, MISSING

__all__ = [
    "ConfigError",
    "Sweep",
    "Spectral",
    "KRR",
    "Synthetic",
    "Cone",
    "Real",
    "File",
    "Sampler",
    "Regime",
    "Train",
    "TwoLayer",
    "MLP",
    "DATA",
    "GAUSSIAN",
    "LEVERAGE",
    "LAZY",
    "PAPER",
    "check",
    "compose",
    "config_dir",
    "reference",
    "register",
]

DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A config value is invalid; the message starts with its key (``model.width: ...``)."""


def config_dir() -> Path:
    """The directory of the entry points' YAML configs (``sweep.yaml``, presets, launchers).

    Inside an installed wheel: ``nnkrr/configs`` (the wheel carries the checkout's top-level
    ``configs/`` there); in an editable install of a checkout: that ``configs/`` itself.
    """
    packaged = resources.files("nnkrr") / "configs"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / "configs"


# --------------------------------------------------------------------------- fields


def _f(default: Any, doc: str, check: Callable | None = None, *, factory: bool = False):
    """A schema field: its default, its doc and its range check (``check(value) -> what``,
    a description of the allowed values when ``value`` is out of range, else ``None``)."""
    meta = {"doc": doc, "check": check}
    if factory:
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _at_least(low: int) -> Callable:
    def check(value):
        return None if value >= low else f"an integer >= {low}"

    check.what = f">= {low}"
    return check


def _positive(value):
    return None if value > 0 else "> 0"


_positive.what = "> 0"


def _non_negative(value):
    return None if value >= 0 else ">= 0"


_non_negative.what = ">= 0"


def _below_two(value):
    return None if 0 < value < 2 else "in (0, 2)"


_below_two.what = "in (0, 2)"


def _one_of(*options: str) -> Callable:
    def check(value):
        return None if value in options else "one of " + ", ".join(options)

    check.what = "one of " + ", ".join(options)
    check.options = options
    return check


def _each_one_of(*options: str) -> Callable:
    def check(values):
        bad = [v for v in values if v not in options]
        return None if values and not bad else "a non-empty list of " + ", ".join(options)

    check.what = "a non-empty list of " + ", ".join(options)
    return check


def _each_at_least(low: int) -> Callable:
    def check(values):
        ok = values and all(v >= low for v in values)
        return None if ok else f"a non-empty list of integers >= {low}"

    check.what = f"a non-empty list of integers >= {low}"
    return check


# --------------------------------------------------------------------------- data

_SEED_DOC = "data seed (split, inputs and teacher); ${seed} follows the top-level seed"
_N_TRAIN_DOC = "training points (real and file data: null, three quarters of the rows)"
_N_TEST_DOC = "test points (real and file data: null, the rest)"


@dataclasses.dataclass
class Synthetic:
    """Uniform points on the unit sphere S^{dim-1}, smooth sum-of-sines teacher
    (:func:`nnkrr.data.synthetic`)."""

    _target_: str = "nnkrr.data.synthetic"
    seed: int = _f(II("seed"), _SEED_DOC, _at_least(0))
    n_train: int | None = _f(128, _N_TRAIN_DOC, _at_least(1))
    n_test: int | None = _f(128, _N_TEST_DOC, _at_least(1))
    dim: int = _f(8, "input dimension d", _at_least(2))
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", _non_negative)
    frequency: float = _f(2.0, "teacher y = k^-1/2 sum_j a_j sin(frequency v_j.x)", _positive)
    terms: int = _f(4, "k, the teacher's number of sine terms", _at_least(1))


@dataclasses.dataclass
class Cone:
    """Narrow cone(s) around unit centres: the ridge leverage function is far from flat
    (:func:`nnkrr.data.cone`)."""

    _target_: str = "nnkrr.data.cone"
    seed: int = _f(II("seed"), _SEED_DOC, _at_least(0))
    n_train: int | None = _f(128, _N_TRAIN_DOC, _at_least(1))
    n_test: int | None = _f(128, _N_TEST_DOC, _at_least(1))
    dim: int = _f(8, "input dimension d", _at_least(2))
    spread: float = _f(0.05, "angular width of each cone", _positive)
    clusters: int = _f(1, "number of cones (the first around e_1)", _at_least(1))
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", _non_negative)
    frequency: float = _f(1.0, "oscillations across a cone: omega = frequency / spread", _positive)
    terms: int = _f(4, "the teacher's number of sine terms", _at_least(1))


@dataclasses.dataclass
class Real:
    """A data set scikit-learn ships (no download): standardised inputs, centred targets
    (:mod:`nnkrr.data`: digits, wine, diabetes, breast_cancer)."""

    _target_: str = "nnkrr.data.digits"
    seed: int = _f(II("seed"), _SEED_DOC, _at_least(0))
    n_train: int | None = _f(128, _N_TRAIN_DOC, _at_least(1))
    n_test: int | None = _f(128, _N_TEST_DOC, _at_least(1))
    sphere: bool = _f(True, "project the (standardised) inputs to the unit sphere")
    standardise: bool = _f(True, "false: raw features (the data set is then named <name>_raw)")


@dataclasses.dataclass
class File:
    """Your own data: arrays from a ``.npz`` file (``x`` (n, d), ``y`` (n,) or (n, k); optional
    ``x_test``, ``y_test``) or a ``.csv`` file with a header (``columns`` names the targets, the
    other columns are the inputs) (:func:`nnkrr.data.from_file`)."""

    _target_: str = "nnkrr.data.from_file"
    path: str = _f(MISSING, "the .npz or .csv file (required: data.path=...)")
    columns: list[str] | None = _f(None, "target columns of a .csv file (required there)")
    test_path: str | None = _f(
        None, "a given test split (same format); null: a seeded split of path"
    )
    seed: int = _f(II("seed"), _SEED_DOC, _at_least(0))
    n_train: int | None = _f(None, _N_TRAIN_DOC, _at_least(1))
    n_test: int | None = _f(None, _N_TEST_DOC, _at_least(1))
    sphere: bool = _f(True, "project the (standardised) inputs to the unit sphere")
    standardise: bool = _f(True, "standardise inputs (training mean and std) and targets")


#: The ``data`` config group: option name -> its schema instance.
DATA: dict[str, Any] = {
    "synthetic": Synthetic(),
    "cone": Cone(),
    "digits": Real(),
    "digits_raw": Real(standardise=False),
    "wine": Real(_target_="nnkrr.data.wine", n_test=50),  # 178 samples
    "diabetes": Real(_target_="nnkrr.data.diabetes"),
    "breast_cancer": Real(_target_="nnkrr.data.breast_cancer"),
    "file": File(),
}
_DATA_SCHEMAS = {s._target_: type(s) for s in DATA.values()}


# --------------------------------------------------------------------------- sweep groups


@dataclasses.dataclass
class Sampler:
    """How the first-layer features are drawn (:func:`nnkrr.sampling.sample`)."""

    name: str = _f(
        "gaussian",
        "gaussian: w_r ~ N(0, I); leverage: w_r ~ q = tau_lam / s_lam",
        _one_of("gaussian", "leverage"),
    )
    method: str = _f(
        "iid",
        "gaussian: iid; leverage: rejection (exact) | sir",
        _one_of("iid", "rejection", "sir"),
    )
    pool_size: int | None = _f(None, "SIR pool (null: max(16 m, 65536))", _at_least(1))


GAUSSIAN = Sampler()
LEVERAGE = Sampler(name="leverage", method="rejection")


@dataclasses.dataclass
class Regime:
    """The training regime: the regulariser's centre, the init, the output scale."""

    name: str = _f("lazy", "the regime's name (recorded in every row)")
    centre: str = _f(
        "init",
        "theta_c in lam/2 ||theta - theta_c||^2: init (W(0)) | zero",
        _one_of("zero", "init"),
    )
    symmetric: bool = _f(True, "symmetric init: pairs (w, a), (w, -a), so f(W(0), .) = 0")
    kappa: float = _f(
        1.0, "output scale: f = kappa / sqrt(m) sum_r a_r c_r relu(w_r . x)", _positive
    )


#: Lazy regime: centre W(0), symmetric init, kappa = 1; the regulariser keeps W near W(0).
LAZY = Regime()
#: The paper's setting (Lee et al. 2020, Sec. 4): centre 0, independent signs, kappa = 0.1.
PAPER = Regime(name="paper", centre="zero", symmetric=False, kappa=0.1)


@dataclasses.dataclass
class Train:
    """Full-batch training with optax (:func:`nnkrr.train.fit`)."""

    optimizer: str = _f("sgd", "an optax factory taking the learning rate first: sgd, adam, ...")
    optimizer_kwargs: dict[str, Any] = _f(
        dict, "its other arguments, e.g. {momentum: 0.9}", factory=True
    )
    learning_rate: float | None = _f(
        None, "null: step_factor / (lambda_max(kappa^2 K_m) + lam), the stable GD step", _positive
    )
    step_factor: float = _f(1.0, "the step as a fraction of the stable one", _below_two)
    time: float | None = _f(
        None,
        "training time T = steps * eta; null: horizon_c / (mu_min(kappa^2 K) + lam)",
        _positive,
    )
    horizon_c: float = _f(
        5.0, "slowest linear mode at exp(-horizon_c) of its initial error", _positive
    )
    max_steps: int = _f(
        200000, "cap on steps = ceil(T / eta) (T shrinks, with a warning)", _at_least(1)
    )
    segments: int = _f(
        20, "compiled lax.scan segments (progress is reported between them)", _at_least(1)
    )


@dataclasses.dataclass
class TwoLayer:
    """The paper's network f(W, x) = kappa / sqrt(m) sum_r a_r c_r relu(w_r . x)
    (:class:`nnkrr.models.TwoLayerReLU`)."""

    kind: str = _f("two_layer", "the model (two_layer | mlp)", _one_of("two_layer", "mlp"))
    width: int = _f(
        1024, "m (with symmetric init: m / 2 sampled features, each used twice)", _at_least(1)
    )
    train_readout: bool = _f(False, "also train a_r: the target kernel adds kappa^2 arccos1")
    kernel: str | None = _f(
        None,
        "training path: fused | autodiff; null: nnkrr.models.resolve_kernel",
        _one_of("fused", "autodiff"),
    )
    chunk: int | None = _f(
        None,
        "neurons per block of the fused kernel; null: nnkrr.models.resolve_chunk",
        _at_least(1),
    )


@dataclasses.dataclass
class MLP:
    """A depth-L ReLU MLP in NTK parameterisation, Gaussian init (:class:`nnkrr.models.MLP`)."""

    kind: str = _f("mlp", "the model (two_layer | mlp)", _one_of("two_layer", "mlp"))
    width: int = _f(256, "hidden width", _at_least(1))
    depth: int = _f(2, "hidden layers L", _at_least(1))
    W_std: float = _f(1.0, "std of the weights (NTK parameterisation)", _positive)
    train_readout: bool = _f(True, "false: readout frozen (target: ntk - nngp)")


_MODEL_SCHEMAS = {"two_layer": TwoLayer, "mlp": MLP}

_LAM_DOC = (
    "ridge of the training loss and of f* = kappa^2 K (kappa^2 K + lam I)^-1 Y; "
    "kappa^2 * ridge unless given"
)


@dataclasses.dataclass
class Sweep:
    """One job of the width sweep (``experiments/sweep.py``, :func:`nnkrr.experiment.run`)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    sampler: Sampler = _f(
        Sampler, "the first-layer sampler (sampler=gaussian | leverage)", factory=True
    )
    regime: Regime = _f(Regime, "the training regime (regime=lazy | paper)", factory=True)
    train: Train = _f(Train, "training (train=gd)", factory=True)
    model: Any = _f(TwoLayer, "the network (model=two_layer | mlp)", factory=True)
    seed: int = _f(
        0, "data seed; feature/sign keys are fold_in(key(seed), s) for s < seeds", _at_least(0)
    )
    seeds: int = _f(3, "independent initialisations per job", _at_least(1))
    ridge: float = _f(
        0.1, "ridge on K: f* = K (K + ridge I)^-1 Y, the same in every regime", _positive
    )
    lam: float = _f(II("nnkrr.kappa2_times:${regime.kappa},${ridge}"), _LAM_DOC, _positive)
    target: int = _f(
        0, "column of Y to regress (multi-output data such as one-hot digits)", _at_least(0)
    )
    force: bool = _f(False, "recompute a job whose results.parquet exists (default: skip it)")
    dtype: str = _f(
        "float32", "training dtype; kernels, KRR references and eps are float64", _one_of(*DTYPES)
    )
    checkpoint_s: float | None = _f(
        300.0,
        "seconds of training between checkpoints in the job directory (0: every segment; "
        "null: none but at the launchers' pre-timeout signal); a restarted job resumes there",
        _non_negative,
    )


@dataclasses.dataclass
class Spectral:
    """Spectral error of random-feature kernels versus m (``experiments/spectral.py``)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    seed: int = _f(0, "data seed (split and teacher)", _at_least(0))
    lam: float = _f(0.01, "ridge of the leverage function and of eps", _positive)
    lam_per_point: float | None = _f(
        None,
        "the per-sample ridge family: lam = n_train * lam_per_point (then lam is not "
        "used); null: lam as given",
        _positive,
    )
    kernel: str = _f(
        "relu_ntk",
        "relu_ntk | arccos1 | rff_gaussian (nnkrr.features.KERNELS)",
        _one_of("relu_ntk", "arccos1", "rff_gaussian"),
    )
    samplers: list[str] = _f(
        lambda: ["gaussian", "leverage"],
        "the samplers compared",
        _each_one_of("gaussian", "leverage"),
        factory=True,
    )
    method: str = _f(
        "rejection", "leverage sampler: rejection (exact) | sir", _one_of("rejection", "sir")
    )
    pool_size: int | None = _f(None, "SIR pool (null: max(16 m, 65536))", _at_least(1))
    widths: list[int] = _f(
        lambda: [2**k for k in range(6, 15)],
        "the numbers of features m",
        _each_at_least(1),
        factory=True,
    )
    seeds: int = _f(5, "independent feature samples per (sampler, m)", _at_least(1))
    stop_below: float | None = _f(
        None,
        "stop a sampler's widths once its median eps over seeds is below this; null: every width",
        _positive,
    )
    delta: float = _f(
        0.1, "failure probability in the theory curves' log(s_lam / delta)", _positive
    )
    flatness_draws: int = _f(65536, "Gaussian draws estimating sup score / s_lam", _at_least(1))
    x64: bool = _f(True, "float64 kernels, sampling and eigendecompositions")
    force: bool = _f(False, "recompute a job whose spectral.parquet exists (default: skip it)")


@dataclasses.dataclass
class KRR:
    """Exact NTK kernel ridge regression on one data set (``experiments/krr.py``)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    seed: int = _f(0, "data seed (split and teacher)", _at_least(0))
    ridge: float = _f(0.1, "ridge on K: f* = K (K + ridge I)^-1 Y (as in the sweep)", _positive)
    kappa: float = _f(1.0, "output scale: f* = kappa^2 K(x, X) (kappa^2 K + lam I)^-1 Y", _positive)
    lam: float = _f(II("nnkrr.kappa2_times:${kappa},${ridge}"), _LAM_DOC, _positive)
    x64: bool = _f(True, "float64 kernels and Cholesky (float32 when false)")
    batch_size: int | None = _f(
        None, "nt.batch block side; null batches automatically for large n", _at_least(1)
    )


_ENTRY_POINTS = {"sweep": Sweep, "spectral": Spectral, "krr": KRR}


# --------------------------------------------------------------------------- Hydra


def kappa2_times(kappa: float, ridge: float) -> float:
    r"""The training ridge :math:`\lambda = \kappa^2 \cdot \mathrm{ridge}` that makes the target
    :math:`\kappa^2 K (\kappa^2 K + \lambda I)^{-1} Y = K (K + \mathrm{ridge}\, I)^{-1} Y`
    independent of :math:`\kappa` (the ``${nnkrr.kappa2_times:...}`` resolver)."""
    return round_15(float(kappa) ** 2 * float(ridge))


def per_point(n: int, ridge0: float) -> float:
    r"""The per-sample ridge family :math:`\lambda = n \lambda_0` (the
    ``${nnkrr.per_point:${data.n_train},lam0}`` resolver): with it the statistical dimension
    :math:`s_\lambda` of K settles as n grows (K's eigenvalues grow like n), where a fixed
    :math:`\lambda` lets it keep growing; ``experiments/spectral.py`` and the sweep's
    scaling presets run both families."""
    if n is None:
        raise ValueError("nnkrr.per_point needs data.n_train (null: the size is not known yet)")
    return round_15(int(n) * float(ridge0))


#: Characters a job directory's name keeps from its overrides (``key=value,...``); any run
#: of others (``/`` of a path, spaces, quotes, brackets, ``$``, ``:``) becomes ``_``.
_SAFE = re.compile(r"[^A-Za-z0-9._,=+-]+")
_NAME_MAX = 120  # characters before the hash: well under the 255 bytes a file name may have


def job_dir(override_dirname: str) -> str:
    """A job directory's name from Hydra's ``override_dirname`` (the ``${nnkrr.job_dir:...}``
    resolver of ``hydra.sweep.subdir``): one folder whatever the values hold.

    Names of plain overrides (``model.width=64,sampler=leverage``) stay as they are; where a
    character had to be replaced (``data.path=../data/mine.npz``) or the name was cut to
    120 characters, ``~`` and 10 hex digits of the SHA-256 of the full overrides are
    appended, so that two jobs never share a folder and a re-run of the sweep finds its jobs.

    >>> job_dir("data.path=../data/mine.npz,model.width=64")
    'data.path=.._data_mine.npz,model.width=64~26d6534a07'
    """
    import hashlib

    name = _SAFE.sub("_", str(override_dirname)) or "job"
    if name != override_dirname or len(name) > _NAME_MAX:
        digest = hashlib.sha256(str(override_dirname).encode()).hexdigest()[:10]
        name = f"{name[:_NAME_MAX]}~{digest}"
    return name


def round_15(value: float) -> float:
    """To 15 significant digits: 0.1**2 * 0.1 is 0.001 here, not 0.0010000000000000002."""
    return float(f"{value:.15g}")


def register() -> None:
    """Store the schemas in Hydra's ``ConfigStore`` and the ``nnkrr.kappa2_times``,
    ``nnkrr.per_point`` and ``nnkrr.job_dir`` resolvers in omegaconf (idempotent; done on
    import of this module)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("nnkrr.kappa2_times", kappa2_times, replace=True)
    OmegaConf.register_new_resolver("nnkrr.per_point", per_point, replace=True)
    OmegaConf.register_new_resolver("nnkrr.job_dir", job_dir, replace=True)
    cs = ConfigStore.instance()
    for name, node in DATA.items():
        cs.store(group="data", name=name, node=node)
    cs.store(group="sampler", name="gaussian", node=GAUSSIAN)
    cs.store(group="sampler", name="leverage", node=LEVERAGE)
    cs.store(group="regime", name="lazy", node=LAZY)
    cs.store(group="regime", name="paper", node=PAPER)
    cs.store(group="train", name="gd", node=Train())
    cs.store(group="model", name="two_layer", node=TwoLayer())
    cs.store(group="model", name="mlp", node=MLP())
    for name, schema in _ENTRY_POINTS.items():
        # The base of configs/<name>.yaml, whose defaults list picks the groups' options.
        base = OmegaConf.structured(schema)
        for field in dataclasses.fields(schema):
            if field.name in _GROUPS:
                base[field.name] = MISSING
        cs.store(name=f"{name}_schema", node=base)


#: The config groups (``configs/<entry>.yaml``'s defaults list chooses one option each).
_GROUPS = ("data", "sampler", "regime", "train", "model")


register()


def compose(overrides: Sequence[str] = (), config_name: str = "sweep") -> dict:
    """The composed ``<config_name>`` config with command-line style overrides, as a plain
    resolved dict (Hydra's compose API: no job, no output directory; for notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        try:
            cfg = hydra_compose(config_name, overrides=list(overrides))
        except HydraException as err:  # a bad override: one line naming the key
            raise ConfigError(one_line(err)) from None
        return plain(cfg)


def plain(cfg) -> dict:
    """A resolved plain ``dict`` from a DictConfig, a schema instance or a (possibly
    interpolated) dict; a job's ``hydra`` node is left out."""
    from omegaconf import DictConfig, OmegaConf

    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = OmegaConf.structured(cfg)
    elif not isinstance(cfg, DictConfig):
        if not isinstance(cfg, Mapping):
            raise ConfigError(
                f"cfg: expected a DictConfig, a dict or a config.Sweep, got {type(cfg).__name__}"
            )
        cfg = OmegaConf.create(dict(cfg))
    keep = [k for k in cfg if k not in ("hydra", "defaults")]
    cfg = OmegaConf.masked_copy(cfg, keep)
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{err.full_key} must be given ({err.full_key}=...)") from None
    except OmegaConfBaseException as err:  # an interpolation that does not resolve
        raise ConfigError(one_line(err)) from None


#: Config options that come with an optional dependency (their Hydra plugin): the launchers
#: under ``configs/hydra/launcher/`` build on them.
EXTRA_OPTIONS = {
    "hydra/launcher/submitit_slurm": ("hydra-submitit-launcher", "slurm, slurm_gpu"),
    "hydra/launcher/submitit_local": ("hydra-submitit-launcher", "slurm_local"),
    "hydra/launcher/joblib": ("hydra-joblib-launcher", "parallel"),
}


def one_line(err: BaseException) -> str:
    """An omegaconf or Hydra error as one line naming the key: ``key: message``."""
    from hydra.errors import MissingConfigException

    missing = getattr(err, "missing_cfg_file", None)
    if isinstance(err, MissingConfigException) and missing in EXTRA_OPTIONS:
        package, ours = EXTRA_OPTIONS[missing]
        return (
            f"hydra/launcher: the {ours} launcher needs {package}, which is not installed "
            "(the `cluster` extra: pip install 'nnkrr[cluster]', or uv sync --extra cluster)"
        )
    if isinstance(err, MissingConfigException) and missing and "/" in missing:
        group, option = missing.rsplit("/", 1)
        known = ", ".join(sorted(getattr(err, "options", None) or []))
        return f"{group}={option}: no such option" + (f" ({group} has {known})" if known else "")
    while err.__cause__ is not None and not getattr(err, "full_key", None):
        err = err.__cause__
    schema, key = getattr(err, "object_type", None), getattr(err, "full_key", None)
    if (
        key
        and dataclasses.is_dataclass(schema)
        and str(getattr(err, "key", "")) not in {f.name for f in dataclasses.fields(schema)}
    ):  # `model.widht=128` (no `+`) reads as `+model.widht=128` does
        return _unknown_key(key, schema)
    lines = [line.strip() for line in str(getattr(err, "msg", None) or err).strip().splitlines()]
    message = lines[0]
    if message.endswith(":") and len(lines) > 1:  # "… raised while composing config:" + why
        message = f"{message} {lines[1]}"
    key = getattr(err, "full_key", None)
    return f"{key}: {message}" if key else message


# --------------------------------------------------------------------------- checks


def _optional(hint) -> tuple[Any, bool]:
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return inner, True
    return hint, False


def _type_ok(hint, value) -> tuple[bool, str]:
    """Whether ``value`` has the field type ``hint``, and how the type reads in a message."""
    if hint is bool:
        return isinstance(value, bool), "true or false"
    if hint is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return ok, "an integer"
    if hint is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok and math.isfinite(value), "a finite number"
    if hint is str:
        return isinstance(value, str), "a string"
    origin = get_origin(hint)
    if origin is list:
        (item,) = get_args(hint)
        ok = isinstance(value, list | tuple) and all(_type_ok(item, v)[0] for v in value)
        return ok, f"a list of {_type_ok(item, None)[1].removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return isinstance(value, Mapping), "a mapping such as {momentum: 0.9}"
    return True, "any"


def _schema_of(entry: type, key: str, node: Mapping) -> type | None:
    """The schema of a group node: data by its ``_target_``, model by its ``kind``."""
    if key == "data":
        target = node.get("_target_")
        if target not in _DATA_SCHEMAS:
            raise ConfigError(
                f"data._target_ must be one of {', '.join(_DATA_SCHEMAS)}, got {target!r}"
            )
        return _DATA_SCHEMAS[target]
    if key == "model":
        kind = node.get("kind")
        if kind not in _MODEL_SCHEMAS:
            raise ConfigError(f"model.kind must be one of two_layer, mlp, got {kind!r}")
        return _MODEL_SCHEMAS[kind]
    hint = get_type_hints(entry)[key]
    return hint if dataclasses.is_dataclass(hint) else None


def _unknown_key(key: str, schema: type) -> str:
    """``model.widht: unknown key (model has chunk, kernel, ...)``: the refusal of a key
    ``schema`` does not have, listing the keys it has (a top-level key: none listed)."""
    parent = key.rpartition(".")[0]
    if not parent:
        return f"{key}: unknown key"
    known = sorted(f.name for f in dataclasses.fields(schema) if f.name != "defaults")
    return f"{key}: unknown key ({parent} has {', '.join(known)})"


def _check_node(schema: type, node: Mapping, prefix: str) -> None:
    hints = get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.name != "defaults"}
    for key in node:
        if key not in fields:
            raise ConfigError(_unknown_key(f"{prefix}{key}", schema))
    for name, field in fields.items():
        key = f"{prefix}{name}"
        if name not in node:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise ConfigError(f"{key}: missing from the config")
            continue
        value = node[name]
        hint, optional = _optional(hints[name])
        sub = (
            _schema_of(schema, name, value)
            if name in ("data", "model") and not prefix
            else (hint if dataclasses.is_dataclass(hint) else None)
        )
        if sub is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a {name} config ({name}=...), got {value!r}")
            _check_node(sub, value, f"{key}.")
            continue
        if value is None:
            if optional:
                continue
            raise ConfigError(f"{key} must be given (not null)")
        ok, what = _type_ok(hint, value)
        rule = field.metadata.get("check")
        if ok and (rule is None or rule(value) is None):
            continue
        if rule is not None:
            plain_rule = getattr(rule, "options", None) or what.startswith("a list")
            what = rule.what if plain_rule or what == "a string" else f"{what} {rule.what}"
        raise ConfigError(f"{key} must be {what}{' or null' if optional else ''}, got {value!r}")


def default(entry: str, cfg: Mapping, key: str) -> Any:
    """The schema's default of dotted ``key`` in a config of entry point ``entry`` (the
    ``data`` and ``model`` nodes by their ``_target_``/``kind`` in ``cfg``), or
    :data:`dataclasses.MISSING` where the schema has none (a required key, an unknown one).

    >>> default("sweep", compose(["data=cone"]), "data.n_train")
    128
    """
    value: Any = _ENTRY_POINTS[entry]()
    for depth, part in enumerate(key.split(".")):
        names = (
            {f.name for f in dataclasses.fields(value)} if dataclasses.is_dataclass(value) else ()
        )
        if part not in names:
            return dataclasses.MISSING
        node = cfg.get(part) if depth == 0 else None
        if part in ("data", "model") and isinstance(node, Mapping):  # the option cfg chose
            try:
                value = _schema_of(type(value), part, node)()
            except ConfigError:
                return dataclasses.MISSING
        else:
            value = getattr(value, part)
    if value == MISSING:  # a required key ("???")
        return dataclasses.MISSING
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def check(cfg, entry: str = "sweep") -> dict:
    """Check a config of entry point ``entry`` (``sweep``, ``spectral``, ``krr``) against its
    schema and the cross-key rules; return it as a resolved plain dict.

    Every key is checked for its declared type and range; unknown keys are refused (also
    those added with ``+``), and so are the combinations the code cannot run (leverage
    sampling of an MLP, an odd width with symmetric init, a sampling method of the other
    sampler, an optimizer optax does not have).

    Raises:
      ConfigError: naming the first invalid key as typed on the command line, e.g.
        ``model.width must be an integer >= 1, got 0``.
    """
    cfg = plain(cfg)
    _check_node(_ENTRY_POINTS[entry], cfg, "")
    if entry == "sweep":
        _cross_check_sweep(cfg)
    return cfg


def _cross_check_sweep(cfg: dict) -> None:
    import optax

    smp, mdl, reg, trn = cfg["sampler"], cfg["model"], cfg["regime"], cfg["train"]
    methods = ("iid",) if smp["name"] == "gaussian" else ("rejection", "sir")
    if smp["method"] not in methods:
        raise ConfigError(
            f"sampler.method must be one of {', '.join(methods)} with "
            f"sampler.name={smp['name']}, got {smp['method']!r}"
        )
    if mdl["kind"] == "mlp" and smp["name"] != "gaussian":
        raise ConfigError(
            "sampler must be gaussian for model=mlp (leverage sampling is "
            f"defined for the two-layer network), got {smp['name']!r}"
        )
    if mdl["kind"] == "two_layer" and reg["symmetric"] and mdl["width"] % 2:
        raise ConfigError(
            "model.width must be even with regime.symmetric=true (pairs (w, a), "
            f"(w, -a)), got {mdl['width']!r}"
        )
    name = trn["optimizer"]
    if name.startswith("_") or not callable(getattr(optax, name, None)):
        raise ConfigError(
            f"train.optimizer must be the name of an optax optimizer (sgd, adam, ...), got {name!r}"
        )


# --------------------------------------------------------------------------- reference


def _yaml(value) -> str:
    """A default as one writes it in YAML or on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def reference() -> str:
    """The configuration reference in Markdown: every key of every entry point and config
    group, with its type, default and doc, generated from the schemas above (the site's
    configuration page, written at each build by ``docs/hooks.py``)."""

    def cell(text: str) -> str:
        text = re.sub(r":(?:func|class|mod|data|meth):`~?([^`]+)`", r"`\1`", str(text))
        return " ".join(text.replace("``", "`").split()).replace("|", "\\|")

    def type_name(hint) -> str:
        inner, optional = _optional(hint)
        name = str(inner) if get_origin(inner) else getattr(inner, "__name__", str(inner))
        name = name.replace("typing.", "")
        return f"{name} or null" if optional else name

    def table(schema: type, default) -> list[str]:
        hints = get_type_hints(schema)
        out = ["| key | type | default | doc |", "|---|---|---|---|"]
        for f in dataclasses.fields(schema):
            if f.name == "_target_" or f.name in _GROUPS:
                continue
            value = getattr(default, f.name)
            shown = "(required)" if value == MISSING else f"`{cell(_yaml(value))}`"
            out.append(
                f"| `{f.name}` | {cell(type_name(hints[f.name]))} | {shown} | "
                f"{cell(f.metadata.get('doc', ''))} |"
            )
        return out

    lines = [
        "# Configuration reference",
        "",
        "Generated from the typed schemas of `nnkrr/config.py` by `nnkrr.config.reference()`;",
        "do not edit by hand. Each key is set on the command line as `key=value` (nested keys",
        "with dots: `model.width=256`); config groups are chosen as `group=option`.",
        "",
    ]
    for name, schema in _ENTRY_POINTS.items():
        groups = [f.name for f in dataclasses.fields(schema) if f.name in _GROUPS]
        lines += [f"## `{name}` (`experiments/{name}.py`)", "", cell(schema.__doc__), ""]
        lines += [f"Config groups: {', '.join(f'`{g}`' for g in groups)} (below).", ""]
        lines += table(schema, schema()) + [""]
    options = [
        ("data", DATA),
        ("sampler", {"gaussian": GAUSSIAN, "leverage": LEVERAGE}),
        ("regime", {"lazy": LAZY, "paper": PAPER}),
        ("train", {"gd": Train()}),
        ("model", {"two_layer": TwoLayer(), "mlp": MLP()}),
    ]
    for group, choices in options:
        for option, node in choices.items():
            target = getattr(node, "_target_", None)
            where = f" (`{target}`)" if target else ""
            lines += [f"## `{group}={option}`{where}", "", cell(type(node).__doc__), ""]
            lines += table(type(node), node) + [""]
    return "\n".join(lines)


def check_spectral(cfg) -> dict:
    """:func:`check` for ``experiments/spectral.py``."""
    return check(cfg, "spectral")


def check_krr(cfg) -> dict:
    """:func:`check` for ``experiments/krr.py``."""
    return check(cfg, "krr")
