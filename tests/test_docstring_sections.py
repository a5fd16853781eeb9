"""Every notebook section or file a docstring of the package names exists.

Module docstrings point to the notebook section that teaches them
(``notebooks/05_transformer.ipynb``, section "Multi-head attention"); a
renamed heading or file leaves a dead pointer. This test reads every
docstring in ``lm_course`` (and the package map), finds the notebook files
they name and the section names quoted next to them, and checks each
against the notebooks' headings (a heading may be named by its short form,
the part before a colon or a parenthesis).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lm_course"
NOTEBOOK = re.compile(r"\b(\d\d_[a-z0-9_]+)\.ipynb")
# a section quoted after the notebook it belongs to: ``NN_x.ipynb``, section "Name" / ``NN_x.ipynb``, "Name"
# / sections "A" and "B"; or, with no file, `Notebook section: "Name"` (the module docstring's notebook)
SECTION = re.compile(r"""(?:sections?:?\s*)?"([^"]+)"((?:\s*(?:,|and|or)\s*"[^"]+")*)""")
BARE = re.compile(r"""[Nn]otebook sections?:\s*"([^"]+)"((?:\s*(?:,|and|or)\s*"[^"]+")*)""")
MORE = re.compile(r'"([^"]+)"')


def _headings(path: Path) -> set[str]:
    heads = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"#+\s+(.*)", line)
                if m:
                    heads.add(_norm(m.group(1)))
    return heads


def _norm(text: str) -> str:
    text = re.sub(r"<[^>]+>|[*_`]", "", text)  # HTML anchors, emphasis, code
    text = re.sub(r"^\d+(\.\d+)*\.?\s+", "", text.strip())  # "3.2 Title" -> "Title"
    return re.sub(r"\s+", " ", text).strip().rstrip(":.").lower()


NOTEBOOKS = {p.stem: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
HEADINGS = {stem: _headings(p) for stem, p in NOTEBOOKS.items()}


def _docstrings() -> list[tuple[str, str, str | None]]:
    """``(where, docstring, the notebook its module's docstring names first)``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        home = NOTEBOOK.search(ast.get_docstring(tree) or "")
        home = home.group(1) if home else None
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    where = f"{path.relative_to(ROOT)}:{getattr(node, 'name', '<module>')}"
                    found.append((where, doc, home))
    return found


def _pointers() -> list[tuple[str, str, str | None]]:
    """``(where, notebook stem, section or None)`` for every pointer in a docstring."""
    pointers = []
    for where, doc, home in _docstrings():
        text = re.sub(r"\s+", " ", doc.replace("“", '"').replace("”", '"'))
        named = set()
        for m in NOTEBOOK.finditer(text):
            stem = m.group(1)
            section = SECTION.match(text[m.end():m.end() + 300].lstrip("`' ,;:(—-"))
            if not section:
                pointers.append((where, stem, None))
                continue
            named.add(section.start() + m.end())
            names = [section.group(1)] + MORE.findall(section.group(2) or "")
            pointers.extend((where, stem, name) for name in names)
        for m in BARE.finditer(text):
            if home and not NOTEBOOK.search(text[max(0, m.start() - 5):m.end()]):
                names = [m.group(1)] + MORE.findall(m.group(2) or "")
                pointers.extend((where, home, name) for name in names)
    return sorted(set(pointers), key=str)


POINTERS = _pointers()


def test_the_package_points_to_notebooks():
    assert len({stem for _, stem, _ in POINTERS}) >= 8, "the docstrings should name every chapter"
    assert sum(1 for *_, s in POINTERS if s) >= 20, "the docstrings should name sections, not only files"


@pytest.mark.parametrize("where,stem,section", POINTERS, ids=[f"{w}->{s}:{n}" for w, s, n in POINTERS])
def test_every_named_notebook_and_section_exists(where, stem, section):
    assert stem in NOTEBOOKS, f"{where} names notebooks/{stem}.ipynb, which does not exist"
    if section is not None:
        # a heading may be named by its short form, the part before a colon or a parenthesis:
        # "A toy task" names "A toy task: learning to reverse"
        name = _norm(section)
        assert any(h == name or h.startswith((name + ":", name + " (")) for h in HEADINGS[stem]), (
            f"{where} names section {section!r} of {stem}.ipynb; its headings are "
            f"{sorted(HEADINGS[stem])}")
