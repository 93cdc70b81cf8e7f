"""The width-savings estimator on synthetic gap curves with a known ratio."""

import numpy as np
import pytest

from nnkrr import savings

WIDTHS = 2.0 ** np.arange(6, 15)


def power_law(widths, factor, seeds=1, noise=0.0, rng=None, a=0.5):
    """gap = (factor m)^-a: reaching a gap needs factor x fewer neurons."""
    clean = (factor * widths[:, None]) ** -a * np.ones((1, seeds))
    if noise:
        clean = clean * np.exp(noise * rng.standard_normal(clean.shape))
    return clean


@pytest.mark.parametrize(("factor", "a"), [(4.0, 0.5), (2.5, 0.5), (3.0, 0.3), (1.0, 0.5)])
def test_exact_on_power_laws(factor, a):
    """Log-log interpolation is exact for power laws: the ratio is the factor itself."""
    gauss, lev = power_law(WIDTHS, 1.0, a=a), power_law(WIDTHS, factor, a=a)
    eps = float(power_law(np.array([2.0**11]), 1.0, a=a)[0, 0])  # Gaussian reaches it at 2^11
    assert savings.width_at_gap(WIDTHS, gauss[:, 0], eps) == pytest.approx(2.0**11, rel=1e-12)
    out = savings.width_savings(WIDTHS, gauss, lev, eps, n_boot=10)
    assert out.ratio == pytest.approx(factor, rel=1e-12)
    assert out.m_gaussian == pytest.approx(2.0**11, rel=1e-12)
    assert out.low == pytest.approx(factor, rel=1e-12) and out.high == pytest.approx(factor)
    assert out.defined == 1.0


@pytest.mark.parametrize("stat", ["mean", "median"])
def test_each_sampler_on_its_own_grid(stat):
    """A Gaussian curve measured to 2^17 where the leverage one stops at 2^14: the level
    the Gaussian reaches only beyond 2^14 still gives the exact ratio."""
    wide = 2.0 ** np.arange(6, 18)
    gauss, lev = power_law(wide, 1.0, seeds=3), power_law(WIDTHS, 8.0, seeds=3)
    eps = float(power_law(np.array([2.0**16]), 1.0)[0, 0])  # Gaussian reaches it at 2^16
    out = savings.width_savings(wide, gauss, lev, eps, n_boot=10, stat=stat, widths_leverage=WIDTHS)
    assert out.ratio == pytest.approx(8.0, rel=1e-12)
    assert out.m_leverage == pytest.approx(2.0**13, rel=1e-12)
    same_grid = savings.width_savings(WIDTHS, gauss[: len(WIDTHS)], lev, eps, n_boot=10)
    assert np.isnan(same_grid.ratio)  # on the shared grid the Gaussian never gets there


def test_interpolates_between_grid_points():
    gaps = np.array([1.0, 0.5, 0.25])  # halves per doubling of m from 100
    widths = np.array([100.0, 200.0, 400.0])
    assert savings.width_at_gap(widths, gaps, 0.5**1.5) == pytest.approx(200 * 2**0.5)


def test_unbracketed_levels_are_nan():
    gauss, lev = power_law(WIDTHS, 1.0), power_law(WIDTHS, 4.0)
    below_everywhere = float(gauss.max()) * 2  # both curves start below it
    assert np.isnan(savings.width_at_gap(WIDTHS, gauss, below_everywhere))
    never = float(gauss.min()) / 10
    out = savings.width_savings(WIDTHS, gauss, lev, never, n_boot=5)
    assert np.isnan(out.ratio) and np.isnan(out.low) and out.defined == 0.0


