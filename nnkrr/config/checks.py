"""Checking a config against its schema (:mod:`nnkrr.config.schemas`): types, the fields'
range rules (:mod:`nnkrr.rules`), unknown and derived keys, the cross-key rules; and turning
it into the plain resolved dict the library runs on (:func:`compose`, :func:`plain`).
Every refusal is a :class:`~nnkrr.config.schemas.ConfigError` naming the key as typed.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin, get_type_hints

from omegaconf import MISSING

from nnkrr.config.schemas import (
    DATA_SCHEMAS,
    DERIVED,
    ENTRY_POINTS,
    MODEL_SCHEMAS,
    RENAMED,
    ConfigError,
)
from nnkrr.config.store import config_dir
from nnkrr.sampling import METHODS


def compose(overrides: Sequence[str] = (), config_name: str = "sweep") -> dict:
    """The composed ``<config_name>`` config with command-line style overrides, as a plain
    resolved dict (Hydra's compose API: no job, no output directory; for notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        try:
            cfg = hydra_compose(config_name, overrides=list(overrides))
        except HydraException as err:  # a bad override: one line naming the key
            raise ConfigError(one_line(err)) from None
        return plain(cfg)


def plain(cfg) -> dict:
    """A resolved plain ``dict`` from a DictConfig, a schema instance or a (possibly
    interpolated) dict; a job's ``hydra`` node is left out."""
    from omegaconf import DictConfig, OmegaConf

    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = OmegaConf.structured(cfg)
    elif not isinstance(cfg, DictConfig):
        if not isinstance(cfg, Mapping):
            raise ConfigError(
                f"cfg: expected a DictConfig, a dict or a config.Sweep, got {type(cfg).__name__}"
            )
        cfg = OmegaConf.create(dict(cfg))
    keep = [k for k in cfg if k not in ("hydra", "defaults")]
    cfg = OmegaConf.masked_copy(cfg, keep)
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise ConfigError(f"{err.full_key} must be given ({err.full_key}=...)") from None
    except OmegaConfBaseException as err:  # an interpolation that does not resolve
        raise ConfigError(one_line(err)) from None


#: Config options that come with an optional dependency (their Hydra plugin): the launchers
#: under ``configs/hydra/launcher/`` build on them.
EXTRA_OPTIONS = {
    "hydra/launcher/submitit_slurm": ("hydra-submitit-launcher", "slurm, slurm_gpu"),
    "hydra/launcher/submitit_local": ("hydra-submitit-launcher", "slurm_local"),
    "hydra/launcher/joblib": ("hydra-joblib-launcher", "parallel"),
}


def one_line(err: BaseException) -> str:
    """An omegaconf or Hydra error as one line naming the key: ``key: message``."""
    from hydra.errors import MissingConfigException

    missing = getattr(err, "missing_cfg_file", None)
    if isinstance(err, MissingConfigException) and missing in EXTRA_OPTIONS:
        package, ours = EXTRA_OPTIONS[missing]
        return (
            f"hydra/launcher: the {ours} launcher needs {package}, which is not installed "
            "(the `cluster` extra: pip install 'nnkrr[cluster]', or uv sync --extra cluster)"
        )
    if isinstance(err, MissingConfigException) and missing and "/" in missing:
        group, option = missing.rsplit("/", 1)
        known = ", ".join(sorted(getattr(err, "options", None) or []))
        return f"{group}={option}: no such option" + (f" ({group} has {known})" if known else "")
    while err.__cause__ is not None and not getattr(err, "full_key", None):
        err = err.__cause__
    schema, key = getattr(err, "object_type", None), getattr(err, "full_key", None)
    if (
        key
        and dataclasses.is_dataclass(schema)
        and str(getattr(err, "key", "")) not in {f.name for f in dataclasses.fields(schema)}
    ):  # `model.widht=128` (no `+`) reads as `+model.widht=128` does
        return _unknown_key(key, schema)
    lines = [line.strip() for line in str(getattr(err, "msg", None) or err).strip().splitlines()]
    message = lines[0]
    # the next line where it says why ("… raised while composing config:") or what to type
    # instead (Hydra's "To append to your default list use +experiment=…")
    if len(lines) > 1 and (message.endswith(":") or lines[1].startswith("To append")):
        message = f"{message} {lines[1]}"
    key = getattr(err, "full_key", None)
    return f"{key}: {message}" if key else message


def _optional(hint) -> tuple[Any, bool]:
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return inner, True
    return hint, False


def _type_ok(hint, value) -> tuple[bool, str]:
    """Whether ``value`` has the field type ``hint``, and how the type reads in a message."""
    if hint is bool:
        return isinstance(value, bool), "true or false"
    if hint is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return ok, "an integer"
    if hint is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return ok and math.isfinite(value), "a finite number"
    if hint is str:
        return isinstance(value, str), "a string"
    origin = get_origin(hint)
    if origin is list:
        (item,) = get_args(hint)
        ok = isinstance(value, list | tuple) and all(_type_ok(item, v)[0] for v in value)
        return ok, f"a list of {_type_ok(item, None)[1].removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return isinstance(value, Mapping), "a mapping such as {momentum: 0.9}"
    return True, "any"


def _schema_of(entry: type, key: str, node: Mapping) -> type | None:
    """The schema of a group node: data by its ``_target_``, model by its ``kind``."""
    if key == "data":
        target = node.get("_target_")
        if target not in DATA_SCHEMAS:
            raise ConfigError(
                f"data._target_ must be one of {', '.join(DATA_SCHEMAS)}, got {target!r}"
            )
        return DATA_SCHEMAS[target]
    if key == "model":
        kind = node.get("kind")
        if kind not in MODEL_SCHEMAS:
            raise ConfigError(f"model.kind must be one of two_layer, mlp, got {kind!r}")
        return MODEL_SCHEMAS[kind]
    hint = get_type_hints(entry)[key]
    return hint if dataclasses.is_dataclass(hint) else None


def _unknown_key(key: str, schema: type) -> str:
    """``model.widht: unknown key (model has backprop, chunk, ...)``: the refusal of a key
    ``schema`` does not have, listing the keys it has (a top-level key: none listed)."""
    entries = [name for name, entry in ENTRY_POINTS.items() if entry is schema] or RENAMED
    for entry in entries:
        if key in RENAMED.get(entry, {}):
            return f"{key}: renamed {RENAMED[entry][key]}"
    parent = key.rpartition(".")[0]
    if not parent:
        return f"{key}: {DERIVED[key]}" if key in DERIVED else f"{key}: unknown key"
    known = sorted(f.name for f in dataclasses.fields(schema) if f.name != "defaults")
    return f"{key}: unknown key ({parent} has {', '.join(known)})"


def _check_node(schema: type, node: Mapping, prefix: str) -> None:
    hints = get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema) if f.name != "defaults"}
    for key in node:
        if key not in fields:
            raise ConfigError(_unknown_key(f"{prefix}{key}", schema))
    for name, field in fields.items():
        key = f"{prefix}{name}"
        if name not in node:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise ConfigError(f"{key}: missing from the config")
            continue
        value = node[name]
        hint, optional = _optional(hints[name])
        sub = (
            _schema_of(schema, name, value)
            if name in ("data", "model") and not prefix
            else (hint if dataclasses.is_dataclass(hint) else None)
        )
        if sub is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key} must be a {name} config ({name}=...), got {value!r}")
            _check_node(sub, value, f"{key}.")
            continue
        if value is None:
            if optional:
                continue
            raise ConfigError(f"{key} must be given (not null)")
        ok, what = _type_ok(hint, value)
        rule = field.metadata.get("check")
        if ok and (rule is None or rule(value) is None):
            continue
        if rule is not None:
            plain_rule = getattr(rule, "options", None) or what.startswith("a list")
            what = rule.what if plain_rule or what == "a string" else f"{what} {rule.what}"
        raise ConfigError(f"{key} must be {what}{' or null' if optional else ''}, got {value!r}")


