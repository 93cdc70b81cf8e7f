"""experiments/analysis.py: the spectral and equivalence scaling tables and fits on tables with
known answers; what their sweeps write (experiments.findings)."""

import math

import numpy as np
import pandas as pd
import pytest

from experiments import analysis as tables
from experiments import findings


def synthetic_frame(c_lev=2.0, c_gauss=5.0):
    """Spectral rows whose median eps follows eps^2 = C D ln(16 s/delta) / m exactly, D = s_lam
    (leverage) or sup score (Gaussian): the width needed is m* = C D ln(...) / eps^2."""
    rows = []
    for n, s_lam, flat in [(128, 20.0, 8.0), (512, 60.0, 7.5), (2048, 200.0, 7.6)]:
        for lam_pp in (None, 0.001):  # fixed, per point
            lam = 0.1 if lam_pp is None else n * lam_pp
            for sampler, c, d in (("leverage", c_lev, s_lam), ("gaussian", c_gauss, flat * s_lam)):
                for m in 2.0 ** np.arange(5, 23):
                    eps = math.sqrt(c * d * math.log(16 * s_lam / 0.1) / m)
                    for seed in range(3):
                        rows.append(
                            {
                                "dataset": "cone",
                                "n_train": n,
                                "ridge": lam,
                                "ridge_per_point": lam_pp,
                                "sampler": sampler,
                                "width": int(m),
                                "init_seed": seed,
                                "spectral_eps": eps * (1 + 0.01 * (seed - 1)),
                                "s_lambda": s_lam,
                                "flatness": flat,
                                "bound_over_s_lambda": 25.0,
                                "delta": 0.1,
                            }
                        )
    return pd.DataFrame(rows)


def test_table_reads_the_width_needed_and_the_theory_columns():
    table = tables.spectral_scaling_table(synthetic_frame(), n_boot=50)
    assert len(table) == 3 * 2 * 2 * 2  # n x family x sampler x eps
    for r in table.itertuples():
        d = r.s_lambda if r.sampler == "leverage" else r.sup_score
        c = 2.0 if r.sampler == "leverage" else 5.0
        log = math.log(16 * r.s_lambda / r.delta)
        assert r.m_star == pytest.approx(c * d * log / r.eps**2, rel=1e-9)  # the median seed
        assert r.y == pytest.approx(c * d * log, rel=1e-9)
        assert r.x_n_over_lam == pytest.approx(r.n / r.lam * log)
        assert r.m_low <= r.m_star <= r.m_high
    assert set(table.family) == {"fixed", "per_point"}


@pytest.mark.parametrize("a_width,a_s", [(0.0, 0.0), (0.5, 0.25), (-0.3, 1.0)])
def test_exponents_in_n_recover_power_laws_per_family(a_width, a_s):
    """m*(n) = C n^a and s_lam = S n^b exactly (one table row per n, family, sampler, eps):
    each exponent is recovered, its interval collapses on it, per family and sampler."""
    rows = []
    for fam, a in (("fixed", a_width), ("per_point", a_width + 0.2)):
        for sampler, c in (("gaussian", 500.0), ("leverage", 100.0)):
            for eps in (0.5, 0.25):
                for n in (128, 256, 512, 1024, 2048, 4096):
                    rows.append({"dataset": "cone", "family": fam, "sampler": sampler, "eps": eps,
                                 "n": n, "m_star": c / eps**2 * n**a,
                                 "s_lambda": 3.0 * n**a_s})  # fmt: skip
    rows.append({**rows[-1], "n": 8192, "m_star": math.nan})  # not reached: left out
    exps = tables.spectral_n_exponents(pd.DataFrame(rows), n_boot=100)
    assert len(exps) == 2 * 2 * 2
    for r in exps.itertuples():
        a = a_width + (0.2 if r.family == "per_point" else 0.0)
        assert r.exponent == pytest.approx(a, abs=1e-9)
        assert r.low == pytest.approx(a, abs=1e-9) and r.high == pytest.approx(a, abs=1e-9)
        assert r.s_lambda_exponent == pytest.approx(a_s, abs=1e-9)
        assert (r.points, r.n_min, r.n_max) == (6, 128, 4096)


