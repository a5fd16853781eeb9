"""Measured running times of the lesson plans in docs/teaching.md.

Each chapter of the teacher's guide has a 50-minute and a 90-minute plan,
written in ``docs/lesson_plans.json`` (read into ``PLANS``): the headings of
the notebook sections run live, of those shown (their outputs discussed, their code not walked through) and
of subsections cut from a section otherwise planned; any other section is
cut. A plan also names the exercises done in pairs in class.

In class a notebook is run in order, from a fresh kernel, up to the plan's
last live cell: every code cell above it runs, because later cells need the
state it builds. So a plan costs its **live** cells plus the **catch-up**
cells (shown or cut, above the last live cell), which run while the teacher
talks; the sections after the last live cell do not run (the shown ones are
presented from their committed outputs).

The times come from the notebooks themselves: every code cell of a committed
notebook carries nbclient's timing metadata (``metadata.execution``, ISO
timestamps), and the committed notebooks were executed top to bottom, from
an empty cache, on one torch thread (``make notebooks``). A cell's time is
``shell.execute_reply - iopub.execute_input``.

A section is a Markdown heading and everything after it up to the next
heading of the same or a higher level, so a ``##`` section includes its
``###`` subsections. Each code cell takes the role of the innermost section
a plan names: ``live=("7. Training",)`` with ``shown=("The loop, by hand",)``
runs section 7 live except that subsection.

    python tools/plan_timings.py              the table of every plan
    python tools/plan_timings.py --sections 02_tokens_and_embeddings.ipynb
                                              every section of a notebook, with its seconds
    python tools/plan_timings.py --write      rewrite the timing tables of docs/teaching.md
    python tools/plan_timings.py --check      exit 1 if a planned heading or exercise no
                                              longer exists (or a heading is ambiguous), or
                                              if the guide's tables are out of date by more
                                              than noise (2 s or 25%)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
GUIDE = ROOT / "docs" / "teaching.md"
NAMED_CATCH_UP = 1.0  # seconds: a shorter longest catch-up cell is not worth naming in the guide

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_EXERCISE = re.compile(r"\*\*Exercise (\d+)\b|^#{1,6} Exercise (\d+):", re.M)  # a bold mention, or a heading
EXERCISES = "Exercises"  # the heading of a notebook's exercises: a plan names them in Plan.pairs


@dataclass(frozen=True)
class Plan:
    """One lesson plan of a chapter: section headings as in the notebook, without the ``#``."""

    live: tuple[str, ...]  # sections whose code cells are run and discussed in class
    shown: tuple[str, ...] = ()  # sections whose outputs are discussed, not their code
    cut: tuple[str, ...] = ()  # subsections left out of a live or shown section
    pairs: tuple[int, ...] = ()  # the exercises done in pairs in class (numbers, as in the notebook)


PLANS_FILE = ROOT / "docs" / "lesson_plans.json"  # docs/teaching.md explains each plan


def load_plans(path: Path = PLANS_FILE) -> dict[str, dict[str, Plan]]:
    """``{notebook: {"50 min": Plan, "90 min": Plan}}`` from ``docs/lesson_plans.json``
    (the headings must match the notebooks: ``--check``)."""
    raw = json.loads(path.read_text(encoding="utf-8"))["plans"]
    return {notebook: {name: Plan(**{field: tuple(values) for field, values in plan.items()})
                       for name, plan in plans.items()}
            for notebook, plans in raw.items()}


PLANS = load_plans()


@dataclass(frozen=True)
class Heading:
    """A Markdown heading of a notebook: its text, level (number of ``#``) and cell index."""

    text: str
    level: int
    cell: int


