"""tools/plan_timings.py: the lesson plans of docs/teaching.md name sections and
exercises that exist, and the guide's timing tables match the notebooks' timing
metadata. Reads notebooks, runs none."""

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from tool_util import load_tool

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "plan_timings.py"


def load_script():
    return load_tool("plan_timings")


pt = load_script()


def timed(source: str, seconds: float) -> nbformat.NotebookNode:
    """A code cell whose nbclient metadata says it ran for ``seconds``."""
    cell = new_code_cell(source)
    cell.metadata["execution"] = {"iopub.execute_input": "2026-12-01T10:00:00.000000Z",
                                  "shell.execute_reply": f"2026-12-01T10:00:{seconds:09.6f}Z"}
    return cell


def toy_notebook() -> nbformat.NotebookNode:
    """# Title / ## Setup / ## A (### A1) / ## B (### Summary and ## Exercises share a cell)."""
    return new_notebook(cells=[
        new_markdown_cell("# Title"),
        timed("colab = 1", 0.5),                                   # 1: under the title only
        new_markdown_cell("## Setup\ntext"),
        timed("setup = 1", 1.0),                                   # 3
        new_markdown_cell("## A\n```python\n# not a heading\n```"),
        timed("a = 1", 2.0),                                       # 5
        new_markdown_cell("### A1"),
        timed("a1 = 1", 4.0),                                      # 7
        new_markdown_cell("## B"),
        timed("b = 1", 8.0),                                       # 9
        new_markdown_cell("## Summary\n\n## Exercises\n\n**Exercise 1 (one).** Write it."),
        timed("check(x)", 16.0),                                   # 11
    ])


