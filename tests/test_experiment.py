"""nnkrr.experiment: one job from Python, its config checks and its provenance columns."""

import copy
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from test_config import KEYS

from nnkrr import config, experiment, measurements, models, problem, row
from nnkrr.scale import Scale

pytestmark = pytest.mark.usefixtures("x64")  # run() needs float64 references (per process)

TINY = [
    "model.width=16",
    "seeds=2",
    "data.n_train=12",
    "data.n_test=6",
    "data.dim=3",
    "train.max_steps=100",
]


@pytest.fixture(scope="module")
def default_cfg():
    return experiment.compose()


def test_compose_resolves_the_sweep_config(default_cfg):
    assert default_cfg["data"]["seed"] == default_cfg["seed"] == 0  # ${seed} resolved
    assert "hydra" not in default_cfg
    assert config.check(default_cfg) == default_cfg


def _with(cfg, key, value):
    cfg = copy.deepcopy(cfg)
    node = cfg
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return cfg


BAD = [
    ("seeds", 0, "seeds must be an integer >= 1, got 0"),
    ("seeds", 2.5, "seeds must be an integer >= 1, got 2.5"),
    ("seed", -1, "seed must be an integer >= 0, got -1"),
    ("train.max_steps", 0, "train.max_steps must be an integer >= 1, got 0"),
    ("ridge", float("nan"), "ridge must be a finite number > 0"),
    ("ridge", True, "ridge must be a finite number > 0, got True"),
    ("dtype", "bfloat16", "dtype must be one of float32, float64"),
    ("model.width", 0, "model.width must be an integer >= 1"),
    ("model.chunk", 0, "model.chunk must be an integer >= 1 or null, got 0"),
    ("model.train_readout", "yes", "model.train_readout must be true or false"),
    ("regime.centre", "origin", "regime.centre must be one of zero, init"),
    ("regime.kappa", -0.1, "regime.kappa must be a finite number > 0"),
    ("sampler.name", "uniform", "sampler.name must be one of gaussian, leverage"),
    ("train.segments", 0, "train.segments must be an integer >= 1"),
    ("train.learning_rate", 0, "train.learning_rate must be a finite number > 0 or null"),
    ("train.time", -1.0, "train.time must be a finite number > 0 or null"),
    ("train.horizon_c", 0, "train.horizon_c must be a finite number > 0"),
    ("train.optimizer", "_src", "train.optimizer must be the name of an optax optimizer"),
    ("train.optimizer_kwargs", [1], "train.optimizer_kwargs must be a mapping"),
    ("data.noise", -0.5, "data.noise must be a finite number >= 0"),
    ("data.frequency", 0, "data.frequency must be a finite number > 0"),
    ("data.colour", 1, f"data.colour: unknown key (data has {KEYS(config.Synthetic)})"),
    ("model.widht", 128, f"model.widht: unknown key (model has {KEYS(config.TwoLayer)})"),
    ("colour", 1, "colour: unknown key"),
    ("model.backprop", "cuda", "model.backprop must be one of fused, autodiff or null, got 'cuda'"),
    ("sampler.method", "rejection", "sampler.method must be one of iid with sampler.name=gaussian"),
]


@pytest.mark.parametrize("key,value,message", BAD)
def test_validate_names_the_key(default_cfg, key, value, message):
    with pytest.raises(experiment.ConfigError) as err:
        config.check(_with(default_cfg, key, value))
    assert str(err.value).startswith(message)


def test_validate_cross_checks(default_cfg):
    mlp = experiment.compose(["model=mlp", "sampler=leverage"])
    with pytest.raises(experiment.ConfigError, match="sampler must be gaussian for model=mlp"):
        config.check(mlp)
    paper = experiment.compose(["regime=paper", "model.width=7"])
    assert config.check(paper)["model"]["width"] == 7  # no pairs: odd widths are fine
    with pytest.raises(
        experiment.ConfigError,
        match=r"data.n_train: n_train \+ n_test = 220 exceeds the 178 rows of wine",
    ):
        experiment.run(experiment.compose(["data=wine", "data.n_train=170"]))


