"""nnkrr.scaling: widths needed at a level, power-law fits, their intervals."""

import numpy as np
import pytest

from nnkrr import scaling

WIDTHS = 2.0 ** np.arange(6, 16)


@pytest.mark.parametrize("a,c,eps", [(0.5, 3.0, 0.25), (0.5, 6.0, 0.5), (1.0, 40.0, 0.02)])
@pytest.mark.parametrize("stat", ["median", "mean"])
def test_needed_width_of_an_exact_power_law(a, c, eps, stat):
    """eps(m) = c m^-a: m*(eps) = (c / eps)^(1/a) exactly (log-log interpolation)."""
    values = np.repeat((c * WIDTHS**-a)[:, None], 4, axis=1)
    got = scaling.needed_width(WIDTHS, values, eps, stat=stat, n_boot=50)
    assert got.m == pytest.approx((c / eps) ** (1 / a), rel=1e-12)
    assert got.low == pytest.approx(got.m, rel=1e-12) and got.defined == 1.0


def test_needed_width_is_nan_where_the_grid_does_not_bracket():
    values = 3.0 * WIDTHS[:, None] ** -0.5
    assert np.isnan(scaling.needed_width(WIDTHS, values, 1.0, n_boot=10).m)  # below at m_1
    assert np.isnan(scaling.needed_width(WIDTHS, values, 1e-4, n_boot=10).m)  # never reached


def test_median_resists_an_outlying_seed():
    values = np.repeat((2.0 * WIDTHS**-0.5)[:, None], 5, axis=1)
    values[:, 0] *= 5  # one seed far off: the mean is 1.8x the others
    med = scaling.needed_width(WIDTHS, values, 0.05, n_boot=10)
    mean = scaling.needed_width(WIDTHS, values, 0.05, stat="mean", n_boot=10)
    assert med.m == pytest.approx((2.0 / 0.05) ** 2, rel=1e-12)
    assert mean.m == pytest.approx((1.8 * 2.0 / 0.05) ** 2, rel=1e-12)


def test_needed_width_interval_covers_the_truth_about_as_often_as_it_says():
    """Seeds with lognormal noise around eps = 2 m^-1/2: the 90% bootstrap interval of the
    median's m*(0.05) covers the noise-free m* = 1600 in 80-97% of 300 repetitions (the
    percentile bootstrap of a median of 9 undercovers a little)."""
    rng = np.random.default_rng(0)
    truth, covered = (2.0 / 0.05) ** 2, 0
    for rep in range(300):
        values = 2.0 * WIDTHS[:, None] ** -0.5 * np.exp(0.2 * rng.standard_normal((10, 9)))
        got = scaling.needed_width(WIDTHS, values, 0.05, n_boot=400, seed=rep)
        covered += got.low <= truth <= got.high
    assert 0.80 <= covered / 300 <= 0.97


@pytest.mark.parametrize("a,c", [(0.7, 5.0), (-0.5, 0.01), (2.0, 1.0)])
def test_power_law_recovers_slope_and_constant(a, c):
    x = np.geomspace(10, 1e4, 12)
    rng = np.random.default_rng(1)
    y = c * x**a * np.exp(0.05 * rng.standard_normal(12))
    fit = scaling.power_law(x, y, n_boot=500)
    assert fit.slope == pytest.approx(a, abs=0.05) and fit.constant == pytest.approx(c, rel=0.3)
    assert fit.slope_low < a < fit.slope_high and fit.points == 12
    exact = scaling.power_law(x, c * x**a, n_boot=50)
    assert exact.slope == pytest.approx(a, rel=1e-10) and exact.rms_log_residual < 1e-10
    fixed = scaling.power_law(x, c * x**a, slope=a, n_boot=50)
    assert fixed.constant == pytest.approx(c, rel=1e-10) and fixed.slope == a


def test_power_law_skips_undefined_points_and_refuses_nothing():
    x = np.array([1.0, 2.0, np.nan, 4.0, 8.0])
    y = np.array([1.0, 4.0, 9.0, np.nan, 64.0])
    fit = scaling.power_law(x, y, n_boot=50)
    assert fit.points == 3 and fit.slope == pytest.approx(2.0)
    assert np.isnan(scaling.power_law([1.0], [1.0]).slope)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"eps": 0}, "eps must be > 0"),
        ({"eps": 0.1, "stat": "mode"}, "stat must be one of"),
        ({"eps": 0.1, "level": 1.0}, "level must be in"),
    ],
)
def test_needed_width_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scaling.needed_width(WIDTHS, np.ones((10, 2)), **kwargs)
