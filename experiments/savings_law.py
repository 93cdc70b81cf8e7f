r"""The law for the width leverage sampling saves, chosen by how well it predicts data it
was not fitted on.

    uv run python experiments/savings_law.py      # reads docs/results, writes the law there

**Measurements.**  :math:`R = m_\mathrm{gauss}/m_\mathrm{lev}`, the ratio of the widths the
two samplers need for one level (:func:`nnkrr.savings.width_savings`, 90% bootstrap over
seeds), on twelve data geometries in eight *families* (:data:`FAMILIES`):

* ``spectral``: the spectral error ε of :math:`K_m` at ε = 0.5 and 0.25 (median over 5
  seeds; n = 128, λ ∈ {0.01, 0.1, 1}; ``spectral.py -m +experiment=savings_families``);
* ``network``: the network's ``gap_rel`` to NTK-KRR at 5% and 2.5% (mean over 8 seeds;
  n = 128, λ = 0.1, lazy; ``sweep.py -m +experiment=width_savings`` on the same geometries
  but MNIST-1D: the ``width_savings`` and ``savings_families_network`` findings).

**Candidates** (:data:`CANDIDATES`): statistics of the leverage function under p, each
recorded by the spectral job (:func:`nnkrr.sampling.flatness`), each with the reason theory
gives for it.  **Protocol**: for each level and candidate, fit :math:`R = C x^a` (log-log
least squares) on all families but one and predict the one left out
(:func:`nnkrr.scaling.held_out_residuals`); a candidate's error is the RMS of
:math:`\ln(R_\mathrm{predicted}/R)` over every held-out prediction.  The candidate with the
smallest error over all four levels is the law; its constants are refitted on every family
and its 90% prediction interval is the 5–95% range of its held-out log residuals.  The
widths the leverage sampler needs are fitted the same way, :math:`m_\mathrm{lev} = C
s_\lambda^b` per level (Thm 3.3: :math:`m \propto s_\lambda \ln s_\lambda / \varepsilon^2`).

Writes under ``docs/results/savings_law/``: ``savings_law_table.{csv,md}`` (every ratio with
the candidates' values), ``savings_law_lofo.{csv,md}`` (candidates × held-out families),
``savings_law_fits.{csv,md}`` (the chosen law), the constants :func:`nnkrr.savings.predict`
reads (:data:`nnkrr.savings.LAW_FILE`), and ``docs/figures/savings_law.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import plots
from experiments.analysis import GAP_LEVELS, markdown_table, width_savings_table
from experiments.results import read
from nnkrr import savings, scaling

ROOT = Path(__file__).resolve().parents[1]
#: The spectral levels ε of the law.
SPECTRAL_EPS = (0.5, 0.25)
#: Geometry (the data set's name, which carries its non-default geometry options:
#: :mod:`nnkrr.data`) -> family: the unit left out together.  A name not listed (a user's
#: ``data=file``, another option value) is a family of its own.
FAMILIES = {
    "synthetic": "sphere",
    "cone": "cone",
    "cone(spread=0.25)": "cone",
    "cone(clusters=4,spread=0.1)": "clusters",
    "anisotropic": "anisotropic",
    "manifold": "manifold",
    "digits": "real (standardised)",
    "wine": "real (standardised)",
    "breast_cancer": "real (standardised)",
    "diabetes": "real (standardised)",
    "digits_raw": "real (raw)",
    "mnist1d": "MNIST-1D",
}
#: (name, label, why theory points to it).  The value of each is a column of the ratio
#: table (``savings_law_table.csv``); ``none`` is the constant R = C.
CANDIDATES = (
    ("none", "R = C", "the null model: leverage saves the same everywhere"),
    ("flatness", "sup score / s_λ",
     "Thm 3.3: the Gaussian's bound has sup score where the leverage one has s_λ (Bernstein's range term)"),
    ("paper", "(n/λ) / s_λ", "the paper's bound on the sup for unit-norm inputs"),
    ("score_second_moment", "E_p[score²] / s_λ²",
     "the trace of the one-feature estimator's second moment, p's over q's"),
    ("score_q99", "q_0.99(score) / s_λ", "the sup without its rarest 1% of directions"),
    ("coverage", "1 / (1 − P_p(score = 0))",
     "Gaussian features with score 0 see every point on one side and are wasted"),
    ("variance_ratio", "σ_p² / σ_q²",
     "matrix Bernstein's variance term, p's estimator over q's (nnkrr.sampling.flatness)"),
    ("intrinsic_dimension", "tr V / ‖V‖",
     "the log factor of the intrinsic Bernstein bound (p's variance V)"),
)  # fmt: skip
PREDICTOR_COLUMNS = tuple(name for name, _, _ in CANDIDATES if name != "none")


def family(label: str) -> str:
    """The family of a geometry label (:data:`FAMILIES`; the label itself when unlisted)."""
    return FAMILIES.get(label, label)


def predictors(spectral: pd.DataFrame) -> pd.DataFrame:
    """One row per (geometry, n_train, ridge) of a spectral table: the candidates' values."""
    frame = spectral.assign(geometry=spectral.dataset)
    first = frame.groupby(["geometry", "n_train", "ridge"], as_index=False).first()
    out = first[["geometry", "n_train", "ridge", "s_lambda", "flatness", "zero_fraction"]].copy()
    for column in ("score_second_moment", "score_q99", "variance_ratio", "intrinsic_dimension"):
        out[column] = first[column]
    out["paper"] = out.n_train / out.ridge / out.s_lambda
    out["coverage"] = 1 / (1 - out.zero_fraction)
    return out.drop(columns=["zero_fraction"])


