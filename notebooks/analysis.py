# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Do wide regularised networks predict what NTK-KRR predicts?
#
# Reads a width sweep (`experiments/sweep.py -m`), a spectral sweep (`experiments/spectral.py -m`)
# and a regime map (`experiments/sweep.py -m +experiment=regime_map`). Set `SWEEP` / `SPECTRAL` /
# `REGIME_MAP` (or the environment variables `NNKRR_SWEEP`, `NNKRR_SPECTRAL`, `NNKRR_REGIME_MAP`)
# to their sweep directories; left empty, the notebook runs tiny sweeps itself so that it always
# executes (CI runs it that way): every output drawn from such a toy sweep says so in a banner
# (n = 16 to 64, 1 to 3 seeds: a check that the code runs, not a finding). Pictures first,
# tables after.

# %% tags=["parameters"]
import os

SWEEP = os.environ.get("NNKRR_SWEEP", "")  # directory holding results.parquet
SPECTRAL = os.environ.get("NNKRR_SPECTRAL", "")  # directory holding spectral.parquet
REGIME_MAP = os.environ.get("NNKRR_REGIME_MAP", "")  # a +experiment=regime_map sweep

# %%
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Image, display

jax.config.update("jax_enable_x64", True)
ROOT = next(
    p for p in [Path.cwd(), *Path.cwd().parents] if (p / "experiments" / "sweep.py").exists()
)
sys.path.insert(0, str(ROOT))
from experiments import analysis, findings, plots  # noqa: E402

from nnkrr import data, sampling  # noqa: E402


