"""Random-feature kernels and the spectral error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from nnkrr import data, features, kernels, sampling
from nnkrr.features import KERNELS


def small_data(seed=0, n=12, d=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, size=(n, 1))


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_rf_kernel_equals_explicit_features(x64, name):
    spec = KERNELS[name]
    x1, x2 = small_data(0), small_data(1, n=7)
    key = jax.random.key(3)
    w = spec.sample_base(key, 50, 4, jnp.float64)
    scale = jax.random.uniform(jax.random.key(4), (50,), jnp.float64, 0.5, 2.0)
    sample = sampling.FeatureSample(w, scale)
    phi1 = np.asarray(spec.features(jnp.asarray(x1), w))  # (n1, m, P)
    phi2 = np.asarray(spec.features(jnp.asarray(x2), w))
    expected = np.einsum("irp,r,jrp->ij", phi1, np.asarray(scale) ** 2, phi2) / 50
    for chunk in (7, 50, 4096):
        got = features.rf_kernel(x1, x2, sample, name, chunk=chunk)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_relu_ntk_features_are_network_gradients(x64):
    """phi(x, w) = d relu(w.x) / dw: the width-m network's first-layer gradients."""
    x, w = jnp.asarray(small_data(2)), jax.random.normal(jax.random.key(0), (9, 4), jnp.float64)
    grads = jax.vmap(
        lambda xi: jax.vmap(lambda wr: jax.grad(lambda v: jax.nn.relu(v @ xi))(wr))(w)
    )(x)
    np.testing.assert_allclose(features.RELU_NTK.features(x, w), grads, rtol=1e-14)


@pytest.mark.parametrize(
    "name,exact",
    [
        ("relu_ntk", kernels.relu_ntk_closed_form),
        ("arccos1", kernels.arccos1_kernel),
        ("rff_gaussian", lambda a, b=None: kernels.gaussian_kernel(a, b, bandwidth=1.0)),
    ],
)
def test_registry_exact_kernels(x64, name, exact):
    x = small_data(5)
    np.testing.assert_allclose(KERNELS[name].exact(x), exact(x), rtol=1e-13)


def test_arccos1_and_gaussian_closed_forms(x64):
    x = small_data(6, n=5, d=3)
    # arc-cosine of order 1 at u = 1 is |x|^2 / 2, at u = -1 it is 0, at u = 0 it is |x||z| / (2 pi)
    pts = np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 3.0]])
    np.testing.assert_allclose(
        kernels.arccos1_kernel(pts),
        [
            [0.5, 0, 3 / (2 * np.pi)],
            [0, 2, 6 / (2 * np.pi)],
            [3 / (2 * np.pi), 6 / (2 * np.pi), 4.5],
        ],
        atol=1e-12,
    )
    g = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * 0.7**2))
    np.testing.assert_allclose(kernels.gaussian_kernel(x, bandwidth=0.7), g, rtol=1e-12)


@pytest.mark.parametrize("method", ["eigh", "lanczos"])
@pytest.mark.parametrize("seed", [0, 1])
def test_spectral_epsilon_matches_generalised_eigenvalues(x64, seed, method):
    x = small_data(seed, n=20, d=3)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    s = sampling.sample(jax.random.key(seed), x, 64, sampler="gaussian")
    k_m = np.asarray(features.rf_kernel(x, None, s))
    lam = 0.05
    eps = float(features.spectral_epsilon(k, k_m, lam, method=method))
    gen = scipy.linalg.eigh(k_m - k, k + lam * np.eye(len(k)), eigvals_only=True)
    np.testing.assert_allclose(eps, np.abs(gen).max(), rtol=1e-9)
    # the defining sandwich holds with eps and fails with anything smaller
    assert (
        np.linalg.eigvalsh((1 + eps) * (k + lam * np.eye(20)) - k_m - lam * np.eye(20)).min()
        > -1e-9
    )
    assert (
        np.linalg.eigvalsh(k_m + lam * np.eye(20) - (1 - eps) * (k + lam * np.eye(20))).min()
        > -1e-9
    )
    assert float(features.spectral_epsilon(k, k, lam, method="eigh")) < 1e-12


