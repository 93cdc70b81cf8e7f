r"""One job of the spectral experiment, callable from Python: a config in, a table of rows out.

For each sampler, number of features m and seed, a feature sample is drawn
(:func:`nnkrr.sampling.sample`) and the spectral error of its random-feature kernel
:math:`K_m` recorded,

.. math:: \varepsilon = \|(K + \lambda I)^{-1/2} (K_m - K) (K + \lambda I)^{-1/2}\|_2

(:func:`nnkrr.features.rf_spectral_epsilon`: Lanczos on :math:`L^{-1}(K_m - K)L^{-\top}` with
:math:`K_m` applied by its features from :data:`nnkrr.features.RF_SPECTRAL_FEATURES_FROM_N`
points on, formed below, where that is the faster; Lee et al. 2020, Thm 3.3; Avron et al.
2017).  Beyond that n a job holds K and the whitener :math:`W = L^{-1}` of
:math:`K + \lambda I = L L^\top` (:func:`nnkrr.features.ridge_whitener`): 16 n² bytes in
float64, and refuses, in one line naming ``data.n_train``, an n whose two matrices do not fit
(:func:`nnkrr.config.checks.check_spectral_memory`).  Beside ε,
:math:`s_\lambda` of K (exactly: :math:`n - \lambda \|W\|_F^2`) and the leverage
function's flatness statistics (:func:`nnkrr.sampling.flatness`; of the subsample's function
when the leverage function is approximate, n > :data:`nnkrr.sampling.LEVERAGE_EXACT_MAX_N`).  :math:`\lambda` is the ridge on K (there is no output
scale here, so :math:`\lambda` is the config's ``ridge``, as ``lam = kappa^2 * ridge`` with
:math:`\kappa = 1`): ``ridge``, or ``n_train * ridge_per_point`` for the per-sample family.
The columns carry the sweep's names for the same quantities (``n_train``, ``width``,
``data_seed``, ``init_seed``, ``spectral_eps``, ``ridge``: :data:`nnkrr.row.COLUMNS`).  The process's
``jax_enable_x64`` must equal the config's ``x64`` (set once, at its start)::

    import jax
    jax.config.update("jax_enable_x64", True)
    from nnkrr import config, spectral
    rows = spectral.run(config.compose(["data=cone", "widths=[64,256]"], "spectral"))

:data:`COLUMNS` documents the columns (``docs/columns.md``); ``experiments/spectral.py`` is
the Hydra entry point that writes them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from nnkrr import experiment, row
from nnkrr.config import check
from nnkrr.config.checks import check_spectral_memory
from nnkrr.scale import per_point

__all__ = [
    "COLUMNS",
    "FLATNESS_SEED_OFFSET",
    "Problem",
    "cell",
    "make_problem",
    "reference",
    "run",
]

#: Every column of a spectral row, in order, with what it holds.
COLUMNS: dict[str, str] = {
    "dataset": "the data set's name",
    "data_seed": "the data seed (split, inputs, teacher; feature keys derive from it)",
    "n_train": "training points n (the rows of K)",
    "dim": "input dimension d",
    "kernel": "the kernel approximated: relu_ntk | arccos1 | rff_gaussian (nnkrr.features.KERNELS)",
    "ridge": "the ridge lambda on K (ridge, or n * ridge_per_point)",
    "ridge_per_point": "the per-sample ridge lambda / n of the per-sample family (NaN: ridge fixed)",
    "sampler": "gaussian | leverage",
    "method": "iid (Gaussian) | rejection | sir (leverage)",
    "leverage_points": "rows of the leverage function: n_train (exact) or a subsample's size "
    "(nnkrr.sampling.leverage_points; the flatness columns are that function's)",
    "width": "number of features m",
    "init_seed": "the feature sample's index s (key fold_in(key(data_seed), s))",
    "spectral_eps": "spectral error ||(K + lam I)^-1/2 (K_m - K) (K + lam I)^-1/2||_2",
    "s_lambda": "statistical dimension s_lambda of K at lambda (exact at every n)",
    "flatness": "sup score / s_lambda of the leverage function (a lower estimate)",
    "bound_over_s_lambda": "the provable sup score bound over s_lambda",
    "zero_fraction": "P_p(score = 0): the Gaussian mass where the leverage function vanishes",
    "score_second_moment": "E_p[score^2] / s_lambda^2 (nnkrr.sampling.flatness)",
    "score_q99": "the score's 99th percentile under p over s_lambda",
    "variance_ratio": "matrix Bernstein variance of p's estimator over q's (nnkrr.sampling."
    "flatness; NaN above sampling.VARIANCE_MAX_N rows of the leverage function)",
    "intrinsic_dimension": "tr V / ||V|| of p's estimator's variance V (NaN as variance_ratio)",
    "delta": "failure probability of the theory curves' log(s_lambda / delta)",
    "acceptance_rate": "rejection sampler's acceptance rate (NaN otherwise)",
    "ess_fraction": "SIR's effective sample size over the pool (NaN otherwise)",
    "wall_s": "seconds for the sample and its eps",
}
#: The columns of the score distribution's statistics (:func:`nnkrr.sampling.flatness`).
SCORE_COLUMNS = ("score_second_moment", "score_q99", "variance_ratio", "intrinsic_dimension")
#: The flatness estimate's key is ``key(FLATNESS_SEED_OFFSET + seed)``: apart from the draws'.
FLATNESS_SEED_OFFSET = 10**6


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """What every draw of a spectral job shares: the inputs ``x`` (n, d), the ridge ``lam`` on
    K (the config's ``ridge``: there is no output scale), the kernel spec, K (n, n), the leverage function, its flatness statistics and the
    rows' common columns."""

    x: jax.Array
    lam: float
    spec: Any  # a nnkrr.features.FeatureKernel
    k: jax.Array
    whitener: jax.Array | None  # W = L^-1, L L^T = K + lam I, where it is needed
    s_lambda: float
    lev: Any  # a nnkrr.sampling.Leverage
    flat: dict
    base: dict


def make_problem(cfg: dict) -> Problem:
    """The data of a checked spectral config, its ridge (``ridge`` or ``n * ridge_per_point``),
    its exact kernel, leverage function and flatness (key ``FLATNESS_SEED_OFFSET + seed``)."""
    from nnkrr import features, sampling

    ds = experiment.load_data(cfg)
    check_spectral_memory(ds.n_train, cfg["x64"])
    x = jnp.asarray(ds.x_train)
    fixed = cfg["ridge_per_point"] is None
    lam = cfg["ridge"] if fixed else per_point(ds.n_train, cfg["ridge_per_point"])
    spec = features.get_kernel(cfg["kernel"])
    k = spec.exact(x)
    lev = sampling.leverage(x, lam, k=k, kernel=spec)
    exact = lev.x.shape[0] == ds.n_train  # its s_lambda is K's (an eigendecomposition of K)
    # the whitener only where something reads it: the features path's eps, or s_lambda of K
    # when the leverage function is a subsample's (s_lambda = n - lam ||W||_F^2)
    wanted = not exact or ds.n_train >= features.RF_SPECTRAL_FEATURES_FROM_N
    whitener = features.ridge_whitener(k, lam) if wanted else None
    s_lambda = (
        float(lev.s_lambda) if exact else ds.n_train - float(lam) * float(jnp.sum(whitener**2))
    )
    key = jax.random.key(FLATNESS_SEED_OFFSET + cfg["seed"])
    flat = sampling.flatness(key, lev, num=cfg["flatness_draws"])
    base = {
        "dataset": ds.name,
        "data_seed": cfg["seed"],
        "n_train": ds.n_train,
        "dim": ds.dim,
        "kernel": spec.name,
        "ridge": float(lam),
        "ridge_per_point": cfg["ridge_per_point"],
        **row.data_columns(cfg["data"]),
    }
    return Problem(x, float(lam), spec, k, whitener, s_lambda, lev, flat, base)


def cell(cfg: dict, prob: Problem, sampler: str, m: int) -> list[dict]:
    """The rows of one (sampler, m): ``seeds`` feature samples (keys ``fold_in(key(seed),
    index)``) and one eps each (:func:`nnkrr.features.rf_spectral_epsilon`, the job's whitener)."""
    from nnkrr import features, sampling

    samples, stats, walls = [], [], []
    for seed in range(cfg["seeds"]):
        start = time.perf_counter()
        sample = sampling.sample(
            jax.random.fold_in(jax.random.key(cfg["seed"]), seed),
            prob.x,
            m,
            sampler=sampler,
            lam=prob.lam,
            kernel=prob.spec,
            method=cfg["method"],
            pool_size=cfg["pool_size"],
            lev=prob.lev,
        )
        samples.append(sample)
        stats.append({name: float(v) for name, v in sample.stats.items()})
        walls.append(time.perf_counter() - start)
    start = time.perf_counter()
    eps = features.rf_spectral_epsilon(
        prob.x, samples, prob.k, prob.lam, prob.spec, whitener=prob.whitener
    )
    eps_wall = (time.perf_counter() - start) / cfg["seeds"]
    flat = prob.flat
    return [
        {
            **prob.base,
            "sampler": sampler,
            "method": cfg["method"] if sampler == "leverage" else "iid",
            "leverage_points": int(prob.lev.x.shape[0]),
            "width": m,
            "init_seed": seed,
            "spectral_eps": float(eps[seed]),
            "s_lambda": prob.s_lambda,
            "flatness": flat["flatness"],
            "bound_over_s_lambda": flat["bound_over_s_lambda"],
            "zero_fraction": flat["zero_fraction"],
            **{name: flat[name] for name in SCORE_COLUMNS},
            "delta": float(cfg["delta"]),
            "acceptance_rate": stats[seed].get("acceptance_rate", float("nan")),
            "ess_fraction": stats[seed].get("ess_fraction", float("nan")),
            "wall_s": walls[seed] + eps_wall,
        }
        for seed in range(cfg["seeds"])
    ]


def run(
    cfg: Any,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    checked: bool = False,
) -> pd.DataFrame:
    """Run one job of the spectral experiment and return its rows, one per (sampler, m, seed):
    :func:`make_problem`, then :func:`cell` for each (sampler, m).

    Args:
      cfg: a spectral config (:func:`nnkrr.config.compose` with ``"spectral"``, a
        ``DictConfig`` or a :class:`nnkrr.config.Spectral`).
      progress: optional ``progress("draws", done, total)`` between (sampler, m) cells.
      checked: ``cfg`` is the plain dict :func:`nnkrr.config.check` returned.

    Returns:
      A DataFrame with the columns of :data:`COLUMNS`.  A sampler whose median eps over
      seeds falls below ``stop_below`` draws none of its larger widths.

    Raises:
      ConfigError: an invalid config value, or a data file that cannot be read.
      RuntimeError: ``jax_enable_x64`` differs from the config's ``x64``.
    """
    cfg = cfg if checked else check(cfg, "spectral")
    if bool(jax.config.jax_enable_x64) != cfg["x64"]:
        raise RuntimeError(
            f"nnkrr.spectral.run with x64={cfg['x64']}: call jax.config.update("
            f"'jax_enable_x64', {cfg['x64']}) once at the start of the process"
        )
    prob = make_problem(cfg)
    grid = [(sampler, m) for sampler in cfg["samplers"] for m in cfg["widths"]]
    rows, done_below = [], set()  # samplers whose median eps fell below stop_below
    for done, (sampler, m) in enumerate(grid):
        if progress is not None:
            progress("draws", done, len(grid))
        if sampler in done_below:
            continue
        rows += (new := cell(cfg, prob, sampler, m))
        median = float(np.median([r["spectral_eps"] for r in new]))
        if cfg["stop_below"] is not None and median < cfg["stop_below"]:
            done_below.add(sampler)  # the larger widths of this sampler are not drawn
    if progress is not None:
        progress("draws", len(grid), len(grid))
    columns = list(COLUMNS)
    at = columns.index("dim") + 1
    columns[at:at] = list(row.data_columns(cfg["data"]))
    return pd.DataFrame(rows, columns=columns)


def reference() -> str:
    """The table of a spectral row's columns in Markdown, from :data:`COLUMNS` (a section
    of ``docs/columns.md``)."""
    lines = [
        "## A row of the spectral experiment",
        "",
        "Generated from `nnkrr.spectral.COLUMNS`. One row per (sampler, width, init_seed) in a job's "
        "`spectral.parquet` / `.csv` (`experiments/spectral.py`, `nnkrr.spectral.run`), in this "
        "order, with the data set's options as `data_<key>` columns after `dim` (as in the "
        "sweep's rows); a sweep's gathered table adds `job` in front.",
        "",
        "| column | what it holds |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {doc.replace('|', chr(92) + '|')} |" for name, doc in COLUMNS.items()]
    return "\n".join(lines) + "\n"