def test_fits_recover_the_constant_and_a_unit_slope():
    fits = tables.spectral_scaling_fits(
        tables.spectral_scaling_table(synthetic_frame(), n_boot=50), n_boot=200
    )
    fits = fits[fits.data == "all"]
    lev = fits[(fits.sampler == "leverage") & (fits.eps == "all")].iloc[0]
    sup = fits[(fits.predictor.str.startswith("sup")) & (fits.eps == "all")].iloc[0]
    assert lev.C == pytest.approx(2.0, rel=1e-6) and lev.slope == pytest.approx(1.0, abs=1e-6)
    assert sup.C == pytest.approx(5.0, rel=1e-6) and sup.C_over_8_3 == pytest.approx(5 * 3 / 8)
    nl = fits[(fits.predictor.str.startswith("(n")) & (fits.eps == "all")].iloc[0]
    assert nl.rms_log_residual > 0.1  # n/lam does not predict the Gaussian width as well


def test_figures_are_written(tmp_path):
    paths = findings.SPECTRAL_SCALING(synthetic_frame(), tmp_path)
    assert (tmp_path / "spectral_scaling.png").stat().st_size > 20_000
    assert "| leverage |" in (tmp_path / "spectral_scaling_fits.md").read_text()
    assert sorted(p.name for p in paths) == [
        "spectral_n_exponents.md",
        "spectral_scaling.png",
        "spectral_scaling_fits.md",
        "spectral_scaling_table.csv",
        "spectral_scaling_table.md",
    ]


def equivalence_frame(a_gauss=0.8, a_lev=0.5, ns=(64, 128, 256, 512), level_off=math.inf):
    """Sweep rows whose mean gap_rel = 0.05 (m / m*(n))^-1/2 with m*(n) = 100 min(n,
    level_off)^a: the width needed at 5% is that exactly (4 times it at 2.5%)."""
    rows = []
    for n in ns:
        for sampler, a in (("gaussian", a_gauss), ("leverage", a_lev)):
            m_star = 100 * min(n, level_off) ** a
            for width in 2.0 ** np.arange(4, 22):
                for seed in range(3):
                    rows.append(
                        {
                            "dataset": "cone",
                            "n_train": n,
                            "sampler": sampler,
                            "width": int(width),
                            "init_seed": seed,
                            "status": "ok",
                            "gap_rel": 0.05 * (width / m_star) ** -0.5 * (1 + 0.01 * (seed - 1)),
                            "f_star_rms": n / 1000 + 0.001 * seed,
                            "ridge": n * 0.1 / 128,
                            "lam": n * 0.1 / 128,
                            "flatness": 7.0,
                            "steps": 240,
                            "lam_T": 3.6,
                            "pattern_flips": 0.01,
                            "dim": 8,
                            "regime": "lazy",
                        }
                    )
    return pd.DataFrame(rows)


def test_equivalence_table_and_exponents():
    table = tables.equivalence_scaling_table(equivalence_frame(), n_boot=50)
    five = table[table.gap_level == 0.05]
    for r in five.itertuples():
        a = 0.8 if r.sampler == "gaussian" else 0.5
        assert r.m_star == pytest.approx(100 * r.n**a, rel=1e-9)
        assert r.steps == 240 and r.m_low <= r.m_star <= r.m_high
        assert r.f_star_rms == pytest.approx(r.n / 1000 + 0.001)  # the median over seeds
    fits = tables.equivalence_scaling_fits(table, n_boot=100)
    gauss = fits[(fits.what == "m* (gaussian)") & (fits.gap_level == 0.05)].iloc[0]
    saves = fits[(fits.what == "m*_gauss / m*_lev") & (fits.gap_level == 0.025)].iloc[0]
    assert gauss.exponent == pytest.approx(0.8, abs=1e-9) and gauss.C == pytest.approx(100)
    assert saves.exponent == pytest.approx(0.3, abs=1e-9)  # n^0.8 / n^0.5