def test_run_on_a_plain_dict_equals_run_on_the_composed_config():
    cfg = experiment.compose(TINY)
    rows = experiment.run(cfg).drop(columns="wall_s")
    plain = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    plain["data"] = {**plain["data"], "seed": "${seed}"}  # interpolations resolve
    again = experiment.run(plain).drop(columns="wall_s")
    pd.testing.assert_frame_equal(rows, again, check_exact=True)
    # a config built in code: the same job
    typed = config.Sweep(
        data=config.Synthetic(n_train=12, n_test=6, dim=3),
        model=config.TwoLayer(width=16),
        train=config.Train(max_steps=100),
        seeds=2,
    )
    pd.testing.assert_frame_equal(rows, experiment.run(typed).drop(columns="wall_s"))


@pytest.mark.parametrize("sampler", ["gaussian", "leverage"])
def test_lanczos_step_size_above_the_eigvalsh_threshold_equals_the_exact_one(monkeypatch, sampler):
    """Above ``EIGVALSH_MAX_N`` the step size's lambda_max(K_m) comes by Lanczos from the
    stored K_m: the same learning rate to 1e-9 as ``eigvalsh``'s, so the same steps and rows."""
    cfg = experiment.compose([*TINY, f"sampler={sampler}", "model.width=64", "data.n_train=40"])
    exact = experiment.run(cfg)
    monkeypatch.setattr(experiment, "EIGVALSH_MAX_N", 0)
    lanczos = experiment.run(cfg)
    np.testing.assert_allclose(lanczos.learning_rate, exact.learning_rate, rtol=1e-9)
    assert (lanczos.steps == exact.steps).all()
    np.testing.assert_allclose(lanczos.gap_rms, exact.gap_rms, rtol=1e-6)


def test_run_needs_float64_and_leaves_the_precision_alone():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="jax_enable_x64"):
            experiment.run(experiment.compose(TINY))
    finally:
        jax.config.update("jax_enable_x64", True)
    experiment.run(experiment.compose([*TINY, "seeds=1"]))
    assert jax.config.jax_enable_x64 is True


def test_provenance_tells_two_settings_apart():
    a = experiment.run(experiment.compose(TINY))
    b = experiment.run(
        experiment.compose([*TINY, "seed=3", "dtype=float64", "train.step_factor=0.5"])
    )
    merged = pd.concat([a, b], ignore_index=True)
    assert merged.groupby(["data_seed", "dtype", "step_factor"]).size().to_dict() == {
        (0, "float32", 1.0): 2,
        (3, "float64", 0.5): 2,
    }
    first = b.iloc[0]
    assert (first.n_train, first.n_test, first.dim, first.kappa, first.lam, first.centre) == (
        12,
        6,
        3,
        1.0,
        0.1,
        "init",
    )
    assert (first.method, first.optimizer, first.horizon_c, first.backprop, first.chunk) == (
        "iid",
        "sgd",
        5.0,
        "fused",
        16,  # the whole width: 2^21 / n_train neurons per chunk exceed it
    )
    assert first.data_noise == 0.0 and first.data_frequency == 2.0
    # lam_T is lam * T, T = steps * learning_rate
    np.testing.assert_allclose(b.lam_T, b.lam * b.steps * b.learning_rate, rtol=1e-12)
    # the symmetric start outputs 0 up to round-off, which the roundoff column bounds
    assert (a.gap_init <= a.roundoff).all() and (b.gap_init <= b.roundoff).all()
    for rows, ulp in ((a, 2.0**-23), (b, 2.0**-52)):
        scale = np.maximum(rows.f_star_rms, rows.abs_sum_rms)
        np.testing.assert_allclose(
            rows.roundoff, measurements.ROUNDOFF_ULPS * ulp * scale, rtol=1e-12
        )


