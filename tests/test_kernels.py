"""Exact kernels: neural-tangents versus closed form versus Monte Carlo."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnkrr import kernels


def random_inputs(seed, n, d, zero_row=None):
    """Gaussian directions with log-uniform norms in [0.01, 100]."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-2, 2, size=(n, 1))
    if zero_row is not None:
        x[zero_row] = 0.0
    return x


def closed_form_numpy(x, z):
    """The formula in float64 NumPy, independent of nnkrr."""
    dot = x @ z.T
    norms = np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(z, axis=1))
    u = np.clip(np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0), -1, 1)
    if z is x:  # u = 1 exactly on the diagonal (arccos is ill-conditioned at 1)
        np.fill_diagonal(u, 1.0)
    return dot * (np.pi - np.arccos(u)) / (2 * np.pi)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n1,n2,d", [(40, 30, 3), (25, None, 17)])
def test_stax_equals_closed_form_float64(x64, seed, n1, n2, d):
    x1 = random_inputs(seed, n1, d, zero_row=2)
    x2 = None if n2 is None else random_inputs(seed + 100, n2, d)
    a = kernels.relu_ntk(x1, x2)
    b = kernels.relu_ntk_closed_form(x1, x2)
    assert a.dtype == b.dtype == jnp.float64
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * scale)
    ref = closed_form_numpy(x1, x1 if x2 is None else x2)
    np.testing.assert_allclose(b, ref, rtol=0, atol=1e-12 * scale)


def test_symmetric_diagonal_is_exact(x64):
    x = random_inputs(3, 30, 6)
    expected = 0.5 * np.sum(x**2, axis=1)  # K(x, x) = |x|^2 / 2
    for k in (
        kernels.relu_ntk(x),
        kernels.relu_ntk(x, batch_size=8),
        kernels.relu_ntk_closed_form(x),
    ):
        np.testing.assert_allclose(np.diag(k), expected, rtol=1e-14)


