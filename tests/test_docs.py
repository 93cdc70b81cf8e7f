"""The documentation: the site builds with warnings as errors, and every generated number,
table and page equals what ``experiments/publish.py`` makes of the committed tables."""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from experiments import findings, publish

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


def build_with_theory_ending(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    """Build a copy of the site into ``tmp_path/site`` with ``text`` appended to its theory page."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs", symlinks=False)
    shutil.copytree(ROOT / "benchmarks" / "results", copy / "benchmarks" / "results")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    page = copy / "docs" / "theory.md"
    page.write_text(page.read_text() + text)
    return build(copy, tmp_path / "site")


class _Visible(HTMLParser):
    """The text a reader sees on a page: code shown as one backtick (its content is code),
    maths, preformatted blocks and scripts left out."""

    SKIP = {"pre", "math", "script", "style", "textarea", "code"}

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "code" and not self.depth:
            self.parts.append("`")
        self.depth += tag in self.SKIP

    def handle_endtag(self, tag):
        self.depth -= tag in self.SKIP

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


#: Markup a reader should never see (what a page shows where a renderer missed it).
RESIDUE = {
    "a reST role": re.compile(r":[a-z]+:`"),
    "unrendered maths": re.compile(r"\$\$|\\\(|\\\[|\\frac|\\mathrm"),
    "a reST table border": re.compile(r"={4,}"),
    "a reST literal marker": re.compile(r"::\s*$", re.M),
}


def residue(site: Path) -> list[str]:
    """``page: what (excerpt)`` for every piece of raw markup visible on a built page, and
    for every symbol star that turned the text after it into italics (``m<em>``)."""
    found = []
    for page in sorted(site.rglob("index.html")):
        source = page.read_text()
        parser = _Visible()
        parser.feed(source)
        text = "".join(parser.parts)
        name = page.parent.relative_to(site).as_posix() or "home"
        for what, pattern in RESIDUE.items():
            for match in pattern.finditer(text):
                found.append(
                    f"{name}: {what} ({text[max(0, match.start() - 30) : match.end() + 30]!r})"
                )
        found += [
            f"{name}: italics after a symbol ({m!r})" for m in re.findall(r"\b\w<em>", source)
        ]
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    proc = build(ROOT, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_site_builds_with_warnings_as_errors(site):
    for page in ("api", "columns", "configuration", "theory", "notebooks/analysis"):
        assert (site / page / "index.html").exists(), page
    api = (site / "api" / "index.html").read_text()
    assert "nnkrr.train.fit" in api and "Checkpointer" in api  # from the docstrings


def test_a_reader_sees_rendered_text_not_markup(site):
    """Docstrings' reST as Markdown, maths as MathML, tables as tables, m* not italics, the
    notebooks with their figures."""
    assert residue(site) == []
    api, theory = ((site / p / "index.html").read_text() for p in ("api", "theory"))
    assert api.count("<math") > 100 and theory.count('display="block"') >= 2
    assert api.count("<table>") >= 5  # the simple tables of the module docstrings
    pages = {n: (site / "notebooks" / n / "index.html").read_text() for n in publish.NOTEBOOKS}
    assert all(page.count("jp-OutputArea-output") >= 4 for page in pages.values())
    assert pages["analysis"].count("data:image/png") >= 5  # its figures, shown


#: Markup appended to a page, with the residue each leaves (None: rendered, no residue).
RAW = [
    ("See :func:`nnkrr.train.fit`.", "a reST role"),
    ("Raw maths \\frac{a}{b} outside any delimiter.", "unrendered maths"),
    ("Kept maths \\(x^2\\) and $y_1$ render.", None),
    ("| a |\n|---|\n| ====== |", "a reST table border"),
    ("the m*_gauss/m*_lev ratio", None),  # escaped by the site's hook: no italics
]


def test_the_residue_check_fails_a_page_with_raw_markup(tmp_path):
    """One build of a copy with every case of :data:`RAW` appended to its theory page, each
    in a paragraph of its own: exactly the residues expected, one each."""
    proc = build_with_theory_ending(tmp_path, "".join(f"\n\n{markup}\n" for markup, _ in RAW))
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = [f for f in residue(tmp_path / "site") if f.startswith("theory:")]
    kinds = sorted(f.split(": ")[1].split(" (")[0] for f in found)
    assert kinds == sorted(what for _, what in RAW if what)


@pytest.mark.parametrize(
    "edit,warning",
    [
        ("[gone](no-such-page.md)", "no-such-page.md"),
        ("::: nnkrr.no_such_module", "nnkrr.no_such_module"),
    ],
)
def test_a_broken_reference_fails_the_build(tmp_path, edit, warning):
    proc = build_with_theory_ending(tmp_path, f"\n{edit}\n")
    assert proc.returncode != 0
    assert warning in proc.stderr


def test_the_published_record_is_current():
    """The one check that ties the code to the published numbers (``publish.py --check``):
    every preset's committed table is of the config it composes now, and every generated
    page is what the committed tables make.  Code that moves no number leaves it green."""
    assert publish.check() == []


def test_a_changed_preset_makes_its_table_stale(tmp_path):
    main = publish.FINDINGS[0]
    folder = tmp_path / main.name
    shutil.copytree(publish.RESULTS / main.name, folder)
    assert publish.stale(main, tmp_path) is None
    yaml = folder / "multirun.yaml"
    yaml.write_text(yaml.read_text().replace("seeds: 3", "seeds: 4", 1))
    assert publish.stale(main, tmp_path) == "its preset composes another config now (seeds)"
    (folder / "run.json").unlink()
    assert publish.stale(main, tmp_path) == "no table"


@pytest.mark.parametrize(
    "edit,changed",
    [
        (lambda c: c.train.pop("time"), []),  # a key new since the recording, at its default
        (lambda c: c.model.pop("chunk"), []),  # the same, a null default
        (lambda c: c.data.__setitem__("gone", 3), []),  # a key the schema no longer has
        (lambda c: c.__setitem__("force", True), []),  # never changes a number
        (lambda c: c.__setitem__("checkpoint_s", 5.0), []),
        (lambda c: c.train.__setitem__("max_steps", 7), ["train.max_steps"]),
        (lambda c: c.__setitem__("ridge", 0.5), ["ridge"]),
        (lambda c: c.hydra.sweeper.params.__setitem__("seeds", "1,2"), ["hydra.sweeper.params"]),
    ],
    ids=[
        "new-key",
        "new-null-key",
        "removed-key",
        "force",
        "checkpoint_s",
        "value",
        "ridge",
        "grid",
    ],  # fmt: skip
)
def test_only_a_change_that_can_move_a_number_makes_a_table_stale(edit, changed):
    from omegaconf import OmegaConf

    main = publish.FINDINGS[0]
    now = publish._composed(main)
    recorded = OmegaConf.load(publish.RESULTS / main.name / "multirun.yaml")
    OmegaConf.set_struct(recorded, False)
    edit(recorded)
    assert publish.differences(recorded, now, main.entry) == changed


def test_a_command_line_sweep_is_part_of_the_grid():
    """A finding whose command sweeps on the command line (``data=a,b``): its config is
    composed without the sweep, and the sweep joins the grid on both sides of the check."""
    from omegaconf import OmegaConf

    assert publish.sweep_overrides(["+experiment=x", "data=a,b", "widths=[1,2]", "seeds=3"]) == (
        ["+experiment=x", "widths=[1,2]", "seeds=3"],
        {"data": "a,b"},
    )
    network = {f.name: f for f in publish.FINDINGS}["savings_families_network"]
    now = publish._composed(network)
    assert publish._grid(now)["data"] == ",".join(findings.NETWORK_FAMILIES)
    recorded = OmegaConf.load(publish.RESULTS / network.name / "multirun.yaml")
    assert publish.differences(recorded, now, network.entry) == []
    OmegaConf.set_struct(recorded, False)
    recorded.hydra.overrides.task = ["+experiment=width_savings", "data=cone,wine"]
    assert publish.differences(recorded, now, network.entry) == ["hydra.sweeper.params"]


def test_a_new_key_set_off_its_default_makes_a_table_stale():
    """The other side of "new-key": the preset sets the new key to another value."""
    from omegaconf import OmegaConf

    main = publish.FINDINGS[0]
    now = publish._composed(main)
    recorded = OmegaConf.load(publish.RESULTS / main.name / "multirun.yaml")
    OmegaConf.set_struct(recorded, False)
    recorded.train.pop("time")
    OmegaConf.set_struct(now, False)
    now.train.time = 3.0
    assert publish.differences(recorded, now, main.entry) == ["train.time"]


def test_the_figures_are_redrawn_from_the_tables(tmp_path):
    written = publish.figures(out=tmp_path, only=["main"])
    assert sorted(p.name for p in written) == [
        "gap_decomposition_synthetic_lazy.png",
        "gap_vs_width_synthetic_lazy.png",
    ]
    assert all(p.stat().st_size > 20_000 for p in written)


@pytest.mark.parametrize("finding", publish.FINDINGS, ids=lambda f: f.name)
def test_a_findings_preset_gathers_with_its_analysis(finding):
    """The record's analysis is the one its preset's sweep writes with (the YAML's ``plot``):
    the published figures are the ones the preset's command draws."""
    from experiments.results import function_of

    plot = publish._composed(finding).hydra.callbacks.gather.plot
    assert function_of(plot) is finding.analysis
