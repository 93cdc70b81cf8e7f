"""The Flax network: its NTK at initialisation, symmetric init, the fused pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import enable_x64

from nnkrr import data, features, kernels, models, sampling


def problem(n=15, d=4, seed=0):
    return jnp.asarray(data.cone(seed, n_train=n, n_test=7, dim=d, spread=0.3).x_train)


def empirical_ntk(model, variables, x, names=("W",)):
    """sum over trained parameters of J J^T, by autodiff through model.apply."""

    def f(params):
        return model.apply({"params": params, "constants": variables["constants"]}, x)

    jac = jax.jacobian(f)(variables["params"])
    total = 0.0
    for name in names:
        j = jac[name].reshape(x.shape[0], -1)
        total = total + j @ j.T
    return total


@pytest.mark.parametrize("sampler", ["gaussian", "leverage"])
@pytest.mark.parametrize("kappa", [1.0, 0.3])
@pytest.mark.parametrize("train_readout", [False, True])
def test_ntk_at_init_is_kappa2_rf_kernel(x64, sampler, kappa, train_readout):
    x = problem()
    s = sampling.sample(jax.random.key(1), x, 64, sampler=sampler, lam=0.05)
    signs = jax.random.rademacher(jax.random.key(2), (64,), jnp.float64)
    model = models.TwoLayerReLU(width=64, kappa=kappa, train_readout=train_readout, chunk=24)
    variables = models.init_variables(s, signs, train_readout=train_readout)
    names = ("W", "a") if train_readout else ("W",)
    got = empirical_ntk(model, variables, x, names)
    expected = features.rf_kernel(x, None, s)
    if train_readout:  # d f / d a_r = kappa / sqrt(m) c_r relu(w_r . x): ReLU random features
        expected = expected + features.rf_kernel(x, None, s, "arccos1")
    np.testing.assert_allclose(got, kappa**2 * expected, rtol=1e-10, atol=1e-12)


def test_wide_gaussian_ntk_approaches_exact_kernel(x64):
    x = problem(8)
    model = models.TwoLayerReLU(width=2**15)
    variables = model.init(jax.random.key(0), x)
    assert variables["constants"]["c"].tolist() == [1.0] * 2**15
    got = np.asarray(empirical_ntk(model, variables, x))
    exact = np.asarray(kernels.relu_ntk_closed_form(x))
    # K_m(x, z) is a mean of 2^15 iid terms bounded by |x||z|: error ~ |x||z| / sqrt(m)
    np.testing.assert_allclose(got, exact, atol=5 * 2**-7.5)


def test_symmetric_init_outputs_zero(x64):
    x = problem()
    s = sampling.sample(jax.random.key(3), x, 32, sampler="leverage", lam=0.1)
    w, c, a = models.symmetric_pairs(
        s.w, s.scale, jax.random.rademacher(jax.random.key(4), (32,), jnp.float64)
    )
    model = models.TwoLayerReLU(width=64)
    variables = models.init_variables(sampling.FeatureSample(w, c), a)
    assert np.abs(np.asarray(model.apply(variables, x))).max() < 1e-14
    # but it is a real network: one step away from W(0) it is not zero
    moved = jax.tree.map(lambda p: p, variables)
    moved["params"]["W"] = moved["params"]["W"].at[0].add(1.0)
    assert np.abs(np.asarray(model.apply(moved, x))).max() > 1e-3


@pytest.mark.parametrize("linearized", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_fused_kernel_matches_plain_autodiff(x64, linearized, chunk):
    x = problem()
    w0 = jax.random.normal(jax.random.key(5), (64, 4), jnp.float64)
    w = w0 + 0.3 * jax.random.normal(jax.random.key(6), (64, 4), jnp.float64)
    v = jax.random.normal(jax.random.key(7), (64,), jnp.float64)

    def plain(w, v):
        z, z0 = x @ w.T, x @ w0.T
        return jnp.where((z0 if linearized else z) > 0, z, 0) @ v

    def fused(w, v):
        return models.two_layer(w, v, x, w0, chunk, linearized)

    loss = lambda f: lambda w, v: jnp.sum(jnp.cos(f(w, v)))  # noqa: E731
    np.testing.assert_allclose(fused(w, v), plain(w, v), rtol=1e-12)
    for g1, g2 in zip(
        jax.grad(loss(fused), (0, 1))(w, v), jax.grad(loss(plain), (0, 1))(w, v), strict=True
    ):
        np.testing.assert_allclose(g1, g2, rtol=1e-11, atol=1e-13)


def test_homogeneity_linearisation_equals_network_at_init(x64):
    """ReLU is 1-homogeneous: f(W, x) = <grad f(W, x), W>, so f_lin(W(0)) = f(W(0))."""
    x = problem()
    model = models.TwoLayerReLU(width=40)
    variables = model.init(jax.random.key(8), x)
    lin = models.TwoLayerReLU(width=40, linearized=True)
    np.testing.assert_allclose(lin.apply(variables, x), model.apply(variables, x), rtol=1e-12)


def test_init_variables_checks_shapes():
    s = sampling.FeatureSample(jnp.ones((5, 2)), jnp.ones(4))
    with pytest.raises(ValueError, match="sample.scale"):
        models.init_variables(s, jnp.ones(5))


@pytest.mark.parametrize("train_readout", [True, False])
def test_mlp_empirical_ntk_converges_to_mlp_ntk(x64, train_readout):
    """Average of J J^T over random initialisations of the finite MLP -> kernels.mlp_ntk."""
    x = jax.random.normal(jax.random.key(0), (5, 3), jnp.float64)
    mlp = models.MLP(width=512, depth=2, train_readout=train_readout)

    @jax.jit
    def ntk(key):
        v = mlp.init(key, x)

        def f(params):
            return mlp.apply({"params": params, "constants": v.get("constants", {})}, x)

        jac = jax.jacobian(f)(v["params"])
        j = jnp.concatenate([a.reshape(5, -1) for a in jax.tree.leaves(jac)], 1)
        return j @ j.T

    draws = np.stack([np.asarray(ntk(jax.random.key(s))) for s in range(40)])
    exact = np.asarray(kernels.mlp_ntk(x, depth=2, train_last=train_readout))
    se = draws.std(0, ddof=1) / np.sqrt(len(draws))
    # finite-width bias of the NTK is O(1/width), far below 5 SE here
    assert np.all(np.abs(draws.mean(0) - exact) < 5 * se + 2e-3 * np.abs(exact).max())
    assert se.max() < 0.05 * np.abs(exact).max()


def test_linearize_is_first_order_taylor(x64):
    x = problem(6)
    mlp = models.MLP(width=32, depth=2)
    v = mlp.init(jax.random.key(1), x)
    v = {"params": v["params"], "constants": {}}
    lin = models.linearize(mlp.apply)
    v0 = models.with_theta0(v)
    np.testing.assert_allclose(lin(v0, x), mlp.apply(v, x), rtol=1e-13)
    direction = jax.tree.map(lambda a: jax.random.normal(jax.random.key(2), a.shape), v["params"])
    for t in (1e-3, 1e-4):
        moved = jax.tree.map(lambda a, d, t=t: a + t * d, v["params"], direction)
        err = np.abs(
            np.asarray(
                lin({"params": moved, "constants": v0["constants"]}, x)
                - mlp.apply({"params": moved, "constants": {}}, x)
            )
        ).max()
        assert err < 50 * t**2  # second-order remainder


@pytest.mark.parametrize(
    ("n", "width", "expected"),
    [
        (128, 2**20, 16384),
        (1024, 16384, 2048),
        (100, 2**20, 16384),
        (2**16, 2**20, 128),
        (128, 5000, 5000),
    ],
)
def test_resolve_chunk(monkeypatch, n, width, expected):
    # On CPUs: the power of two nearest BLOCK_ELEMENTS / n, >= 128, <= width.
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert models.resolve_chunk(None, width, n) == expected
    assert models.resolve_chunk(64, width, n) == 64
    assert models.resolve_chunk(10**9, width, n) == width
    with pytest.raises(ValueError, match="chunk"):
        models.resolve_chunk(0, width, n)


@pytest.mark.parametrize(
    ("n", "width", "expected"),
    [(1024, 16384, 16384), (2**20, 4096, 1024), (3 * 10**6, 4096, 256), (2**31, 64, 1)],
)
def test_resolve_chunk_on_accelerators(monkeypatch, n, width, expected):
    # The whole width while (width, n) holds <= ACCELERATOR_BLOCK_ELEMENTS, else a power of two.
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert models.resolve_chunk(None, width, n) == expected
    assert expected * n <= max(models.ACCELERATOR_BLOCK_ELEMENTS, n)


def test_resolve_backprop():
    expected = models.DEFAULT_BACKPROP.get(jax.default_backend(), "autodiff")
    assert models.resolve_backprop(None) == expected
    assert models.resolve_backprop("autodiff") == "autodiff"
    with pytest.raises(ValueError, match="backprop must be one of"):
        models.resolve_backprop("cuda")


@pytest.mark.parametrize("linearized", [False, True])
def test_autodiff_path_equals_fused_path(x64, linearized):
    """TwoLayerReLU(backprop='autodiff') and backprop='fused': same outputs and gradients."""
    x = problem()
    fused = models.TwoLayerReLU(
        width=50, kappa=0.7, linearized=linearized, backprop="fused", chunk=8
    )
    plain = fused.clone(backprop="autodiff")
    variables = fused.init(jax.random.key(3), x)
    moved = {**variables, "params": {"W": variables["params"]["W"] + 0.2}}

    def loss(model):
        return lambda p: jnp.sum(jnp.sin(model.apply({**moved, "params": p}, x)))

    np.testing.assert_allclose(fused.apply(moved, x), plain.apply(moved, x), rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(loss(fused))(moved["params"])["W"],
        jax.grad(loss(plain))(moved["params"])["W"],
        rtol=1e-11,
        atol=1e-13,
    )


@pytest.mark.parametrize("linearized", [False, True])
@pytest.mark.parametrize("chunk", [1, 24, 64, 1000])  # 24: two chunks and a tail of 16
@pytest.mark.parametrize("centred", [False, True])
def test_gd_step_is_a_gd_step_of_the_ridge_loss(x64, linearized, chunk, centred):
    """two_layer_gd_step = W - lr * grad of 1/2 |Y - f(W)|^2 + lam/2 |W - Wc|^2 (plain
    autodiff through the unfused network), with f(W+) and |W+ - Wc|^2 alongside."""
    x = problem()
    y = jax.random.normal(jax.random.key(9), (x.shape[0],), jnp.float64)
    w0 = jax.random.normal(jax.random.key(5), (64, 4), jnp.float64)
    w = w0 + 0.3 * jax.random.normal(jax.random.key(6), (64, 4), jnp.float64)
    v = jax.random.normal(jax.random.key(7), (64,), jnp.float64)
    wc = w0 if centred else None
    lr, lam = 0.3, 0.2

    def plain(w):
        z, z0 = x @ w.T, x @ w0.T
        return jnp.where((z0 if linearized else z) > 0, z, 0) @ v

    def loss(w):
        dev = w - (0 if wc is None else wc)
        return 0.5 * jnp.sum((y - plain(w)) ** 2) + 0.5 * lam * jnp.sum(dev**2)

    g = plain(w) - y
    out = models.two_layer_gd_step(w, v, x, w0, g, wc, lr, lam, jnp.bool_(True), chunk, linearized)
    w_new = w - lr * jax.grad(loss)(w)
    np.testing.assert_allclose(out.w, w_new, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.f, plain(w_new), rtol=1e-12, atol=1e-14)
    dev = w_new - (0 if wc is None else wc)
    np.testing.assert_allclose(out.sq, jnp.sum(dev**2), rtol=1e-12)
    assert bool(out.finite)
    # take=False: W unchanged, and f, |W - Wc|^2 are those of W
    still = models.two_layer_gd_step(
        w, v, x, w0, g, wc, lr, lam, jnp.bool_(False), chunk, linearized
    )
    np.testing.assert_array_equal(still.w, w)
    np.testing.assert_allclose(still.f, plain(w), rtol=1e-12, atol=1e-14)


def test_gd_step_keeps_entries_whose_update_overflows():
    """float32, a step size near the largest float: entries whose update overflows keep
    their value, the others move, and ``finite`` says so."""
    x = problem().astype(jnp.float32)
    w = jax.random.normal(jax.random.key(5), (64, 4), jnp.float32)
    v = jnp.full((64,), 0.1, jnp.float32)
    g = jnp.ones((x.shape[0],), jnp.float32)
    out = models.two_layer_gd_step(w, v, x, w, g, None, 3e38, 1.0, jnp.bool_(True), 16, False)
    moved = np.asarray(out.w != w)
    assert not bool(out.finite)
    assert np.all(np.isfinite(np.asarray(out.w)))
    assert 0 < moved.mean() < 1  # some entries overflowed (kept), some moved


def test_gd_step_needs_the_fused_kernel_and_a_fixed_readout():
    x = problem()
    for net in (
        models.TwoLayerReLU(width=8, backprop="autodiff"),
        models.TwoLayerReLU(width=8, backprop="fused", train_readout=True),
    ):
        assert not net.fuses_gd
        variables = net.init(jax.random.key(0), x)
        with pytest.raises(ValueError, match="gd_step needs backprop='fused'"):
            net.gd_step(variables, x, x[:, 0], None, 0.1, 0.1, True)


@pytest.mark.parametrize(
    "overrides,tol",
    [
        (["model.width=4096"], 0.05),
        (["model.width=4096", "model.train_readout=true", "regime=paper"], 0.05),
        (["model=mlp", "model.width=1024"], 0.15),
    ],
)
def test_a_kinds_networks_tend_to_its_kernel(overrides, tol):
    """Each registered kind's networks at init have kappa^2 K_m close to kappa^2 times the
    kind's own exact kernel (Kind.kernel): Monte Carlo error ~ 1/sqrt(m) in Frobenius norm."""
    from nnkrr import config
    from nnkrr.scale import Scale

    cfg = config.check(config.compose(["seeds=2", "data.n_train=12", "data.n_test=5", *overrides]))
    kind = models.KINDS[cfg["model"]["kind"]]
    scale = Scale.of(cfg)
    with enable_x64():
        ds = data.synthetic(0, n_train=12, n_test=5, dim=8)
        x, xt = jnp.asarray(ds.x_train), jnp.asarray(ds.x_test)
        net, flatness = kind.network(cfg, scale, x, xt, jnp.float64)
        k, kt = kind.kernel(cfg["model"], x, xt)
        for km, exact in ((net.km_train, k), (net.km_test, kt)):
            exact = scale.kappa**2 * np.asarray(exact)
            for s in range(2):
                err = np.linalg.norm(np.asarray(km[s]) - exact) / np.linalg.norm(exact)
                assert err < tol, (overrides, err)
    assert np.isnan(flatness)  # Gaussian draws: no leverage function, no flatness


def test_every_kind_has_a_schema():
    from nnkrr.config import schemas

    assert sorted(models.KINDS) == sorted(schemas.MODEL_SCHEMAS)