def test_roundoff_follows_the_output_sums_absolute_mass():
    """The symmetric start's f(W(0)) is 0 up to the float32 round-off of a sum of m terms,
    which grows with the sum's absolute mass kappa m^-1/2 sum_r relu(w_r . x) (abs_sum_rms),
    of mean kappa sqrt(m) |x| / sqrt(2 pi) for Gaussian w: the roundoff column grows with it."""
    width = 65536  # wide enough for a 4% tolerance on the mass
    cfg = experiment.compose([*TINY, f"model.width={width}"])
    rows = experiment.run(cfg)
    x = experiment.load_data(cfg).x_test
    expected = rows.kappa[0] * np.sqrt(width / (2 * np.pi)) * np.sqrt(np.mean(np.sum(x * x, 1)))
    # width / 2 independent draws (pairs): relu(N(0,1)) has sd / mean 1.46, so 5 SE is 4%
    tol = 5 * 1.46 / np.sqrt(width / 2)
    np.testing.assert_allclose(rows.abs_sum_rms, expected, rtol=tol)
    assert (rows.gap_init <= rows.roundoff).all() and (rows.gap_init > 0).all()
    assert (rows.roundoff > measurements.ROUNDOFF_ULPS * 2.0**-23 * rows.f_star_rms).all()


def test_presets_share_the_ntk_krr_target():
    """ridge is defined on K: lam = kappa^2 ridge gives every regime the same f*; a ridge 100x
    larger in the paper regime (lam = 0.1 at kappa = 0.1) is another f*."""
    lazy = config.check(experiment.compose())
    paper = config.check(experiment.compose(["regime=paper"]))
    larger = config.check(experiment.compose(["regime=paper", "ridge=10"]))
    assert [Scale.of(c).lam for c in (lazy, paper, larger)] == [0.1, 0.001, 0.1]

    from nnkrr import kernels

    ds = experiment.load_data(lazy)
    x, xt, y = jnp.asarray(ds.x_train), jnp.asarray(ds.x_test), ds.y_train[:, 0]
    k, kt = kernels.relu_ntk(x), kernels.relu_ntk(xt, x)

    def target(cfg):
        scale = Scale.of(cfg)
        kernel = functools.partial(models.KINDS["two_layer"].kernel, cfg["model"])
        prob = problem.make_problem(ds, 0, kernel, scale)
        # the problem's f* is the Cholesky solve of K + ridge I, independently here
        direct = np.linalg.solve(np.asarray(k) + scale.ridge * np.eye(len(y)), y)
        np.testing.assert_allclose(prob.f_star, np.asarray(kt) @ direct, rtol=1e-9)
        return np.asarray(prob.f_star)

    np.testing.assert_allclose(target(paper), target(lazy), rtol=1e-10, atol=1e-13)
    assert np.abs(target(larger) - target(lazy)).max() > 0.01


# The golden jobs: their rows were recorded (tests/golden/job_rows.parquet, one table, a
# `case` column) by the job code before it became a pipeline of stages (commit 9a714c2);
# the `step_path` column was added later, "generic" in every case (m d < 2^20 weights in
# each, below nnkrr.train.FUSED_GD_MIN_WEIGHTS: the fused step is not taken unasked), and the
# solver columns (s_lambda_se ... km_residual) later still, with the values of the Cholesky
# path every golden job takes (0, "cholesky", null, NaN).
# Integer, boolean and string columns must stay exactly; floating-point ones within
# GOLDEN_RTOL of the training dtype (BLAS kernels differ between CPUs of one machine kind in
# the last bits: OpenBLAS drives an AMD EPYC with SkylakeX kernels, other CPUs with Haswell
# ones, and float32 training carries such a difference through its steps), and the gap's
# parts (differences of nearly equal predictions) within the row's own round-off level too.
# Bit-exactness is asserted where it is a promise: resume against uninterrupted training on
# one machine (tests/test_checkpoint.py), a job run twice in one process.
GOLDEN = {
    "lazy_leverage": [
        "model.width=32",
        "sampler=leverage",
        "seeds=2",
        "seed=4",
        "data.n_train=20",
        "data.n_test=10",
        "data.dim=3",
        "train.max_steps=300",
    ],
    "paper_gaussian_cone": [
        "model.width=48",
        "regime=paper",
        "data=cone",
        "seeds=2",
        "data.n_train=16",
        "data.n_test=8",
        "data.dim=4",
        "train.max_steps=200",
    ],
    "mlp": [
        "model=mlp",
        "model.width=16",
        "seeds=2",
        "data.n_train=12",
        "data.n_test=6",
        "data.dim=3",
        "train.max_steps=100",
    ],
    "fused_gd_readout": [
        "model.width=64",
        "model.train_readout=true",
        "seeds=1",
        "data=digits",
        "data.n_train=24",
        "data.n_test=12",
        "train.max_steps=100",
        "dtype=float64",
    ],
}


