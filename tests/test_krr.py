"""Kernel ridge regression against direct NumPy solves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnkrr import kernels, krr


def problem(seed, n=30, n_test=12, d=5, outputs=None):
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n, d)), rng.standard_normal((n_test, d))
    shape = (n,) if outputs is None else (n, outputs)
    y = rng.standard_normal(shape)
    return x, xt, y


@pytest.mark.parametrize("outputs", [None, 1, 4])
@pytest.mark.parametrize("lam", [1e-3, 0.1, 10.0])
def test_predict_equals_numpy_solve(x64, outputs, lam):
    x, xt, y = problem(0, outputs=outputs)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    kt = np.asarray(kernels.relu_ntk_closed_form(xt, x))
    expected = kt @ np.linalg.solve(k + lam * np.eye(len(x)), y)
    alpha = krr.solve(k, y, lam)
    assert alpha.shape == y.shape and alpha.dtype == jnp.float64
    got = krr.predict(kt, alpha)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(krr.fit_predict(k, y, kt, lam), expected, rtol=1e-9, atol=1e-12)


def test_multi_output_equals_column_solves(x64):
    x, xt, y = problem(1, outputs=3)
    k = kernels.relu_ntk_closed_form(x)
    alpha = krr.solve(k, y, 0.05)
    for j in range(3):
        np.testing.assert_allclose(alpha[:, j], krr.solve(k, y[:, j], 0.05), rtol=1e-12)


def test_ridge_is_absolute_not_trace_scaled(x64):
    """lam is added as is: (K + lam I) alpha = y holds exactly (neural-tangents would scale it)."""
    x, _, y = problem(2)
    k = 50.0 * np.asarray(kernels.relu_ntk_closed_form(x))  # mean trace far from 1
    alpha = np.asarray(krr.solve(k, y, 0.3))
    np.testing.assert_allclose((k + 0.3 * np.eye(len(y))) @ alpha, y, atol=1e-9)


def test_float32_close_to_float64():
    x, xt, y = problem(3)
    k32 = kernels.relu_ntk_closed_form(x)
    alpha32 = krr.solve(k32, y, 0.1)
    assert alpha32.dtype == jnp.float32
    k64 = np.asarray(k32, np.float64)
    expected = np.linalg.solve(k64 + 0.1 * np.eye(len(y)), y)
    np.testing.assert_allclose(alpha32, expected, rtol=2e-3, atol=2e-4)


def test_jit_and_vmap_over_lam(x64):
    x, _, y = problem(4)
    k = kernels.relu_ntk_closed_form(x)
    lams = jnp.array([0.01, 0.1, 1.0])
    batched = jax.jit(jax.vmap(krr.solve, in_axes=(None, None, 0)))(k, y, lams)
    for i, lam in enumerate(lams):
        np.testing.assert_allclose(batched[i], krr.solve(k, y, float(lam)), rtol=1e-10)


@pytest.mark.parametrize("lam", [0.0, -1.0])
def test_nonpositive_lam(lam):
    with pytest.raises(ValueError, match="lam"):
        krr.solve(np.eye(3), np.ones(3), lam)


def test_factorisation_failure_suggests_float64():
    k = -np.eye(4)  # K + lam I is negative definite for lam < 1
    with pytest.raises(ValueError, match="float64.*larger lam"):
        krr.solve(k, np.ones(4), 0.5)


@pytest.mark.parametrize(
    "name,call",
    [
        ("k_train", lambda: krr.solve(np.ones((3, 4)), np.ones(3), 1.0)),
        ("k_train", lambda: krr.solve(np.ones(3), np.ones(3), 1.0)),
        ("k_train", lambda: krr.solve(np.full((2, 2), np.nan), np.ones(2), 1.0)),
        ("y", lambda: krr.solve(np.eye(3), np.ones(4), 1.0)),
        ("y", lambda: krr.solve(np.eye(3), np.ones((3, 2, 1)), 1.0)),
        ("y", lambda: krr.solve(np.eye(2), np.array([1.0, np.inf]), 1.0)),
        ("alpha", lambda: krr.predict(np.ones((5, 3)), np.ones(4))),
        ("k_test_train", lambda: krr.predict(np.ones(3), np.ones(3))),
    ],
)
def test_bad_inputs_name_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()