def headings(nb: nbformat.NotebookNode) -> list[Heading]:
    """Every Markdown heading of ``nb``, in order (a cell may hold several)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        in_fence = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith("```"):
                in_fence = not in_fence  # a "# comment" inside a code block is not a heading
            elif not in_fence and (m := _HEADING.match(line)):
                found.append(Heading(m.group(2), len(m.group(1)), i))
    return found


def exercises(nb: nbformat.NotebookNode) -> set[int]:
    """The numbers of the exercises a notebook states (``### Exercise 3: title`` or ``**Exercise 3 (...)**``)."""
    return {int(a or b) for c in nb.cells if c.cell_type == "markdown" for a, b in _EXERCISE.findall(c.source)}


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """The measured execution time of a code cell, from its nbclient metadata."""
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        start, end = timing["iopub.execute_input"], timing["shell.execute_reply"]
    except KeyError:
        raise ValueError("a code cell has no nbclient timing metadata (metadata.execution with "
                         "iopub.execute_input and shell.execute_reply): execute the notebook with "
                         "`make notebooks` first") from None
    seconds = (_timestamp(end) - _timestamp(start)).total_seconds()
    if seconds < 0:
        raise ValueError(f"a code cell finished ({end}) before it started ({start})")
    return seconds


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def section_cells(nb: nbformat.NotebookNode, heads: list[Heading]) -> dict[str, list[int]]:
    """The code cells of every section, by heading text: from the heading to the next
    heading of the same or a higher level (subsections included)."""
    ends = []
    for k, h in enumerate(heads):
        nxt = next((g for g in heads[k + 1:] if g.level <= h.level), None)
        ends.append(len(nb.cells) if nxt is None else nxt.cell)
    return {h.text: [i for i in range(h.cell + 1, end) if nb.cells[i].cell_type == "code"]
            for h, end in zip(heads, ends)}


def plan_problems(nb: nbformat.NotebookNode, plan: Plan) -> list[str]:
    """What is wrong with ``plan`` for ``nb``: headings missing, ambiguous or named twice,
    exercises the notebook does not have."""
    counts: dict[str, int] = {}
    for h in headings(nb):
        counts[h.text] = counts.get(h.text, 0) + 1
    problems = []
    named = [*plan.live, *plan.shown, *plan.cut]
    for text in dict.fromkeys(named):
        if named.count(text) > 1:
            problems.append(f"section {text!r} is named twice in the plan")
        if counts.get(text, 0) == 0:
            problems.append(f"no section {text!r} in the notebook")
        elif counts[text] > 1:
            problems.append(f"the heading {text!r} occurs {counts[text]} times in the notebook")
    missing = sorted(set(plan.pairs) - exercises(nb))
    if missing:
        problems.append(f"no exercise {', '.join(map(str, missing))} in the notebook")
    return problems


def assign(nb: nbformat.NotebookNode, plan: Plan) -> dict[int, str]:
    """Each code cell's role in ``plan``, by cell index: ``"live"``, ``"shown"`` or ``"cut"``,
    from the innermost section the plan names that contains it (``"cut"`` if none)."""
    problems = plan_problems(nb, plan)
    if problems:
        raise ValueError("; ".join(problems))
    heads = headings(nb)
    cells = section_cells(nb, heads)
    level = {h.text: h.level for h in heads}
    role = {i: "cut" for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    depth = dict.fromkeys(role, 0)  # the level of the section that set the role
    for kind, texts in (("live", plan.live), ("shown", plan.shown), ("cut", plan.cut)):
        for text in texts:
            for i in cells[text]:
                if level[text] > depth[i]:
                    role[i], depth[i] = kind, level[text]
    return role


@dataclass(frozen=True)
class PlanTiming:
    """The measured seconds of one plan, run in class in order up to its last live cell."""

    notebook: str
    plan: str
    live_cells: int
    live_seconds: float  # the live cells
    catch_up_seconds: float  # the other code cells above the last live cell (they build the state)
    notebook_seconds: float  # every code cell (Run All)
    longest_catch_up: tuple[float, str] | None  # seconds and top-level section of the longest catch-up cell


def time_plan(nb: nbformat.NotebookNode, notebook: str, name: str, plan: Plan) -> PlanTiming:
    """Sum the measured execution times of the code cells of ``plan``, by role."""
    role = assign(nb, plan)
    seconds = {i: cell_seconds(nb.cells[i]) for i in role}
    last_live = max((i for i, r in role.items() if r == "live"), default=-1)
    catch_up = {i: s for i, s in seconds.items() if role[i] != "live" and i < last_live}
    longest = max(catch_up, key=catch_up.__getitem__, default=None)
    heads = headings(nb)
    top = min((h.level for h in heads if h.level > 1), default=1)
    above = [h for h in heads if h.level == top and longest is not None and h.cell < longest]
    return PlanTiming(
        notebook=notebook, plan=name,
        live_cells=sum(1 for r in role.values() if r == "live"),
        live_seconds=sum(s for i, s in seconds.items() if role[i] == "live"),
        catch_up_seconds=sum(catch_up.values()),
        notebook_seconds=sum(seconds.values()),
        longest_catch_up=None if longest is None or catch_up[longest] < NAMED_CATCH_UP else
        (catch_up[longest], above[-1].text if above else "the notebook's first cells"),
    )


def check(plans: dict[str, dict[str, Plan]], notebooks: Path = NOTEBOOKS) -> list[str]:
    """Every problem of every plan (an empty list when every planned heading and exercise exists)."""
    problems = []
    for notebook, by_name in plans.items():
        path = notebooks / notebook
        if not path.exists():
            problems.append(f"{notebook}: no such notebook in {notebooks}")
            continue
        nb = nbformat.read(path, as_version=4)
        for name, plan in by_name.items():
            problems += [f"{notebook} ({name}): {p}" for p in plan_problems(nb, plan)]
    return problems


def print_sections(path: Path) -> None:
    """Every section of one notebook with the measured seconds of its code cells."""
    nb = nbformat.read(path, as_version=4)
    heads = headings(nb)
    cells = section_cells(nb, heads)
    for h in heads:
        ids = cells[h.text]
        total = sum(cell_seconds(nb.cells[i]) for i in ids)
        print(f"{'  ' * (h.level - 1)}{h.text:<{70 - 2 * h.level}} {len(ids):>3} cells {total:>7.2f} s")


def cut_sections(nb: nbformat.NotebookNode, plan: Plan) -> list[str]:
    """The top-level sections the plan leaves out (neither they nor a subsection named), then
    the subsections it cuts explicitly; the exercises and sections without code are not listed."""
    heads = headings(nb)
    cells = section_cells(nb, heads)
    top = min((h.level for h in heads if h.level > 1), default=1)
    named = {*plan.live, *plan.shown, *plan.cut}
    out = []
    for k, h in enumerate(heads):
        if h.level != top or h.text == EXERCISES or not cells[h.text] or h.text in named:
            continue
        end = next((j for j in range(k + 1, len(heads)) if heads[j].level <= h.level), len(heads))
        if not any(g.text in named for g in heads[k + 1:end]):  # no subsection named either
            out.append(h.text)
    return out + list(plan.cut)


def plan_rows(notebook: str, by_name: dict[str, Plan], notebooks: Path = NOTEBOOKS) -> str:
    """The Markdown table of one chapter's plans, then each plan's sections, as docs/teaching.md shows them."""
    nb = nbformat.read(notebooks / notebook, as_version=4)
    lines = ["| plan | live cells | live s | catch-up s | longest catch-up cell | Run All s | pairs in class |",
             "|---|---|---|---|---|---|---|"]
    for name, plan in by_name.items():
        t = time_plan(nb, notebook, name, plan)
        longest = "-" if t.longest_catch_up is None else f"{t.longest_catch_up[0]:.1f} s in “{t.longest_catch_up[1]}”"
        lines.append(f"| {name} | {t.live_cells} | {t.live_seconds:.1f} | {t.catch_up_seconds:.1f} | {longest} "
                     f"| {t.notebook_seconds:.1f} | {', '.join(map(str, plan.pairs)) or '-'} |")
    lines.append("")
    for name, plan in by_name.items():
        parts = [("Live", plan.live), ("Shown", plan.shown), ("Cut", cut_sections(nb, plan))]
        lines.append(f"- **{name}**. " + " ".join(f"{label}: {', '.join(f'“{t}”' for t in texts)}."
                                                   for label, texts in parts if texts))
    return "\n".join(lines)


# a block: the opening marker's line, the table (no marker inside: an empty block stays one block), the closing marker
_BLOCK = re.compile(r"(<!-- plan-timings: (\S+) -->\n)((?:(?!<!-- /?plan-timings).)*?)(<!-- /plan-timings -->)",
                    re.DOTALL)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def guide_blocks(text: str, plans: dict[str, dict[str, Plan]], notebooks: Path = NOTEBOOKS) -> dict[str, str]:
    """The measured table for every ``<!-- plan-timings: NOTEBOOK -->`` block of the guide's text."""
    names = [m.group(2) for m in _BLOCK.finditer(text)]
    if len(names) != text.count("<!-- plan-timings:") or len(names) != text.count("<!-- /plan-timings -->"):
        raise ValueError("the guide's plan-timings markers do not pair up: each block is "
                         "<!-- plan-timings: NOTEBOOK --> on its own line, the table, then <!-- /plan-timings -->")
    unknown = [n for n in names if n not in plans]
    if unknown:
        raise ValueError(f"the guide has timing blocks for notebooks without a plan: {', '.join(unknown)}")
    return {n: plan_rows(n, plans[n], notebooks) for n in names}


def write_guide(path: Path = GUIDE, plans: dict[str, dict[str, Plan]] = PLANS, notebooks: Path = NOTEBOOKS) -> None:
    """Rewrite the timing blocks of the guide from the notebooks' metadata."""
    text = path.read_text(encoding="utf-8")
    fresh = guide_blocks(text, plans, notebooks)
    path.write_text(_BLOCK.sub(lambda m: m.group(1) + fresh[m.group(2)] + "\n" + m.group(4), text), encoding="utf-8")


def stale_blocks(text: str, plans: dict[str, dict[str, Plan]], notebooks: Path = NOTEBOOKS,
                 tolerance: float = 0.25, slack: float = 2.0) -> list[str]:
    """The guide's timing blocks that no longer describe the notebooks: a different layout
    (plans, cells, sections), or a time off by more than ``max(slack, tolerance * measured)``
    seconds. Re-executing a notebook moves every time a little; only real changes count."""
    fresh = guide_blocks(text, plans, notebooks)
    stale = []
    for m in _BLOCK.finditer(text):
        old, new = m.group(3).strip(), fresh[m.group(2)]
        old_n, new_n = [float(x) for x in _NUMBER.findall(old)], [float(x) for x in _NUMBER.findall(new)]
        same_layout = _NUMBER.sub("#", old) == _NUMBER.sub("#", new)  # and so as many numbers
        if not same_layout or any(abs(a - b) > max(slack, tolerance * b) for a, b in zip(old_n, new_n)):
            stale.append(m.group(2))
    return stale


def print_table(plans: dict[str, dict[str, Plan]], notebooks: Path) -> None:
    """The measured seconds of every plan."""
    print("Seconds of the committed run (make notebooks: one thread, empty cache). In class a plan runs the")
    print("notebook in order up to its last live cell: the live cells, and the others above it (catch-up).")
    for notebook, by_name in plans.items():
        print(f"\n{notebook}\n{plan_rows(notebook, by_name, notebooks)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if a planned heading or exercise is missing, a heading is ambiguous, "
                             "or a timing block of the guide is out of date")
    parser.add_argument("--write", action="store_true", help="rewrite the timing blocks of the guide")
    parser.add_argument("--sections", metavar="NOTEBOOK", help="print every section of NOTEBOOK with its seconds")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the notebooks' folder")
    parser.add_argument("--guide", type=Path, default=GUIDE, help="the teacher's guide")
    args = parser.parse_args(argv)
    if args.sections:
        path = Path(args.sections)
        print_sections(path if path.exists() else args.notebooks / path)
        return 0
    problems = check(PLANS, args.notebooks)
    if not problems and args.check and args.guide.exists():
        problems += [f"{args.guide}: the timings of {n} are out of date: run python tools/plan_timings.py --write"
                     for n in stale_blocks(args.guide.read_text(encoding="utf-8"), PLANS, args.notebooks)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    if args.write:
        write_guide(args.guide, PLANS, args.notebooks)
        print(f"rewrote the timing blocks of {args.guide}")
    elif args.check:
        print(f"all {sum(len(p) for p in PLANS.values())} plans of {len(PLANS)} notebooks match their notebooks"
              + (f", and {args.guide.name}'s timings are current" if args.guide.exists() else ""))
    else:
        print_table(PLANS, args.notebooks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