#: Columns of options added since the golden rows were recorded, with the default at which the
#: recorded runs behaved as they do now (``data.nested=false``: one stream draws the points,
#: then the teacher, as before the option: these rows are the check).
ADDED_SINCE_RECORDING = {"data_nested": False}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_rows_equal_the_golden_rows(case):
    golden = pd.read_parquet(Path(__file__).parent / "golden" / "job_rows.parquet")
    golden = golden[golden.case == case].drop(columns="case").reset_index(drop=True)
    rows = experiment.run(experiment.compose(GOLDEN[case])).drop(columns="wall_s")
    absent = [c for c in golden.columns if c not in rows.columns]  # other cases' data_ keys
    assert golden[absent].isna().all().all()
    # an option added to the schema since the recording, at its default: the recorded runs
    # behaved as it does (a train.<key> column at null, ADDED_SINCE_RECORDING's at theirs)
    added = [
        c
        for c in rows.columns
        if c not in golden.columns and (c.startswith("train.") or c in ADDED_SINCE_RECORDING)
    ]
    for column in added:
        want = ADDED_SINCE_RECORDING.get(column)
        assert (rows[column].isna() if want is None else rows[column] == want).all(), column
    rows = rows.drop(columns=added)
    fixed = [c for c in rows.columns if row.fixed_column(c)]
    assert fixed == [c for c in golden.columns if c in fixed]  # the same order
    assert_rows_close(rows, golden[rows.columns])


#: Relative tolerance of a golden row's floating-point columns, by the job's training dtype:
#: float64 references and training agree across CPUs to ~1e-15 (1e-10 leaves room for a
#: longer reduction); float32 training moves by ~1e-6 over a few hundred steps (seen: 8.8e-7).
GOLDEN_RTOL = {"float64": 1e-10, "float32": 2e-5}


def assert_rows_close(rows: pd.DataFrame, golden: pd.DataFrame) -> None:
    """Equal rows up to :data:`GOLDEN_RTOL`: exact for non-float columns, relative for
    float ones, and absolute at the row's ``roundoff`` for the gap's parts."""
    assert list(rows.columns) == list(golden.columns) and len(rows) == len(golden)
    for column in rows.columns:
        got, want = rows[column], golden[column]
        if not pd.api.types.is_float_dtype(got):  # exact (the shared table widens dtypes)
            plain = [[None if pd.isna(v) else v for v in c] for c in (got, want)]
            assert plain[0] == plain[1], column
            continue
        got, want = got.to_numpy(np.float64), want.to_numpy(np.float64)
        rtol = np.array([GOLDEN_RTOL[d] for d in rows["dtype"]])
        atol = rows["roundoff"].to_numpy() if column.startswith("gap_") else 0.0
        off = ~((np.abs(got - want) <= atol + rtol * np.abs(want)) | (got == want))
        off &= ~(np.isnan(got) & np.isnan(want))
        assert not off.any(), f"{column}: {got[off]} against {want[off]} (rtol {rtol[off]})"


