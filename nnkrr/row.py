"""What a row of the sweep's table holds: the one list of its columns, with their docs.

:func:`rows` puts a job's provenance, schedule and measurements together in the order of
:data:`COLUMNS` (one row per seed); the documentation's table of columns is generated from it.
"""

from __future__ import annotations

from nnkrr import sampling
from nnkrr.scale import Scale

__all__ = [
    "COLUMNS",
    "DATA_COLUMN_DOC",
    "GATHERED_COLUMNS",
    "NAMED_TRAIN_KEYS",
    "TRAIN_COLUMN_DOC",
    "fixed_column",
    "provenance",
    "reference",
    "rows",
]

#: Every column of a row, in order, with what it holds.  ``data_<key>`` columns (one per
#: option of the data set besides its seed and sizes, :data:`DATA_COLUMN_DOC`) follow ``target``.
COLUMNS: dict[str, str] = {
    "dataset": "the data set's name (a file's stem for data=file)",
    "data_seed": "the data seed (split, inputs, teacher; feature keys derive from it)",
    "n_train": "training points n",
    "n_test": "test points",
    "dim": "input dimension d",
    "target": "the column of Y regressed",
    "sampler": "first-layer sampler: gaussian | leverage",
    "method": "its method: iid | rejection | sir",
    "pool_size": "SIR pool size (null: the default)",
    "leverage_points": "rows of the leverage function sampled from: n_train (exact) or a "
    "subsample's size (nnkrr.sampling.leverage_points; null for Gaussian rows)",
    "regime": "the regime's name",
    "centre": "the regulariser's centre: init (W(0)) | zero",
    "symmetric": "symmetric init (pairs (w, a), (w, -a))",
    "kappa": "output scale kappa",
    "lam": "ridge lambda = kappa^2 * ridge of the training loss and of kappa^2 K",
    "ridge": "the config's ridge on K (rows with equal ridge have equal f*)",
    "model": "two_layer | mlp",
    "depth": "hidden layers (1 for the two-layer network)",
    "train_readout": "the readout was trained too",
    "width": "width m",
    "dtype": "training dtype",
    "backprop": "the network's forward and backward pass: fused | autodiff",
    "chunk": "neurons per block of the fused pass (null for the MLP)",
    "step_path": "the network's training step: fused (one pass over W) | generic (nnkrr.train.gd_step)",
    "optimizer": "optax optimizer",
    "optimizer_kwargs": "its arguments (as a string)",
    "step_factor": "step size as a fraction of the stable one",
    "horizon_c": "training time constant c of T = c / (mu_min + lambda)",
    "max_steps": "cap on the steps",
    "init_seed": "the seed s of the feature and sign draw: keys fold_in(key(data_seed), s)",
    "learning_rate": "step size eta",
    "steps": "GD steps taken",
    "steps_capped": "the steps were cut to max_steps",
    "time_T": "training time T = steps * eta",
    "lam_T": "lambda T",
    "gap_max": "max over test points of |f_nn(T) - f*|",
    "gap_rms": "RMS over test points of f_nn(T) - f*",
    "gap_rel": "gap_rms / f_star_rms",
    "f_star_rms": "RMS of the NTK-KRR target f* on the test points",
    "abs_sum_rms": "RMS over test points of the output sum's absolute mass at init",
    "roundoff": "round-off level of the gap parts (nnkrr.measurements.ROUNDOFF_ULPS)",
    "gap_kernel": "RMS of f*_m - f* (random-feature kernel vs exact, nnkrr.gap)",
    "gap_init": "RMS of the initial output's part",
    "gap_opt": "RMS of the finite-training-time part",
    "gap_nonlin": "RMS of f_nn(T) - f_lin(T), the network vs its linearisation",
    "spectral_eps": "spectral error eps of kappa^2 K_m against kappa^2 K at lambda",
    "s_lambda": "statistical dimension s_lambda of kappa^2 K at lambda (estimated on the cg path: "
    "nnkrr.krr.statistical_dimension_estimate)",
    "s_lambda_se": "standard error of an estimated s_lambda (0: exact, from K's eigenvalues)",
    "krr_solver": "how the NTK-KRR target was solved: cholesky (K stored) | cg (matrix-free; "
    "then nothing n x n is held and spectral_eps is NaN) (the sweep's solver key)",
    "krr_iterations": "CG iterations of the target's solve (null for cholesky)",
    "krr_residual": "its final relative residual (NaN for cholesky)",
    "km_iterations": "CG iterations of the seed's K_m ridge solves (gap_kernel, gap_init; null "
    "for cholesky)",
    "km_residual": "their final relative residual (NaN for cholesky)",
    "flatness": "sup score / s_lambda of the leverage function (leverage rows; NaN otherwise)",
    "weight_move": "||theta(T) - theta(0)|| / ||theta(0)||",
    "pattern_flips": "fraction of (neuron, training point) activation patterns flipped by T",
    "pattern_flips_pred": "their lazy prediction (nnkrr.laziness; NaN for other models)",
    "nn_test_mse": "test MSE of the network",
    "nn_train_mse": "training MSE of the network",
    "krr_test_mse": "test MSE of NTK-KRR",
    "status": "ok | diverged",
    "diverged_step": "the step whose loss was not finite (-1: none)",
    "diverged_loss": "the loss at that step (NaN: none)",
    "final_loss": "the training loss at the end",
    "wall_s": "seconds the whole job took (its seeds train together: the same on each seed's row)",
}
DATA_COLUMN_DOC = "data_<key>: the data set's option <key> (e.g. data_spread for the cone)"
TRAIN_COLUMN_DOC = (
    "train.<key>: a train option without a column above (one added to the schema: recorded "
    "as it ran, with no change here)"
)
#: The train options the columns above record: by name, or through what they set
#: (``learning_rate``, ``time_T``); ``segments`` does not change a number.
NAMED_TRAIN_KEYS = (
    "optimizer", "optimizer_kwargs", "step_factor", "horizon_c", "max_steps",
    "learning_rate", "time", "segments",
)  # fmt: skip
#: Columns a sweep's gathered table adds in front of a job's rows.
GATHERED_COLUMNS: dict[str, str] = {
    "job": "the job's directory in the sweep directory (its overrides, Hydra's override_dirname)"
}
_FIXED_DATA_KEYS = ("_target_", "seed", "n_train", "n_test", "dim")