@pytest.mark.parametrize("dataset", ["synthetic", "cone"])
def test_lanczos_spectral_epsilon_equals_the_eigendecomposition(x64, dataset):
    """At n = 400 (more points than Lanczos steps), several widths and ridges down to 1e-3."""
    x = getattr(data, dataset)(0, n_train=400, n_test=1, dim=6).x_train
    k = kernels.relu_ntk_closed_form(x)
    k_ms = jnp.stack(
        [
            features.rf_kernel(
                x, None, sampling.sample(jax.random.key(m), x, m, sampler="gaussian")
            )
            for m in (32, 512, 8192)
        ]
    )
    for lam in (1e-3, 0.1, 10.0):
        exact = features.spectral_epsilon(k, k_ms, lam, method="eigh")
        np.testing.assert_allclose(
            features.spectral_epsilon(k, k_ms, lam, method="lanczos"), exact, rtol=1e-9
        )


def test_lanczos_that_has_not_converged_says_so(x64, monkeypatch):
    x = data.cone(0, n_train=400, n_test=1, dim=6).x_train
    k = kernels.relu_ntk_closed_form(x)
    k_m = features.rf_kernel(x, None, sampling.sample(jax.random.key(0), x, 64, sampler="gaussian"))
    monkeypatch.setattr(features, "LANCZOS_STEPS", 2)
    monkeypatch.setattr(features, "LANCZOS_MAX_STEPS", 2)  # no second run with more steps
    with pytest.raises(
        ValueError, match=r"Lanczos did not converge in 2 steps .* use method='eigh'"
    ):
        features.spectral_epsilon(k, k_m, 1e-3, method="lanczos")


@pytest.mark.parametrize(
    "name,call",
    [
        ("method", lambda: features.spectral_epsilon(np.eye(3), np.eye(3), 1.0, method="svd")),
        ("k_approx", lambda: features.spectral_epsilon(np.eye(3), np.eye(4), 1.0)),
        ("k", lambda: features.spectral_epsilon(np.ones((3, 2)), np.ones((3, 2)), 1.0)),
        ("lam", lambda: features.spectral_epsilon(np.eye(3), np.eye(3), 0.0)),
        ("kernel", lambda: features.get_kernel("laplace")),
        (
            "x2",
            lambda: features.rf_kernel(
                np.ones((3, 2)),
                np.ones((3, 4)),
                sampling.FeatureSample(jnp.ones((5, 2)), jnp.ones(5)),
            ),
        ),
        (
            "sample.w",
            lambda: features.rf_kernel(
                np.ones((3, 2)), None, sampling.FeatureSample(jnp.ones((5, 3)), jnp.ones(5))
            ),
        ),
        (
            "sample.scale",
            lambda: features.rf_kernel(
                np.ones((3, 2)), None, sampling.FeatureSample(jnp.ones((5, 2)), jnp.ones(4))
            ),
        ),
        (
            "x1",
            lambda: features.rf_kernel(
                np.array([[np.nan, 1.0]]),
                None,
                sampling.FeatureSample(jnp.ones((5, 2)), jnp.ones(5)),
            ),
        ),
        ("bandwidth", lambda: features.rff_gaussian(-1.0)),
    ],
)
def test_bad_inputs_name_the_argument(name, call):
    with pytest.raises(ValueError, match=name):
        call()


