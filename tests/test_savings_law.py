"""The pooled savings law on tables with known answers: curves whose width ratio is the
flatness exactly, so the law must come out R = 1 * flatness^1 with no residual."""

import numpy as np
import pandas as pd
import pytest

from experiments import savings_law

WIDTHS = 2.0 ** np.arange(5, 15)
FLATNESS = {"sphere": 1.2, "cone": 8.0, "digits": 3.0}


def spectral_frame():
    """eps = sqrt(F s / m) for Gaussian features, sqrt(s / m) for leverage ones (3 seeds,
    multiplicative noise that keeps the median): m*_gauss / m*_lev = F at every eps."""
    rows = []
    for dataset, flat in FLATNESS.items():
        for n, s_lam in ((128, 20.0), (512, 60.0)):
            for sampler, factor in (("gaussian", flat), ("leverage", 1.0)):
                for seed, wobble in enumerate((0.97, 1.0, 1.03)):
                    for m in WIDTHS:
                        rows.append(
                            dict(dataset=dataset, n_train=n, ridge=0.1, ridge_per_point=np.nan,
                                 sampler=sampler, width=m, init_seed=seed, flatness=flat,
                                 s_lambda=s_lam, spectral_eps=wobble * np.sqrt(factor * s_lam / m))
                        )  # fmt: skip
    return pd.DataFrame(rows)


def sweep_frame():
    """gap_rel = 0.6 sqrt(F / m) (Gaussian) and 0.6 sqrt(1 / m) (leverage), per data and n."""
    rows = []
    for dataset, flat in FLATNESS.items():
        for n in (64, 256):
            for sampler, factor in (("gaussian", flat), ("leverage", 1.0)):
                for seed in range(2):
                    for m in WIDTHS:
                        rows.append(
                            dict(dataset=dataset, n_train=n, sampler=sampler, width=m,
                                 init_seed=seed, status="ok", ridge=n / 1280, s_lambda=10.0,
                                 flatness=flat if sampler == "leverage" else np.nan, steps=200,
                                 lam_T=4.0, gap_rel=(1 + 0.01 * seed) * 0.6 * np.sqrt(factor / m))
                        )  # fmt: skip
    return pd.DataFrame(rows)


def test_spectral_ratios_are_the_flatness():
    table = savings_law.spectral_savings(spectral_frame(), n_boot=50)
    assert len(table) == 3 * 2 * len(savings_law.SPECTRAL_EPS)
    np.testing.assert_allclose(table.ratio, table.flatness, rtol=1e-12)
    assert (table.low <= table.ratio * (1 + 1e-9)).all()
    assert (table.high >= table.ratio * (1 - 1e-9)).all()
    np.testing.assert_allclose(table.n_over_lam_per_s, table.n / 0.1 / table.s_lambda)


@pytest.mark.parametrize("source", ["width_savings", "equivalence_scaling"])
def test_network_ratios_are_the_flatness(source):
    table = savings_law.network_savings(sweep_frame(), source, n_boot=50)
    rows = 3 if source == "width_savings" else 3 * 2  # per data set, or per data set and n
    assert len(table) == rows * 2  # two levels each
    np.testing.assert_allclose(table.ratio, table.flatness, rtol=1e-6)


def test_the_law_recovers_its_exponent_and_constant():
    table = pd.concat(
        [
            savings_law.spectral_savings(spectral_frame(), n_boot=50),
            savings_law.network_savings(sweep_frame(), "equivalence_scaling", n_boot=50),
        ]
    )
    fits = savings_law.law_fits(table, n_boot=100).set_index(["kind", "predictor"])
    law = fits.loc[("all", "sup score / s_λ")]
    assert law.slope == pytest.approx(1.0, abs=1e-6)
    assert law.C == pytest.approx(1.0, rel=1e-6)
    assert law.rms_ln_residual < 1e-6
    null = fits.loc[("all", "none (R = C)")]
    assert null.slope == 0 and null.rms_ln_residual > 0.5  # ln F spreads over ln 1.2 ... ln 8
