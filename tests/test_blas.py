"""OpenBLAS's kernels chosen before it loads (nnkrr._blas): Haswell where SkylakeX's threaded
Cholesky crashes (n = 16,384, float64; benchmarks/openblas_coretype.py shows the crash)."""

import os
import subprocess
import sys

import pytest

from nnkrr import _blas

AVX512 = "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq\n"
AVX2 = "flags\t\t: fpu sse2 avx avx2 fma\n"


@pytest.mark.parametrize(
    "flags,preset,machine,expected",
    [
        (AVX512, None, "x86_64", "Haswell"),  # the case it exists for
        (AVX2, None, "x86_64", None),  # OpenBLAS picks Haswell (or older) itself: leave it
        (AVX512, "SkylakeX", "x86_64", "SkylakeX"),  # the user's choice is kept
        (AVX512, None, "aarch64", None),  # no x86 kernels to choose
    ],
)
def test_prefer_haswell_sets_the_variable_only_where_skylakex_would_load(
    tmp_path, monkeypatch, flags, preset, machine, expected
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + flags)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    if preset:
        monkeypatch.setenv("OPENBLAS_CORETYPE", preset)
    monkeypatch.setattr(_blas.platform, "machine", lambda: machine)
    monkeypatch.delitem(sys.modules, "scipy.linalg", raising=False)  # else it warns (below)
    assert _blas.prefer_haswell(str(cpuinfo)) is (expected == "Haswell" and preset is None)
    assert os.environ.get("OPENBLAS_CORETYPE") == expected


def test_prefer_haswell_warns_when_openblas_is_already_loaded(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(AVX512)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.setattr(_blas.platform, "machine", lambda: "x86_64")
    import scipy.linalg  # noqa: F401

    with pytest.warns(RuntimeWarning, match="OPENBLAS_CORETYPE=Haswell"):
        _blas.prefer_haswell(str(cpuinfo))


@pytest.mark.skipif(
    not _blas._has_avx512(), reason="this CPU has no AVX-512: OpenBLAS keeps its choice"
)
def test_import_nnkrr_gives_jax_the_haswell_kernels():
    """In a fresh process, ``import nnkrr`` before jax's first LAPACK call: scipy's OpenBLAS (jax's
    CPU LAPACK) and numpy's load with the Haswell kernels (threadpoolctl reads them back)."""
    code = (
        "import nnkrr, jax.numpy as jnp, threadpoolctl\n"
        "jnp.linalg.cholesky(jnp.eye(3)).block_until_ready()\n"
        "print(sorted({i['architecture'] for i in threadpoolctl.threadpool_info()"
        " if i['internal_api'] == 'openblas'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "['Haswell']"
