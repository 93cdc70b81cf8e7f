"""The built wheel runs what the checkout runs, installed outside the checkout without
TensorFlow: a sweep and its resume through the console scripts, experiment.compose + run, the
launcher plugin; by the README's two routes, uv (overrides, the `cluster` extra) and pip (the
lock's pins, no deps: with the extra and without, the install a user without it gets)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_scale import TINY

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not on PATH (it builds the wheel)")
#: Two jobs (the gathering, the figure and the resume need more than one) of the shapes the
#: launcher tests run (test_scale.TINY): in one run their programs compile once for all.
SWEEP = ["-m", "model.width=16,32", *TINY]


def sh(*cmd, cwd, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    sh(UV, "build", "--wheel", "-q", "-o", out, ROOT, cwd=out)
    (path,) = out.glob("nnkrr-*.whl")
    return path


def _venv(directory: Path) -> Path:
    sh(UV, "venv", "-q", "--python", sys.executable, directory, cwd=directory.parent)
    return directory / "bin"


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.pop("UV_LOCKED", None)
    return env


def test_the_wheel_carries_the_shell_the_configs_and_the_plugin(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "nnkrr/config/schemas.py",
        "nnkrr/configs/sweep.yaml",
        "nnkrr/configs/spectral.yaml",
        "nnkrr/configs/experiment/width_savings.yaml",
        "nnkrr/configs/hydra/launcher/slurm.yaml",
        "experiments/sweep.py",
        "experiments/cli.py",
        "hydra_plugins/nnkrr_launchers.py",
        "nnkrr/savings_law.json",  # the law nnkrr.savings.predict reads
        "nnkrr/configs/advise.yaml",
    ):
        assert name in names, name
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry).decode()
    for script in ("nnkrr-sweep", "nnkrr-spectral", "nnkrr-krr", "nnkrr-gather", "nnkrr-advise"):
        assert script in scripts


def _sweep_gathers(bin_: Path, work: Path, *launcher: str) -> pd.DataFrame:
    """``nnkrr-sweep -m`` with two widths from ``work``: its gathered table."""
    sweep = work / "sweep"
    sh(bin_ / "nnkrr-sweep", *SWEEP, f"hydra.sweep.dir={sweep}", *launcher, cwd=work, env=_env())
    rows = pd.read_parquet(sweep / "results.parquet")
    assert len(rows) == 4 and set(rows.status) == {"ok"}  # two jobs of two seeds
    assert sorted(set(rows.width)) == [16, 32]
    assert (sweep / "gap_vs_width.png").stat().st_size > 10_000
    return rows


def _outside(tmp_path: Path, py: Path) -> Path:
    work = tmp_path / "work"  # outside the checkout: nothing of it on sys.path
    work.mkdir()
    code = "import nnkrr, experiments; print(nnkrr.__file__, experiments.__file__)"
    where = sh(py, "-c", code, cwd=work).stdout
    assert str(ROOT) not in where and "site-packages" in where
    return work


def _without_cluster(bin_: Path, work: Path) -> None:
    """Without the `cluster` extra: Hydra's plugin scan is quiet and a submitit or joblib
    launcher is refused in one line naming what to install."""
    info = sh(bin_ / "nnkrr-sweep", "--info", "plugins", cwd=work, env=_env())
    assert "Error" not in info.stdout + info.stderr and "Warning" not in info.stderr
    for launcher in ("slurm_local", "parallel"):
        bad = subprocess.run(
            [bin_ / "nnkrr-sweep", "-m", f"hydra/launcher={launcher}", *SWEEP[1:]],
            cwd=work,
            capture_output=True,
            text=True,
            env=_env(),
        )
        assert bad.returncode == 1, bad.stderr[-2000:]
        assert bad.stderr.strip().splitlines() == [
            f"Error in config: hydra/launcher: the {launcher} launcher needs "
            f"hydra-{'joblib' if launcher == 'parallel' else 'submitit'}-launcher, which is not "
            "installed (the `cluster` extra: pip install 'nnkrr[cluster]', or uv sync --extra "
            "cluster)"
        ]
    assert sorted(p.name for p in work.iterdir()) == []  # nothing left behind


def _readme_overrides() -> list[str]:
    """The override lines of the README's uv route (given inline: no checkout needed)."""
    readme = (ROOT / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("uv pip install --override"))
    inline = line.split("<(printf '", 1)[1].split("')", 1)[0]
    return inline.encode().decode("unicode_escape").splitlines()


