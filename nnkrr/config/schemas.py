"""The config schemas: one typed dataclass per config group option and entry point, each field
with its default, its doc (``metadata["doc"]``) and its range rule (``metadata["check"]``, a
:class:`nnkrr.rules.Rule`).  Nothing here runs: :mod:`nnkrr.config.checks` checks a config
against these, :mod:`nnkrr.config.store` registers them with Hydra, :mod:`nnkrr.config.reference`
documents them.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from omegaconf import II, MISSING

from nnkrr import data as data_lib
from nnkrr import rules
from nnkrr.krr import NYSTROM_RANK, SOLVERS
from nnkrr.rules import POSITIVE, Rule, at_least, each_at_least, each_one_of, one_of
from nnkrr.sampling import METHODS, SAMPLERS

DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """A config value is invalid; the message starts with its key (``model.width: ...``)."""


def _f(default: Any, doc: str, check: Rule | None = None, *, factory: bool = False):
    """A schema field: its default, its doc and its range rule."""
    meta = {"doc": doc, "check": check}
    if factory:
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _loader_default(loader, name: str):
    """The default of ``loader``'s argument ``name``: a data set's sizes are stated once, in
    :mod:`nnkrr.data`."""
    return inspect.signature(loader).parameters[name].default


# --------------------------------------------------------------------------- data

_SEED_DOC = "data seed (split, inputs and teacher); ${seed} follows the top-level seed"
_N_TRAIN_DOC = "training points (real and file data: null, three quarters of the rows)"
_N_TEST_DOC = "test points (real and file data: null, the rest)"
_NESTED_DOC = (
    "true: training sets nested across n_train with one teacher and test set (a study "
    "across n); false: one stream, the teacher changes with n_train"
)


@dataclasses.dataclass
class Synthetic:
    """Uniform points on the unit sphere S^{dim-1}, smooth sum-of-sines teacher
    (:func:`nnkrr.data.synthetic`)."""

    _target_: str = "nnkrr.data.synthetic"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(
        _loader_default(data_lib.synthetic, "n_train"), _N_TRAIN_DOC, at_least(1)
    )
    n_test: int | None = _f(_loader_default(data_lib.synthetic, "n_test"), _N_TEST_DOC, at_least(1))
    dim: int = _f(8, "input dimension d", at_least(2))
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", rules.NON_NEGATIVE)
    frequency: float = _f(2.0, "teacher y = k^-1/2 sum_j a_j sin(frequency v_j.x)", POSITIVE)
    terms: int = _f(4, "k, the teacher's number of sine terms", at_least(1))
    nested: bool = _f(False, _NESTED_DOC)


@dataclasses.dataclass
class Cone:
    """Narrow cone(s) around unit centres: the ridge leverage function is far from flat
    (:func:`nnkrr.data.cone`)."""

    _target_: str = "nnkrr.data.cone"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(_loader_default(data_lib.cone, "n_train"), _N_TRAIN_DOC, at_least(1))
    n_test: int | None = _f(_loader_default(data_lib.cone, "n_test"), _N_TEST_DOC, at_least(1))
    dim: int = _f(8, "input dimension d", at_least(2))
    spread: float = _f(0.05, "angular width of each cone", POSITIVE)
    clusters: int = _f(1, "number of cones (the first around e_1)", at_least(1))
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", rules.NON_NEGATIVE)
    frequency: float = _f(1.0, "oscillations across a cone: omega = frequency / spread", POSITIVE)
    terms: int = _f(4, "the teacher's number of sine terms", at_least(1))
    nested: bool = _f(False, _NESTED_DOC)


@dataclasses.dataclass
class Anisotropic:
    """An anisotropic Gaussian (standard deviations j^-decay) projected to the sphere, the
    sphere's teacher (:func:`nnkrr.data.anisotropic`)."""

    _target_: str = "nnkrr.data.anisotropic"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(
        _loader_default(data_lib.anisotropic, "n_train"), _N_TRAIN_DOC, at_least(1)
    )
    n_test: int | None = _f(
        _loader_default(data_lib.anisotropic, "n_test"), _N_TEST_DOC, at_least(1)
    )
    dim: int = _f(8, "input dimension d", at_least(2))
    decay: float = _f(1.0, "standard deviation j^-decay along axis j", rules.NON_NEGATIVE)
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", rules.NON_NEGATIVE)
    frequency: float = _f(2.0, "teacher y = k^-1/2 sum_j a_j sin(frequency v_j.x)", POSITIVE)
    terms: int = _f(4, "k, the teacher's number of sine terms", at_least(1))
    nested: bool = _f(False, _NESTED_DOC)


