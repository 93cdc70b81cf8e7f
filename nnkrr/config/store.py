"""Hydra's side of the configs: the schemas in Hydra's ``ConfigStore``, the ``nnkrr.*``
resolvers, and where the entry points' YAML lives.  :func:`register` runs once, on import of
:mod:`nnkrr.config`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from importlib import resources
from pathlib import Path

from omegaconf import MISSING

from nnkrr import scale
from nnkrr.config import schemas


def config_dir() -> Path:
    """The directory of the entry points' YAML configs (``sweep.yaml``, presets, launchers).

    Inside an installed wheel: ``nnkrr/configs`` (the wheel carries the checkout's top-level
    ``configs/`` there); in an editable install of a checkout: that ``configs/`` itself.
    """
    packaged = resources.files("nnkrr") / "configs"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "configs"


#: Characters a job directory's name keeps from its overrides (``key=value,...``); any run
#: of others (``/`` of a path, spaces, quotes, brackets, ``$``, ``:``) becomes ``_``.
_SAFE = re.compile(r"[^A-Za-z0-9._,=+-]+")
_NAME_MAX = 120  # characters before the hash: well under the 255 bytes a file name may have


def job_dir(override_dirname: str) -> str:
    """A job directory's name from Hydra's ``override_dirname`` (the ``${nnkrr.job_dir:...}``
    resolver of ``hydra.sweep.subdir``): one folder whatever the values hold.

    Names of plain overrides (``model.width=64,sampler=leverage``) stay as they are; where a
    character had to be replaced (``data.path=../data/mine.npz``) or the name was cut to
    120 characters, ``~`` and 10 hex digits of the SHA-256 of the full overrides are
    appended, so that two jobs never share a folder and a re-run of the sweep finds its jobs.

    >>> job_dir("data.path=../data/mine.npz,model.width=64")
    'data.path=.._data_mine.npz,model.width=64~26d6534a07'
    """

    name = _SAFE.sub("_", str(override_dirname)) or "job"
    if name != override_dirname or len(name) > _NAME_MAX:
        digest = hashlib.sha256(str(override_dirname).encode()).hexdigest()[:10]
        name = f"{name[:_NAME_MAX]}~{digest}"
    return name
    name = _SAFE.sub("_", str(override_dirname)) or "job"
    if name != override_dirname or len(name) > _NAME_MAX:
        digest = hashlib.sha256(str(override_dirname).encode()).hexdigest()[:10]
        name = f"{name[:_NAME_MAX]}~{digest}"
    return name


def register() -> None:
    """Store the schemas in Hydra's ``ConfigStore`` and the ``nnkrr.per_point`` and
    ``nnkrr.job_dir`` resolvers in omegaconf (idempotent)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("nnkrr.per_point", scale.per_point, replace=True)
    OmegaConf.register_new_resolver("nnkrr.job_dir", job_dir, replace=True)
    cs = ConfigStore.instance()
    for name, node in schemas.DATA.items():
        cs.store(group="data", name=name, node=node)
    cs.store(group="sampler", name="gaussian", node=schemas.GAUSSIAN)
    cs.store(group="sampler", name="leverage", node=schemas.LEVERAGE)
    cs.store(group="regime", name="lazy", node=schemas.LAZY)
    cs.store(group="regime", name="paper", node=schemas.PAPER)
    cs.store(group="train", name="gd", node=schemas.Train())
    cs.store(group="model", name="two_layer", node=schemas.TwoLayer())
    cs.store(group="model", name="mlp", node=schemas.MLP())
    for name, schema in schemas.ENTRY_POINTS.items():
        # The base of configs/<name>.yaml, whose defaults list picks the groups' options.
        base = OmegaConf.structured(schema)
        for field in dataclasses.fields(schema):
            if field.name in schemas.GROUPS:
                base[field.name] = MISSING
        cs.store(name=f"{name}_schema", node=base)