def spectral_savings(spectral: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """R per (geometry, n, λ, ε) of a spectral table (median over seeds)."""
    frame = spectral.assign(geometry=spectral.dataset)
    rows = []
    for (geo, n, lam), group in frame.groupby(["geometry", "n_train", "ridge"], sort=True):
        curves = {
            s: sub.pivot_table(index="width", columns="init_seed", values="spectral_eps").dropna(
                axis=1
            )
            for s, sub in group.groupby("sampler")
        }
        if set(curves) != {"gaussian", "leverage"}:
            continue
        for eps in SPECTRAL_EPS:
            if min(len(c) for c in curves.values()) < 2:  # below stop_below at the first width
                nan = float("nan")
                rows.append(
                    _row("spectral", f"eps {eps:g}", geo, n, lam, savings.Savings(eps, *[nan] * 6))
                )
                continue
            out = savings.width_savings(
                curves["gaussian"].index.to_numpy(),
                curves["gaussian"].to_numpy(),
                curves["leverage"].to_numpy(),
                eps,
                n_boot=n_boot,
                stat="median",
                seed=int(n),
                widths_leverage=curves["leverage"].index.to_numpy(),
            )
            rows.append(_row("spectral", f"eps {eps:g}", geo, n, lam, out))
    return pd.DataFrame(rows)


def network_savings(sweep: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """R per (geometry, n, λ) of a sweep's gathered rows at gap_rel 5% and 2.5%."""
    frame = sweep.assign(geometry=sweep.dataset)
    table = width_savings_table(
        frame, n_boot=n_boot, by=("geometry", "n_train", "ridge"), levels=GAP_LEVELS
    )
    return pd.DataFrame(
        [
            _row(
                "network",
                f"gap_rel {r.eps:g}",
                r.geometry,
                r.n_train,
                r.ridge,
                savings.Savings(
                    r.eps, r.ratio, r.low, r.high, r.m_gaussian, r.m_leverage, r.defined
                ),
            )
            for r in table.itertuples()
        ]
    )


def _row(kind, level, geo, n, lam, out: savings.Savings) -> dict:
    return {
        "kind": kind,
        "level": level,
        "geometry": geo,
        "family": family(geo),
        "n_train": int(n),
        "ridge": float(lam),
        "m_gaussian": out.m_gaussian,
        "m_leverage": out.m_leverage,
        "ratio": out.ratio,
        "low": out.low,
        "high": out.high,
    }


def ratio_table(spectral: pd.DataFrame, sweeps: list[pd.DataFrame], n_boot: int = 2000):
    """Every ratio beside its geometry's candidate values (the spectral job's statistics at
    the same (geometry, n, λ)); rows whose geometry has no spectral job are dropped."""
    parts = [spectral_savings(spectral, n_boot)] + [network_savings(s, n_boot) for s in sweeps]
    table = pd.concat(parts, ignore_index=True)
    return table.merge(predictors(spectral), on=["geometry", "n_train", "ridge"], how="inner")


def held_out(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``held_out_<candidate>``: each ratio as the candidate's law predicts it
    when fitted on the other families at the same (kind, level)
    (:func:`nnkrr.scaling.held_out_residuals`; NaN where it cannot)."""
    out = table.copy()
    for name, _, _ in CANDIDATES:
        out[f"held_out_{name}"] = np.nan
    for _, part in table.groupby(["kind", "level"], sort=False):
        for name, _, _ in CANDIDATES:
            x = np.ones(len(part)) if name == "none" else part[name].to_numpy()
            resid = scaling.held_out_residuals(
                x,
                part.ratio.to_numpy(),
                part.family.to_numpy(),
                slope=0.0 if name == "none" else None,
            )
            out.loc[part.index, f"held_out_{name}"] = part.ratio.to_numpy() * np.exp(resid)
    return out


def leave_one_family_out(table: pd.DataFrame) -> pd.DataFrame:
    """Per (kind, level, candidate): each family's held-out RMS ln residual, and over all
    held-out predictions (``family = "all"``) with the largest factor off and the 5% and
    95% percentiles of the ln residuals (the law's interval)."""
    if "held_out_none" not in table:
        table = held_out(table)
    rows = []
    for (kind, level), part in table[np.isfinite(table.ratio)].groupby(
        ["kind", "level"], sort=False
    ):
        for name, _, _ in CANDIDATES:
            resid = np.log(part[f"held_out_{name}"].to_numpy() / part.ratio.to_numpy())
            for fam in [*sorted(set(part.family)), "all"]:
                r = resid if fam == "all" else resid[part.family.to_numpy() == fam]
                r = r[np.isfinite(r)]
                rows.append(
                    {
                        "kind": kind,
                        "level": level,
                        "candidate": name,
                        "family": fam,
                        "points": int(r.size),
                        "rms_ln": float(np.sqrt(np.mean(r**2))) if r.size else np.nan,
                        "worst_factor": float(np.exp(np.max(np.abs(r)))) if r.size else np.nan,
                        "q05": float(np.percentile(r, 5)) if r.size else np.nan,
                        "q95": float(np.percentile(r, 95)) if r.size else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def _pooled(group: pd.DataFrame) -> float:
    """RMS over the held-out predictions of several rows of :func:`leave_one_family_out`
    (inf when none could be made: a candidate constant over the fit's families)."""
    points = group.points.sum()
    if points == 0:
        return float("inf")
    return float(np.sqrt((group.rms_ln.fillna(0) ** 2 * group.points).sum() / points))


def choose(lofo: pd.DataFrame) -> str:
    """The candidate whose held-out error, pooled over every kind and level, is smallest."""
    pooled = lofo[lofo.family == "all"].groupby("candidate").apply(_pooled, include_groups=False)
    return str(pooled.idxmin())


def law(table: pd.DataFrame, lofo: pd.DataFrame, chosen: str, n_boot: int = 2000) -> dict:
    """The constants :func:`nnkrr.savings.predict` reads: per (kind, level) the chosen
    candidate's fit on every family, its held-out residual range, and the leverage width
    fit m_lev = C s_λ^b with its own held-out range."""
    out = {"predictor": chosen, "label": dict((n, lbl) for n, lbl, _ in CANDIDATES)[chosen]}
    for kind in ("spectral", "network"):
        levels = {}
        for level, part in table[table.kind == kind].groupby("level", sort=False):
            ok = part[np.isfinite(part.ratio)]
            fit = scaling.power_law(ok[chosen], ok.ratio, n_boot=n_boot)
            held = lofo[
                (lofo.kind == kind) & (lofo.level == level) & (lofo.candidate == chosen)
                & (lofo.family == "all")
            ].iloc[0]  # fmt: skip
            lev = part[np.isfinite(part.m_leverage)]
            width = scaling.power_law(lev.s_lambda, lev.m_leverage, n_boot=n_boot)
            w_resid = scaling.held_out_residuals(
                lev.s_lambda.to_numpy(), lev.m_leverage.to_numpy(), lev.family.to_numpy()
            )
            w_resid = w_resid[np.isfinite(w_resid)]
            levels[str(float(level.split()[-1]))] = {
                "points": int(fit.points),
                "C": fit.constant,
                "a": fit.slope,
                "ln_low": float(held.q05),
                "ln_high": float(held.q95),
                "rms_ln_held_out": float(held.rms_ln),
                "width_C": width.constant,
                "width_b": width.slope,
                "width_ln_low": float(np.percentile(w_resid, 5)),
                "width_ln_high": float(np.percentile(w_resid, 95)),
                "width_points": int(width.points),
            }
        out[kind] = levels
    out["fitted_on"] = {
        "geometries": sorted(set(table.geometry)),
        "n_train": sorted(int(n) for n in set(table.n_train)),
        "ridge": sorted(float(r) for r in set(table.ridge)),
        "network_regime": "lazy, GD, two-layer ReLU, relu_ntk target (sweep defaults)",
    }
    return out


def validation(
    spectral: pd.DataFrame, law_constants: dict, fitted: pd.DataFrame, n_boot: int = 2000
) -> pd.DataFrame:
    """The law against spectral measurements it was not fitted on: per (geometry, λ, ε) the
    measured R [90% bootstrap] beside the predicted R [90%] from the statistic the job
    recorded (the one :func:`nnkrr.savings.predict` computes), the factor between, and what
    the superseded law R = C flatness^a, fitted on the same ratios (``fitted``), predicts."""
    table = spectral_savings(spectral, n_boot).merge(
        predictors(spectral), on=["geometry", "n_train", "ridge"]
    )
    name = law_constants["predictor"]
    old_law = {
        level: scaling.power_law(part.flatness, part.ratio, n_boot=2)
        for level, part in fitted[fitted.kind == "spectral"].groupby("level")
    }
    rows = []
    for r in table.itertuples():
        c = law_constants["spectral"][str(float(r.level.split()[-1]))]
        predicted = c["C"] * getattr(r, name) ** c["a"]
        flat = old_law[r.level]
        rows.append(
            {
                "geometry": r.geometry,
                "n_train": r.n_train,
                "ridge": r.ridge,
                "level": r.level,
                name: getattr(r, name),
                "measured": r.ratio,
                "measured_low": r.low,
                "measured_high": r.high,
                "predicted": predicted,
                "predicted_low": predicted * np.exp(c["ln_low"]),
                "predicted_high": predicted * np.exp(c["ln_high"]),
                "factor": predicted / r.ratio,
                "flatness": r.flatness,
                "predicted_by_flatness": flat.constant * r.flatness**flat.slope,
            }
        )
    return pd.DataFrame(rows)


def fits_table(law_constants: dict) -> pd.DataFrame:
    """The chosen law as rows (``savings_law_fits.csv``)."""
    return pd.DataFrame(
        [
            {"kind": kind, "level": float(level), "predictor": law_constants["predictor"], **values}
            for kind in ("spectral", "network")
            for level, values in law_constants[kind].items()
        ]
    )


def lofo_markdown(lofo: pd.DataFrame) -> str:
    """Candidates × held-out families: the held-out RMS ln residual, as a factor
    exp(rms), pooled over the four levels; the last column all held-out predictions."""
    pooled = (
        lofo.groupby(["candidate", "family"])
        .apply(lambda g: np.exp(_pooled(g)), include_groups=False)
        .unstack("family")
    )
    families = [f for f in pooled.columns if f != "all"] + ["all"]
    labels = {n: lbl for n, lbl, _ in CANDIDATES}
    lines = [
        "| candidate | " + " | ".join(families) + " |",
        "|---|" + "---|" * len(families),
    ]
    for name in pooled["all"].sort_values().index:
        cells = [
            f"{pooled.loc[name, f]:.2f}×" if np.isfinite(pooled.loc[name, f]) else "—"
            for f in families
        ]
        lines.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def savings_law(results: Path, figures: Path, n_boot: int = 2000, law_file: Path | None = None):
    """Read the gathered tables under ``results``, write the law's tables, constants and figure."""
    spectral = read(results / "savings_families" / "spectral.parquet")
    sweeps = [
        read(results / name / "results.parquet")
        for name in ("width_savings", "savings_families_network")
    ]
    table = held_out(ratio_table(spectral, sweeps, n_boot))
    lofo = leave_one_family_out(table)
    chosen = choose(lofo)
    constants = law(table, lofo, chosen, n_boot)
    out = results / "savings_law"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "savings_law_table.csv", index=False)
    shown = table.drop(columns=[c for c in table if c.startswith("held_out_")])
    (out / "savings_law_table.md").write_text(markdown_table(shown))
    lofo.to_csv(out / "savings_law_lofo.csv", index=False)
    (out / "savings_law_lofo.md").write_text(lofo_markdown(lofo))
    fits = fits_table(constants)
    fits.to_csv(out / "savings_law_fits.csv", index=False)
    (out / "savings_law_fits.md").write_text(markdown_table(fits))
    law_file = savings.LAW_FILE if law_file is None else law_file
    law_file.write_text(json.dumps(constants, indent=1, sort_keys=True) + "\n")
    checked = validation(
        read(results / "savings_validation" / "spectral.parquet"), constants, table, n_boot
    )
    checked.to_csv(out / "savings_law_validation.csv", index=False)
    (out / "savings_law_validation.md").write_text(markdown_table(checked))
    figures.mkdir(parents=True, exist_ok=True)
    fig = plots.savings_law_figure(table, lofo, chosen, figures / "savings_law.png", checked)
    return [
        out / "savings_law_table.csv",
        out / "savings_law_table.md",
        out / "savings_law_lofo.csv",
        out / "savings_law_lofo.md",
        out / "savings_law_fits.csv",
        out / "savings_law_fits.md",
        out / "savings_law_validation.csv",
        out / "savings_law_validation.md",
        law_file,
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
