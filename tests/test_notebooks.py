"""The notebooks execute (on their small default settings), the site shows their current
outputs, and they match their jupytext .py pairs."""

from pathlib import Path

import jupytext
import nbformat
import pytest

from experiments import publish

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _figures(nb) -> list[int]:
    """The indices of the code cells that draw a figure."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return [
        i for i, c in enumerate(code) if any("image/png" in o.get("data", {}) for o in c.outputs)
    ]


@pytest.mark.parametrize("name", publish.NOTEBOOKS)
def test_notebook_executes(name):
    nb = publish.execute_notebook(name)
    # the site shows these outputs: its copy is this notebook, executed (publish.py --notebooks)
    site = nbformat.read(ROOT / "docs" / "notebooks" / f"{name}.ipynb", as_version=4)
    assert [c.source for c in site.cells] == [c.source for c in nb.cells], (
        f"docs/notebooks/{name}.ipynb is stale: uv run python experiments/publish.py --notebooks"
    )
    assert _figures(site) == _figures(nb)
    for fresh, shown in zip(nb.cells, site.cells, strict=True):
        assert bool(fresh.get("outputs")) == bool(shown.get("outputs")), fresh.source[:80]
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    if name == "analysis":  # the figures are there, each from a toy sweep saying so
        assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5
        for source in ("SWEEP", "SPECTRAL", "REGIME_MAP"):
            assert f"TOY DATA: {source} is a tiny sweep" in text
    else:  # leverage beats Gaussian on the cone, and the network lands near NTK-KRR
        eps = {
            line.split()[0]: float(line.split("=")[1].split()[0])
            for line in text.splitlines()
            if "spectral error eps" in line
        }
        assert eps["leverage"] < eps["gaussian"]
        assert float(text.split("relative ")[1].split()[0]) < 0.3


@pytest.mark.parametrize("name", ["leverage_tutorial", "analysis"])
def test_notebook_pairs_are_in_sync(name):
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [c.source for c in py.cells] == [c.source for c in ipynb.cells], (
        f"run `uv run jupytext --sync notebooks/{name}.py`"
    )
