"""Every build exercise sits in its chapter's flow (issue 31): its checker
call follows a ``### Exercise N: title`` heading whose rating line is the
catalog's (:mod:`lm_course.exercises.catalog`), inside a teaching section
(not under the chapter's closing ``## Exercises`` list, which links to it),
with a hidden solution before the next heading; each chapter shows the
reader's progress under its title; the teacher's guide's table of exercises
is the catalog's. The notebooks are only read."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from lm_course.exercises.catalog import CHAPTERS, EXERCISES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
GUIDE = ROOT / "docs" / "teaching.md"
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
NOT_TEACHING = ("Exercises", "Summary", "Check your setup")  # sections an exercise never sits in


def rating_line(e) -> str:
    """The line under an exercise's heading, in ARENA's style."""
    return (f"> Difficulty {'🔴' * e.difficulty}{'⚪' * (5 - e.difficulty)} · "
            f"Importance {'🔵' * e.importance}{'⚪' * (5 - e.importance)} · about {e.minutes} minutes")


def heading(e) -> str:
    return f"Exercise {e.number}: {e.title}"


def anchor(e) -> str:
    """JupyterLab's (and nbconvert's) id of the heading: its text with the spaces made dashes."""
    return "#" + heading(e).replace(" ", "-")


def _notebook(chapter: int) -> nbformat.NotebookNode:
    return nbformat.read(next(NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb")), as_version=4)


def _headings(nb) -> list[tuple[str, int, int]]:
    """(text, level, cell index) of every Markdown heading, code fences skipped."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        fence = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                fence = not fence
            elif not fence and (m := _HEADING.match(line)):
                found.append((m.group(2), len(m.group(1)), i))
    return found


def _in_notebook(e) -> bool:
    nb = _notebook(e.chapter)
    return any(c.cell_type == "code" and re.search(rf"\b{e.checker}\(", c.source) for c in nb.cells)


ROWS = [e for e in EXERCISES if e.notebook or _in_notebook(e)]


@pytest.mark.parametrize("e", ROWS, ids=lambda e: e.key)
def test_exercise_sits_after_its_section_under_its_rated_heading(e):
    nb = _notebook(e.chapter)
    calls = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(rf"\b{e.checker}\(", c.source)]
    assert len(calls) == 1, f"{e.key}: {e.checker}(...) is called in {len(calls)} code cells, not one"
    call = calls[0]
    heads = _headings(nb)
    above = [h for h in heads if h[2] <= call]
    text, level, cell = above[-1]
    assert (text, level) == (heading(e), 3), f"{e.key}: the heading above its checker is {text!r}"
    assert rating_line(e) in nb.cells[cell].source.splitlines(), f"{e.key}: the rating line is not the catalog's"
    section = next(h for h in reversed(above) if h[1] <= 2)[0]
    assert section not in NOT_TEACHING, f"{e.key} sits under '## {section}', not after a teaching section"
    ends = [h[2] for h in heads if h[0] == "Exercises" and h[1] == 2]
    assert len(ends) == 1 and call < ends[0], f"{e.key}: not before the chapter's closing Exercises list"
    link = f"[**Exercise {e.number}**: {e.title}]({anchor(e)})"  # bold: tools/plan_timings.py finds "**Exercise N"
    assert link in nb.cells[ends[0]].source, f"{e.key}: the Exercises list misses its link"
    following = [h[2] for h in heads if h[2] > call]
    stop = following[0] if following else len(nb.cells)
    assert any(c.cell_type == "markdown" and "<summary>Solution" in c.source for c in nb.cells[call + 1:stop]), \
        f"{e.key}: no hidden solution between its checker and the next heading"



@pytest.mark.parametrize("chapter", sorted(c for c in CHAPTERS if any(e.chapter == c for e in ROWS)))
def test_every_exercise_heading_is_a_catalog_row(chapter):
    nb = _notebook(chapter)
    mine = {heading(e) for e in EXERCISES if e.chapter == chapter}
    found = [h[0] for h in _headings(nb) if h[0].startswith("Exercise ") and h[1] == 3]
    assert len(found) == len(set(found)), f"chapter {chapter}: an exercise heading is repeated"
    assert set(found) <= mine, f"chapter {chapter}: headings not in the catalog: {sorted(set(found) - mine)}"


@pytest.mark.parametrize("chapter", sorted(c for c in CHAPTERS if any(e.chapter == c for e in ROWS)))
def test_exercises_are_numbered_in_the_order_a_reader_meets_them(chapter):
    """Exercise 1, 2, 3, ... from the top of the notebook down; the closing list in the same order."""
    nb = _notebook(chapter)
    found = [int(h[0].split()[1].rstrip(":")) for h in _headings(nb) if h[0].startswith("Exercise ") and h[1] == 3]
    assert found == list(range(1, len(found) + 1)), f"chapter {chapter}: exercises numbered {found} down the page"
    end = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    listed = [int(n) for n in re.findall(r"^- \[\*\*Exercise (\d+)\*\*", end.source, flags=re.M)]
    assert listed == found, f"chapter {chapter}: the closing Exercises list reads {listed}"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_progress_line_under_the_title(chapter):
    """A code cell near the title prints the chapter's progress; its committed output is a fresh cache's."""
    nb = _notebook(chapter)
    title = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# "))
    cells = [c for c in nb.cells[title + 1:title + 3] if c.cell_type == "code"
             and f"progress(chapter={chapter})" in c.source]
    assert cells, f"chapter {chapter}: no progress line right after the title (and its Colab cell)"
    n = sum(e.chapter == chapter and e.notebook for e in EXERCISES)
    text = "".join(o.get("text", "") for o in cells[0].outputs if o.get("output_type") == "stream")
    assert text == (f"Your exercises in this chapter: 0 of {n} done; "
                    "lm_course.exercises.progress() lists the whole course.\n"), text


GUIDE_START = "<!-- exercise table: generated from lm_course/exercises/catalog.py (tests/test_exercise_placement.py) -->"
GUIDE_END = "<!-- end of the exercise table -->"


def _section(e) -> str:
    """The ``##`` section an exercise sits in, as placed in its notebook."""
    nb = _notebook(e.chapter)
    heads = _headings(nb)
    k = next(k for k, h in enumerate(heads) if h[0] == heading(e))
    return next(h[0] for h in reversed(heads[:k]) if h[1] <= 2)


def guide_table() -> str:
    """The teacher's guide's table of every exercise, from the catalog and the notebooks."""
    lines = [GUIDE_START, "", "| chapter | exercise | in the section | difficulty | importance | minutes |",
             "|---|---|---|---|---|---|"]
    for e in sorted(ROWS, key=lambda e: (e.chapter, e.number)):
        lines.append(f"| {e.chapter} | {e.number}: {e.title} | {_section(e)} | {e.difficulty} | {e.importance} | "
                     f"{e.minutes} |")
    total = sum(e.minutes for e in ROWS)
    lines += ["", f"{len(ROWS)} exercises, {total} minutes in all by the estimates (about {total / 60:.0f} hours).",
              "", GUIDE_END]
    return "\n".join(lines)


def test_the_guide_lists_every_exercise_with_its_rating():
    text = GUIDE.read_text(encoding="utf-8")
    assert GUIDE_START in text and GUIDE_END in text, "docs/teaching.md has no generated exercise table"
    shown = text[text.index(GUIDE_START):text.index(GUIDE_END) + len(GUIDE_END)]
    assert shown == guide_table(), ("docs/teaching.md's exercise table is not the catalog's: rewrite it with "
                                    "tests/test_exercise_placement.py's guide_table()")
