"""The configuration reference, generated from the schemas (the site's configuration page,
written at each build by ``docs/hooks.py``)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import get_origin, get_type_hints

from omegaconf import MISSING

from nnkrr.config import schemas
from nnkrr.config.checks import _optional


def _yaml(value) -> str:
    """A default as one writes it in YAML or on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_ROLE = re.compile(r":(?:py:)?[a-z]+:`([^`]+)`")


def _role(match: re.Match) -> str:
    target = match.group(1)
    if "<" in target and target.endswith(">"):  # `text <target>`
        return f"`{target.split('<')[0].strip()}`"
    if target.startswith("~"):  # ~a.b.c shows c
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def roles_to_markdown(text: str) -> str:
    """reST roles as Markdown: ``:math:`x``` as ``$x$``, ``:func:`~a.b.c``` and the other
    roles as a code span of the name shown (``c``; ``text <target>`` shows ``text``); the one
    converter of the reference pages and of the API pages' docstrings (``docs/hooks.py``).

    >>> roles_to_markdown(":func:`~nnkrr.train.fit` falls like :math:`m^{-1/2}`")
    '`fit` falls like $m^{-1/2}$'
    """
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", str(text))
    return _ROLE.sub(_role, text)


def reference() -> str:
    """The configuration reference in Markdown: every key of every entry point and config
    group, with its type, default and doc, generated from the schemas above (the site's
    configuration page, written at each build by ``docs/hooks.py``)."""

    def cell(text: str) -> str:
        text = roles_to_markdown(text)
        return " ".join(text.replace("``", "`").split()).replace("|", "\\|")

    def type_name(hint) -> str:
        inner, optional = _optional(hint)
        name = str(inner) if get_origin(inner) else getattr(inner, "__name__", str(inner))
        name = name.replace("typing.", "")
        return f"{name} or null" if optional else name

    def table(schema: type, default) -> list[str]:
        hints = get_type_hints(schema)
        out = ["| key | type | default | doc |", "|---|---|---|---|"]
        for f in dataclasses.fields(schema):
            if f.name == "_target_" or f.name in schemas.GROUPS:
                continue
            value = getattr(default, f.name)
            shown = "(required)" if value == MISSING else f"`{cell(_yaml(value))}`"
            out.append(
                f"| `{f.name}` | {cell(type_name(hints[f.name]))} | {shown} | "
                f"{cell(f.metadata.get('doc', ''))} |"
            )
        return out

    lines = [
        "# Configuration reference",
        "",
        "Generated from the typed schemas of `nnkrr/config/schemas.py` by `nnkrr.config.reference()`;",
        "do not edit by hand. Each key is set on the command line as `key=value` (nested keys",
        "with dots: `model.width=256`); config groups are chosen as `group=option`.",
        "",
    ]
    for name, schema in schemas.ENTRY_POINTS.items():
        groups = [f.name for f in dataclasses.fields(schema) if f.name in schemas.GROUPS]
        lines += [f"## `{name}` (`experiments/{name}.py`)", "", cell(schema.__doc__), ""]
        lines += [f"Config groups: {', '.join(f'`{g}`' for g in groups)} (below).", ""]
        lines += table(schema, schema()) + [""]
    options = [
        ("data", schemas.DATA),
        ("sampler", {"gaussian": schemas.GAUSSIAN, "leverage": schemas.LEVERAGE}),
        ("regime", {"lazy": schemas.LAZY, "paper": schemas.PAPER}),
        ("train", {"gd": schemas.Train()}),
        ("model", {"two_layer": schemas.TwoLayer(), "mlp": schemas.MLP()}),
    ]
    for group, choices in options:
        for option, node in choices.items():
            target = getattr(node, "_target_", None)
            where = f" (`{target}`)" if target else ""
            lines += [f"## `{group}={option}`{where}", "", cell(type(node).__doc__), ""]
            lines += table(type(node), node) + [""]
    return "\n".join(lines)
