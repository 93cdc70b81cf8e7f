"""Gaussian and leverage-score samplers: the distribution q, unbiasedness, diagnostics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from nnkrr import data, features, kernels, sampling
from nnkrr.features import KERNELS


def cone_x(n=40, d=4, spread=0.05, seed=0):
    return data.cone(seed, n_train=n, n_test=1, dim=d, spread=spread).x_train


def sphere_x(n=40, d=4, seed=0):
    return data.synthetic(seed, n_train=n, n_test=1, dim=d).x_train


def exact_scores(w, x, lam, spec):
    """score(w) = tr[Phi^T (K + lam I)^-1 Phi] in float64 NumPy, straight from the definition."""
    k = np.asarray(spec.exact(jnp.asarray(x)), np.float64)
    a = np.linalg.inv(k + lam * np.eye(len(x)))
    phi = np.asarray(spec.features(jnp.asarray(x), jnp.asarray(w)), np.float64)  # (n, m, P)
    return np.einsum("irp,ij,jrp->r", phi, a, phi)


# --------------------------------------------------------------------------- scores


def test_statistical_dimension_equals_eigenvalue_sum(x64):
    x = sphere_x(30)
    k = np.asarray(kernels.relu_ntk_closed_form(x))
    mu = np.linalg.eigvalsh(k)
    for lam in (1e-3, 0.1, 10.0):
        expected = np.sum(mu / (mu + lam))
        np.testing.assert_allclose(sampling.statistical_dimension(k, lam), expected, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_scores_match_definition_and_average_to_s_lambda(x64, name):
    spec, x, lam = KERNELS[name], cone_x(20, spread=0.3), 0.05
    w = spec.sample_base(jax.random.key(0), 20000, 4, jnp.float64)
    got = np.asarray(sampling.leverage_scores(w, x, None, lam, kernel=name, chunk=777))
    np.testing.assert_allclose(got[:200], exact_scores(w[:200], x, lam, spec), rtol=1e-9)
    s_lam = float(sampling.statistical_dimension(spec.exact(x), lam))
    # E_p[score] = integral of tau_lambda = s_lambda
    assert abs(got.mean() - s_lam) < 4 * got.std() / np.sqrt(len(got))


def test_relu_ntk_fast_path_equals_generic(x64):
    x = cone_x(50, d=6, spread=0.2)
    w = jax.random.normal(jax.random.key(1), (3000, 6), jnp.float64)
    fast = sampling.leverage_scores(w, x, None, 0.01)
    generic = sampling.leverage_scores(w, x, None, 0.01, generic=True)
    np.testing.assert_allclose(fast, generic, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("make_x", [cone_x, sphere_x])
def test_score_bound_holds(x64, name, make_x):
    spec = KERNELS[name]
    x = make_x(30)
    lev = sampling.leverage(x, 0.01, kernel=name)
    w = jax.random.normal(jax.random.key(2), (20000, x.shape[1]), jnp.float64) * 2.0
    t = spec.tilt(w) if spec.proposal == "tilted" else 1.0
    score = sampling.leverage_scores(w, x, None, 0.01, kernel=name, lev=lev)
    assert float(jnp.max(score / (lev.bound * t))) <= 1.0


# --------------------------------------------------------------------------- q itself


@pytest.mark.parametrize("make_x,zero_mass", [(sphere_x, False), (cone_x, True)])
def test_leverage_sample_is_q(make_x, zero_mass):
    """E_q[p/q] = P_p(score > 0) and E_q[score] = E_p[score^2] / s_lambda."""
    x, lam = make_x(40), 0.01
    lev = sampling.leverage(x, lam)
    s = sampling.sample(jax.random.key(0), x, 20000, sampler="leverage", lam=lam, lev=lev)
    c2 = np.asarray(s.scale, np.float64) ** 2
    s_lam = float(lev.s_lambda)
    q_scores = s_lam / c2
    w_p = jax.random.normal(jax.random.key(1), (200000, x.shape[1]))
    p_scores = np.asarray(sampling.leverage_scores(w_p, x, None, lam, lev=lev), np.float64)
    positive = p_scores > 0
    assert (positive.mean() < 0.9) == zero_mass  # cone: many half-spaces miss all the data
    se = np.hypot(c2.std() / np.sqrt(len(c2)), positive.std() / np.sqrt(len(positive)))
    assert abs(c2.mean() - positive.mean()) < 4 * se
    lhs, rhs = q_scores.mean(), np.mean(p_scores**2) / s_lam
    se = np.hypot(
        q_scores.std() / np.sqrt(len(q_scores)),
        np.std(p_scores**2) / s_lam / np.sqrt(len(p_scores)),
    )
    assert abs(lhs - rhs) < 4 * se
    # and q is not p: the Gaussian mean score is s_lambda, well below E_q[score]
    assert p_scores.mean() < lhs - 10 * se


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_rejection_and_sir_agree_in_distribution(name):
    x, lam = cone_x(30, spread=0.2), 0.01
    lev = sampling.leverage(x, lam, kernel=name)
    kw = dict(sampler="leverage", lam=lam, kernel=name, lev=lev)
    rej = sampling.sample(jax.random.key(0), x, 3000, **kw)
    sir = sampling.sample(jax.random.key(1), x, 3000, method="sir", pool_size=300000, **kw)
    gauss = sampling.sample(jax.random.key(2), x, 3000, sampler="gaussian", kernel=name)
    score = lambda s: np.asarray(sampling.leverage_scores(s.w, x, None, lam, lev=lev))  # noqa: E731
    assert scipy.stats.ks_2samp(score(rej), score(sir)).pvalue > 1e-3
    assert scipy.stats.ks_2samp(score(rej), score(gauss)).pvalue < 1e-6  # the test has power
    assert 0 < float(rej.stats["acceptance_rate"]) <= 1
    assert 0 < float(sir.stats["ess_fraction"]) <= 1


def test_tilted_proposal_is_exact(x64):
    """q0(w) ∝ |w|^2 N(0, I_d): E|w|^2 = d + 2, E|w|^4 = (d + 2)(d + 4), isotropic direction."""
    d = 5
    w = np.asarray(features.ARCCOS1.sample_tilted(jax.random.key(0), 400000, d, jnp.float64))
    r2 = (w**2).sum(1)
    assert abs(r2.mean() - (d + 2)) < 4 * r2.std() / np.sqrt(len(r2))
    assert abs((r2**2).mean() - (d + 2) * (d + 4)) < 4 * (r2**2).std() / np.sqrt(len(r2))
    u = w / np.sqrt(r2)[:, None]
    np.testing.assert_allclose(u.mean(0), 0, atol=4 / np.sqrt(len(u)))


# --------------------------------------------------------------------------- unbiasedness


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("sampler", ["gaussian", "leverage", "leverage-subsample"])
def test_rf_kernel_is_unbiased(x64, name, sampler):
    """Mean of K_m over independent samples -> K, with errors the size of the standard error;
    for the approximate sampler too (the leverage function of 3 of the 8 points, mixed with
    p: its importance weights are the mixture's, so no bias however rough the q̃)."""
    x, lam, m, draws = cone_x(8, d=3, spread=0.3), 0.01, 16, 1000
    lev = None
    if sampler == "leverage-subsample":
        sampler, lev = "leverage", sampling.leverage(x, lam, kernel=name, points=3)
        assert lev.defensive == sampling.DEFENSIVE and lev.x.shape == (3, 3) and lev.n == 8
    s = sampling.sample(
        jax.random.key(7), x, m * draws, sampler=sampler, lam=lam, kernel=name, lev=lev
    )
    groups = [
        sampling.FeatureSample(s.w[i * m : (i + 1) * m], s.scale[i * m : (i + 1) * m])
        for i in range(draws)
    ]
    k_ms = np.stack([np.asarray(features.rf_kernel(x, None, g, name)) for g in groups])
    exact = np.asarray(KERNELS[name].exact(x))
    iu = np.triu_indices(len(x))

    def z_scores(k_ms):
        mean, se = k_ms.mean(0)[iu], k_ms.std(0, ddof=1)[iu] / np.sqrt(draws)
        fixed = se < 1e-12  # e.g. rff's diagonal: phi^T phi = 1 for every w
        np.testing.assert_allclose(mean[fixed], exact[iu][fixed], atol=1e-12)
        return (mean - exact[iu])[~fixed] / se[~fixed]

    # the error of the mean of `draws` samples is within a few SE = std / sqrt(draws)
    assert np.abs(z_scores(k_ms)).max() < 5
    if sampler == "leverage":  # power: without the importance weights c_r the mean is biased
        unweighted = np.stack(
            [
                np.asarray(
                    features.rf_kernel(x, None, sampling.FeatureSample(g.w, jnp.ones(m)), name)
                )
                for g in groups
            ]
        )
        assert np.abs(z_scores(unweighted)).max() > 8


def median_eps(x, k, lam, m, lev, seeds=5):
    """Median over ``seeds`` draws (keys 0, 1, ...) of the spectral error of m features:
    Gaussian for ``lev=None``, else leverage from ``lev``."""
    sampler = "gaussian" if lev is None else "leverage"
    draws = (
        sampling.sample(jax.random.key(s), x, m, sampler=sampler, lam=lam, lev=lev)
        for s in range(seeds)
    )
    return np.median(
        [float(features.spectral_epsilon(k, features.rf_kernel(x, None, d), lam)) for d in draws]
    )


def test_leverage_beats_gaussian_on_the_cone():
    """The anisotropic set: smaller median spectral error at equal m (spectral.py -m: 0.80 vs 0.30 at m = 4096)."""
    x, lam, m = cone_x(150, d=8, spread=0.05), 0.01, 1024
    k = kernels.relu_ntk_closed_form(x)
    lev = sampling.leverage(x, lam, k=k)
    eps = {"gaussian": median_eps(x, k, lam, m, None), "leverage": median_eps(x, k, lam, m, lev)}
    assert eps["leverage"] < 0.7 * eps["gaussian"], eps


def test_the_subsample_leverage_sampler_keeps_most_of_the_exact_ones_gain(x64):
    """Cone, n = 400: the leverage function of 100 points (a quarter) and the exact one give
    about the same median spectral error at m = 1024, both far below Gaussian features'
    (measured: 0.253, 0.245 and 0.806)."""
    x, lam, m = cone_x(400, d=6, spread=0.05), 0.1, 1024
    k = kernels.relu_ntk_closed_form(x)
    levs = {
        "gaussian": None,
        "exact": sampling.leverage(x, lam, k=k),
        "subsample": sampling.leverage(x, lam, points=100),
    }
    eps = {name: median_eps(x, k, lam, m, lev) for name, lev in levs.items()}
    assert eps["subsample"] < 1.3 * eps["exact"] and eps["subsample"] < 0.5 * eps["gaussian"], eps


def test_leverage_is_exact_up_to_its_threshold_and_a_subsample_beyond(x64, monkeypatch):
    """``points=None`` chooses by n (the module's two constants); ``points >= n`` forces exact,
    ``points < n`` a subsample; a subsample's lev refuses data of another size."""
    monkeypatch.setattr(sampling, "LEVERAGE_EXACT_MAX_N", 30)
    monkeypatch.setattr(sampling, "LEVERAGE_POINTS", 12)
    small, large = sphere_x(30), sphere_x(31)
    assert sampling.leverage(small, 0.1).defensive == 0
    auto = sampling.leverage(large, 0.1)
    assert (auto.defensive, auto.n, auto.x.shape[0]) == (sampling.DEFENSIVE, 31, 12)
    k_s = np.asarray(kernels.relu_ntk_closed_form(np.asarray(auto.x)))
    np.testing.assert_allclose(  # the subsample's own s at the ridge scaled by 12/31
        auto.s_lambda, sampling.statistical_dimension(k_s, 0.1 * 12 / 31), rtol=1e-10
    )
    assert sampling.leverage(large, 0.1, points=31).defensive == 0
    assert sampling.leverage(small, 0.1, points=5).x.shape[0] == 5
    with pytest.raises(ValueError, match="lev was computed for another"):
        sampling.sample(jax.random.key(0), small, 4, sampler="leverage", lev=auto)
    forced = sampling.sample(jax.random.key(1), small, 64, sampler="leverage", lam=0.1, points=5)
    assert 0 < float(forced.stats["from_p"]) < 0.3  # the mixture's p share, DEFENSIVE = 0.1
    with pytest.raises(ValueError, match="defensive must be in"):
        sampling.leverage(large, 0.1, points=5, defensive=1.0)


# --------------------------------------------------------------------------- API behaviour


def test_deterministic_and_vmappable():
    x, lam = cone_x(20), 0.01
    lev = sampling.leverage(x, lam)
    a = sampling.sample(jax.random.key(3), x, 100, sampler="leverage", lev=lev)
    b = sampling.sample(jax.random.key(3), x, 100, sampler="leverage", lev=lev)
    c = sampling.sample(jax.random.key(4), x, 100, sampler="leverage", lev=lev)
    np.testing.assert_array_equal(a.w, b.w)
    assert not np.array_equal(a.w, c.w)
    keys = jax.random.split(jax.random.key(5), 3)
    batched = jax.vmap(lambda k: sampling.sample(k, x, 64, sampler="leverage", lev=lev).w)(keys)
    for i in range(3):
        single = sampling.sample(keys[i], x, 64, sampler="leverage", lev=lev)
        np.testing.assert_allclose(batched[i], single.w, rtol=1e-6)


def test_chunk_size_does_not_change_scores(x64):
    x = cone_x(25)
    w = jax.random.normal(jax.random.key(0), (1000, 4), jnp.float64)
    a = sampling.leverage_scores(w, x, None, 0.01, chunk=1000)
    b = sampling.leverage_scores(w, x, None, 0.01, chunk=33)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_flatness_report():
    x_cone, x_sphere = cone_x(100, d=8), sphere_x(100, d=8)
    fc = sampling.flatness(jax.random.key(0), sampling.leverage(x_cone, 0.01))
    fs = sampling.flatness(jax.random.key(0), sampling.leverage(x_sphere, 0.01))
    for f in (fc, fs):
        assert abs(f["score_mean"] - f["s_lambda"]) < 0.05 * f["s_lambda"]
        assert 1 <= f["flatness"] <= f["bound_over_s_lambda"]
    assert fs["flatness"] < 2 and fs["zero_fraction"] == 0
    assert fc["flatness"] > 4 and 0.2 < fc["zero_fraction"] < 0.5


@pytest.mark.parametrize("kernel", ["relu_ntk", "arccos1"])
def test_score_statistics_match_numpy_from_the_definitions(x64, kernel):
    """The moments, quantile and the two Bernstein variances of flatness(), recomputed in
    NumPy from Z(w) = A^1/2 Phi(w) Phi(w)^T A^1/2 draw by draw (the same draws)."""
    spec = features.get_kernel(kernel)
    x, lam, num = cone_x(24, d=4, spread=0.3), 0.05, 3000
    lev = sampling.leverage(x, lam, kernel=spec)
    key = jax.random.key(3)
    got = sampling.flatness(key, lev, num=num, variance_draws=num)
    w = np.asarray(spec.sample_base(key, num, 4, jnp.float64))
    score = exact_scores(w, x, lam, spec)
    s = got["s_lambda"]
    assert got["score_second_moment"] == pytest.approx(np.mean(score**2) / s**2, rel=1e-9)
    assert got["score_q99"] == pytest.approx(np.quantile(score, 0.99) / s, rel=1e-9)
    a = np.linalg.inv(np.asarray(spec.exact(jnp.asarray(x)), np.float64) + lam * np.eye(24))
    alpha, q = np.linalg.eigh(a)
    root = (q * np.sqrt(alpha)) @ q.T
    phi = np.asarray(spec.features(jnp.asarray(x), jnp.asarray(w)), np.float64)  # (n, m, P)
    u = np.einsum("ij,jrp->irp", root, phi)  # A^1/2 Phi(w_r)
    z = np.einsum("irp,krp->rik", u, u)  # Z(w_r), (m, n, n)
    mean_z = z.mean(0)
    z2 = np.einsum("rij,rjk->rik", z, z)
    inv = np.where(score > 0, 1 / np.where(score > 0, score, 1), 0)
    var_p = np.abs(np.linalg.eigvalsh(z2.mean(0) - mean_z @ mean_z)).max()
    var_q = np.abs(
        np.linalg.eigvalsh(s * (z2 * inv[:, None, None]).mean(0) - mean_z @ mean_z)
    ).max()
    assert got["variance_ratio"] == pytest.approx(var_p / var_q, rel=1e-8)
    trace = np.trace(z2.mean(0) - mean_z @ mean_z)
    assert got["intrinsic_dimension"] == pytest.approx(trace / var_p, rel=1e-8)


def test_the_variance_ratio_separates_flat_from_far_from_flat(x64):
    """On the sphere both estimators have about one variance; on the narrow cone p's is
    several times q's, and below the sup's ratio (the range term's)."""
    fc = sampling.flatness(jax.random.key(0), sampling.leverage(cone_x(128, d=8), 0.1))
    fs = sampling.flatness(jax.random.key(0), sampling.leverage(sphere_x(128, d=8), 0.1))
    assert 0.95 < fs["variance_ratio"] < 1.1 and fs["score_second_moment"] < 1.05
    assert 3 < fc["variance_ratio"] < fc["flatness"] and fc["score_second_moment"] > 2


def test_rejection_gives_up_with_clear_error():
    x = cone_x(20)
    with pytest.raises(ValueError, match="max_proposals"):
        sampling.sample(
            jax.random.key(0), x, 5000, sampler="leverage", lam=0.01, max_proposals=1000, chunk=500
        )


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("m", {"m": 0}),
        ("m", {"m": 2.5}),
        ("sampler", {"sampler": "uniform"}),
        ("method", {"method": "mcmc"}),
        ("lam", {"lam": 0.0}),
        ("lam", {"lam": None}),
        ("lam", {"lam": -1.0}),
        ("kernel", {"kernel": "laplace"}),
        ("pool_size", {"pool_size": 0, "method": "sir"}),
        ("chunk", {"chunk": 0}),
        ("x", {"x": np.array([[np.nan, 1.0]])}),
        ("k", {"k": np.eye(3)}),
    ],
)
def test_bad_inputs_name_the_argument(name, kwargs):
    args = {
        "key": jax.random.key(0),
        "x": np.ones((4, 2)),
        "m": 10,
        "sampler": "leverage",
        "lam": 0.1,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        sampling.sample(**args)


def test_bad_inputs_of_scores():
    with pytest.raises(ValueError, match="w"):
        sampling.leverage_scores(np.ones((3, 5)), np.ones((4, 2)), None, 0.1)
    with pytest.raises(ValueError, match="lam"):
        sampling.statistical_dimension(np.eye(3), -1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampler": "gaussian"},
        {"sampler": "leverage", "lam": 0.01},
        {"sampler": "leverage", "lam": 0.01, "method": "sir", "pool_size": 4096},
    ],
)
@pytest.mark.parametrize("seed_axis", ["vmap", "loop"])
def test_sample_batch_equals_one_sample_per_key(x64, kwargs, seed_axis):
    """Batched (one vmapped call) or key by key, sample_batch draws what sample() draws."""
    x = data.cone(1, n_train=30, n_test=1, dim=4).x_train
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(7), s))(jnp.arange(3))
    batch = sampling.sample_batch(keys, x, 40, seed_axis=seed_axis, **kwargs)
    assert batch.w.shape == (3, 40, 4) and batch.scale.shape == (3, 40)
    for i in range(3):
        one = sampling.sample(keys[i], x, 40, **kwargs)
        np.testing.assert_array_equal(batch.w[i], one.w)
        if seed_axis == "loop":
            np.testing.assert_array_equal(batch.scale[i], one.scale)
        else:  # batched products may round differently
            np.testing.assert_allclose(batch.scale[i], one.scale, rtol=1e-14)
        for name, value in one.stats.items():
            np.testing.assert_allclose(batch.stats[name][i], value, rtol=1e-14)
    assert not np.allclose(batch.w[0], batch.w[1])
    with pytest.raises(ValueError, match="seed_axis must be"):
        sampling.sample_batch(keys, x, 4, seed_axis="pmap", **kwargs)