def test_the_readme_uv_route_overrides_what_the_project_overrides():
    ours = [
        ln
        for ln in (ROOT / "requirements" / "overrides.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert _readme_overrides() == ours


def test_uv_route_runs_a_sweep_its_resume_and_the_python_api(wheel, tmp_path):
    """The README's uv route, ``nnkrr[cluster]`` with the overrides given inline; the install
    without extras is the pip route's ``cpu-base.txt`` below (the same package, the base
    dependencies only)."""
    overrides = tmp_path / "overrides.txt"  # the README's inline overrides, outside the checkout
    overrides.write_text("\n".join(_readme_overrides()) + "\n")
    bin_ = _venv(tmp_path / "venv")
    sh(UV, "pip", "install", "-q", "-p", bin_.parent, "--override", overrides,
       f"{wheel}[cluster]", cwd=tmp_path, env=_env())  # fmt: skip
    py = bin_ / "python"
    probe = "import importlib.util as u; print(u.find_spec('tensorflow'), u.find_spec('tf2jax'))"
    assert sh(py, "-c", probe, cwd=tmp_path).stdout.split() == ["None", "None"]
    work = _outside(tmp_path, py)
    rows = _sweep_gathers(bin_, work, "hydra/launcher=slurm_local", "hydra.launcher.timeout_min=5")
    sweep = work / "sweep"
    # the resume: the same sweep again finds every job done and recomputes none
    again = sh(bin_ / "nnkrr-sweep", *SWEEP, f"hydra.sweep.dir={sweep}", cwd=work, env=_env())
    assert (again.stdout + again.stderr).count("already has results.parquet: skipped") == 2
    pd.testing.assert_frame_equal(pd.read_parquet(sweep / "results.parquet"), rows)
    # the Python API of the installed package: the same rows as the sweep's job
    code = (
        "import jax, json; jax.config.update('jax_enable_x64', True)\n"
        "from nnkrr import experiment\n"
        f"cfg = experiment.compose({['model.width=16', *TINY]!r})\n"
        "print(json.dumps(experiment.run(cfg).gap_rms.tolist()))\n"
    )
    api = json.loads(sh(py, "-c", code, cwd=work).stdout)
    job = rows[rows.width == 16]
    assert api == job.gap_rms.tolist()
    bad = subprocess.run(
        [bin_ / "nnkrr-sweep", "+model.widht=128"],
        cwd=work,
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert bad.returncode == 1 and bad.stderr.startswith("Error in config: model.widht: unknown")


#: The pip route's locked sets: ``uv export`` arguments of each (requirements/README.md).
LOCKED = {"cpu-base.txt": [], "cpu.txt": ["--extra", "cluster"]}


@pytest.mark.parametrize("name", sorted(LOCKED))
def test_the_locked_sets_are_the_lock_exported(name):
    lock = (ROOT / "requirements" / name).read_text()
    export = sh(UV, "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-dev",
                *LOCKED[name], "--format", "requirements.txt", cwd=ROOT).stdout  # fmt: skip
    assert [ln for ln in lock.splitlines() if ln.strip() and not ln.startswith("#")] == [
        ln for ln in export.splitlines() if ln.strip() and not ln.startswith("#")
    ], f"requirements/{name} is stale: re-export it (requirements/README.md)"


def test_pip_route_installs_the_locked_sets_without_tensorflow(wheel, tmp_path):
    """``pip install --no-deps -r requirements/cpu-base.txt`` then ``--no-deps`` the wheel,
    here with uv pip (the same semantics: exactly these pins, nothing resolved): the install
    a user without the `cluster` extra gets runs a sweep; then the extra's set on top
    (``cpu.txt``, as a user adds it later) and the other entry points."""

    def install(*args):
        sh(UV, "pip", "install", "-q", "--no-deps", "-p", bin_.parent, *args,
           cwd=tmp_path, env=_env())  # fmt: skip

    bin_ = _venv(tmp_path / "venv")
    install("-r", ROOT / "requirements" / "cpu-base.txt")
    install(wheel)
    probe = "import importlib.util as u; print(u.find_spec('tensorflow'), u.find_spec('submitit'))"
    assert sh(bin_ / "python", "-c", probe, cwd=tmp_path).stdout.split() == ["None", "None"]
    work = _outside(tmp_path, bin_ / "python")
    _without_cluster(bin_, work)
    _sweep_gathers(bin_, work)
    install("-r", ROOT / "requirements" / "cpu.txt")
    found = sh(bin_ / "python", "-c", probe, cwd=tmp_path).stdout.split()
    assert found[0] == "None" and found[1] != "None"
    out = work / "krr"
    sh(bin_ / "nnkrr-krr", "data=wine", f"hydra.run.dir={out}", cwd=work, env=_env())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "wine" and 0 < metrics["test_mse"] < metrics["test_mse_of_zero"]
    out = work / "advise"
    sh(bin_ / "nnkrr-advise", "data=wine", "draws=4096", f"hydra.run.dir={out}", cwd=work,
       env=_env())  # fmt: skip
    advice = json.loads((out / "advice.json").read_text())
    assert advice["dataset"] == "wine" and advice["n"] == 128 and advice["s_lambda"] > 1
