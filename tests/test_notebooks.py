"""The notebooks execute (on their small default settings) and match their jupytext .py pairs."""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["leverage_tutorial", "analysis"])
def test_notebook_executes(name, monkeypatch):
    monkeypatch.delenv("NNKRR_SWEEP", raising=False)
    monkeypatch.delenv("NNKRR_SPECTRAL", raising=False)
    monkeypatch.delenv("NNKRR_REGIME_MAP", raising=False)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
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