def test_every_plan_matches_its_notebook():
    assert pt.check(pt.PLANS) == []
    assert set(pt.PLANS) == {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert all(set(plans) == {"50 min", "90 min"} for plans in pt.PLANS.values())


def test_the_guide_shows_every_plan_with_current_timings():
    text = pt.GUIDE.read_text(encoding="utf-8")
    assert set(pt.guide_blocks(text, pt.PLANS)) == set(pt.PLANS)
    assert pt.stale_blocks(text, pt.PLANS) == [], "run python tools/plan_timings.py --write"


def test_a_50_minute_plan_runs_for_less_than_two_minutes():
    for notebook, plans in pt.PLANS.items():
        nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
        t = pt.time_plan(nb, notebook, "50 min", plans["50 min"])
        assert t.live_cells > 0 and t.live_seconds + t.catch_up_seconds < 120, notebook


def test_headings_skip_code_blocks_and_find_several_in_one_cell():
    heads = pt.headings(toy_notebook())
    assert [(h.text, h.level, h.cell) for h in heads] == [
        ("Title", 1, 0), ("Setup", 2, 2), ("A", 2, 4), ("A1", 3, 6), ("B", 2, 8),
        ("Summary", 2, 10), ("Exercises", 2, 10)]
    cells = pt.section_cells(toy_notebook(), heads)
    assert cells["A"] == [5, 7] and cells["A1"] == [7] and cells["Summary"] == [] and cells["Exercises"] == [11]
    assert pt.exercises(toy_notebook()) == {1}


def test_roles_come_from_the_innermost_named_section():
    nb = toy_notebook()
    plan = pt.Plan(live=("Setup", "A"), shown=("A1",))
    assert pt.assign(nb, plan) == {1: "cut", 3: "live", 5: "live", 7: "shown", 9: "cut", 11: "cut"}
    assert pt.assign(nb, pt.Plan(live=("A1",), shown=("A",)))[7] == "live"  # deeper wins, whatever the kind
    assert pt.assign(nb, pt.Plan(live=("A",), cut=("A1",)))[7] == "cut"
    assert pt.cut_sections(nb, pt.Plan(live=("Setup", "A"))) == ["B"]  # Exercises are planned as pairs


def test_a_plan_costs_its_live_cells_and_the_cells_above_the_last_one():
    nb = toy_notebook()
    t = pt.time_plan(nb, "toy.ipynb", "50 min", pt.Plan(live=("Setup", "B"), shown=("A",)))
    assert t.live_cells == 2 and t.live_seconds == pytest.approx(9.0)
    assert t.catch_up_seconds == pytest.approx(0.5 + 2.0 + 4.0)  # colab, A and A1 run before B
    assert t.longest_catch_up == (pytest.approx(4.0), "A")
    assert t.notebook_seconds == pytest.approx(31.5)
    only_setup = pt.time_plan(nb, "toy.ipynb", "50 min", pt.Plan(live=("Setup",)))
    assert only_setup.catch_up_seconds == pytest.approx(0.5) and only_setup.longest_catch_up is None


def test_problems_name_missing_ambiguous_and_repeated_sections_and_exercises():
    nb = toy_notebook()
    nb.cells.append(new_markdown_cell("### A1"))
    problems = pt.plan_problems(nb, pt.Plan(live=("Setup", "Gone", "A1"), shown=("Setup",), pairs=(1, 2)))
    assert problems == ["section 'Setup' is named twice in the plan",
                        "no section 'Gone' in the notebook",
                        "the heading 'A1' occurs 2 times in the notebook",
                        "no exercise 2 in the notebook"]
    with pytest.raises(ValueError, match="no section 'Gone'"):
        pt.assign(nb, pt.Plan(live=("Gone",)))


def test_check_fails_when_a_planned_heading_disappears(tmp_path, monkeypatch, capsys):
    nbformat.write(toy_notebook(), tmp_path / "toy.ipynb")
    monkeypatch.setattr(pt, "PLANS", {"toy.ipynb": {"50 min": pt.Plan(live=("Setup", "A"), pairs=(1,))}})
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\n<!-- plan-timings: toy.ipynb -->\n<!-- /plan-timings -->\n\nmore prose\n")
    assert pt.main(["--write", "--notebooks", str(tmp_path), "--guide", str(guide)]) == 0
    assert pt.main(["--check", "--notebooks", str(tmp_path), "--guide", str(guide)]) == 0
    assert guide.read_text().endswith("<!-- /plan-timings -->\n\nmore prose\n")
    nb = toy_notebook()
    nb.cells[4].source = "## A renamed"
    nbformat.write(nb, tmp_path / "toy.ipynb")
    assert pt.main(["--check", "--notebooks", str(tmp_path), "--guide", str(guide)]) == 1
    assert "toy.ipynb (50 min): no section 'A' in the notebook" in capsys.readouterr().err


def test_stale_tables_are_found_and_noise_is_not():
    name = "04_attention.ipynb"  # the fresh table is built from the real notebook
    fresh = pt.plan_rows(name, pt.PLANS[name])
    block = f"<!-- plan-timings: {name} -->\n{fresh}\n<!-- /plan-timings -->"
    assert pt.stale_blocks(block, pt.PLANS) == []
    row = next(line for line in fresh.splitlines() if line.startswith("| 50 min"))
    cells = row.split(" | ")
    cells[3] = f"{float(cells[3]) + 1.0:.1f}"  # live seconds off by 1 s: noise
    assert pt.stale_blocks(block.replace(row, " | ".join(cells)), pt.PLANS) == []
    cells[3] = f"{float(cells[3]) + 30.0:.1f}"  # off by 31 s: a real change
    assert pt.stale_blocks(block.replace(row, " | ".join(cells)), pt.PLANS) == [name]
    assert pt.stale_blocks(block.replace("“Check your setup”, ", "", 1), pt.PLANS) == [name]
    with pytest.raises(ValueError, match="do not pair up"):
        pt.guide_blocks(block.replace("<!-- /plan-timings -->", ""), pt.PLANS)
    with pytest.raises(ValueError, match="without a plan"):
        pt.guide_blocks("<!-- plan-timings: 99_x.ipynb -->\n<!-- /plan-timings -->", pt.PLANS)


def test_cells_without_timings_are_a_clear_error():
    with pytest.raises(ValueError, match="no nbclient timing metadata"):
        pt.cell_seconds(new_code_cell("x = 1"))
    backwards = timed("x = 1", 1.0)
    backwards.metadata["execution"]["shell.execute_reply"] = "2026-12-01T09:59:59.000000Z"
    with pytest.raises(ValueError, match="finished .* before it started"):
        pt.cell_seconds(backwards)
    assert pt.cell_seconds(timed("x = 1", 2.5)) == pytest.approx(2.5)
