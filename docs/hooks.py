"""The documentation site's build hooks (mkdocs.yml: ``hooks``, and the griffe extension of
mkdocstrings), so that a reader sees rendered text, not markup:

* :class:`RestToMarkdown` (griffe): nnkrr's docstrings are Google-style sections with reST
  inline markup; mkdocstrings renders Markdown.  Roles (``:func:`~nnkrr.train.fit``` and the
  like) become code, ``:math:`...``` and ``.. math::`` become ``$...$`` / ``$$...$$``,
  ``text::`` literal blocks become fenced code, simple tables (``====  ====``) Markdown tables.
* :func:`on_page_markdown`: a star after a one-letter symbol (``m*``, ``f*_m``) is escaped,
  so that two of them do not turn the text between into italics.
* :func:`on_post_page`: the TeX that ``pymdownx.arithmatex`` kept (``generic: true``) becomes
  MathML (latex2mathml), which browsers render natively: no script, nothing fetched.
* :func:`on_files`: the configuration reference (``configuration.md``) is written from the
  schemas at each build (:func:`nnkrr.config.reference`), so a new config key is documented
  by its schema field alone.
"""

from __future__ import annotations

import html
import logging
import re
import textwrap

import griffe
from latex2mathml.converter import convert

from nnkrr.config.reference import roles_to_markdown

log = logging.getLogger("mkdocs.plugins.nnkrr")

# --------------------------------------------------------------------------- reST -> Markdown

_BORDER = re.compile(r"^(\s*)=+(?:\s+=+)+\s*$")
_STAR = re.compile(r"(?<![\w\\*])([A-Za-z])\*(?!\*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> int:
    """The end of the indented block (deeper than ``indent``) that starts after ``start``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _table(lines: list[str], start: int) -> tuple[list[str], int] | None:
    """A reST simple table starting with a border at ``start``: (Markdown lines, end)."""
    border = lines[start]
    pad = _BORDER.match(border).group(1)
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]
    borders = [start]
    i = start + 1
    while i < len(lines) and len(borders) < 3 and lines[i].strip():
        if lines[i].strip() and set(lines[i].strip()) <= {"=", " "}:
            borders.append(i)
        i += 1
    if len(borders) < 2:
        return None
    if len(borders) == 2:  # no header row: the table is its top and bottom borders
        borders = [borders[0], borders[0], borders[1]]

    def cells(line: str) -> list[str]:
        out = []
        for k, (a, _) in enumerate(spans):
            b = spans[k + 1][0] if k + 1 < len(spans) else len(line)
            out.append(line[a:b].strip())
        return out

    rows: list[list[str]] = []
    for line in lines[borders[1] + 1 : borders[2]]:
        row = cells(line)
        if rows and not row[0]:  # a continuation line: more text for the row above
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], row, strict=True)]
        else:
            rows.append(row)
    heads = [cells(line) for line in lines[borders[0] + 1 : borders[1]]] or [[""] * len(spans)]
    header = [" ".join(c for c in col if c) for col in zip(*heads, strict=True)]
    out = [pad + "| " + " | ".join(header) + " |", pad + "|" + "---|" * len(header)]
    out += [pad + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return out, borders[2] + 1


def rest_to_markdown(text: str) -> str:
    """Docstring text with reST inline markup, directives, literal blocks and simple tables
    written as Markdown (the module docstring lists what is converted)."""
    text = roles_to_markdown(text)
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = " " * _indent(line)
        if stripped.startswith(".. math::"):
            end = _block(lines, i + 1, _indent(line))
            first = stripped.removeprefix(".. math::").strip()  # `.. math:: K = ...`
            rest = textwrap.dedent("\n".join(lines[i + 1 : end])).strip()
            body = "\n".join(b for b in (first, rest) if b)
            out += ["", f"{indent}$$", *(indent + b for b in body.splitlines()), f"{indent}$$", ""]
            i = end
            continue
        if _BORDER.match(line):
            table = _table(lines, i)
            if table is not None:
                out += ["", *table[0], ""]
                i = table[1]
                continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            end = _block(lines, i + 1, _indent(line))
            if end > i + 1:
                body = textwrap.dedent("\n".join(lines[i + 1 : end])).strip("\n")
                if stripped != "::":
                    out.append(line.rstrip()[:-1])  # "text::" reads "text:"
                out += ["", f"{indent}```", *(indent + b for b in body.splitlines())]
                out += [f"{indent}```", ""]
                i = end
                continue
        out.append(line)
        i += 1
    return escape_stars("\n".join(out))


def escape_stars(text: str) -> str:
    """``m*`` -> ``m\\*`` outside code spans, fenced code and ``$...$`` maths: a star after a
    one-letter symbol is the symbol's, not emphasis."""
    parts = re.split(r"(```.*?```|``[^\n]*?``|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]+\$)", text, flags=re.S)
    return "".join(p if k % 2 else _STAR.sub(r"\1\\*", p) for k, p in enumerate(parts))


class RestToMarkdown(griffe.Extension):
    """griffe extension: every docstring through :func:`rest_to_markdown` before parsing."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)


# --------------------------------------------------------------------------- mkdocs hooks


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    from nnkrr.config import reference

    files.append(File.generated(config, "configuration.md", content=reference()))
    return files


def on_page_markdown(markdown: str, **kwargs) -> str:
    return escape_stars(markdown)


_ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">\s*(\\\(|\\\[)(.*?)(\\\)|\\\])\s*</\1>', re.S
)


def _mathml(match: re.Match) -> str:
    tag, tex = match.group(1), html.unescape(match.group(3)).strip()
    display = "block" if tag == "div" else "inline"
    try:
        return convert(tex, display=display)
    except Exception as err:  # noqa: BLE001 - the build's warning names the formula
        log.warning("cannot render the maths %r: %s", tex, err)
        return match.group(0)


def on_post_page(output: str, **kwargs) -> str:
    return _ARITHMATEX.sub(_mathml, output)