@pytest.mark.parametrize(("d_lev", "widest"), [(0.02, 2.0**21), (0.5, 2.0**10)])
def test_saving_at_equal_flips(d_lev, widest):
    """Flips = D m^-1/2 per sampler (D_gauss = 0.01): at m*_gauss the Gaussian flips
    f = 0.01 m*^-1/2, and the leverage networks come down to f at m = (D_lev / f)^2, so the
    saving at equal flips is m*_gauss / m_lev(f) = (0.01 / D_lev)^2 whatever n; where that width
    is past the leverage grid, the table bounds the saving by m*_gauss / (widest width)."""
    frame = equivalence_frame()
    frame = frame[(frame.sampler == "gaussian") | (frame.width <= widest)].copy()
    d = np.where(frame.sampler == "gaussian", 0.01, d_lev)
    frame["pattern_flips"] = d * frame.width.to_numpy(np.float64) ** -0.5
    # the function-space share: gap_nonlin / gap_rms = 0.5 (gaussian), 0.25 (leverage)
    frame["gap_rms"] = 2 * frame.gap_rel
    frame["gap_nonlin"] = np.where(frame.sampler == "gaussian", 1.0, 0.5) * frame.gap_rel
    table = tables.equivalence_scaling_table(frame, n_boot=20)
    flips = tables.equivalence_flips_table(frame, table)
    assert len(flips) == 8  # 4 n x 2 levels
    for r in flips.itertuples():
        m_g = 100 * r.n**0.8 * (0.05 / r.gap_level) ** 2
        assert r.m_gauss == pytest.approx(m_g, rel=1e-9)
        assert r.flips_gauss == pytest.approx(0.01 * m_g**-0.5, rel=1e-9)
        assert r.nonlin_share_gauss == pytest.approx(0.5)
        # at m*_lev, where the leverage grid reaches the level
        assert (
            r.nonlin_share_lev == pytest.approx(0.25)
            if r.m_lev <= widest
            else np.isnan(r.nonlin_share_lev)
        )
        if (d_lev / r.flips_gauss) ** 2 <= widest:
            assert r.saving_flips == pytest.approx((0.01 / d_lev) ** 2, rel=1e-9)
            assert np.isnan(r.saving_flips_at_most)
        else:
            assert np.isnan(r.saving_flips) and r.saving_flips_at_most == pytest.approx(
                m_g / widest
            )
    # the published block: a level a sampler does not reach is a dash, never "nan"
    text = findings._equivalence_flips_block({"equivalence_flips_table": flips})
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and ln[2].isalpha()][1:]
    assert len(rows) == len(flips) and "nan" not in text
    unreached = flips.nonlin_share_lev.isna().sum()  # the leverage grid short of the level
    assert sum(ln.endswith(", — |") for ln in rows) == unreached
    assert unreached > 0 if widest < 2**20 else unreached == 0


def test_the_spectral_summary_reads_its_numbers_from_the_tables():
    """docs/findings.md's generated paragraph: what leverage saves is C_gauss·sup/(C_lev·s_λ)
    = 2.5 x flatness here; the slopes are 1 and the constants C / (8/3) = 3/16 and 15/8."""
    frame = synthetic_frame()
    text = findings._spectral_summary_block(findings._spectral_tables(frame))
    assert (
        "λ fixed (n = 128 … 2,048) 20 → 200 (cone); λ = n·λ₀ (n = 128 … 2,048) 20 → 200 (cone)"
        in text
    )
    assert "(free slopes 1.00)" in text and "at 0.53–1.3× below" in text
    assert "18.75–20.00× on the cone (flatness 7.5–8.0)" in text


def equivalence_summary(frame: pd.DataFrame) -> str:
    """docs/findings.md's generated equivalence paragraph for sweep rows ``frame``."""
    table = tables.equivalence_scaling_table(frame, n_boot=20)
    return findings._equivalence_summary_block(
        {
            "equivalence_scaling_table": table,
            "equivalence_scaling_fits": tables.equivalence_scaling_fits(table, n_boot=20),
        }
    )


@pytest.mark.parametrize(
    ("scale", "rho"), [(lambda n: n / 1000, "1.00"), (lambda n: 1 / n, "−1.00")]
)
def test_the_equivalence_summary_ranks_m_star_against_the_target_scale(scale, rho):
    """m* = 100 n^a grows with n: its Spearman's rho with rms f* over the n is +1 where the
    target's scale grows with n and -1 where it falls."""
    frame = equivalence_frame()
    frame["f_star_rms"] = scale(frame.n_train.to_numpy(np.float64))
    text = equivalence_summary(frame)
    # four n: too few for an exponent over each half, so no sentence on it
    assert text.endswith(f"over the n: cone gaussian {rho}, cone leverage {rho}.\n")


@pytest.mark.parametrize("level_off", [256, math.inf])
def test_the_equivalence_summary_gives_the_exponent_over_each_half_of_the_n(level_off):
    """m* = 100 min(n, level_off)^a over n = 64 ... 2048: its exponent over the three smaller n
    is a, over the three larger a where m* keeps growing and 0 where it has levelled off."""
    frame = equivalence_frame(ns=(64, 128, 256, 512, 1024, 2048), level_off=level_off)
    text = equivalence_summary(frame)
    late = ("0.80", "0.50") if level_off == math.inf else ("0.00", "0.00")
    assert (
        f"(where it is reached at 6 n or more): cone gaussian 0.80 → {late[0]}, "
        f"cone leverage 0.50 → {late[1]}.\n"
    ) in text
