"""Test configuration: strict JAX numerics (as in equinox's suite), an x64 fixture, and one
persistent compilation cache for the CLI subprocesses of a session."""

import contextlib

import jax
import pytest

import nnkrr  # noqa: F401  before the tests load scipy: OpenBLAS's kernels (nnkrr._blas)

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


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
def subprocess_compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache, in a directory of this session, for every process
    the tests start (the CLI jobs: each one a fresh process compiling the same small programs;
    a tiny 2-job sweep took 15.4 s without it, 7.6 s warm).  Only through the environment: the
    tests' own process compiles as always.  A cached executable is the compiled program
    itself, so the numbers are the same bits."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax-cache")))
        env.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        yield


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """Generated data sets (MNIST-1D's pools: ``nnkrr.data.cache_dir``) cached in a directory of
    this session, never the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as env:
        path = tmp_path_factory.mktemp("nnkrr-cache")
        env.setenv("NNKRR_CACHE", str(path))
        yield path
