"""The Hydra entry points, run as users run them (subprocess, own output directory)."""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import enable_x64
from test_config import KEYS
from test_scale import TINY

from nnkrr import config, data, experiment, features, models, problem, sampling, spectral
from nnkrr.scale import Scale

ROOT = Path(__file__).resolve().parents[1]


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def app(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``experiments/<script>`` as a user would, capturing its output."""
    cmd = [sys.executable, str(ROOT / "experiments" / script), *overrides]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)


def run_app(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``experiments/<script>`` as a user would; fail with its stderr."""
    proc = app(script, *overrides, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_krr_app_writes_correct_metrics(tmp_path):
    out = tmp_path / "run"
    run_app("krr.py", "data=wine", "ridge=0.05", "seed=2", f"hydra.run.dir={out}", cwd=tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / ".hydra" / "config.yaml").exists()

    # Independent float64 NumPy computation of the same KRR.
    sizes = config.DATA["wine"]
    ds = data.load("wine", 2, n_train=sizes.n_train, n_test=sizes.n_test)

    def k(a, b):
        dot = a @ b.T
        norms = np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        return dot * (np.pi - np.arccos(np.clip(dot / norms, -1, 1))) / (2 * np.pi)

    alpha = np.linalg.solve(k(ds.x_train, ds.x_train) + 0.05 * np.eye(ds.n_train), ds.y_train)
    pred = k(ds.x_test, ds.x_train) @ alpha
    assert metrics["n_train"] == ds.n_train and metrics["dtype"] == "float64"
    np.testing.assert_allclose(metrics["test_mse"], np.mean((pred - ds.y_test) ** 2), rtol=1e-6)
    np.testing.assert_allclose(
        metrics["test_accuracy"], np.mean(pred.argmax(1) == ds.labels_test), rtol=0
    )


@pytest.mark.parametrize("kappa", ["1.0", "0.3"])
def test_krr_app_matrix_free_equals_cholesky(tmp_path, kappa):
    """solver=cg (Nystrom-preconditioned CG on closed-form matvecs, kappa folded into the
    ridge on K) predicts what solver=cholesky does, and says how it converged; auto picks
    cholesky at this size."""
    common = ["data=wine", "ridge=0.05", f"kappa={kappa}", "rank=64"]
    for solver in ("cg", "auto"):
        run_app("krr.py", *common, f"solver={solver}", f"hydra.run.dir={tmp_path / solver}",
                cwd=tmp_path)  # fmt: skip
    cg, auto = (json.loads((tmp_path / s / "metrics.json").read_text()) for s in ("cg", "auto"))
    assert (cg["solver"], auto["solver"]) == ("cg", "cholesky") and "cg_iterations" not in auto
    assert cg["cg_converged"] and cg["cg_residual"] <= 1e-7 and 0 < cg["cg_iterations"] < 200
    assert cg["cg_rank"] == 64
    a, b = (np.load(tmp_path / s / "predictions.npz") for s in ("cg", "auto"))
    for split in ("train", "test"):
        np.testing.assert_allclose(
            a[split], b[split], rtol=1e-5, atol=1e-6 * np.abs(b[split]).max()
        )
    np.testing.assert_allclose(cg["test_mse"], auto["test_mse"], rtol=1e-6)


def test_spectral_multirun_gathers_reproducible_rows(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_app(
        "spectral.py",
        "-m",
        "data=synthetic,cone",
        "data.n_train=40",
        "data.n_test=1",
        "data.dim=4",
        "widths=[32,256]",
        "seeds=2",
        "flatness_draws=4096",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(sweep / "spectral.parquet")
    assert len(frame) == 2 * 2 * 2 * 2  # datasets x samplers x widths x seeds
    assert (sweep / "eps_vs_m.png").stat().st_size > 10_000
    assert (sweep / "spectral.csv").exists()
    assert len(list(sweep.glob("*/spectral.parquet"))) == 2  # one directory per job
    assert set(frame["dataset"]) == {"synthetic", "cone"}
    # the launcher's checks start jax: its backend notices stay out of the console
    assert "Unable to initialize backend" not in proc.stdout + proc.stderr

    # Recompute one leverage row from its coordinates, independently of the app.
    row = frame[(frame.dataset == "cone") & (frame.sampler == "leverage")].iloc[-1]
    with enable_x64():
        x = data.cone(0, n_train=40, n_test=1, dim=4).x_train
        k = features.RELU_NTK.exact(x)
        key = jax.random.fold_in(jax.random.key(int(row.data_seed)), int(row.init_seed))
        s = sampling.sample(key, x, int(row.width), sampler="leverage", lam=float(row.ridge))
        eps = float(features.spectral_epsilon(k, features.rf_kernel(x, None, s), row.ridge))
        s_lam = float(sampling.statistical_dimension(k, row.ridge))
    np.testing.assert_allclose(row.spectral_eps, eps, rtol=1e-9)
    np.testing.assert_allclose(row.s_lambda, s_lam, rtol=1e-9)

    # The job is the library function nnkrr.spectral.run: its rows, in its documented columns.
    fixed = [c for c in frame.columns if not c.startswith("data_") or c == "data_seed"]
    assert fixed == ["job", *spectral.COLUMNS]
    at = list(frame.columns).index("dim")  # the data set's options follow dim, as in the sweep
    assert list(frame.columns)[at + 1 : at + 7] == [
        "data_clusters", "data_frequency", "data_nested", "data_noise", "data_spread", "data_terms"
    ]  # fmt: skip
    overrides = ["data=cone", "data.n_train=40", "data.n_test=1", "data.dim=4",
                 "widths=[32,256]", "seeds=2", "flatness_draws=4096"]  # fmt: skip
    with enable_x64():
        rows = spectral.run(config.compose(overrides, "spectral"))
    cli = frame[frame.dataset == "cone"][rows.columns].drop(columns="wall_s").reset_index(drop=True)
    # (a gathered table's data_ column is float where another data set lacks the option)
    pd.testing.assert_frame_equal(
        rows.drop(columns="wall_s"), cli, check_exact=True, check_dtype=False
    )


REQUIRED = (
    "dataset data_seed n_train n_test dim target sampler method pool_size leverage_points regime centre symmetric "
    "kappa lam model width dtype backprop chunk optimizer step_factor horizon_c max_steps "
    "init_seed learning_rate steps time_T lam_T gap_max gap_rms gap_rel f_star_rms abs_sum_rms roundoff "
    "gap_kernel gap_init gap_opt gap_nonlin spectral_eps s_lambda weight_move pattern_flips "
    "nn_test_mse krr_test_mse status wall_s"
).split()


def test_sweep_multirun_table_and_figures(tmp_path):
    sweep = tmp_path / "sweep"
    run_app(
        "sweep.py",
        "-m",
        *[o for o in TINY if not o.startswith("sampler=")],  # the launcher tests' shapes and
        "model.width=16,32",  # the analysis notebook's toy sweep: one compilation for all
        "sampler=gaussian,leverage",
        "regime=lazy,paper",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(sweep / "results.parquet")
    assert set(REQUIRED) <= set(frame.columns)
    assert len(frame) == 2 * 2 * 2 * 2 and set(frame.status) == {"ok"}
    assert frame.groupby(["width", "sampler", "regime"]).init_seed.nunique().eq(2).all()
    # gathered rows sorted by their keys (width ascending within each group), job by job
    assert (
        frame.groupby(["dataset", "regime", "kappa", "lam", "sampler"])
        .width.apply(lambda w: w.is_monotonic_increasing)
        .all()
    )
    # tables follow the umask (0644 under 022), not mkstemp's 0600
    mode = (sweep / "results.parquet").stat().st_mode & 0o777
    assert mode == 0o666 & ~current_umask()
    for job in sweep.glob("*/results.parquet"):
        meta = json.loads((job.parent / "run.json").read_text())
        assert meta["packages"]["jax"] == jax.__version__ and meta["jax_backend"] == "cpu"
        assert len(meta["git_commit"] or "x" * 40) == 40 and meta["wall_s"] > 0
        assert not (job.parent / "gap_vs_width.png").exists()  # no one-point per-job figures
        # a log a person reads: progress as plain lines, no terminal escape codes
        text = (job.parent / "sweep.log").read_text()
        assert "\x1b" not in text and "\r" not in text
        assert text.count(" network: ") == 4 and text.count(" linearised: ") == 4  # quarters
    assert (sweep / "results.csv").exists()
    for png in ("gap_vs_width.png", "gap_decomposition.png"):
        assert (sweep / png).stat().st_size > 10_000
    # the decomposition adds up (signed parts; RMS of the sum <= sum of RMS)
    parts = frame[["gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]].sum(axis=1)
    assert (frame.gap_rms <= parts * (1 + 1e-9)).all()
    # regimes as configured: the lazy init outputs 0, the paper regime is centred at 0
    lazy, paper = frame[frame.regime == "lazy"], frame[frame.regime == "paper"]
    assert (lazy.gap_init < 1e-5).all() and (paper.kappa == 0.1).all()
    # KRR target is the same for every row of one regime
    assert lazy.krr_test_mse.nunique() == 1


def test_sweep_mlp_job(tmp_path):
    """The MLP job from the CLI (its sampler cross-check: tests/test_experiment.py)."""
    out = tmp_path / "mlp"
    run_app(
        "sweep.py",
        "model=mlp",
        "model.width=32",
        "seeds=2",
        "data.n_train=16",
        "data.n_test=8",
        "train.max_steps=200",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(out / "results.parquet")
    assert set(frame.model) == {"mlp"} and set(frame.depth) == {2} and len(frame) == 2
    assert np.isfinite(
        frame[["gap_rms", "gap_kernel", "gap_init", "gap_opt", "gap_nonlin"]].to_numpy()
    ).all()
    assert (frame.gap_init > 0).all()  # no symmetric pairs for the MLP: f(W(0)) != 0


# (overrides, the one-line error the CLI must print); each fails before any work and leaves
# no folder behind.  The checks themselves are tested in-process for every key
# (tests/test_experiment.py, tests/test_config.py); these are the CLI path, one per kind of
# check (integer, cross-check, choice, number, bounded number, unknown key, Hydra's type
# check, missing option, data-dependent, data files).
BAD_OVERRIDES = [
    (["model.width=0"], "model.width must be an integer >= 1, got 0"),
    (["model.width=7"], "model.width must be even with regime.symmetric=true"),
    (["dtype=float16"], "dtype must be one of float32, float64, got 'float16'"),
    (["ridge=-1"], "ridge must be a finite number > 0, got -1.0"),
    (
        ["lam=0.1"],
        "lam: derived: lam = kappa^2 * ridge, the output scale's square times the "
        "ridge on K (nnkrr.scale.Scale); set ridge",
    ),
    (["train.step_factor=2"], "train.step_factor must be a finite number in (0, 2), got 2.0"),
    (["target=3"], "target must be in [0, 1) for data synthetic, got 3"),
    (["+model.widht=128"], f"model.widht: unknown key (model has {KEYS(config.TwoLayer)})"),
    (["model.widht=128"], f"model.widht: unknown key (model has {KEYS(config.TwoLayer)})"),
    (["model.width=abc"], "model.width: Value 'abc' of type 'str' could not be converted"),
    (["data=digitz"], "data=digitz: no such option (data has anisotropic, breast_cancer, "),
    (  # a preset without its `+`: Hydra's remedy kept in the line
        ["experiment=equivalence_scaling"],
        "Could not override 'experiment'. No match in the defaults list. "
        "To append to your default list use +experiment=equivalence_scaling",
    ),
    (["data=file"], "data.path must be given (data.path=...)"),
    (["data=file", "data.path=absent.npz"], "data.path: no such file 'absent.npz'"),
    (["data=file", "data.path=bad_shape.npz"], "data.path: bad_shape.npz: x must be (n, d)"),
    (["data=file", "data.path=nan.npz"], "data.path: nan.npz: x has non-finite values"),
    (["data=file", "data.path=small.npz", "data.n_train=30"], "data.n_train: 30 training points"),
    (
        ["data=file", "data.path=small.npz", "data.n_train=15", "data.n_test=8"],
        "data.n_train: n_train + n_test = 23 exceeds the 20 rows",
    ),
    (["data=file", "data.path=table.csv", "data.columns=[z]"], "data.columns: no column 'z'"),
    (["data=file", "data.path=table.csv"], "data.columns: a .csv file needs its target"),
]


def write_bad_files(directory: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(directory / "bad_shape.npz", x=rng.normal(size=(10, 3)), y=rng.normal(size=9))
    x = rng.normal(size=(10, 3))
    x[4, 1] = np.nan
    np.savez(directory / "nan.npz", x=x, y=rng.normal(size=10))
    np.savez(directory / "small.npz", x=rng.normal(size=(20, 3)), y=rng.normal(size=20))
    pd.DataFrame(rng.normal(size=(10, 3)), columns=["a", "b", "y"]).to_csv(
        directory / "table.csv", index=False
    )


#: The CLI path (a process each) for one case of every kind; the rest in-process below.
CLI_CASES = [BAD_OVERRIDES[i] for i in (0, 1, 5, 6, 8, 9, 11, 12, 14, 16)]


@pytest.mark.parametrize(
    "overrides,message", BAD_OVERRIDES, ids=[" ".join(o) for o, _ in BAD_OVERRIDES]
)
def test_bad_override_is_refused_before_any_work(tmp_path, monkeypatch, overrides, message):
    """What the sweep's main does before training (compose, check, read the data, the
    target's range), in-process: the same one-line message."""
    write_bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(config.ConfigError) as err, enable_x64():
        experiment.run(config.check(experiment.compose(overrides)), checked=True)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("overrides,message", CLI_CASES, ids=[" ".join(o) for o, _ in CLI_CASES])
def test_bad_override_is_refused_with_its_key(tmp_path, overrides, message):
    write_bad_files(tmp_path)
    before = set(tmp_path.iterdir())
    proc = app("sweep.py", *overrides, cwd=tmp_path)  # Hydra's default outputs/<date>/<time>
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith(f"Error in config: {message}") and "\n" not in err, err[-2000:]
    assert set(tmp_path.iterdir()) == before  # nothing left behind, no outputs/ folder


#: A bad data file in a multirun (the default grid of 18 jobs): refused before launching.
MULTIRUN_BAD_FILES = [
    (["data.path=absent.npz"], "data.path: no such file 'absent.npz'"),
    (["data.path=nan.npz"], "data.path: nan.npz: x has non-finite values (first at x[4])"),
    (
        ["data.path=junk.npz"],
        "data.path: junk.npz is not a readable .npz file (not a zip archive, as numpy.savez writes)",
    ),
    (["data.path=text.csv", "data.columns=[y]"], "data.path: column 'b' of text.csv is not"),
    (["data.path=table.csv", "data.columns=[z]"], "data.columns: no column 'z' in table.csv"),
    (["data.path=small.npz", "data.n_train=30"], "data.n_train: 30 training points leave no"),
]


@pytest.mark.parametrize(
    "overrides,message", MULTIRUN_BAD_FILES, ids=[o[0] for o, _ in MULTIRUN_BAD_FILES]
)
def test_a_bad_file_in_a_multirun_is_refused_before_launching(tmp_path, overrides, message):
    write_bad_files(tmp_path)
    (tmp_path / "junk.npz").write_text("not an archive")
    frame = pd.read_csv(tmp_path / "table.csv")
    frame.assign(b="word").to_csv(tmp_path / "text.csv", index=False)
    before = sorted(tmp_path.rglob("*"))
    proc = app("sweep.py", "-m", "data=file", *overrides, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error in config: {message}")
    assert proc.stderr.strip().endswith("(all 18 jobs; nothing was launched)")
    assert "\n" not in proc.stderr.strip() and "Traceback" not in proc.stdout
    assert sorted(tmp_path.rglob("*")) == before  # no multirun/ folder, nothing else


@pytest.mark.parametrize("script", ["advise.py", "krr.py", "spectral.py"])
def test_every_entry_point_refuses_a_bad_file_in_a_multirun_before_launching(tmp_path, script):
    """Each entry point's grid is checked and its data read before any job (results.CheckJobs):
    one line naming the key, exit code 1, no multirun/ folder."""
    write_bad_files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    proc = app(script, "-m", "data=file", "data.path=nan.npz", "seed=0,1", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "Error in config: data.path: nan.npz: x has non-finite values (first at x[4]) "
        "(all 2 jobs; nothing was launched)"
    )
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("where", ["data/mine.npz", "../data/mine.npz", "absolute"])
def test_a_sweep_on_a_file_anywhere_gathers_every_job(tmp_path, where):
    """A data path with ``/`` (relative, ``../``, absolute): one folder per job, all gathered."""
    rng = np.random.default_rng(1)
    (tmp_path / "data").mkdir()
    x = rng.normal(size=(30, 3))
    np.savez(tmp_path / "data" / "mine.npz", x=x, y=np.sin(x[:, 0]))
    cwd = tmp_path if where == "data/mine.npz" else tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    path = str(tmp_path / "data" / "mine.npz") if where == "absolute" else where
    sweep = tmp_path / "sweep"
    # two jobs of one shape (two data seeds: the second job compiles nothing new)
    run_app("sweep.py", "-m", "data=file", f"data.path={path}", "model.width=16", "seed=0,1",
            "sampler=gaussian", "seeds=1", "train.max_steps=30", f"hydra.sweep.dir={sweep}",
            cwd=cwd)  # fmt: skip
    rows = pd.read_parquet(sweep / "results.parquet")
    assert sorted(rows.data_seed) == [0, 1] and set(rows.dataset) == {"mine"}
    jobs = sorted(p.name for p in sweep.iterdir() if (p / ".hydra").is_dir())
    assert jobs == sorted(rows.job) and all("/" not in j and "~" in j for j in jobs)
    assert not (sweep / "failures.csv").exists()


def test_gathering_a_sweep_without_tables_exits_1_in_one_line(tmp_path):
    sweep = tmp_path / "sweep"
    proc = app("gather.py", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"sweep_dir: no such directory '{tmp_path / 'nowhere'}'"
    )
    sweep.mkdir()
    proc = app("gather.py", str(sweep), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == f"no job wrote results.parquet under {sweep}"


def test_run_from_python_equals_the_cli_job(tmp_path):
    """nnkrr.experiment.run(cfg) returns exactly the rows the CLI job writes."""
    overrides = [
        "model.width=32",
        "sampler=leverage",
        "seeds=2",
        "seed=4",
        "data.n_train=20",
        "data.n_test=10",
        "data.dim=3",
        "train.max_steps=300",
    ]
    out = tmp_path / "job"
    run_app("sweep.py", *overrides, f"hydra.run.dir={out}", cwd=tmp_path)
    cli = pd.read_parquet(out / "results.parquet").drop(columns="wall_s")
    with enable_x64():
        rows = experiment.run(experiment.compose(overrides)).drop(columns="wall_s")
    pd.testing.assert_frame_equal(rows, cli, check_exact=True)
    assert set(rows.data_seed) == {4} and list(rows.init_seed) == [0, 1]


def test_krr_app_defaults_reproduce_the_sweeps_target(tmp_path):
    """experiments/krr.py with no overrides computes the sweep's f* on the same data, exactly."""
    out = tmp_path / "krr"
    run_app("krr.py", f"hydra.run.dir={out}", cwd=tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    cfg = config.check(experiment.compose())
    with enable_x64():
        ds = experiment.load_data(cfg)
        kernel = functools.partial(models.KINDS["two_layer"].kernel, cfg["model"])
        prob = problem.make_problem(ds, 0, kernel, Scale.of(cfg))
        f_star = prob.f_star
    assert metrics["n_train"] == cfg["data"]["n_train"]
    assert (metrics["ridge"], metrics["lam"]) == (cfg["ridge"], Scale.of(cfg).lam)
    np.testing.assert_array_equal(np.load(out / "predictions.npz")["test"][:, 0], f_star)
    assert metrics["test_mse"] == float(np.mean((np.asarray(f_star) - ds.y_test[:, 0]) ** 2))


def test_failed_jobs_never_cost_the_summary(tmp_path):
    """Jobs failing at run time are listed in failures.csv; the others are gathered and drawn."""
    sweep = tmp_path / "sweep"
    overrides = ["model.width=16,32", "target=0,3", *TINY]
    proc = app("sweep.py", "-m", *overrides, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith(f"2 of 4 jobs failed; see {sweep / 'failures.csv'}")
    )
    frame = pd.read_parquet(sweep / "results.parquet")
    assert sorted(set(frame.width)) == [16, 32] and set(frame.target) == {0} and len(frame) == 4
    assert (sweep / "gap_vs_width.png").stat().st_size > 10_000
    failed = pd.read_csv(sweep / "failures.csv")
    assert len(failed) == 2 and failed.overrides.str.contains("target=3").all()
    assert failed.error.str.fullmatch(r"ConfigError: target must be in \[0, 1\).*").all()
    assert all(Path(p).exists() and "Traceback" in Path(p).read_text() for p in failed.log)


def test_an_invalid_grid_combination_launches_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    proc = app(
        "sweep.py", "-m", "model.width=16,7", *TINY, f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "Error in config: 1 of 2 jobs are invalid; nothing was launched"
    assert all("model.width=7" in line and "must be even" in line for line in lines[1:])
    assert not sweep.exists()


def test_own_data_file_in_every_entry_point(tmp_path):
    """data=file: the krr entry point's f* equals an independent NumPy KRR on the file's rows
    (split by the seed, standardised, on the sphere); spectral and sweep jobs run on it."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 4))
    y = np.sin(x @ rng.normal(size=4))
    path = tmp_path / "mine.csv"
    pd.DataFrame(np.c_[x, y], columns=["a", "b", "c", "d", "t"]).to_csv(path, index=False)
    spec = ["data=file", f"data.path={path}", "data.columns=[t]"]
    run_app("krr.py", *spec, "seed=1", f"hydra.run.dir={tmp_path / 'krr'}", cwd=tmp_path)
    metrics = json.loads((tmp_path / "krr" / "metrics.json").read_text())
    order = np.random.default_rng(1).permutation(40)
    tr, te = order[:30], order[30:]
    mean, std = x[tr].mean(0), x[tr].std(0)
    xs = (x - mean) / std
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    ys = (y - y[tr].mean()) / y[tr].std()

    def k(a, b):
        u = np.clip(a @ b.T, -1, 1)
        return u * (np.pi - np.arccos(u)) / (2 * np.pi)

    alpha = np.linalg.solve(k(xs[tr], xs[tr]) + 0.1 * np.eye(30), ys[tr])
    pred = k(xs[te], xs[tr]) @ alpha
    assert (metrics["dataset"], metrics["n_train"], metrics["n_test"]) == ("mine", 30, 10)
    np.testing.assert_allclose(metrics["test_mse"], np.mean((pred - ys[te]) ** 2), rtol=1e-8)

    run_app(
        "spectral.py",
        *spec,
        "widths=[32]",
        "seeds=1",
        "flatness_draws=1024",
        f"hydra.run.dir={tmp_path / 'spectral'}",
        cwd=tmp_path,
    )
    frame = pd.read_parquet(tmp_path / "spectral" / "spectral.parquet")
    assert set(frame.dataset) == {"mine"} and len(frame) == 2 and (frame.n_train == 30).all()
    with enable_x64():
        rows = experiment.run(
            experiment.compose([*spec, "model.width=16", "seeds=1", "train.max_steps=20"])
        )
    assert rows.dataset[0] == "mine" and rows.data_columns[0] == ["t"]


def test_spectral_per_sample_ridge_equals_the_explicit_ridge(tmp_path):
    """ridge_per_point=l0 at n = 40 is ridge = 40 l0: the same spectral rows as ridge given."""
    common = [
        "data.n_train=40",
        "data.n_test=1",
        "data.dim=4",
        "widths=[32,128]",
        "seeds=2",
        "flatness_draws=1024",
        "samplers=[leverage]",
    ]
    run_app(
        "spectral.py",
        *common,
        "ridge_per_point=0.001",
        f"hydra.run.dir={tmp_path / 'a'}",
        cwd=tmp_path,
    )
    run_app("spectral.py", *common, "ridge=0.04", f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    a = pd.read_parquet(tmp_path / "a" / "spectral.parquet").drop(
        columns=["wall_s", "ridge_per_point"]
    )
    b = pd.read_parquet(tmp_path / "b" / "spectral.parquet").drop(
        columns=["wall_s", "ridge_per_point"]
    )
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert (a.ridge == 0.04).all()


def test_advise_app_reports_what_the_library_predicts(tmp_path):
    """``experiments/advise.py``: advice.json equals nnkrr.savings.predict on the same data
    and key, and the printed lines carry its numbers."""
    from nnkrr import savings

    out = tmp_path / "run"
    proc = app("advise.py", "data=cone", "ridge=0.05", "seed=1", "draws=4096",
               f"hydra.run.dir={out}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    advice = json.loads((out / "advice.json").read_text())
    ds = data.load(
        "cone", 1, n_train=config.DATA["cone"].n_train, n_test=config.DATA["cone"].n_test
    )
    with enable_x64():
        pred = savings.predict(ds.x_train, 0.05, key=jax.random.key(1), num=4096)
    assert advice["dataset"] == "cone" and advice["n"] == ds.n_train
    assert advice["predictor_value"] == pytest.approx(pred.predictor_value, rel=1e-9)
    for level, r in pred.saving_spectral.items():
        got = advice["saving_spectral"][str(level)]
        assert got["value"] == pytest.approx(r.value, rel=1e-9)
        assert f"eps {level:g}: saving {r}" in proc.stdout


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["ridge=0"], "ridge must be a finite number > 0, got 0.0"),
        (["draws=10"], "draws must be an integer >= 1024, got 10"),
        (["data=file", "data.path=absent.npz"], "data.path: no such file 'absent.npz'"),
    ],
)
def test_advise_app_refuses_bad_input_in_one_line(tmp_path, overrides, message):
    before = set(tmp_path.iterdir())
    proc = app("advise.py", *overrides, cwd=tmp_path)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith(f"Error in config: {message}") and "\n" not in err, err[-2000:]
    assert set(tmp_path.iterdir()) == before