@pytest.mark.parametrize("seed_axis", ["vmap", "loop"])
def test_sample_batch_refuses_a_draw_that_ran_out_of_proposals(x64, seed_axis):
    x = data.cone(1, n_train=30, n_test=1, dim=4).x_train
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.key(7), s))(jnp.arange(2))
    with pytest.raises(ValueError, match="accepted only"):
        sampling.sample_batch(
            keys,
            x,
            5000,
            sampler="leverage",
            lam=0.01,
            max_proposals=1000,
            chunk=500,
            seed_axis=seed_axis,
        )


@pytest.mark.parametrize("name", ["synthetic", "cone"])
def test_relu_ntk_score_bound_holds_for_every_pattern_and_is_tighter(x64, name):
    """The score bound is >= s^T M s for all 2^n patterns s (exhaustive, n = 12), and the
    centred bound (features._relu_ntk_bound) is well below the two it replaced."""
    import itertools

    from nnkrr import features

    x = data.load(name, 3, n_train=12, n_test=1, dim=3).x_train
    lev = sampling.leverage(x, 0.05)
    m_mat = np.asarray(lev.aux)
    patterns = np.array(list(itertools.product([0.0, 1.0], repeat=12)))
    exact = np.max(np.einsum("pi,ij,pj->p", patterns, m_mat, patterns))
    assert float(lev.bound) >= exact

    def former(lev):  # the two bounds the centred one joined
        m = np.asarray(lev.aux)
        return min(np.maximum(m, 0).sum(), float(lev.lam_max_a) * np.sum(np.asarray(lev.x) ** 2))

    assert float(lev.bound) < former(lev)
    assert float(lev.bound) == pytest.approx(
        float(features._relu_ntk_bound(lev.x, lev.a, lev.lam_max_a)), rel=1e-12
    )
    # on larger data: 3-4x tighter, and every proposal of a draw stays below it (checked in
    # sample on each one), its acceptance s_lam / bound (E_p[score] = s_lam)
    xl = data.load(name, 0, n_train=256, n_test=1, dim=8).x_train
    big = sampling.leverage(xl, 0.1)
    assert float(big.bound) < 0.4 * former(big)
    draw = sampling.sample(jax.random.key(0), xl, 4096, sampler="leverage", lev=big)
    assert 0 < float(draw.stats["max_score_over_bound"]) <= 1
    expected = float(big.s_lambda / big.bound)
    proposals = float(draw.stats["proposals"])
    se = np.sqrt(expected * (1 - expected) / proposals)
    assert abs(float(draw.stats["acceptance_rate"]) - expected) < 5 * se + 4096 / proposals