@dataclasses.dataclass
class Manifold:
    """Points near a curved low-dimensional manifold, projected to the sphere; the teacher
    reads the latent point (:func:`nnkrr.data.manifold`)."""

    _target_: str = "nnkrr.data.manifold"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(
        _loader_default(data_lib.manifold, "n_train"), _N_TRAIN_DOC, at_least(1)
    )
    n_test: int | None = _f(_loader_default(data_lib.manifold, "n_test"), _N_TEST_DOC, at_least(1))
    dim: int = _f(8, "input dimension d (> intrinsic)", at_least(2))
    intrinsic: int = _f(1, "the manifold's dimension (latent t on S^intrinsic)", at_least(1))
    curvature: float = _f(2.0, "frequency of the random Fourier embedding", POSITIVE)
    thickness: float = _f(0.0, "std of the Gaussian offset from the manifold", rules.NON_NEGATIVE)
    noise: float = _f(0.0, "std of Gaussian noise on the training targets", rules.NON_NEGATIVE)
    frequency: float = _f(2.0, "teacher y = k^-1/2 sum_j a_j sin(frequency v_j.t)", POSITIVE)
    terms: int = _f(4, "k, the teacher's number of sine terms", at_least(1))
    nested: bool = _f(False, _NESTED_DOC)


@dataclasses.dataclass
class Real:
    """A data set scikit-learn ships (no download): standardised inputs, centred targets
    (:mod:`nnkrr.data`: digits, wine, diabetes, breast_cancer)."""

    _target_: str = "nnkrr.data.digits"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(128, _N_TRAIN_DOC, at_least(1))
    n_test: int | None = _f(128, _N_TEST_DOC, at_least(1))
    sphere: bool = _f(True, "project the (standardised) inputs to the unit sphere")
    standardise: bool = _f(True, "false: raw features (the data set is then named <name>_raw)")


@dataclasses.dataclass
class MNIST1D:
    """MNIST-1D (Greydanus & Kalai 2024), generated offline from one cached pool per seed:
    nested training prefixes, a fixed test set, one-hot centred targets
    (:func:`nnkrr.data.mnist1d`)."""

    _target_: str = "nnkrr.data.mnist1d"
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(
        _loader_default(data_lib.mnist1d, "n_train"), _N_TRAIN_DOC, at_least(1)
    )
    n_test: int | None = _f(_loader_default(data_lib.mnist1d, "n_test"), _N_TEST_DOC, at_least(1))
    sphere: bool = _f(True, "project the (standardised) inputs to the unit sphere")
    standardise: bool = _f(True, "false: the generator's scale (the data set is then mnist1d_raw)")
    pool: int = _f(
        data_lib.MNIST1D_POOL,
        "signals drawn per seed (a multiple of 10; the last tenth is the test set)",
        at_least(20),
    )


@dataclasses.dataclass
class File:
    """Your own data: arrays from a ``.npz`` file (``x`` (n, d), ``y`` (n,) or (n, k); optional
    ``x_test``, ``y_test``), a folder of ``.npy`` files of those names (memory-mapped) or a
    ``.csv`` file with a header (``columns`` names the targets, the
    other columns are the inputs) (:func:`nnkrr.data.from_file`)."""

    _target_: str = "nnkrr.data.from_file"
    path: str = _f(MISSING, "the .npz or .csv file or .npy folder (required: data.path=...)")
    columns: list[str] | None = _f(None, "target columns of a .csv file (required there)")
    test_path: str | None = _f(
        None, "a given test split (same format); null: a seeded split of path"
    )
    seed: int = _f(II("seed"), _SEED_DOC, at_least(0))
    n_train: int | None = _f(None, _N_TRAIN_DOC, at_least(1))
    n_test: int | None = _f(None, _N_TEST_DOC, at_least(1))
    sphere: bool = _f(True, "project the (standardised) inputs to the unit sphere")
    standardise: bool = _f(True, "standardise inputs (training mean and std) and targets")