def show(fig):
    """Display a matplotlib figure as PNG (the plotting helpers select the Agg backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buffer.getvalue()))


TOY = set()  # the sources (SWEEP, SPECTRAL, REGIME_MAP) that are toy sweeps run here


def toy(source):
    """Say so where an output comes from a toy sweep (before its figure or table)."""
    if source in TOY:
        print(
            f"TOY DATA: {source} is a tiny sweep run by this notebook to check the code, not a "
            f"finding; set NNKRR_{source} to a real sweep directory"
        )


def run_tiny(script, *overrides):
    out = Path(tempfile.mkdtemp(prefix=f"nnkrr-{script}-"))
    cmd = [
        sys.executable,
        str(ROOT / "experiments" / f"{script}.py"),
        "-m",
        *overrides,
        f"hydra.sweep.dir={out}",
    ]
    subprocess.run(cmd, check=True, capture_output=True, cwd=out)
    return out


TOY |= {name for name, value in [("SWEEP", SWEEP), ("SPECTRAL", SPECTRAL),
                                 ("REGIME_MAP", REGIME_MAP)] if not value}  # fmt: skip
if not SWEEP:
    SWEEP = run_tiny(  # the shapes of the test suite's tiny sweeps (one compilation for all)
        "sweep",
        "model.width=16,32",
        "sampler=gaussian,leverage",
        "regime=lazy,paper",
        "data.n_train=16",
        "data.n_test=8",
        "data.dim=3",
        "seeds=2",
        "train.max_steps=60",
    )
if not SPECTRAL:
    SPECTRAL = run_tiny(
        "spectral",
        "data=synthetic,cone",
        "data.n_train=64",
        "data.n_test=1",
        "widths=[32,128,512,2048]",
        "seeds=3",
        "flatness_draws=8192",
    )
if not REGIME_MAP:
    REGIME_MAP = run_tiny(
        "sweep",
        "+experiment=regime_map",
        "data=synthetic",
        "regime.kappa=1,0.1",
        "regime.centre=zero",
        "model.width=64,1024",
        "data.n_train=16",
        "data.n_test=16",
        "data.dim=4",
        "seeds=1",
        "train.max_steps=500",
    )
results = pd.read_parquet(Path(SWEEP) / "results.parquet")
regime_map = pd.read_parquet(Path(REGIME_MAP) / "results.parquet")
spectral = pd.read_parquet(Path(SPECTRAL) / "spectral.parquet")
print(f"{len(results)} network rows from {SWEEP}; {len(spectral)} spectral rows from {SPECTRAL}")

# %% [markdown]
# ## The gap to NTK-KRR versus width
# RMS over test points of |f_nn − f*|, mean ± sd over seeds, fitted log-log slopes, both samplers
# and both regimes, at one NTK-KRR target (ridge on K; λ = κ²·ridge). In the lazy regime the gap
# should fall like m^(-1/2); in the paper's regime (centre 0, small κ) it falls only once few
# activation patterns flip, at far larger widths (check `steps`, `lam_T` and `pattern_flips`).

# %%
figures = Path(tempfile.mkdtemp(prefix="nnkrr-figures-"))
gap_png, decomposition_png = plots.gap_figures(results, figures)
toy("SWEEP")
display(Image(filename=str(gap_png)))
analysis.gap_slopes(results)

# %% [markdown]
# ## Where the gap comes from
# kernel: KRR with the initial network's kernel K_m vs exact KRR; init: the initial output;
# opt: finite training time; nonlin: the network vs its linearisation.

# %%
toy("SWEEP")
display(Image(filename=str(decomposition_png)))

# %% [markdown]
# ## The lazy-training picture
# Relative weight movement ‖W(T) − W(0)‖/‖W(0)‖ and the fraction of ReLU patterns that flipped.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for (regime, sampler), group in results.groupby(["regime", "sampler"]):
    means = group.groupby("width")[["weight_move", "pattern_flips"]].mean()
    for ax, column in zip(axes, means.columns, strict=True):
        ax.plot(means.index, means[column], "o-", label=f"{regime}, {sampler}")
for ax, label in zip(
    axes, ["‖W(T) − W(0)‖ / ‖W(0)‖", "fraction of ReLU patterns flipped"], strict=True
):
    ax.set(xscale="log", yscale="log", xlabel="width m", ylabel=label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
toy("SWEEP")
show(fig)

# %% [markdown]
# ## The regime map: κ × centre × width at one NTK-KRR target
# gap_rel, the fraction of flipped patterns (dashed: the lazy prediction of `nnkrr.laziness`,
# flips ≈ ½ P[κ|u(w)|/√m > ρ|wᵀx|], ρ = e^(−λT) for centre 0, 1 for centre W(0)) and the weight
# movement. At a fixed target λT does not depend on κ, and for centre 0 a smaller κ needs larger
# moves of W: flips grow like e^(λT)/(κ√m). The table gives the smallest width of the grid with
# gap_rel < 5%.

# %%
findings.REGIME_MAP(regime_map, figures)  # the preset's figures and table
map_png, map_table = figures / "regime_map.png", figures / "regime_map_table.md"
toy("REGIME_MAP")
display(Image(filename=str(map_png)))
print(map_table.read_text())

# %% [markdown]
# ## Spectral error of the random-feature kernel versus m
# Against the two theoretical rates √((n/λ) log(s_λ/δ)/m) (Gaussian) and √(s_λ log(s_λ/δ)/m) (leverage).

# %%
(eps_png,) = plots.spectral_figure(spectral, figures)
toy("SPECTRAL")
display(Image(filename=str(eps_png)))
analysis.spectral_slopes(spectral)

# %% [markdown]
# ## Why leverage sampling helps on one dataset and not the other
# The distribution of score(w) / s_λ under the Gaussian p: nearly flat on the sphere (no gain),
# heavy-tailed with an atom at 0 on the cone (half-spaces that miss all the data), which q avoids.

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name in ("synthetic", "cone"):
    x = data.load(name, 0, n_train=128, n_test=1, dim=8).x_train
    lev = sampling.leverage(x, 0.01)
    w = jax.random.normal(jax.random.key(0), (20000, 8))
    score = np.asarray(sampling.leverage_scores(w, x, None, 0.01, lev=lev)) / float(lev.s_lambda)
    ax.hist(
        score,
        bins=80,
        density=True,
        alpha=0.6,
        label=f"{name}: max {score.max():.1f}, P(score=0) {np.mean(score == 0):.2f}",
    )
ax.set(xlabel="score(w) / s_λ,  w ~ N(0, I)", ylabel="density", yscale="log")
ax.legend(fontsize=8)
show(fig)

# %% [markdown]
# ## One job from Python, and rows told apart by how they were made
# `nnkrr.experiment.run(cfg)` runs one job of the sweep (no files, no Hydra) from the composed
# `configs/sweep.yaml`; `experiment.compose([...])` takes the same overrides as the command line.
# Every row carries the values that change its numbers (`data_seed`, `dtype`, data sizes, `kappa`,
# `lam`, `centre`, sampler `method` and `pool_size`, `optimizer`, `step_factor`, `horizon_c`,
# `backprop`, `chunk`, ...), so tables of different sweeps merge into one frame and are
# selected by those columns.

# %%
from nnkrr import experiment  # noqa: E402

one_job = experiment.run(
    experiment.compose(
        [
            "model.width=64",
            "seeds=2",
            "seed=1",
            "dtype=float64",
            "data.n_train=32",
            "data.n_test=32",
            "data.dim=4",
            "train.max_steps=2000",
        ]
    )
)
merged = pd.concat([results, one_job], ignore_index=True)
print(merged.groupby(["data_seed", "dtype", "regime", "sampler"]).size().to_string())
merged.query("data_seed == 1 and dtype == 'float64'")[
    ["width", "init_seed", "lam", "kappa", "centre", "lam_T", "gap_rms", "gap_rel", "roundoff"]
]

# %% [markdown]
# ## The numbers

# %%
columns = [
    "gap_rms",
    "gap_rel",
    "gap_kernel",
    "gap_opt",
    "gap_nonlin",
    "weight_move",
    "pattern_flips",
    "spectral_eps",
]
results.groupby(["regime", "sampler", "width"])[columns].mean()
