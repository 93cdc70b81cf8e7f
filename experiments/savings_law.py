r"""One law for the width leverage sampling saves: every savings measurement pooled.

    uv run python experiments/savings_law.py      # reads docs/results, writes the law there

The width each sampler needs to reach a level, and their ratio
:math:`R = m_\mathrm{gauss} / m_\mathrm{lev}` with a 90% bootstrap interval over seeds
(:func:`nnkrr.savings.width_savings`), from three gathered tables:

* ``spectral``: the spectral error :math:`\varepsilon` of :math:`K_m` (``+experiment=
  spectral_scaling``; median over seeds, at :math:`\varepsilon \in \{0.5, 0.25\}`), per
  (data set, n, λ);
* ``network``: the network's ``gap_rel`` to NTK-KRR, per data set at half and a quarter of
  the starting gap (``+experiment=width_savings``, n = 128) and per (data set, n) at
  gap_rel 5% and 2.5% (``+experiment=equivalence_scaling``, λ = n λ₀); mean over seeds.

Thm 3.3 puts the two samplers' widths in the ratio of what their bounds are written in:
:math:`R \approx \sup_w \mathrm{score}(w) / s_\lambda` (the *flatness*, measured with the
leverage rows), which the paper's form bounds by :math:`(n/\lambda)/s_\lambda` for
unit-norm inputs.  For each predictor x the fit :math:`R = C x^a` (log-log least squares,
bootstrap over points; :func:`nnkrr.scaling.power_law`) per kind and pooled, beside the
null model R = constant; the residuals' RMS in log R says which predicts it and how well.
Writes ``savings_law_table.{md,csv}`` and ``savings_law_fits.{md,csv}`` under
``docs/results/savings_law/`` and ``docs/figures/savings_law.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import plots
from experiments.analysis import GAP_LEVELS, family, markdown_table, width_savings_table
from experiments.results import read
from nnkrr import savings, scaling

ROOT = Path(__file__).resolve().parents[1]
#: (predictor column, label): what the theory says the ratio follows, and the paper's form.
PREDICTORS = (("flatness", "sup score / s_λ"), ("n_over_lam_per_s", "(n/λ) / s_λ"))
SPECTRAL_EPS = (0.5, 0.25)


def spectral_savings(frame: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """R per (data set, n, λ, ε) of a ``spectral.parquet`` (median over seeds); at the
    smallest n the two ridge families are one run, counted once."""
    frame = frame.assign(family=family(frame))
    rows = []
    for (dataset, n, lam), group in frame.groupby(["dataset", "n_train", "ridge"], sort=True):
        curves = {
            s: sub.pivot_table(index="width", columns="init_seed", values="spectral_eps").dropna(
                axis=1
            )
            for s, sub in group.groupby("sampler")
        }
        if set(curves) != {"gaussian", "leverage"}:
            continue
        widths = curves["gaussian"].index.intersection(curves["leverage"].index)
        lev = group[group.sampler == "leverage"].iloc[0]
        for eps in SPECTRAL_EPS:
            out = savings.width_savings(
                widths.to_numpy(),
                curves["gaussian"].loc[widths].to_numpy(),
                curves["leverage"].loc[widths].to_numpy(),
                eps,
                n_boot=n_boot,
                stat="median",
                seed=int(n),
            )
            rows.append(
                _row("spectral", dataset, n, lam, f"ε = {eps}", out, lev.flatness, lev.s_lambda)
                | {"family": group.family.iloc[0]}
            )
    return pd.DataFrame(rows)


def network_savings(frame: pd.DataFrame, source: str, n_boot: int = 2000) -> pd.DataFrame:
    """R from a sweep's gathered rows: ``width_savings`` (per data set, half and a quarter
    of the starting gap) or ``equivalence_scaling`` (per data set and n, gap_rel 5%, 2.5%)."""
    if source == "width_savings":
        table = width_savings_table(frame, n_boot=n_boot)
    else:
        table = width_savings_table(
            frame, n_boot=n_boot, by=("dataset", "n_train"), levels=GAP_LEVELS
        )
    rows = []
    for r in table.itertuples():
        level = (
            f"gap_rel {r.fraction:g} x start" if np.isfinite(r.fraction) else f"gap_rel {r.eps:g}"
        )
        out = savings.Savings(r.eps, r.ratio, r.low, r.high, r.m_gaussian, r.m_leverage, r.defined)
        rows.append(
            _row(f"network ({source})", r.dataset, r.n, r.ridge, level, out, r.flatness, r.s_lambda)
        )
    return pd.DataFrame(rows)


def _row(kind, dataset, n, lam, level, out: savings.Savings, flatness, s_lambda) -> dict:
    return {
        "kind": kind,
        "dataset": dataset,
        "n": int(n),
        "lam": float(lam),
        "level": level,
        "m_gaussian": out.m_gaussian,
        "m_leverage": out.m_leverage,
        "ratio": out.ratio,
        "low": out.low,
        "high": out.high,
        "flatness": float(flatness),
        "s_lambda": float(s_lambda),
        "n_over_lam_per_s": n / lam / s_lambda,
    }


def law_fits(table: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """R = C x^a per (kind and all pooled, predictor), and the null model R = C: slope,
    constant with 90% intervals and the RMS residual in ln R, over the defined ratios."""
    defined = table[np.isfinite(table.ratio)]
    kinds = ["spectral", "network", "all"]
    rows = []
    for kind in kinds:
        part = defined if kind == "all" else defined[defined.kind.str.startswith(kind)]
        for column, label in (*PREDICTORS, (None, "none (R = C)")):
            x = part[column] if column else np.ones(len(part))
            fit = scaling.power_law(
                x, part.ratio, slope=0.0 if column is None else None, n_boot=n_boot
            )
            rows.append(
                {
                    "kind": kind,
                    "predictor": label,
                    "points": fit.points,
                    "slope": fit.slope if column else 0.0,
                    "slope_low": fit.slope_low if column else 0.0,
                    "slope_high": fit.slope_high if column else 0.0,
                    "C": fit.constant,
                    "C_low": fit.constant_low,
                    "C_high": fit.constant_high,
                    "rms_ln_residual": fit.rms_log_residual,
                }
            )
    return pd.DataFrame(rows)


def savings_law(results: Path, figures: Path, n_boot: int = 2000) -> list[Path]:
    """Read the three gathered tables under ``results``, write the law's table, fits and figure."""
    parts = [spectral_savings(read(results / "spectral_scaling" / "spectral.parquet"), n_boot)]
    for source in ("width_savings", "equivalence_scaling"):
        parts.append(network_savings(read(results / source / "results.parquet"), source, n_boot))
    table = pd.concat(parts, ignore_index=True)
    fits = law_fits(table, n_boot)
    out = results / "savings_law"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "savings_law_table.csv", index=False)
    (out / "savings_law_table.md").write_text(markdown_table(table.drop(columns=["family"])))
    fits.to_csv(out / "savings_law_fits.csv", index=False)
    (out / "savings_law_fits.md").write_text(markdown_table(fits))
    figures.mkdir(parents=True, exist_ok=True)
    fig = plots.savings_law_figure(table, fits, PREDICTORS, figures / "savings_law.png")
    return [
        out / "savings_law_table.csv",
        out / "savings_law_table.md",
        out / "savings_law_fits.md",
        out / "savings_law_fits.csv",
        fig,
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args(argv)
    for path in savings_law(args.results, args.figures, args.n_boot):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