def test_the_golden_tolerance_fails_a_moved_number():
    golden = pd.read_parquet(Path(__file__).parent / "golden" / "job_rows.parquet")
    golden = golden[golden.case == "fused_gd_readout"].drop(columns="case")
    golden = golden.dropna(axis=1, how="all").reset_index(drop=True)
    assert_rows_close(golden, golden.copy())
    for column, factor in (("gap_rms", 1 + 1e-9), ("learning_rate", 1 - 1e-9)):
        moved = golden.copy()
        moved[column] *= factor  # ten times the float64 tolerance
        with pytest.raises(AssertionError, match=column):
            assert_rows_close(moved, golden)
    renamed = golden.assign(sampler="leverage")
    with pytest.raises(AssertionError, match="sampler"):
        assert_rows_close(renamed, golden)


def test_row_columns_are_the_documented_ones():
    rows = experiment.run(experiment.compose(TINY))
    fixed = [c for c in rows.columns if row.fixed_column(c)]
    assert fixed == list(row.COLUMNS)
    # the train options without a column of their own follow as train.<key> (none today)
    unnamed = [
        f"train.{k}" for k in KEYS(config.Train).split(", ") if k not in row.NAMED_TRAIN_KEYS
    ]
    assert [c for c in rows.columns if c not in fixed] == [
        "data_frequency",
        "data_nested",
        "data_noise",
        "data_terms",
        *unnamed,
    ]
    assert not unnamed or rows[unnamed].isna().all().all()  # at their null defaults


def test_per_sample_ridge_rows_equal_explicit_ridge_rows():
    family = experiment.run(
        experiment.compose([*TINY, "ridge='${nnkrr.per_point:${data.n_train},0.025}'"])
    )
    explicit = experiment.run(experiment.compose([*TINY, "ridge=0.3"]))  # 12 * 0.025
    pd.testing.assert_frame_equal(family.drop(columns="wall_s"), explicit.drop(columns="wall_s"))
    assert family.ridge[0] == 0.3 and family.lam[0] == 0.3


#: A job small enough for the stored path, with a Nyström preconditioner of far fewer
#: landmarks than points, so the matrix-free path's CGs iterate.
MATRIX_FREE = [
    "data.n_train=300", "data.n_test=40", "data.dim=5", "model.width=128", "seeds=2",
    "train.max_steps=300", "rank=40",
]  # fmt: skip


@pytest.mark.parametrize(
    "extra",
    [[], ["regime=paper", "data=cone"], ["sampler=leverage"],
     ["model.train_readout=true", "dtype=float64"]],
    ids=["lazy", "paper_cone", "leverage", "readout"],
)  # fmt: skip
def test_matrix_free_job_equals_the_stored_one(extra):
    """solver=cg holds no n x n matrix and gives the rows of solver=cholesky: the target, the
    schedule, the gap's parts (both K_m ridge solves by CG on feature matvecs) and the flips
    prediction to the solvers' tolerance; s_lambda within 4 of its standard errors; spectral_eps
    NaN, and the solvers' columns say what ran."""
    stored = experiment.run(experiment.compose(MATRIX_FREE + extra + ["solver=cholesky"]))
    free = experiment.run(experiment.compose(MATRIX_FREE + extra + ["solver=cg"]))
    assert (stored.krr_solver == "cholesky").all() and (free.krr_solver == "cg").all()
    assert stored.krr_iterations.isna().all() and stored.s_lambda_se.eq(0).all()
    assert (free.krr_iterations > 1).all() and (free.km_iterations > 1).all()
    assert (free.krr_residual < 1e-7).all() and (free.km_residual < 1e-7).all()
    assert free.spectral_eps.isna().all() and stored.spectral_eps.notna().all()
    for column in ("steps", "learning_rate", "f_star_rms", "krr_test_mse", "weight_move",
                   "pattern_flips", "pattern_flips_pred", "nn_test_mse"):  # fmt: skip
        np.testing.assert_allclose(free[column], stored[column], rtol=1e-6, err_msg=column)
    for part in ("gap_rms", "gap_kernel", "gap_init", "gap_opt", "gap_nonlin"):
        scale = stored[["gap_rms", "roundoff"]].max(axis=1)
        np.testing.assert_array_less(np.abs(free[part] - stored[part]), 1e-6 * scale + 1e-12)
    assert (np.abs(free.s_lambda - stored.s_lambda) < 4 * free.s_lambda_se).all()
    assert (free.s_lambda_se < 0.05 * stored.s_lambda).all()