def default(entry: str, cfg: Mapping, key: str) -> Any:
    """The schema's default of dotted ``key`` in a config of entry point ``entry`` (the
    ``data`` and ``model`` nodes by their ``_target_``/``kind`` in ``cfg``), or
    :data:`dataclasses.MISSING` where the schema has none (a required key, an unknown one).

    >>> default("sweep", compose(["data=cone"]), "data.n_train")
    128
    """
    value: Any = ENTRY_POINTS[entry]()
    for depth, part in enumerate(key.split(".")):
        names = (
            {f.name for f in dataclasses.fields(value)} if dataclasses.is_dataclass(value) else ()
        )
        if part not in names:
            return dataclasses.MISSING
        node = cfg.get(part) if depth == 0 else None
        if part in ("data", "model") and isinstance(node, Mapping):  # the option cfg chose
            try:
                value = _schema_of(type(value), part, node)()
            except ConfigError:
                return dataclasses.MISSING
        else:
            value = getattr(value, part)
    if value == MISSING:  # a required key ("???")
        return dataclasses.MISSING
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def check(cfg, entry: str = "sweep") -> dict:
    """Check a config of entry point ``entry`` (``sweep``, ``spectral``, ``krr``) against its
    schema and the cross-key rules; return it as a resolved plain dict.

    Every key is checked for its declared type and range; unknown keys are refused (also
    those added with ``+``), and so are the combinations the code cannot run (leverage
    sampling of an MLP, an odd width with symmetric init, a sampling method of the other
    sampler).

    Raises:
      ConfigError: naming the first invalid key as typed on the command line, e.g.
        ``model.width must be an integer >= 1, got 0``.
    """
    cfg = plain(cfg)
    _check_node(ENTRY_POINTS[entry], cfg, "")
    if entry == "sweep":
        _cross_check_sweep(cfg)
    if entry == "spectral" and isinstance(cfg["data"].get("n_train"), int):
        check_spectral_memory(cfg["data"]["n_train"], cfg["x64"])
    return cfg


