r"""The configuration of every entry point, described once: typed schemas with defaults and docs.

Each key of ``experiments/sweep.py``, ``experiments/spectral.py`` and ``experiments/krr.py``
is a field of a dataclass in :mod:`nnkrr.config.schemas`: its type, its default, its doc
(``metadata["doc"]``) and its range rule (``metadata["check"]``, an :mod:`nnkrr.rules` rule
that the library's functions also check their arguments with).  The same description

* composes the configs: :func:`register` (:mod:`nnkrr.config.store`, run on import) stores
  the schemas in Hydra's ``ConfigStore`` (the config groups ``data``, ``sampler``,
  ``regime``, ``train``, ``model`` and the entry points' base configs ``sweep_schema``,
  ``spectral_schema``, ``krr_schema``, which ``configs/<entry point>.yaml`` extends with
  Hydra's own settings);
* checks them: :func:`check` (:mod:`nnkrr.config.checks`) refuses unknown keys
  (``+model.widht=128`` included), derived ones (``lam``: set ``ridge``), values of the wrong
  type or out of range, and the cross-key rules, raising :class:`ConfigError` naming the key
  as typed on the command line;
* documents them: :func:`reference` (:mod:`nnkrr.config.reference`) writes the
  configuration reference;
* builds them in code, for notebooks::

    from nnkrr import config, experiment
    cfg = config.Sweep(data=config.Cone(n_train=64), model=config.TwoLayer(width=256),
                       sampler=config.LEVERAGE)
    rows = experiment.run(cfg)

or from command-line style overrides, :func:`compose` (Hydra's compose API)::

    cfg = config.compose(["model.width=256", "sampler=leverage"])
"""

from __future__ import annotations

from nnkrr.config.checks import (
    EXTRA_OPTIONS,
    check,
    check_spectral,
    compose,
    default,
    one_line,
    plain,
)
from nnkrr.config.reference import reference
from nnkrr.config.schemas import (
    DATA,
    DTYPES,
    GAUSSIAN,
    KRR,
    LAZY,
    LEVERAGE,
    MLP,
    MNIST1D,
    PAPER,
    Anisotropic,
    Cone,
    ConfigError,
    File,
    Manifold,
    Real,
    Regime,
    Sampler,
    Spectral,
    Sweep,
    Synthetic,
    Train,
    TwoLayer,
)
from nnkrr.config.store import config_dir, job_dir, register
from nnkrr.scale import per_point

__all__ = [
    "DATA",
    "DTYPES",
    "EXTRA_OPTIONS",
    "GAUSSIAN",
    "KRR",
    "LAZY",
    "LEVERAGE",
    "MLP",
    "MNIST1D",
    "PAPER",
    "Anisotropic",
    "Cone",
    "ConfigError",
    "File",
    "Manifold",
    "Real",
    "Regime",
    "Sampler",
    "Spectral",
    "Sweep",
    "Synthetic",
    "Train",
    "TwoLayer",
    "check",
    "check_spectral",
    "compose",
    "config_dir",
    "default",
    "job_dir",
    "one_line",
    "per_point",
    "plain",
    "reference",
    "register",
]

register()