#: The ``data`` config group: option name -> its schema instance.
DATA: dict[str, Any] = {
    "synthetic": Synthetic(),
    "cone": Cone(),
    "cone_wide": Cone(spread=0.25),  # a wider cone: a flatter leverage function
    "clusters": Cone(clusters=4, spread=0.1),  # four cones
    "anisotropic": Anisotropic(),
    "manifold": Manifold(),
    "digits": Real(),
    "digits_raw": Real(standardise=False),
    "wine": Real(_target_="nnkrr.data.wine", n_test=50),  # 178 samples
    "wine_raw": Real(_target_="nnkrr.data.wine", n_test=50, standardise=False),
    "diabetes": Real(_target_="nnkrr.data.diabetes"),
    "diabetes_raw": Real(_target_="nnkrr.data.diabetes", standardise=False),
    "breast_cancer": Real(_target_="nnkrr.data.breast_cancer"),
    "breast_cancer_raw": Real(_target_="nnkrr.data.breast_cancer", standardise=False),
    "mnist1d": MNIST1D(),
    "file": File(),
}
DATA_SCHEMAS = {s._target_: type(s) for s in DATA.values()}


# --------------------------------------------------------------------------- sweep groups


@dataclasses.dataclass
class Sampler:
    """How the first-layer features are drawn (:func:`nnkrr.sampling.sample`)."""

    name: str = _f(
        "gaussian",
        "gaussian: w_r ~ N(0, I); leverage: w_r ~ q = tau_lam / s_lam",
        one_of(*SAMPLERS),
    )
    method: str = _f(
        "iid",
        "gaussian: iid; leverage: rejection (exact) | sir",
        one_of("iid", *METHODS),
    )
    pool_size: int | None = _f(None, "SIR pool (null: max(16 m, 65536))", at_least(1))


GAUSSIAN = Sampler()
LEVERAGE = Sampler(name="leverage", method="rejection")


@dataclasses.dataclass
class Regime:
    """The training regime: the regulariser's centre, the init, the output scale."""

    name: str = _f("lazy", "the regime's name (recorded in every row)")
    centre: str = _f(
        "init",
        "theta_c in lam/2 ||theta - theta_c||^2: init (W(0)) | zero",
        rules.CENTRE,
    )
    symmetric: bool = _f(True, "symmetric init: pairs (w, a), (w, -a), so f(W(0), .) = 0")
    kappa: float = _f(
        1.0, "output scale: f = kappa / sqrt(m) sum_r a_r c_r relu(w_r . x)", POSITIVE
    )


#: Lazy regime: centre W(0), symmetric init, kappa = 1; the regulariser keeps W near W(0).
LAZY = Regime()
#: The paper's setting (Lee et al. 2020, Sec. 4): centre 0, independent signs, kappa = 0.1.
PAPER = Regime(name="paper", centre="zero", symmetric=False, kappa=0.1)


@dataclasses.dataclass
class Train:
    """Full-batch training with optax (:func:`nnkrr.train.fit`)."""

    optimizer: str = _f(
        "sgd", "an optax factory taking the learning rate first: sgd, adam, ...", rules.OPTIMIZER
    )
    optimizer_kwargs: dict[str, Any] = _f(
        dict, "its other arguments, e.g. {momentum: 0.9}", factory=True
    )
    learning_rate: float | None = _f(
        None, "null: step_factor / (lambda_max(kappa^2 K_m) + lam), the stable GD step", POSITIVE
    )
    step_factor: float = _f(1.0, "the step as a fraction of the stable one", rules.STEP_FACTOR)
    time: float | None = _f(
        None,
        "training time T = steps * eta; null: horizon_c / (mu_min(kappa^2 K) + lam)",
        POSITIVE,
    )
    horizon_c: float = _f(
        5.0, "slowest linear mode at exp(-horizon_c) of its initial error", POSITIVE
    )
    max_steps: int = _f(
        200000, "cap on steps = ceil(T / eta) (T shrinks, with a warning)", at_least(1)
    )
    segments: int = _f(
        20, "compiled lax.scan segments (progress is reported between them)", at_least(1)
    )


