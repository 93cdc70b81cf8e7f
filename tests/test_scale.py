"""Scale-out: several devices, Hydra launchers, resumable and concurrent sweeps."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.n_train=16",
    "data.n_test=8",
    "data.dim=3",
    "seeds=2",
    "train.max_steps=60",
    "sampler=gaussian",
]
VOLATILE = ["job", "wall_s"]


def sweep_cmd(sweep_dir, *overrides):
    return [
        sys.executable,
        str(ROOT / "experiments" / "sweep.py"),
        "-m",
        *TINY,
        *overrides,
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run(cmd, cwd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def table(sweep_dir):
    frame = pd.read_parquet(Path(sweep_dir) / "results.parquet")
    return frame.drop(columns=VOLATILE).sort_values(["width", "init_seed"]).reset_index(drop=True)


def test_four_devices_same_kernel_and_training():
    script = textwrap.dedent("""
        import time
        import jax, jax.numpy as jnp, numpy as np
        jax.config.update("jax_enable_x64", True)
        assert jax.local_device_count() == 4
        from nnkrr import data, kernels, models, train
        ds = data.synthetic(0, n_train=50, n_test=1, dim=5)
        x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train[:, 0])
        k = kernels.relu_ntk(x)  # split over the 4 devices by nt.batch
        assert np.abs(np.asarray(k) - np.asarray(kernels.relu_ntk_closed_form(x))).max() < 1e-12
        net = models.TwoLayerReLU(width=256, chunk=64)
        variables = jax.vmap(lambda key: net.init(key, x))(jax.random.split(jax.random.key(0), 4))
        cfg = train.TrainConfig(lam=0.1, learning_rate=0.05, steps=200, centre="init")
        runs = {}
        for shard in (False, True):
            train.fit(net.apply, variables, x, y, cfg, shard=shard)  # compile
            start = time.perf_counter()
            state = train.fit(net.apply, variables, x, y, cfg, shard=shard)
            jax.block_until_ready(state.params)
            runs[shard] = (state, time.perf_counter() - start)
        w1, w4 = runs[False][0].params["W"], runs[True][0].params["W"]
        assert len(w4.sharding.device_set) == 4 and len(w1.sharding.device_set) == 1
        assert np.abs(np.asarray(w1) - np.asarray(w4)).max() < 1e-12
        print(f"ok {runs[False][1]:.3f} {runs[True][1]:.3f}")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-3000:]


@pytest.mark.parametrize("launcher", ["parallel", "slurm_local"])
def test_launchers_give_the_basic_launchers_rows(tmp_path, launcher, basic_launcher_table):
    other = tmp_path / launcher
    run(sweep_cmd(other, "model.width=16,32", f"hydra/launcher={launcher}"), tmp_path)
    pd.testing.assert_frame_equal(basic_launcher_table, table(other))


def test_kill_and_resume(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = sweep_cmd(sweep, "model.width=16,32,64,128")
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not list(sweep.glob("*/results.parquet")) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in sweep.glob("*/results.parquet")}
    assert 1 <= len(done) < 4  # interrupted half-way
    assert not (sweep / "results.parquet").exists()
    run(cmd, tmp_path)
    for path, mtime in done.items():
        assert path.stat().st_mtime_ns == mtime  # finished jobs were skipped, not redone
    frame = pd.read_parquet(sweep / "results.parquet")
    assert sorted(frame.width.unique()) == [16, 32, 64, 128]
    assert not frame.duplicated(["width", "init_seed"]).any() and len(frame) == 8
    assert not list(sweep.rglob("*.tmp"))


def test_concurrent_sweeps_share_a_directory(tmp_path):
    sweep = tmp_path / "sweep"
    logs = [tmp_path / f"log{i}.txt" for i in range(2)]
    procs = []
    for widths, log in zip(("16", "32"), logs, strict=True):  # one job each, one folder
        with open(log, "w") as err:
            procs.append(
                subprocess.Popen(
                    sweep_cmd(sweep, f"model.width={widths}"),
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait() == 0, log.read_text()[-3000:]
    run([sys.executable, str(ROOT / "experiments" / "gather.py"), str(sweep)], tmp_path)
    frame = pd.read_parquet(sweep / "results.parquet")
    assert sorted(frame.width.unique()) == [16, 32] and len(frame) == 4
    assert not frame.duplicated(["width", "init_seed"]).any()
    for path in sweep.glob("*/results.parquet"):
        assert len(pd.read_parquet(path)) == 2