def test_bootstrap_interval_covers_the_true_ratio():
    """Noisy seeds (log-normal, sd 0.15, 8 seeds): the 90% interval covers the true ratio 4
    in most of 40 independent data sets, and the point estimates centre on 4."""
    rng = np.random.default_rng(1)
    eps = 2.0**-5.5  # the clean Gaussian curve reaches it at 2^11
    covered, estimates = 0, []
    for _ in range(40):
        gauss = power_law(WIDTHS, 1.0, seeds=8, noise=0.15, rng=rng)
        lev = power_law(WIDTHS, 4.0, seeds=8, noise=0.15, rng=rng)
        out = savings.width_savings(
            WIDTHS, gauss, lev, eps, n_boot=400, seed=int(rng.integers(1 << 30))
        )
        covered += out.low <= 4.0 <= out.high
        estimates.append(out.ratio)
    assert covered >= 30
    assert np.median(estimates) == pytest.approx(4.0, rel=0.1)
    assert 1.0 < out.high / out.low < 3.0  # an interval, not a point


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"eps": 0.0}, "eps"),
        ({"level": 1.0}, "level"),
        ({"n_boot": 0}, "n_boot"),
        ({"widths": WIDTHS[::-1]}, "increasing"),
        ({"gaps_gaussian": np.ones((3, 2))}, "gaps_gaussian must have shape"),
        ({"gaps_leverage": -np.ones((9, 2))}, "gaps_leverage must be positive"),
    ],
)
def test_bad_arguments(kw, match):
    args = {
        "widths": WIDTHS,
        "gaps_gaussian": power_law(WIDTHS, 1.0, seeds=2),
        "gaps_leverage": power_law(WIDTHS, 2.0, seeds=2),
        "eps": 0.01,
        **kw,
    }
    with pytest.raises(ValueError, match=match):
        savings.width_savings(**args)


# --------------------------------------------------------------------------- predict


def test_predict_applies_the_committed_law_to_the_datas_statistic(x64):
    """predict = C x^a and C' s^b of the law file, with x and s_lambda computed independently
    by nnkrr.sampling on the same draws; intervals around the values, m_gauss = R m_lev."""
    import jax

    from nnkrr import data, sampling

    law = savings.law()
    x = data.cone(1, 100, 1, spread=0.2).x_train
    pred = savings.predict(x, 0.05, key=jax.random.key(7), num=8192)
    stats = sampling.flatness(
        jax.random.key(7), sampling.leverage(x, 0.05), num=8192, variance_draws=8192
    )
    value = stats[law["predictor"]] if law["predictor"] in stats else pred.predictor_value
    assert pred.predictor == law["predictor"] and pred.predictor_value == pytest.approx(value)
    assert pred.s_lambda == pytest.approx(stats["s_lambda"], rel=1e-12)
    assert pred.n == pred.leverage_points == 100
    for kind, got, widths in (
        ("spectral", pred.saving_spectral, pred.width_spectral),
        ("network", pred.saving_network, pred.width_network),
    ):
        assert sorted(got) == sorted(float(level) for level in law[kind])
        for level, c in law[kind].items():
            r, w = got[float(level)], widths[float(level)]
            assert r.value == pytest.approx(c["C"] * value ** c["a"], rel=1e-12)
            assert r.low <= r.value <= r.high
            m_lev = c["width_C"] * stats["s_lambda"] ** c["width_b"]
            assert w["leverage"].value == pytest.approx(m_lev, rel=1e-9)
            assert w["gaussian"].value == pytest.approx(r.value * m_lev, rel=1e-9)
            assert w["gaussian"].low <= w["gaussian"].value <= w["gaussian"].high
    assert set(pred.as_dict()) >= {"s_lambda", "saving_spectral", "saving_network"}


@pytest.mark.parametrize("lam,message", [(0.0, "lam must be a finite number > 0"),
                                         (float("nan"), "lam must be a finite number > 0")])  # fmt: skip
def test_predict_refuses_a_bad_ridge_naming_it(lam, message):
    with pytest.raises(ValueError, match=message):
        savings.predict(np.ones((4, 3)) / np.sqrt(3), lam)


def test_predict_at_large_n_uses_the_subsample_leverage_function(x64, monkeypatch):
    from nnkrr import data, sampling

    monkeypatch.setattr(sampling, "LEVERAGE_EXACT_MAX_N", 200)
    monkeypatch.setattr(sampling, "LEVERAGE_POINTS", 120)
    x = data.synthetic(0, 400, 1).x_train
    pred = savings.predict(x, 0.1, num=4096)
    assert pred.n == 400 and pred.leverage_points == 120
    # the sphere's leverage function is nearly flat: no saving predicted beyond its interval
    for r in pred.saving_spectral.values():
        assert r.low < 1.3 and r.value < 1.3