#: ``model.kind``: the kinds of nnkrr.models.KINDS (each with its schema, MODEL_SCHEMAS below).
_KIND = one_of("two_layer", "mlp")


@dataclasses.dataclass
class TwoLayer:
    """The paper's network f(W, x) = kappa / sqrt(m) sum_r a_r c_r relu(w_r . x)
    (:class:`nnkrr.models.TwoLayerReLU`)."""

    kind: str = _f("two_layer", "the model (two_layer | mlp)", _KIND)
    width: int = _f(
        1024, "m (with symmetric init: m / 2 sampled features, each used twice)", at_least(1)
    )
    train_readout: bool = _f(False, "also train a_r: the target kernel adds kappa^2 arccos1")
    backprop: str | None = _f(
        None,
        "the forward and backward passes: fused (one pass over W's blocks) | autodiff "
        "(jax.grad); null: nnkrr.models.resolve_backprop",
        one_of("fused", "autodiff"),
    )
    chunk: int | None = _f(
        None,
        "neurons per block of the fused pass; null: nnkrr.models.resolve_chunk",
        at_least(1),
    )


@dataclasses.dataclass
class MLP:
    """A depth-L ReLU MLP in NTK parameterisation, Gaussian init (:class:`nnkrr.models.MLP`)."""

    kind: str = _f("mlp", "the model (two_layer | mlp)", _KIND)
    width: int = _f(256, "hidden width", at_least(1))
    depth: int = _f(2, "hidden layers L", at_least(1))
    W_std: float = _f(1.0, "std of the weights (NTK parameterisation)", POSITIVE)
    train_readout: bool = _f(True, "false: readout frozen (target: ntk - nngp)")


MODEL_SCHEMAS = {"two_layer": TwoLayer, "mlp": MLP}


def _solver_field(stored: str):
    """The ``solver`` key of the entry points that solve NTK-KRR (one doc, one rule)."""
    return _f(
        "auto",
        f"cholesky ({stored}) | cg (matrix-free: nnkrr.krr.solve_cg, Nystrom-preconditioned) | "
        "auto: cholesky while K and its factor fit half the device's memory and, on CPUs, n is "
        "below the measured crossover (nnkrr.krr.choose_solver)",
        one_of(*SOLVERS),
    )


def _rank_field():
    return _f(NYSTROM_RANK, "cg: landmarks of its Nystrom preconditioner (at most n)", at_least(1))


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
        0, "data seed; feature/sign keys are fold_in(key(seed), s) for s < seeds", at_least(0)
    )
    seeds: int = _f(3, "independent initialisations per job", at_least(1))
    ridge: float = _f(
        0.1,
        "ridge on K: f* = K (K + ridge I)^-1 Y, the same in every regime; the training ridge "
        "is lam = regime.kappa^2 * ridge (nnkrr.scale.Scale)",
        POSITIVE,
    )
    target: int = _f(
        0, "column of Y to regress (multi-output data such as one-hot digits)", at_least(0)
    )
    force: bool = _f(False, "recompute a job whose results.parquet exists (default: skip it)")
    dtype: str = _f(
        "float32", "training dtype; kernels, KRR references and eps are float64", one_of(*DTYPES)
    )
    solver: str = _solver_field(
        "K, K_m and their factors stored; spectral_eps exact. cg holds nothing n x n: K_m by "
        "feature matvecs, s_lambda estimated, spectral_eps NaN"
    )
    rank: int = _rank_field()
    checkpoint_s: float | None = _f(
        300.0,
        "seconds of training between checkpoints in the job directory (0: every segment; "
        "null: none but at the launchers' pre-timeout signal); a restarted job resumes there",
        rules.NON_NEGATIVE,
    )