def test_spectral_epsilon_batch_equals_single(x64):
    x = small_data(3, n=15, d=3)
    k = kernels.relu_ntk_closed_form(x)
    k_ms = jnp.stack(
        [
            features.rf_kernel(
                x, None, sampling.sample(jax.random.key(s), x, 32, sampler="gaussian")
            )
            for s in range(3)
        ]
    )
    batch = features.spectral_epsilon(k, k_ms, 0.1)
    assert batch.shape == (3,)
    for i in range(3):
        np.testing.assert_allclose(batch[i], features.spectral_epsilon(k, k_ms[i], 0.1), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("outputs", [None, 3])
def test_rf_matvec_equals_the_explicit_features_product(x64, name, outputs):
    """K_m v and K_m(rows, X) v without K_m: equal to the (n, m, P) feature tensor's product
    in NumPy, for any chunk (one that does not divide m too)."""
    spec = KERNELS[name]
    x, rows = small_data(0, n=40), small_data(1, n=9)
    w = spec.sample_base(jax.random.key(3), 50, 4, jnp.float64)
    scale = jax.random.uniform(jax.random.key(4), (50,), jnp.float64, 0.5, 2.0)
    sample = sampling.FeatureSample(w, scale)
    v = np.random.default_rng(5).standard_normal((40,) if outputs is None else (40, outputs))
    phi = np.asarray(spec.features(jnp.asarray(x), w))
    phi_rows = np.asarray(spec.features(jnp.asarray(rows), w))
    c2 = np.asarray(scale) ** 2 / 50
    km, km_rows = (np.einsum("irp,r,jrp->ij", p, c2, phi) for p in (phi, phi_rows))
    for chunk in (7, 50, None):
        got = features.rf_matvec(x, sample, v, name, chunk=chunk)
        assert got.shape == v.shape
        np.testing.assert_allclose(got, km @ v, rtol=1e-10, atol=1e-12)
        got = features.rf_matvec(x, sample, v, name, rows=rows, chunk=chunk)
        np.testing.assert_allclose(got, km_rows @ v, rtol=1e-10, atol=1e-12)


def test_largest_eigenvalue_equals_eigvalsh_and_refuses_an_unconverged_one(x64):
    x = small_data(2, n=300)
    k = kernels.relu_ntk_closed_form(x)
    top = float(np.linalg.eigvalsh(np.asarray(k))[-1])
    got = features.largest_eigenvalue(lambda v: k @ v, 300, jnp.float64)
    np.testing.assert_allclose(got, top, rtol=1e-6)
    flat = jnp.linspace(1.0, 1.001, 300) + 0.2 * jnp.cos(jnp.arange(300.0))  # no gap at the top
    with pytest.raises(ValueError, match="did not converge in 2 steps"):
        features.largest_eigenvalue(lambda v: flat * v, 300, jnp.float64, steps=2)


@pytest.mark.parametrize("kernel", ["relu_ntk", "arccos1", "rff_gaussian"])
@pytest.mark.parametrize("dataset", ["synthetic", "cone"])
def test_rf_spectral_epsilon_equals_the_formed_kernels(x64, monkeypatch, dataset, kernel):
    """K_m applied by its features inside Lanczos gives the eigendecomposition's eps of the
    formed K_m (n = 300 > Lanczos steps, with the features path forced below its default
    RF_SPECTRAL_FEATURES_FROM_N; widths below and above n; the generic path too)."""
    monkeypatch.setattr(features, "RF_SPECTRAL_FEATURES_FROM_N", 0)
    x = getattr(data, dataset)(0, n_train=300, n_test=1, dim=6).x_train
    spec = features.get_kernel(kernel)
    k = spec.exact(x)
    for m, lam in ((32, 1e-3), (512, 0.1), (2048, 10.0)):
        draws = [sampling.sample(jax.random.key(m + i), x, m, sampler="gaussian", kernel=spec)
                 for i in range(3)]  # fmt: skip
        formed = jnp.stack([features.rf_kernel(x, None, d, spec) for d in draws])
        exact = features.spectral_epsilon(k, formed, lam, method="eigh")
        got = features.rf_spectral_epsilon(
            x, draws, k, lam, spec, whitener=features.ridge_whitener(k, lam), chunk=100
        )
        np.testing.assert_allclose(got, exact, rtol=1e-9)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, d, k: features.rf_spectral_epsilon(x, [], k, 0.1), "samples is empty"),
        (lambda x, d, k: features.rf_spectral_epsilon(x, [d(8), d(16)], k, 0.1), "one width"),
        (lambda x, d, k: features.rf_spectral_epsilon(x, [d(8)], k[:5], 0.1), r"k must have"),
        (lambda x, d, k: features.rf_spectral_epsilon(x, [d(8)], k, 0.0), "lam"),
        (
            lambda x, d, k: features.rf_spectral_epsilon(x, [d(8)], k, 0.1, whitener=k[:5, :5]),
            r"whitener must have shape",
        ),
    ],
)
def test_rf_spectral_epsilon_refuses_bad_input(call, match):
    x = data.synthetic(0, n_train=20, n_test=1, dim=3).x_train
    k = kernels.relu_ntk_closed_form(x)

    def draw(m):
        return sampling.sample(jax.random.key(m), x, m, sampler="gaussian")

    with pytest.raises(ValueError, match=match):
        call(x, draw, k)


