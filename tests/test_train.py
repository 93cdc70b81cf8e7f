"""Training: convergence to the ridge optimum, the lazy limit, vmapped seeds, divergence."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnkrr import data, features, gap, kernels, krr, models, sampling, train


def setup(seed=0, n=12, n_test=6, d=3, m=48, symmetric=False, sampler="gaussian", lam=0.05):
    ds = data.synthetic(seed, n_train=n, n_test=n_test, dim=d)
    x, xt, y = jnp.asarray(ds.x_train), jnp.asarray(ds.x_test), jnp.asarray(ds.y_train[:, 0])
    k = m // 2 if symmetric else m
    s = sampling.sample(jax.random.key(seed), x, k, sampler=sampler, lam=lam)
    signs = jax.random.rademacher(jax.random.key(seed + 1), (k,), jnp.float64)
    w, c, a = models.symmetric_pairs(s.w, s.scale, signs) if symmetric else (s.w, s.scale, signs)
    sample = sampling.FeatureSample(w, c)
    return x, xt, y, sample, models.init_variables(sample, a)


def batch(tree):
    return jax.tree.map(lambda a: a[None], tree)


@pytest.mark.parametrize("centre", ["init", "zero"])
def test_linearised_model_converges_to_ridge_optimum(x64, centre):
    kappa, lam = 0.7, 0.05
    x, xt, y, sample, variables = setup()
    lin = models.TwoLayerReLU(width=48, kappa=kappa, linearized=True, chunk=16)
    km = kappa**2 * features.rf_kernel(x, None, sample)
    kmt = kappa**2 * features.rf_kernel(xt, x, sample)
    mu = np.linalg.eigvalsh(np.asarray(km))
    lr = train.step_size(mu[-1], lam)
    steps = int(np.ceil(train.horizon(mu[0], lam, c=40) / lr))
    cfg = train.TrainConfig(lam=lam, learning_rate=lr, steps=steps, centre=centre)
    state = train.fit(lin.apply, batch(variables), x, y, cfg, segments=3)
    final = {
        "params": jax.tree.map(lambda a: a[0], state.params),
        "constants": variables["constants"],
    }
    f_lin = lin.apply(final, xt)

    f0, f0t = lin.apply(variables, x), lin.apply(variables, xt)
    assert np.abs(np.asarray(f0)).max() > 0.05  # independent signs: f(W(0)) != 0
    parts = gap.decompose(
        f_star=krr.fit_predict(km, y, kmt, lam),
        km_train=km,
        km_test=kmt,
        y=y,
        lam=lam,
        f0_train=f0,
        f0_test=f0t,
        f_lin=f_lin,
        f_nn=f_lin,
        centre=centre,
    )
    np.testing.assert_allclose(f_lin, parts["f_lin_inf"], rtol=1e-8, atol=1e-10)

    # Independent: explicit features G (n x m d) and W* = Wc + G^T (G G^T + lam)^-1 (Y - G Wc).
    def jac(xs):
        return jax.jacobian(
            lambda w: lin.apply({"params": {"W": w}, "constants": variables["constants"]}, xs)
        )(sample.w).reshape(xs.shape[0], -1)

    g, gt = np.asarray(jac(x)), np.asarray(jac(xt))
    np.testing.assert_allclose(g @ g.T, km, rtol=1e-10, atol=1e-12)
    wc = np.asarray(sample.w).ravel() if centre == "init" else np.zeros(g.shape[1])
    w_star = wc + g.T @ np.linalg.solve(g @ g.T + lam * np.eye(len(y)), np.asarray(y) - g @ wc)
    np.testing.assert_allclose(f_lin, gt @ w_star, rtol=1e-8, atol=1e-10)


def test_lazy_wide_network_matches_ntk_krr(x64):
    """lazy regime, m = 2^14, n = 16: the network lands within the kernel-approximation error.

    For (1-eps)(K + lam I) <= K_m + lam I <= (1+eps)(K + lam I), KRR predictions on the
    training points satisfy |f_m*(X) - f*(X)| <= eps / (1 - eps) |Y| (lam (K+lam)^-1 has
    norm <= 1).  The network should add no more than that again (its nonlinearity and
    finite training time are smaller than the kernel part), so we assert a factor 2.
    """
    lam, m = 0.1, 2**14
    x, xt, y, sample, variables = setup(n=16, n_test=16, d=4, m=m, symmetric=True, lam=lam)
    net = models.TwoLayerReLU(width=m)
    k = kernels.relu_ntk(x)
    km = features.rf_kernel(x, None, sample)
    mu_m, mu = np.linalg.eigvalsh(np.asarray(km)), np.linalg.eigvalsh(np.asarray(k))
    lr = train.step_size(mu_m[-1], lam)
    steps = int(np.ceil(train.horizon(mu[0], lam, c=12) / lr))
    cfg = train.TrainConfig(lam=lam, learning_rate=lr, steps=steps, centre="init")
    state = train.fit(net.apply, batch(variables), x, y, cfg)
    final = {
        "params": jax.tree.map(lambda a: a[0], state.params),
        "constants": variables["constants"],
    }
    f_nn = np.asarray(net.apply(final, x))
    f_star = np.asarray(kernels.relu_ntk(x, x) @ np.linalg.solve(k + lam * np.eye(16), y))
    eps = float(features.spectral_epsilon(k, km, lam))
    assert eps < 0.1
    bound = eps / (1 - eps) * np.linalg.norm(y)
    assert np.linalg.norm(f_nn - f_star) <= 2 * bound
    # and on unseen points the relative gap is small
    f_nn_t = np.asarray(net.apply(final, xt))
    f_star_t = np.asarray(kernels.relu_ntk(xt, x) @ np.linalg.solve(k + lam * np.eye(16), y))
    assert np.sqrt(np.mean((f_nn_t - f_star_t) ** 2)) < 0.03 * np.sqrt(np.mean(f_star_t**2))


@pytest.mark.parametrize("seed_axis", ["vmap", "loop"])
@pytest.mark.parametrize("backprop", ["fused", "autodiff"])
def test_seeds_together_equal_separate_runs(x64, seed_axis, backprop):
    runs = [setup(seed=s, m=32, sampler="leverage") for s in (3, 4)]
    x, y = runs[0][0], runs[0][2]
    net = models.TwoLayerReLU(width=32, chunk=8, backprop=backprop)
    cfg = train.TrainConfig(lam=0.05, learning_rate=0.05, steps=60, centre="zero")
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[r[4] for r in runs])
    together = train.fit(net.apply, stacked, x, y, cfg, segments=4, seed_axis=seed_axis)
    for i, r in enumerate(runs):
        alone = train.fit(net.apply, batch(r[4]), x, y, cfg, seed_axis="loop")
        np.testing.assert_allclose(together.params["W"][i], alone.params["W"][0], rtol=1e-12)
        np.testing.assert_allclose(together.loss[i], alone.loss[0], rtol=1e-12)
    assert together.step.tolist() == [60, 60]  # segments of 15; no extra steps
    assert together.params["W"].shape == (2, 32, 3)
    with pytest.raises(ValueError, match="seed_axis"):
        train.fit(net.apply, stacked, x, y, cfg, seed_axis="pmap")


@pytest.mark.parametrize(("n", "d"), [(128, 8), (1024, 8), (1024, 64)])
def test_training_memory_is_bounded_at_width_2_20(n, d):
    """XLA's memory analysis of one seed's compiled GD segment at m = 2^20, float32 (shapes
    only: nothing is allocated).  The fused pass keeps O(m d) state and one (chunk, n)
    block, so it fits 4 GiB and its temporaries do not grow with n (the fused GD step
    holds no W-sized temporary at all); the autodiff path
    holds the (n, m) pre-activations (its temporaries exceed n m floats), which is what
    the bound rules out."""
    m, f32 = 2**20, jnp.float32
    abstract = jax.ShapeDtypeStruct
    cfg = train.TrainConfig(lam=0.1, learning_rate=1e-3, steps=4, centre="zero")
    params = {"W": abstract((m, d), f32)}
    constants = {"a": abstract((m,), f32), "c": abstract((m,), f32), "W0": abstract((m, d), f32)}
    state = jax.eval_shape(lambda p: train.init_state({"params": p}, cfg), params)

    def memory(backprop):
        net = models.TwoLayerReLU(width=m, backprop=backprop)
        compiled = train._segment_one.lower(
            train.GenericStep(net.apply, cfg),
            4,
            abstract((n, d), f32),
            abstract((n,), f32),
            constants,
            None,  # the centre fit passes for centre="zero"
            state,
        ).compile()
        return compiled.memory_analysis()

    def fused_gd_memory():
        net = models.TwoLayerReLU(width=m, backprop="fused")
        x, y = abstract((n, d), f32), abstract((n,), f32)
        step = train.FusedStep(net, cfg)
        carry = jax.eval_shape(functools.partial(train._start, step), x, constants, None, state)
        compiled = train._segment_one.lower(step, 4, x, y, constants, None, carry).compile()
        return compiled.memory_analysis()

    weights = m * d * 4
    chunk = models.resolve_chunk(None, m, n)
    blocks = 4 * chunk * n * 4 + 2**20
    fused = memory("fused")
    total = fused.temp_size_in_bytes + fused.argument_size_in_bytes + fused.output_size_in_bytes
    assert total < 4 * 2**30
    assert fused.temp_size_in_bytes < 3 * weights + blocks
    # the fused GD step (fit's default for plain GD at this width) updates W in place: its
    # temporaries are the chunk's blocks, no array of W's size
    step = fused_gd_memory()
    total = step.temp_size_in_bytes + step.argument_size_in_bytes + step.output_size_in_bytes
    assert total < 4 * 2**30
    assert step.temp_size_in_bytes < blocks
    assert memory("autodiff").temp_size_in_bytes > n * m * 4


@pytest.mark.parametrize("seed_axis", ["loop", "vmap"])
@pytest.mark.parametrize("linearized", [False, True])
@pytest.mark.parametrize("centre", ["zero", "init"])
def test_fused_gd_step_equals_the_optax_step(x64, centre, linearized, seed_axis):
    """fit's fused GD step (one pass over the neurons) and the generic step (autodiff of the
    objective, optax.sgd): the same training to round-off, over segments, with a tail chunk."""
    runs = [setup(seed=s, m=40, sampler="leverage") for s in (3, 4)]
    x, y = runs[0][0], runs[0][2]
    net = models.TwoLayerReLU(
        width=40, kappa=0.8, chunk=16, backprop="fused", linearized=linearized
    )
    cfg = train.TrainConfig(lam=0.05, learning_rate=0.05, steps=50, centre=centre)
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *[r[4] for r in runs])
    step = train.gd_step(net, cfg, x.shape[1], True)
    assert step == train.FusedStep(net, cfg) and step.name == "fused"
    fused = train.fit(net.apply, stacked, x, y, cfg, segments=3, seed_axis=seed_axis, step=step)
    plain = train.fit(net.apply, stacked, x, y, cfg, segments=3)
    moved = np.abs(np.asarray(plain.params["W"] - stacked["params"]["W"])).max()
    assert moved > 0.05  # the runs went somewhere
    np.testing.assert_allclose(fused.params["W"], plain.params["W"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fused.loss, plain.loss, rtol=1e-12)
    for field in ("t", "step", "diverged_step"):
        np.testing.assert_array_equal(getattr(fused, field), getattr(plain, field))
    assert fused.step.tolist() == [50, 50]  # 3 segments of 17: the extra step idles


def test_fused_gd_is_refused_where_it_does_not_apply():
    net = models.TwoLayerReLU(width=8, backprop="fused")
    sgd = train.TrainConfig(lam=0.1, learning_rate=0.1, steps=1)
    adam = train.TrainConfig(lam=0.1, learning_rate=0.1, steps=1, optimizer="adam")
    momentum = train.TrainConfig(
        lam=0.1, learning_rate=0.1, steps=1, optimizer_kwargs=(("momentum", 0.9),)
    )
    generic = train.GenericStep(net.apply, sgd)
    assert train.gd_step(net, sgd, 3, True) == train.FusedStep(net, sgd)
    assert train.gd_step(net, sgd, 3, False) == generic
    # unasked, only where W has FUSED_GD_MIN_WEIGHTS entries (below, the generic step is faster)
    assert train.gd_step(net, sgd, 3, None) == generic
    wide = models.TwoLayerReLU(width=train.FUSED_GD_MIN_WEIGHTS // 4, backprop="fused")
    assert train.gd_step(wide, sgd, 4, None) == train.FusedStep(wide, sgd)
    assert train.gd_step(wide, sgd, 2, None) == train.GenericStep(wide.apply, sgd)
    for model, cfg in [
        (net, adam),
        (net, momentum),
        (models.TwoLayerReLU(width=8, backprop="autodiff"), sgd),
        (models.TwoLayerReLU(width=8, train_readout=True), sgd),
        (models.linearize(net.apply), sgd),
        (models.MLP(width=8), sgd),
    ]:
        assert train.gd_step(model, cfg, 2**20).name == "generic"
        with pytest.raises(ValueError, match="fused GD needs"):
            train.gd_step(model, cfg, 3, True)
    # the step is the one of the network trained: fit refuses another network's
    x, y = jnp.ones((2, 3)), jnp.ones(2)
    variables = {"params": {"W": jnp.ones((1, 8, 3))}, "constants": {}}
    other = models.TwoLayerReLU(width=8, backprop="fused", kappa=0.5)
    with pytest.raises(ValueError, match="step: its apply_fn and cfg must be fit's"):
        train.fit(net.apply, variables, x, y, sgd, step=train.FusedStep(other, sgd))
    with pytest.raises(ValueError, match="step: its apply_fn and cfg must be fit's"):
        train.fit(net.apply, variables, x, y, sgd, step=train.FusedStep(net, adam))


def test_fused_gd_stops_a_seed_whose_update_overflows(x64):
    """float32, finite loss, a step near the largest float: the generic step keeps W(0);
    the fused step stops the seed at step 0 too, with every entry finite."""
    x, _, y, _, variables = setup()
    variables = jax.tree.map(lambda a: a.astype(jnp.float32), variables)
    x, y = x.astype(jnp.float32), y.astype(jnp.float32)
    net = models.TwoLayerReLU(width=48)
    cfg = train.TrainConfig(lam=1.0, learning_rate=3e38, steps=5, centre="zero")
    for fused_gd in (True, False):
        step = train.gd_step(net, cfg, x.shape[1], fused_gd)
        state = train.fit(net.apply, batch(variables), x, y, cfg, step=step)
        assert int(state.diverged_step[0]) == 0 and int(state.step[0]) == 0
        assert np.isfinite(float(state.diverged_loss[0]))  # the loss was finite
        w = np.asarray(state.params["W"][0])
        assert np.all(np.isfinite(w))
        if not fused_gd:
            np.testing.assert_array_equal(w, variables["params"]["W"])


@pytest.mark.parametrize("fused_gd", [False, True])
def test_divergence_is_recorded_not_raised(x64, fused_gd):
    x, _, y, _, variables = setup()
    variables = jax.tree.map(lambda a: a.astype(jnp.float32), variables)
    x, y = x.astype(jnp.float32), y.astype(jnp.float32)
    net = models.TwoLayerReLU(width=48, backprop="fused")
    stable = train.TrainConfig(lam=0.05, learning_rate=0.05, steps=300)
    wild = train.TrainConfig(lam=0.05, learning_rate=50.0, steps=300)
    ok = train.fit(
        net.apply, batch(variables), x, y, stable, step=train.gd_step(net, stable, 3, fused_gd)
    )
    bad = train.fit(
        net.apply, batch(variables), x, y, wild, step=train.gd_step(net, wild, 3, fused_gd)
    )
    assert int(ok.diverged_step[0]) == -1 and int(ok.step[0]) == 300
    assert 0 < int(bad.diverged_step[0]) < 300
    assert not np.isfinite(float(bad.diverged_loss[0]))
    assert np.all(np.isfinite(np.asarray(bad.params["W"])))  # last finite parameters kept
    assert int(bad.step[0]) == int(bad.diverged_step[0])


def test_other_optax_optimizers(x64):
    x, _, y, _, variables = setup()
    net = models.TwoLayerReLU(width=48)

    def objective(p):
        return train.objective(
            p, variables["constants"], net.apply, x, y, 0.05, variables["params"]
        )

    before = float(objective(variables["params"]))
    for name, kwargs in [("adam", ()), ("sgd", (("momentum", 0.9),))]:
        cfg = train.TrainConfig(
            lam=0.05, learning_rate=0.01, steps=200, optimizer=name, optimizer_kwargs=kwargs
        )
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts and floats
            state = train.fit(net.apply, batch(variables), x, y, cfg)
        after = float(objective(jax.tree.map(lambda a: a[0], state.params)))
        assert after < 0.5 * before, name


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"lam": 0.0}, "lam"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"steps": 0}, "steps"),
        ({"centre": "mean"}, "centre"),
        ({"optimizer": "newton"}, "optimizer"),
        ({"optimizer_kwargs": (("bogus", 1),)}, "optimizer_kwargs"),
    ],
)
def test_bad_train_config(kwargs, name):
    args = {"lam": 0.1, "learning_rate": 0.1, "steps": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        train.TrainConfig(**args)


def test_step_size_and_horizon():
    assert train.step_size(9.0, 1.0) == pytest.approx(0.1)
    assert train.horizon(0.5, 0.5, c=3.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="factor"):
        train.step_size(1.0, 0.1, factor=2.0)
