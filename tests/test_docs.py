"""The documentation: the site builds with warnings as errors, and every generated number,
table and page equals what ``experiments/publish.py`` makes of the committed tables."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import publish

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, NO_MKDOCS_2_WARNING="1")


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    proc = build(ROOT, tmp_path / "site")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for page in ("api", "columns", "configuration", "theory", "notebooks/analysis"):
        assert (tmp_path / "site" / page / "index.html").exists(), page
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert "nnkrr.train.fit" in api and "Checkpointer" in api  # from the docstrings


@pytest.mark.parametrize(
    "edit,warning",
    [
        ("[gone](no-such-page.md)", "no-such-page.md"),
        ("::: nnkrr.no_such_module", "nnkrr.no_such_module"),
    ],
)
def test_a_broken_reference_fails_the_build(tmp_path, edit, warning):
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs", symlinks=False)
    shutil.copytree(ROOT / "benchmarks" / "results", copy / "benchmarks" / "results")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    page = copy / "docs" / "theory.md"
    page.write_text(page.read_text() + f"\n{edit}\n")
    proc = build(copy, tmp_path / "site")
    assert proc.returncode != 0
    assert warning in proc.stderr


def test_every_generated_number_is_regenerated_from_the_tables():
    differ = [path for path, text in publish.generated().items() if path.read_text() != text]
    assert not differ, f"run `uv run python experiments/publish.py`: {differ} differ"


@pytest.mark.parametrize("finding", publish.FINDINGS, ids=lambda f: f.name)
def test_the_committed_tables_are_those_of_their_presets(finding):
    assert publish.stale(finding) is None


def test_a_changed_preset_makes_its_table_stale(tmp_path):
    main = publish.FINDINGS[0]
    folder = tmp_path / main.name
    shutil.copytree(publish.RESULTS / main.name, folder)
    assert publish.stale(main, tmp_path) is None
    yaml = folder / "multirun.yaml"
    yaml.write_text(yaml.read_text().replace("seeds: 3", "seeds: 4", 1))
    assert publish.stale(main, tmp_path) == "its preset composes another config now"
    (folder / "run.json").unlink()
    assert publish.stale(main, tmp_path) == "no table"


def test_the_figures_are_redrawn_from_the_tables(tmp_path):
    written = publish.figures(out=tmp_path, only=["main"])
    assert sorted(p.name for p in written) == [
        "gap_decomposition_synthetic_lazy.png",
        "gap_vs_width_synthetic_lazy.png",
    ]
    assert all(p.stat().st_size > 20_000 for p in written)