@dataclasses.dataclass
class Spectral:
    """Spectral error of random-feature kernels versus m (``experiments/spectral.py``)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    seed: int = _f(0, "data seed (split and teacher)", at_least(0))
    ridge: float = _f(
        0.01,
        "ridge lambda on K of the leverage function and of eps (no output scale here)",
        POSITIVE,
    )
    ridge_per_point: float | None = _f(
        None,
        "the per-sample ridge family: lambda = n_train * ridge_per_point (then ridge is not "
        "used); null: ridge as given",
        POSITIVE,
    )
    kernel: str = _f(
        "relu_ntk",
        "relu_ntk | arccos1 | rff_gaussian (nnkrr.features.KERNELS)",
        one_of("relu_ntk", "arccos1", "rff_gaussian"),
    )
    samplers: list[str] = _f(
        lambda: list(SAMPLERS),
        "the samplers compared",
        each_one_of(*SAMPLERS),
        factory=True,
    )
    method: str = _f("rejection", "leverage sampler: rejection (exact) | sir", one_of(*METHODS))
    pool_size: int | None = _f(None, "SIR pool (null: max(16 m, 65536))", at_least(1))
    widths: list[int] = _f(
        lambda: [2**k for k in range(6, 15)],
        "the numbers of features m",
        each_at_least(1),
        factory=True,
    )
    seeds: int = _f(5, "independent feature samples per (sampler, m)", at_least(1))
    stop_below: float | None = _f(
        None,
        "stop a sampler's widths once its median eps over seeds is below this; null: every width",
        POSITIVE,
    )
    delta: float = _f(0.1, "failure probability in the theory curves' log(s_lam / delta)", POSITIVE)
    flatness_draws: int = _f(65536, "Gaussian draws estimating sup score / s_lam", at_least(1))
    x64: bool = _f(True, "float64 kernels, sampling and eigendecompositions")
    force: bool = _f(False, "recompute a job whose spectral.parquet exists (default: skip it)")


@dataclasses.dataclass
class KRR:
    """Exact NTK kernel ridge regression on one data set (``experiments/krr.py``)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    seed: int = _f(0, "data seed (split and teacher)", at_least(0))
    ridge: float = _f(0.1, "ridge on K: f* = K (K + ridge I)^-1 Y (as in the sweep)", POSITIVE)
    kappa: float = _f(
        1.0,
        "output scale: f* = kappa^2 K(x, X) (kappa^2 K + lam I)^-1 Y, lam = kappa^2 ridge",
        POSITIVE,
    )
    x64: bool = _f(True, "float64 kernels and Cholesky (float32 when false)")
    solver: str = _solver_field("K stored and factored")
    rank: int = _rank_field()
    batch_size: int | None = _f(
        None, "nt.batch block side; null batches automatically for large n", at_least(1)
    )


@dataclasses.dataclass
class Advise:
    """The width leverage sampling is predicted to save on a data set, before training
    (``experiments/advise.py``, :func:`nnkrr.savings.predict`)."""

    data: Any = _f(Synthetic, "the data set (data=...)", factory=True)
    seed: int = _f(0, "data seed (split) and the draws' key", at_least(0))
    ridge: float = _f(0.1, "ridge lambda on K of the leverage function (as in the sweep)", POSITIVE)
    points: int | None = _f(
        None,
        "rows of the leverage function: null, all n up to nnkrr.sampling.LEVERAGE_EXACT_MAX_N, "
        "a subsample beyond",
        at_least(2),
    )
    draws: int = _f(65536, "Gaussian draws for the score statistics", at_least(1024))
    x64: bool = _f(True, "float64 kernels and eigendecompositions")


ENTRY_POINTS = {"sweep": Sweep, "spectral": Spectral, "krr": KRR, "advise": Advise}


#: Keys a config does not have because they are derived, and what to set instead.
DERIVED = {
    "lam": "derived: lam = kappa^2 * ridge, the output scale's square times the ridge on K (nnkrr.scale.Scale); set ridge",
}
#: Keys renamed, per entry point, old -> new (one meaning per name): a config with the old
#: name is refused naming the new one, and a recorded run's config is read under the new
#: names (``experiments/publish.py``'s staleness check).
RENAMED = {
    # the spectral job's ridge on K, as the sweep names it (lam is kappa^2 * ridge there)
    "spectral": {"lam": "ridge", "lam_per_point": "ridge_per_point"},
    # "kernel" is the kernel function (nnkrr.kernels); this is how the passes are computed
    "sweep": {"model.kernel": "model.backprop"},
}
#: The config groups (``configs/<entry>.yaml``'s defaults list chooses one option each).
GROUPS = ("data", "sampler", "regime", "train", "model")