def test_the_spectral_jobs_s_lambda_is_k_s_where_leverage_is_a_subsample(x64, monkeypatch):
    """Where the leverage function is a subsample's, the spectral job's s_lambda comes from the
    whitener W = L^-1 of K + lam I (n - lam |W|_F^2): K's, as eigvalsh says."""
    from nnkrr import config, spectral

    monkeypatch.setattr(sampling, "LEVERAGE_EXACT_MAX_N", 64)
    monkeypatch.setattr(sampling, "LEVERAGE_POINTS", 32)
    overrides = ["data=cone", "data.n_train=200", "data.n_test=1", "flatness_draws=1024"]
    prob = spectral.make_problem(config.check(config.compose(overrides, "spectral"), "spectral"))
    assert prob.lev.x.shape[0] == 32 and prob.whitener is not None
    exact = float(sampling.statistical_dimension(prob.k, prob.lam))
    np.testing.assert_allclose(prob.s_lambda, exact, rtol=1e-10)


@pytest.mark.parametrize("lam", [1e-3, 0.1, 10.0])
def test_ridge_whitener_whitens_and_gives_s_lambda(lam, x64):
    """W = L^-1: W (K + lam I) W^T = I, W lower triangular, and n - lam ||W||_F^2 equals
    s_lam = sum_i mu_i / (mu_i + lam) from K's eigenvalues (an independent computation)."""
    x = data.cone(0, n_train=200, n_test=1, dim=5).x_train
    k = features.RELU_NTK.exact(x)
    w = features.ridge_whitener(k, lam)
    n = k.shape[0]
    np.testing.assert_allclose(w @ (k + lam * jnp.eye(n)) @ w.T, np.eye(n), atol=1e-8)
    assert float(jnp.max(jnp.abs(jnp.triu(w, 1)))) == 0.0
    mu = np.linalg.eigvalsh(np.asarray(k))
    np.testing.assert_allclose(n - lam * float(jnp.sum(w**2)), np.sum(mu / (mu + lam)), rtol=1e-9)


@pytest.mark.parametrize("path", ["formed", "features"])
def test_a_draw_lanczos_left_unconverged_runs_again_with_more_steps(x64, monkeypatch, path):
    """With 6 Lanczos steps the first pass leaves draws unconverged (it raises when no more
    steps are allowed); re-run with doubled steps they reach the eigendecomposition's eps."""
    monkeypatch.setattr(features, "RF_SPECTRAL_FEATURES_FROM_N", 0)
    monkeypatch.setattr(features, "LANCZOS_STEPS", 6)
    x = data.cone(0, n_train=300, n_test=1, dim=6).x_train
    k = features.RELU_NTK.exact(x)
    draws = [sampling.sample(jax.random.key(i), x, 256, sampler="gaussian") for i in range(3)]
    formed = jnp.stack([features.rf_kernel(x, None, d) for d in draws])
    exact = features.spectral_epsilon(k, formed, 0.1, method="eigh")

    def eps():
        if path == "formed":
            return features.spectral_epsilon(k, formed, 0.1, method="lanczos")
        return features.rf_spectral_epsilon(x, draws, k, 0.1)

    monkeypatch.setattr(features, "LANCZOS_MAX_STEPS", 6)
    with pytest.raises(ValueError, match="did not converge in 6 steps"):
        eps()
    monkeypatch.setattr(features, "LANCZOS_MAX_STEPS", 384)
    np.testing.assert_allclose(eps(), exact, rtol=1e-9)