def check_spectral_memory(n: int, x64: bool) -> None:
    """Refuse, in one line naming ``data.n_train``, a spectral job whose K and whitener L^-1
    (2 n² floats) exceed :data:`nnkrr.krr.DENSE_MEMORY_FRACTION` of the device's memory
    (:func:`nnkrr.krr.device_memory`), the same rule as the dense KRR path's."""
    from nnkrr import krr

    need, have = 2 * n * n * (8 if x64 else 4), krr.device_memory()
    if need > krr.DENSE_MEMORY_FRACTION * have:
        raise ConfigError(
            f"data.n_train={n}: the spectral error needs K and its whitener L^-1 "
            f"({need / 2**30:.1f} GiB), more than {krr.DENSE_MEMORY_FRACTION:.0%} of this "
            f"machine's {have / 2**30:.1f} GiB: unavailable at this n (the sweep's jobs, "
            "solver=cg, are not limited so)"
        )


def _cross_check_sweep(cfg: dict) -> None:
    smp, mdl, reg = cfg["sampler"], cfg["model"], cfg["regime"]
    methods = ("iid",) if smp["name"] == "gaussian" else METHODS
    if smp["method"] not in methods:
        raise ConfigError(
            f"sampler.method must be one of {', '.join(methods)} with "
            f"sampler.name={smp['name']}, got {smp['method']!r}"
        )
    from nnkrr.models import KINDS  # the model kinds' registry: what each supports

    kind = KINDS[mdl["kind"]]
    if smp["name"] not in kind.samplers:
        raise ConfigError(
            f"sampler must be {' or '.join(kind.samplers)} for model={mdl['kind']} (the "
            f"samplers it is defined for), got {smp['name']!r}"
        )
    if cfg["solver"] == "cg" and kind.formula is None:
        raise ConfigError(
            f"solver must be cholesky or auto for model={mdl['kind']} (its kernel has no closed "
            "form here for the matrix-free path), got 'cg'"
        )
    if kind.pairs and reg["symmetric"] and mdl["width"] % 2:
        raise ConfigError(
            "model.width must be even with regime.symmetric=true (pairs (w, a), "
            f"(w, -a)), got {mdl['width']!r}"
        )


def check_spectral(cfg) -> dict:
    """:func:`check` for ``experiments/spectral.py``."""
    return check(cfg, "spectral")