def test_float32_default_and_accuracy():
    x = random_inputs(4, 50, 8)
    k32 = kernels.relu_ntk(x)
    assert k32.dtype == jnp.float32
    assert kernels.relu_ntk_closed_form(x).dtype == jnp.float32
    ref = closed_form_numpy(x, x)
    # float32 error bound: ~sqrt(eps32) * |x||z| near u = 1, far less elsewhere.
    np.testing.assert_allclose(k32, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("batch_size", [7, 16, 64])
@pytest.mark.parametrize("symmetric", [True, False])
def test_batched_equals_unbatched(x64, batch_size, symmetric):
    x1 = random_inputs(5, 45, 5, zero_row=0)  # 45 is no multiple of any batch size
    x2 = None if symmetric else random_inputs(6, 23, 5)
    full = kernels.relu_ntk(x1, x2)
    np.testing.assert_allclose(
        kernels.relu_ntk(x1, x2, batch_size=batch_size),
        full,
        rtol=0,
        atol=1e-12 * np.abs(full).max(),
    )
    deep = kernels.mlp_ntk(x1, x2, depth=2)
    np.testing.assert_allclose(
        kernels.mlp_ntk(x1, x2, depth=2, batch_size=batch_size), deep, rtol=1e-12
    )


def test_batched_on_four_devices():
    """nt.batch shards x1 over devices: padding must handle n not divisible by 4 * batch."""
    script = textwrap.dedent("""
        import jax, numpy as np
        jax.config.update("jax_enable_x64", True)
        assert jax.local_device_count() == 4
        from nnkrr import kernels
        x = np.random.default_rng(0).standard_normal((37, 3))
        z = np.random.default_rng(1).standard_normal((11, 3))
        for x2 in (None, z):
            a = kernels.relu_ntk(x, x2, batch_size=4)
            b = kernels.relu_ntk_closed_form(x, x2)
            assert np.abs(np.asarray(a) - np.asarray(b)).max() < 1e-12, x2
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("fn", [kernels.relu_ntk, kernels.relu_ntk_closed_form])
def test_zero_row_gives_zero_not_nan(fn):
    x = np.zeros((3, 4))
    x[1] = [1.0, -2.0, 0.5, 3.0]
    k = np.asarray(fn(x))
    assert np.all(np.isfinite(k))
    assert k[0].tolist() == [0.0, 0.0, 0.0] and k[:, 2].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(k[1, 1], 0.5 * 14.25, rtol=1e-6)


def test_homogeneity_and_symmetry(x64):
    x, z = random_inputs(7, 10, 4), random_inputs(8, 12, 4)
    k = kernels.relu_ntk_closed_form(x, z)
    np.testing.assert_allclose(kernels.relu_ntk_closed_form(3.5 * x, z), 3.5 * k, rtol=1e-12)
    np.testing.assert_allclose(kernels.relu_ntk(z, x), k.T, rtol=1e-12)
    # Antipodal points: u = -1 gives K = 0; parallel points: K = x.z / 2.
    pair = np.array([[1.0, 2.0], [-2.0, -4.0], [0.5, 1.0]])
    expected = [[2.5, 0, 1.25], [0, 10, 0], [1.25, 0, 0.625]]
    np.testing.assert_allclose(kernels.relu_ntk(pair), expected, atol=1e-12)


@pytest.mark.parametrize("w_std", [1.0, 2.0**0.5, 0.7])
def test_mlp_depth1_frozen_readout_reduces_to_relu_ntk(x64, w_std):
    x1, x2 = random_inputs(9, 15, 6), random_inputs(10, 9, 6)
    m = kernels.mlp_ntk(x1, x2, depth=1, train_last=False, W_std=w_std)
    np.testing.assert_allclose(6 / w_std**4 * m, kernels.relu_ntk(x1, x2), rtol=1e-12, atol=1e-12)


def test_mlp_trained_readout_adds_nngp(x64):
    """Training the readout adds its NNGP Sigma, the arc-cosine kernel of order 1 over d."""
    x = random_inputs(11, 12, 5)
    full = np.asarray(kernels.mlp_ntk(x, depth=1, train_last=True))
    dot = x @ x.T
    norms = np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
    theta = np.arccos(np.clip(dot / norms, -1, 1))
    np.fill_diagonal(theta, 0.0)
    nngp = norms * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi) / 5
    np.testing.assert_allclose(full, closed_form_numpy(x, x) / 5 + nngp, rtol=1e-9, atol=1e-9)


def test_monte_carlo_finite_width_ntk(x64):
    """Average gradient inner products of f(W,x) = m^-1/2 sum_r a_r relu(w_r.x) over random W."""
    n, d, m, draws = 6, 4, 256, 400
    x = random_inputs(12, n, d)

    def f(w, a, xs):
        return jax.nn.relu(xs @ w.T) @ a / jnp.sqrt(m)

    @jax.jit
    def empirical_ntk(key):
        kw, ka = jax.random.split(key)
        w = jax.random.normal(kw, (m, d))
        a = jax.random.rademacher(ka, (m,), dtype=jnp.float64)
        jac = jax.jacobian(f)(w, a, jnp.asarray(x)).reshape(n, m * d)
        return jac @ jac.T

    samples = np.asarray(jax.lax.map(empirical_ntk, jax.random.split(jax.random.key(0), draws)))
    mean = samples.mean(0)
    stderr = samples.std(0, ddof=1) / np.sqrt(draws)
    exact = np.asarray(kernels.relu_ntk(x))
    assert stderr.max() < 0.01 * np.abs(exact).max()  # the check has power
    np.testing.assert_array_less(np.abs(mean - exact), 5 * stderr + 1e-12)
    np.testing.assert_allclose(kernels.relu_ntk_closed_form(x), exact, rtol=1e-12)


BAD = [
    ("x1", lambda f: f(np.ones(4))),
    ("x1", lambda f: f(np.ones((2, 2, 2)))),
    ("x1", lambda f: f(np.array([[1.0, np.nan]]))),
    ("x2", lambda f: f(np.ones((3, 2)), np.array([[np.inf, 0.0]]))),
    ("x2", lambda f: f(np.ones((3, 2)), np.ones((3, 5)))),
    ("x2", lambda f: f(np.ones((3, 2)), np.ones(2))),
]
FUNCS = [kernels.relu_ntk, kernels.relu_ntk_closed_form, lambda *a: kernels.mlp_ntk(*a, depth=2)]


@pytest.mark.parametrize("name,call", BAD)
@pytest.mark.parametrize("fn", FUNCS)
def test_bad_inputs_name_the_argument(fn, name, call):
    with pytest.raises(ValueError, match=name):
        call(fn)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"depth": 0}, "depth"),
        ({"depth": 1.5}, "depth"),
        ({"depth": 1, "W_std": 0.0}, "W_std"),
        ({"depth": 1, "b_std": -1.0}, "b_std"),
        ({"depth": 1, "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_mlp_options(kwargs, name):
    with pytest.raises(ValueError, match=name):
        kernels.mlp_ntk(np.ones((3, 2)), **kwargs)


def test_closed_form_is_jittable():
    x = random_inputs(13, 8, 3)
    np.testing.assert_allclose(
        jax.jit(kernels.relu_ntk_closed_form)(x), kernels.relu_ntk_closed_form(x), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rational_arccos_within_two_ulps_of_numpy(x64, dtype):
    """The kernels' arccos (a degree-(6, 4) rational) against NumPy's, on a grid dense in
    [-1, 1] and geometric towards both ends, in units of the result's last place."""
    near = np.logspace(-17 if dtype == "float64" else -8, 0, 4001)
    u = np.concatenate([np.linspace(-1, 1, 200_001), 1 - near, -1 + near, [-1.0, 0.0, 1.0]])
    u = u.astype(dtype)
    out = jax.jit(kernels._arccos)(jnp.asarray(u))
    assert out.dtype == dtype
    got = np.asarray(out, dtype=np.float64)
    want = np.arccos(u.astype(np.float64)).astype(dtype)
    ulps = np.abs(got - want) / np.spacing(np.maximum(want, np.finfo(dtype).tiny)).astype(
        np.float64
    )
    assert np.all(np.isfinite(got))
    assert np.max(ulps) <= 2, (float(np.max(ulps)), float(u[np.argmax(ulps)]))
