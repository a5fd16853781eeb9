"""docs/teaching.md takes its numbers from the notebooks (issue 30, item 5).

Every number in a chapter's section of the teacher's guide that states a
result (a percentage, bits, a speed-up, a count quoted in a discussion
question) must appear in that chapter's committed notebook: in a printed
output or in its Markdown. A teacher who reads the guide aloud then says
what the screen shows. The test reads files; it runs no notebook.

What is *not* a result, and so not looked up (the explicit rule, ``EXEMPT``):

* the lesson-plan tables between ``<!-- plan-timings -->`` markers, written
  by ``tools/plan_timings.py --write`` from the notebooks' timing metadata
  (``tests/test_plan_timings.py`` checks them);
* LaTeX (``$...$``), inline code (```...```) and link targets: formulas,
  settings and names;
* minutes of a plan ("50 minutes", "about 10 on the causal mask" in the
  **Notes.**), exercise, chapter, section and question numbers, lines of a
  solution ("about 4 lines"), ``n``-gram orders, model names such as
  ``GPT-2``, years of citations, and a list's own numbering.

The check is textual: a number passes when the same token (with its ``%``
or ``x``) occurs anywhere in the chapter's notebook, so it catches a number
that the notebook no longer prints, not one attached to the wrong claim.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "teaching.md"

# Spans removed before numbers are read (not results; see the module docstring).
EXEMPT = [
    r"<!-- plan-timings:.*?<!-- /plan-timings -->",  # generated timing tables
    r"\$\$.*?\$\$", r"\$[^$]*\$",  # LaTeX
    r"`[^`]*`",  # inline code
    r"\]\([^)]*\)",  # link targets
    r"\b\d+(?:\s*(?:-|–|to|or|and)\s*\d+)?[- ](?:minutes?|min)\b",  # minutes of a plan
    r"\bExercises? \d+(?:(?:, | and | or |-|–)\d+)*",  # exercise numbers
    r"\b[Cc]hapters? \d+(?:(?:, | and | to |-|–)\d+)*",  # chapter numbers
    r"\b[Ss]ections? \d+(?:(?:, | and |-|–)\d+)*", r"“\d+\.[^”]*”",  # section numbers and headings
    r"\b[Qq]uestions? \d+",
    r"\b(?:about |one |two )?\d+ lines\b",  # the size of a solution
    r"\b\d+-grams?\b", r"\b\d+-character\b",  # n-gram orders
    r"\b[A-Za-z]+-\d+\b",  # GPT-2, ...
    r"et al\.,? \(?\d{4}\)?", r"\((?:19|20)\d\d\)", r"\b[A-Z][a-z]+,?\s+(?:19|20)\d\d\b",  # years of citations
    r"(?m)^\s*\d+\.\s",  # a numbered list's own numbering
]
# In the Notes of a plan, "about 10 on the soft dictionary, 5 on ..." allocates minutes.
NOTES_MINUTES = r"\b\d+ (?:for|on|in)\b"
NUMBER = re.compile(r"(?<![\w.,])-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?(?:%|x\b)?")


def chapter_sections(text: str) -> dict[int, str]:
    """``{chapter: the guide's text of that chapter's section}``."""
    parts = re.split(r"(?m)^## Chapter (\d+)\b.*$", text)
    return {int(parts[i]): parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def result_numbers(section: str) -> list[str]:
    """The numbers of a section that state results: everything but the ``EXEMPT`` spans."""
    for pattern in EXEMPT:
        section = re.sub(pattern, " ", section, flags=re.S)
    paragraphs = section.split("\n\n")
    paragraphs = [re.sub(NOTES_MINUTES, " ", p) if p.lstrip().startswith("**Notes.**") else p
                  for p in paragraphs]
    return [m.group().rstrip(",") for m in NUMBER.finditer("\n\n".join(paragraphs))]


def notebook_text(path: Path) -> str:
    """The Markdown and the printed outputs of a notebook (not its code, not HTML)."""
    nb = nbformat.read(path, as_version=4)
    pieces = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            pieces.append(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                pieces.append(out.get("text", ""))
            for kind in ("text/plain", "text/markdown"):
                if kind in out.get("data", {}):
                    pieces.append(out["data"][kind])
    return "\n".join(pieces)


def shown(number: str, text: str) -> bool:
    """Whether ``number`` (with its % or x) occurs in ``text`` as a whole token."""
    unit = number[-1] if number[-1] in "%x" else ""
    digits = number[: len(number) - len(unit)]
    tail = {"%": r"\s?%", "x": r"\s?(?:x\b|×| times)", "": r"(?![\d]|\.\d|,\d)"}[unit]
    return re.search(rf"(?<![\d.,]){re.escape(digits)}{tail}", text) is not None


def notebook_of(chapter: int) -> Path:
    (path,) = sorted((ROOT / "notebooks").glob(f"{chapter:02d}_*.ipynb"))
    return path


SECTIONS = chapter_sections(GUIDE.read_text(encoding="utf-8"))


def test_every_chapter_has_a_section():
    assert set(range(8)) <= set(SECTIONS)  # chapters 0-7 at least (a later chapter may add its own)


@pytest.mark.parametrize("chapter", sorted(SECTIONS))
def test_guide_numbers_come_from_the_notebook(chapter):
    path = notebook_of(chapter)
    text = notebook_text(path)
    missing = [n for n in result_numbers(SECTIONS[chapter]) if not shown(n, text)]
    assert not missing, (f"docs/teaching.md, chapter {chapter}: these numbers are not in {path.name}'s outputs "
                         f"or Markdown (re-read them from the executed notebook): {', '.join(dict.fromkeys(missing))}")


def test_the_rule_on_examples():
    section = ("<!-- plan-timings: x -->\n| 50 min | 23 | 7.1 |\n<!-- /plan-timings -->\n\n"
               "**Notes.** 50 minutes: about 10 on the mask, 5 for Exercise 2 in pairs (section 4).\n\n"
               "1. *Greedy keeps 59% with an 11-word phrase at $d_k = 1024$ (`top_k=50`), 3.3x "
               "faster, GPT-2, Vaswani et al. 2017.*")
    assert result_numbers(section) == ["59%", "11", "3.3x"]
    assert shown("59%", "kept 59% of") and not shown("59%", "kept 159% of") and not shown("59%", "0.59")
    assert shown("3.3x", "speed-up 3.3x") and not shown("3.3x", "speed-up 13.3x")
    assert shown("0.96", "weight 0.96 unscaled") and not shown("0.96", "weight 0.965")
    assert shown("16", "16 keys") and not shown("16", "160 tokens") and not shown("16", "1,160")
