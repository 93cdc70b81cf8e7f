"""The package's structure: every module sits in one layer of nnkrr.LAYERS and imports only
modules of layers below its own (imports inside functions included)."""

import ast
from pathlib import Path

import pytest

import nnkrr

PACKAGE = Path(nnkrr.__file__).parent
LAYER = {name: i for i, layer in enumerate(nnkrr.LAYERS) for name in layer}


def modules() -> dict[str, list[Path]]:
    """Top-level module name -> its files (a subpackage's files under its name)."""
    out: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue
        out.setdefault(rel.parts[0].removesuffix(".py"), []).append(path)
    return out


def imported(path: Path) -> set[str]:
    """The nnkrr modules a file imports (``from nnkrr import a``, ``from nnkrr.a import x``,
    ``import nnkrr.a``), by their top-level name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "nnkrr":
                continue
            if len(parts) > 1:
                names.add(parts[1])
            else:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "nnkrr" and len(parts) > 1:
                    names.add(parts[1])
    return names


def test_every_module_has_a_layer():
    assert sorted(set(modules()) - set(LAYER)) == []
    assert sorted(set(LAYER) - set(modules())) == []


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_only_layers_below_it(module):
    above = {
        (path.relative_to(PACKAGE).as_posix(), name)
        for path in modules()[module]
        for name in imported(path)
        if name != module and LAYER[name] >= LAYER[module]
    }
    assert above == set()


def test_the_check_finds_an_import_from_above(tmp_path):
    """The walk sees a function-level import (``experiment`` is above ``train``)."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from nnkrr import experiment, rules\n    import nnkrr.krr\n")
    assert imported(source) == {"experiment", "rules", "krr"}
    assert LAYER["experiment"] > LAYER["train"]
