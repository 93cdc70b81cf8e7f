"""Analysis tables behind the regime-map and width-savings figures, on frames with known
answers, and what a sweep's gathering writes from them (experiments.findings)."""

import numpy as np
import pandas as pd
import pytest

from experiments import analysis, findings

WIDTHS = [256, 1024, 4096, 16384, 65536]


def frame(curves: dict, seeds: int = 3, **extra) -> pd.DataFrame:
    """Rows of a results table: curves maps (dataset, sampler, centre, kappa) -> gap(width)."""
    rows = []
    for (dataset, sampler, centre, kappa), gap in curves.items():
        for width in WIDTHS:
            for s in range(seeds):
                rows.append(
                    {
                        "dataset": dataset,
                        "sampler": sampler,
                        "centre": centre,
                        "kappa": kappa,
                        "width": width,
                        "init_seed": s,
                        "gap_rel": gap(width) * (1 + 0.01 * (s - 1)),  # seeds average to gap
                        "status": "ok",
                        "pattern_flips": 0.1,
                        "pattern_flips_pred": 0.12,
                        "weight_move": 0.01,
                        "steps": 234,
                        "lam_T": 3.55,
                        "ridge": 0.1,
                        "flatness": 1.3 if dataset == "sphere" else 8.0,
                        "n_train": 128,
                        "dim": 8,
                        "regime": "paper",
                        "lam": 0.1 * kappa**2,
                        "s_lambda": 20.0,
                        "roundoff": 1e-6,
                        "dtype": "float32",
                        **extra,
                    }
                )
                parts = {p: rows[-1]["gap_rel"] / 2 for p in ("kernel", "init", "opt", "nonlin")}
                rows[-1].update(
                    {"gap_rms": rows[-1]["gap_rel"]}, **{f"gap_{p}": v for p, v in parts.items()}
                )
    return pd.DataFrame(rows)


def test_threshold_widths_and_regime_map_table(tmp_path):
    curves = {
        ("sphere", "gaussian", "zero", 1.0): lambda m: 0.8 * (m / 256) ** -0.5,  # 0.025 at 2^18
        ("sphere", "gaussian", "zero", 0.1): lambda m: 0.3,  # flat: never reaches 5%
        ("sphere", "gaussian", "init", 1.0): lambda m: 0.2 * (m / 256) ** -0.5,  # 0.05 at 4096
    }
    table = analysis.threshold_widths(frame(curves), ["dataset", "centre", "kappa"])
    got = {(r.centre, r.kappa): (r.width, r.reached) for r in table.itertuples()}
    # 0.8 / 16 = 0.05 is not < 0.05 at 65536: not reached; 0.2 / 4 = 0.05 at 4096, 0.025 next
    assert got == {
        ("zero", 0.1): (65536, False),
        ("zero", 1.0): (65536, False),
        ("init", 1.0): (16384, True),
    }
    text = analysis.regime_map_table(frame(curves))
    assert "not reached by 2^16" in text and "| sphere | init | 1 | 2^14 | 0.025 |" in text
    paths = findings.REGIME_MAP(frame(curves), tmp_path)
    assert (tmp_path / "regime_map.png").stat().st_size > 10_000 and len(paths) == 4
    assert (tmp_path / "regime_map_table.md").read_text() == text


@pytest.mark.parametrize("factor", [4.0, 2.0])
def test_width_savings_table_recovers_a_known_ratio(tmp_path, factor):
    curves = {
        ("cone", "gaussian", "init", 1.0): lambda m: 0.5 * (m / 256) ** -0.5,
        ("cone", "leverage", "init", 1.0): lambda m: 0.5 * (factor * m / 256) ** -0.5,
    }
    table = analysis.width_savings_table(frame(curves), n_boot=50)
    assert table["fraction"].tolist() == [0.5, 0.25]
    # eps = fraction x the leverage curve's value at 256 (the smaller of the two)
    np.testing.assert_allclose(table["eps"], 0.5 / factor**0.5 * np.array([0.5, 0.25]))
    np.testing.assert_allclose(table["ratio"], factor, rtol=0.02)  # seeds' +-1% spread
    assert (table["low"] <= factor * 1.02).all() and (table["high"] >= factor * 0.98).all()
    assert table["flatness"].iloc[0] == 8.0
    findings.WIDTH_SAVINGS(frame(curves), tmp_path)
    assert (tmp_path / "width_savings.png").stat().st_size > 10_000
    assert "| cone | 8.00 |" in (tmp_path / "width_savings_table.md").read_text()


def test_the_regime_map_and_gap_rows_read_their_numbers_from_the_rows():
    """The findings page's generated rows (``Finding.render``/``detail``) on curves with known
    answers: the first width below 5%, the fitted slope, measured over predicted flips."""
    curves = {
        ("sphere", "gaussian", "zero", 1.0): lambda m: 0.8 * (m / 256) ** -0.5,  # not < 5%
        ("sphere", "gaussian", "zero", 0.1): lambda m: 0.3,
        ("sphere", "gaussian", "init", 1.0): lambda m: 0.2 * (m / 256) ** -0.5,  # 2^14
    }
    _, result = findings._regime_map(frame(curves), {})
    assert "sphere, centre 0: —, —" in result and "sphere, centre W(0): 2^14" in result
    _, detail = findings._regime_map_detail(frame(curves), {})
    assert detail.endswith("sphere, centre W(0) 0.83; sphere, centre 0 0.83")  # 0.1 / 0.12
    line = {("sphere", "gaussian", "init", 1.0): lambda m: 0.4 * (m / 256) ** -0.25}
    setting, result = findings._gap_detail(frame(line, weight_move=0.02), {})
    assert setting == "sphere, n = 128, d = 8, ridge on K = 0.1, κ = 1, centre W(0), 3 seeds"
    # 0.4 at 2^8, 0.4 / 256^0.25 = 0.1 at 2^16
    assert result.startswith("gaussian: slope −0.25, gap 0.4 → 0.1 (gap_rel 40% → 10%)")
    assert "pattern flips 10% → 10% (gaussian), weight move 0.02 → 0.02" in result


def test_where_the_savings_law_fails_is_counted_from_its_tables(tmp_path):
    pd.DataFrame({"ratio": [1.0, 6.4, 3.0], "geometry": ["sphere", "cone", "cone"]}).to_csv(
        tmp_path / "savings_law_table.csv", index=False
    )
    pd.DataFrame(
        {
            "geometry": ["a", "b", "c", "d"],
            "measured": [12.0, 8.0, 1.0, np.nan],  # c inside the fitted range, d not bracketed
            "predicted": [15.0, 9.0, 1.1, 2.0],
            "predicted_low": [13.0, 7.0, 0.9, 1.5],
            "factor": [1.25, 1.125, 1.1, np.nan],
            "predicted_by_flatness": [10.8, 8.8, 1.0, 2.0],
        }
    ).to_csv(tmp_path / "savings_law_validation.csv", index=False)
    text = findings.savings_failures_block(tmp_path)
    assert text.startswith("Beyond the range of savings it was fitted on (R ≤ 6.4, cone)")
    assert "on a, b, whose leverage sampling saves 8–12×, it predicts 1.12–1.25× too much" in text
    assert "1 of those 2 measurements fall below" in text and "within 0.9–1.1×" in text
