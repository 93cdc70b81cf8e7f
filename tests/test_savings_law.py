"""The savings law on tables with known answers: curves whose width ratio is a known power
of one candidate statistic (the variance ratio), every other candidate unrelated, so the
leave-one-family-out protocol must choose it, with no held-out error, and recover its
constants; and the held-out residuals of a law on a family that breaks it."""

import numpy as np
import pandas as pd
import pytest

from experiments import savings_law
from nnkrr import scaling

WIDTHS = 2.0 ** np.arange(4, 17)
#: geometry -> (variance_ratio, flatness, s_lambda): flatness deliberately out of order.
STATS = {
    "synthetic": (1.05, 6.0, 70.0),
    "cone": (6.0, 2.0, 20.0),
    "anisotropic": (1.3, 1.4, 60.0),
    "manifold": (2.2, 9.0, 30.0),
    "digits": (1.6, 3.0, 45.0),
    "wine": (3.1, 1.2, 40.0),
}
SPECTRAL = (1.5, 1.0)  # R = 1.5 V^1
NETWORK = (0.8, 0.9)  # R = 0.8 V^0.9


def spectral_frame():
    """eps = sqrt(C V^a s / m) (Gaussian) and sqrt(s / m) (leverage), 3 seeds with noise that
    keeps the median: m_gauss/m_lev = C V^a and m_lev(eps) = s / eps^2 exactly."""
    rows = []
    c, a = SPECTRAL
    for dataset, (v, flat, s_lam) in STATS.items():
        stats = dict(flatness=flat, s_lambda=s_lam, zero_fraction=0.0, variance_ratio=v,
                     score_second_moment=1 + flat / 10, score_q99=flat / 2,
                     intrinsic_dimension=s_lam / 2)  # fmt: skip
        for sampler, factor in (("gaussian", c * v**a), ("leverage", 1.0)):
            for seed, wobble in enumerate((0.97, 1.0, 1.03)):
                for m in WIDTHS:
                    rows.append(
                        dict(dataset=dataset, n_train=128, ridge=0.1, sampler=sampler, width=m,
                             init_seed=seed, spectral_eps=wobble * np.sqrt(factor * s_lam / m),
                             **stats)
                    )  # fmt: skip
    return pd.DataFrame(rows)


def sweep_frame():
    """gap_rel = 0.6 sqrt(C V^a / m) (Gaussian) and 0.6 sqrt(1 / m) (leverage)."""
    rows = []
    c, a = NETWORK
    for dataset, (v, flat, s_lam) in STATS.items():
        for sampler, factor in (("gaussian", c * v**a), ("leverage", 1.0)):
            for seed in range(2):
                for m in WIDTHS:
                    rows.append(
                        dict(dataset=dataset, n_train=128, ridge=0.1, sampler=sampler, width=m,
                             init_seed=seed, status="ok", s_lambda=s_lam, steps=200, lam_T=4.0,
                             flatness=flat if sampler == "leverage" else np.nan,
                             gap_rel=(1 + 0.01 * seed) * 0.6 * np.sqrt(factor / m))
                    )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    return savings_law.ratio_table(spectral_frame(), [sweep_frame()], n_boot=50)


def test_the_ratios_are_the_planted_law(table):
    v = table.variance_ratio
    spectral, network = table.kind == "spectral", table.kind == "network"
    assert spectral.sum() == len(STATS) * 2 and network.sum() == len(STATS) * 2
    np.testing.assert_allclose(table.ratio[spectral], SPECTRAL[0] * v[spectral], rtol=1e-9)
    np.testing.assert_allclose(
        table.ratio[network], NETWORK[0] * v[network] ** NETWORK[1], rtol=1e-6
    )
    np.testing.assert_allclose(table.paper, table.n_train / table.ridge / table.s_lambda)
    assert set(table.family) == {"sphere", "cone", "anisotropic", "manifold", "real (standardised)"}


def test_leave_one_family_out_chooses_the_planted_statistic(table):
    lofo = savings_law.leave_one_family_out(table)
    assert savings_law.choose(lofo) == "variance_ratio"
    held = lofo[lofo.candidate == "variance_ratio"]
    assert held.rms_ln.max() < 1e-6
    pooled = lofo[lofo.family == "all"].set_index(["kind", "level", "candidate"]).rms_ln
    others = pooled.drop(["variance_ratio", "coverage"], level="candidate")
    assert (others > 0.1).all()
    assert pooled.xs("coverage", level="candidate").isna().all()  # constant 1: cannot be fitted


def test_the_law_recovers_its_constants_and_the_leverage_width(table):
    lofo = savings_law.leave_one_family_out(table)
    law = savings_law.law(table, lofo, "variance_ratio", n_boot=50)
    for level, fit in law["spectral"].items():
        assert fit["C"] == pytest.approx(SPECTRAL[0], rel=1e-6)
        assert fit["a"] == pytest.approx(SPECTRAL[1], abs=1e-6)
        # m_lev(eps) = s / eps^2: slope 1 in s_lambda, constant eps^-2
        assert fit["width_b"] == pytest.approx(1.0, abs=1e-6)
        assert fit["width_C"] == pytest.approx(float(level) ** -2, rel=1e-6)
        assert abs(fit["ln_low"]) < 1e-6 and abs(fit["ln_high"]) < 1e-6
    for fit in law["network"].values():
        assert fit["C"] == pytest.approx(NETWORK[0], rel=1e-5)
        assert fit["a"] == pytest.approx(NETWORK[1], abs=1e-5)


def test_families_group_geometries_and_an_unlisted_one_is_its_own():
    assert savings_law.family("cone(spread=0.25)") == savings_law.family("cone") == "cone"
    assert savings_law.family("my_data") == "my_data"


def test_held_out_residuals_see_the_family_that_breaks_the_law():
    """y = 2x on groups a and b, 6x on group c: c's held-out residual is ln(2/6), and a's
    and b's fits include c, which pulls them off by a computable amount."""
    x = np.array([1.0, 2.0, 4.0, 8.0, 3.0, 5.0])
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    y = np.where(groups == "c", 6 * x, 2 * x)
    resid = scaling.held_out_residuals(x, y, groups, slope=1.0)
    np.testing.assert_allclose(resid[groups == "c"], np.log(2 / 6), rtol=1e-12)
    # fold a: C = exp(mean ln(y/x)) over b (ln 2, ln 2) and c (ln 6, ln 6)
    expected = np.log(np.sqrt(2 * 6)) - np.log(2)
    np.testing.assert_allclose(resid[groups == "a"], expected, rtol=1e-12)
    assert np.isnan(scaling.held_out_residuals(x, y, np.zeros(6))).all()  # no other group