def data_columns(data: dict) -> dict:
    """The ``data_<key>`` columns of a checked ``data`` node: its options besides the seed,
    the sizes and ``dim`` (which have their own columns), sorted by key."""
    return {f"data_{k}": v for k, v in sorted(data.items()) if k not in _FIXED_DATA_KEYS}


def provenance(
    cfg: dict, scale: Scale, ds, backprop: str, chunk: int | None, step_path: str
) -> dict:
    """The config values that change a row's numbers (besides the per-seed index); the
    scale (``kappa``, ``lam``, ``ridge``) as the job ran it (:class:`nnkrr.scale.Scale`)."""
    reg, smp, mdl, trn = cfg["regime"], cfg["sampler"], cfg["model"], cfg["train"]
    row = {
        "dataset": ds.name,
        "data_seed": cfg["seed"],
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "dim": ds.dim,
        "target": cfg["target"],
    }
    row.update(data_columns(cfg["data"]))
    row.update(
        sampler=smp["name"],
        method=smp["method"],
        pool_size=smp.get("pool_size"),
        leverage_points=(
            sampling.leverage_points(ds.n_train) if smp["name"] == "leverage" else None
        ),
        regime=reg["name"],
        centre=reg["centre"],
        symmetric=reg["symmetric"],
        kappa=scale.kappa,
        lam=scale.lam,
        ridge=scale.ridge,
        model=mdl["kind"],
        depth=mdl.get("depth", 1),
        train_readout=mdl["train_readout"],
        width=mdl["width"],
        dtype=cfg["dtype"],
        backprop=backprop,
        chunk=chunk,
        step_path=step_path,
        optimizer=trn["optimizer"],
        optimizer_kwargs=str(dict(sorted(trn["optimizer_kwargs"].items()))),
        step_factor=trn["step_factor"],
        horizon_c=trn["horizon_c"],
        max_steps=trn["max_steps"],
    )
    for key, value in sorted(trn.items()):
        if key not in NAMED_TRAIN_KEYS:
            row[f"train.{key}"] = value
    return row


def fixed_column(name: str) -> bool:
    """Whether a row's column is one of :data:`COLUMNS` (not a ``data_<key>`` or
    ``train.<key>`` column, which vary with the config)."""
    return not (name.startswith("data_") and name != "data_seed") and not name.startswith("train.")


def rows(base: dict, schedule, lam: float, measured: list[dict], wall_s: float) -> list[dict]:
    """One row per seed: ``base`` (:func:`provenance`), the seed, the schedule
    (:class:`nnkrr.train.Schedule`), its measurements, the wall time; in :data:`COLUMNS` order."""
    out = []
    for s, m in enumerate(measured):
        row = {
            **base,
            "init_seed": s,
            "learning_rate": schedule.learning_rate,
            "steps": schedule.steps,
            "steps_capped": schedule.capped,
            "time_T": schedule.time,
            "lam_T": lam * schedule.time,
            **m,
            "wall_s": wall_s,
        }
        fixed = [c for c in row if fixed_column(c)]
        unknown = set(fixed) - set(COLUMNS)
        if unknown or len(fixed) != len(COLUMNS):
            raise AssertionError(f"row columns disagree with COLUMNS: {sorted(unknown)}")
        out.append(row)
    return out


def reference() -> str:
    """The table of a row's columns in Markdown, from :data:`COLUMNS` (``docs/columns.md``)."""
    lines = [
        "# What a row holds",
        "",
        "Generated from `nnkrr.row.COLUMNS` (`uv run python experiments/publish.py`; a test fails "
        "when it differs). One row per (job, seed) in a job's `results.parquet` / `.csv`, in this "
        "order; a sweep's gathered table adds the columns of `GATHERED_COLUMNS` in front.",
        "",
        "| column | what it holds |",
        "|---|---|",
    ]
    for name, doc in {**GATHERED_COLUMNS, **COLUMNS}.items():
        lines.append(f"| `{name}` | {doc.replace('|', chr(92) + '|')} |")
        if name == "target":
            key, _, doc_ = DATA_COLUMN_DOC.partition(": ")
            lines.append(f"| `{key}` | {doc_} |")
        if name == "max_steps":
            key, _, doc_ = TRAIN_COLUMN_DOC.partition(": ")
            lines.append(f"| `{key}` | {doc_} |")
    return "\n".join(lines) + "\n"