def test_matrix_free_needs_a_closed_form_kernel():
    with pytest.raises(
        experiment.ConfigError, match="solver must be cholesky or auto for model=mlp"
    ):
        experiment.run(experiment.compose(["model=mlp", "solver=cg"]))


def test_a_sweeps_jobs_share_the_matrix_free_target(tmp_path, monkeypatch):
    """Two jobs of one target (two widths) through experiments.cache.SweepCache: the
    second reads the first's solve instead of running its CG (solve_cg called once), and its
    rows equal those of a job without the cache; another ridge is another key."""
    from experiments.cache import SweepCache

    calls = []
    solve = problem._solve_target
    monkeypatch.setattr(problem, "_solve_target", lambda *a: calls.append(1) or solve(*a))
    store = SweepCache(tmp_path / ".cache")
    base = MATRIX_FREE[:3] + ["seeds=1", "train.max_steps=50", "rank=40", "solver=cg"]
    first = experiment.run(experiment.compose(base + ["model.width=64"]), cache=store)
    second = experiment.run(experiment.compose(base + ["model.width=128"]), cache=store)
    assert len(calls) == 1 and len(list((tmp_path / ".cache").glob("*.npz"))) == 1
    alone = experiment.run(experiment.compose(base + ["model.width=128"]))
    cols = [c for c in alone.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(second[cols], alone[cols])
    assert first.krr_iterations.iloc[0] == second.krr_iterations.iloc[0] > 1
    experiment.run(experiment.compose(base + ["model.width=64", "ridge=0.5"]), cache=store)
    assert len(calls) == 3 and len(list((tmp_path / ".cache").glob("*.npz"))) == 2


@pytest.mark.parametrize("subsample", [False, True])
def test_a_sweeps_jobs_share_the_leverage_set_up(tmp_path, monkeypatch, subsample):
    """Two leverage jobs on one data set and ridge (two widths) set the sampler up once
    through the cache, and their rows equal those of jobs without it; another ridge is
    another key.  Exact, and a subsample's (n = 100 above an exact limit lowered to 64)."""
    from experiments.cache import SweepCache
    from nnkrr import sampling

    n = 100 if subsample else 60
    if subsample:
        monkeypatch.setattr(sampling, "LEVERAGE_EXACT_MAX_N", 64)
        monkeypatch.setattr(sampling, "LEVERAGE_POINTS", 32)
    calls = []
    setup = sampling.leverage
    monkeypatch.setattr(sampling, "leverage", lambda *a, **k: calls.append(1) or setup(*a, **k))
    store = SweepCache(tmp_path / ".cache")
    base = [f"data.n_train={n}", "data.n_test=20", "data.dim=4", "sampler=leverage", "seeds=2",
            "train.max_steps=5", "solver=cg", "rank=40"]  # fmt: skip
    for width in (32, 64):
        cached = experiment.run(experiment.compose(base + [f"model.width={width}"]), cache=store)
    assert len(calls) == 1
    assert len(list((tmp_path / ".cache").glob("leverage-*.npz"))) == 1
    assert cached.leverage_points.iloc[0] == (32 if subsample else n)
    alone = experiment.run(experiment.compose(base + ["model.width=64"]))
    cols = [c for c in alone.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(cached[cols], alone[cols])
    assert cached.flatness.iloc[0] == alone.flatness.iloc[0] > 1
    experiment.run(experiment.compose(base + ["model.width=32", "ridge=0.5"]), cache=store)
    assert len(calls) == 3  # one more with the cache, one for the job without it
