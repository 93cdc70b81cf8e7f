"""Test configuration: strict JAX numerics (as in equinox's suite), an x64 fixture, and one
persistent compilation cache for the run (the tests' processes and those they start)."""

import contextlib
import os

import jax
import pytest

import nnkrr  # noqa: F401  before the tests load scipy: OpenBLAS's kernels (nnkrr._blas)

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

CACHE_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: the oldest stack runs without it
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the CPUs.  Much of the suite waits on processes it
    starts (entry points, SLURM jobs, installs), whose start-up, tracing and compiling run on
    one thread: on 2 CPUs the suite's processes used 84% of the machine with a worker a CPU
    (11:31 wall for 19.3 CPU-minutes) and 89% with one more (10:29 for 18.6); two more took
    longer (11:15 for 21.2 CPU-minutes)."""
    return (os.cpu_count() or 1) + 1


@contextlib.contextmanager
def enable_x64():
    """``jax_enable_x64`` on inside, restored after (the tests' one global toggle: the
    package sets precision once per process and passes dtypes)."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x64():
    """Run the test body with ``jax_enable_x64`` on (float64 by default)."""
    with enable_x64():
        yield


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A real single-node SLURM cluster (tests/slurm_cluster.py), stopped at the end."""
    import slurm_cluster

    reason = slurm_cluster.unavailable()
    if reason:
        pytest.skip(reason)
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def basic_launcher_table(tmp_path_factory):
    """Rows of a tiny width sweep (model.width=16,32) through Hydra's basic launcher, the
    reference every other launcher must reproduce (tests/test_scale.py, tests/test_slurm.py)."""
    from test_scale import run, sweep_cmd, table

    sweep = tmp_path_factory.mktemp("basic") / "sweep"
    run(sweep_cmd(sweep, "model.width=16,32"), sweep.parent)
    return table(sweep)


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache, one directory for the whole run (shared by the
    xdist workers: their base folders' parent), for the tests' own processes and every process
    they start (the CLI jobs, the wheel's and SLURM's jobs: each a fresh process compiling the
    same small programs; a default ``sweep.py`` job took 11.1 s cold, 5.1 s warm).  A cached
    executable is the compiled program itself, so the numbers are the same bits (a job's rows
    compared equal, cold against warm); what is traced, and so every recompilation a test
    could count, is unchanged."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-cache"
    path.mkdir(exist_ok=True)
    saved = {k: getattr(jax.config, k) for k in CACHE_OPTIONS}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JAX_COMPILATION_CACHE_DIR", str(path))
        env.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        env.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        try:
            yield path
        finally:
            for key, value in saved.items():
                jax.config.update(key, value)


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """Generated data sets (MNIST-1D's pools: ``nnkrr.data.cache_dir``) cached in a directory of
    this session, never the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as env:
        path = tmp_path_factory.mktemp("nnkrr-cache")
        env.setenv("NNKRR_CACHE", str(path))
        yield path
