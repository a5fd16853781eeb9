"""python -m lm_course workspace / release: a student's own copy, and the homework edition."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lm_course.workspace import chapter_notebooks, is_exercise_cell, is_solution_cell, make_workspace, release

ROOT = Path(__file__).resolve().parents[1]


def test_the_workspace_copies_every_chapter_and_never_overwrites(tmp_path):
    dest = tmp_path / "work"
    copied, kept = make_workspace(dest)
    assert [p.name for p in copied] == [p.name for p in chapter_notebooks()] and not kept
    mine = dest / copied[0].name
    mine.write_text(mine.read_text().replace("Chapter 0", "Chapter 0 (my notes)"))
    copied, kept = make_workspace(dest)
    assert not copied and len(kept) == len(chapter_notebooks())
    assert "my notes" in mine.read_text()


def test_a_file_is_not_a_workspace(tmp_path):
    (tmp_path / "f").write_text("x")
    try:
        make_workspace(tmp_path / "f")
    except NotADirectoryError as err:
        assert "folder" in str(err)
    else:
        raise AssertionError("expected NotADirectoryError")


def test_the_release_clears_exercise_outputs_and_can_drop_solutions(tmp_path):
    with_solutions = release(tmp_path / "a")
    without = release(tmp_path / "b", no_solutions=True)
    assert len(with_solutions) == len(without) == len(chapter_notebooks())
    for a, b in zip(with_solutions, without):
        cells_a, cells_b = json.loads(a.read_text())["cells"], json.loads(b.read_text())["cells"]
        assert not any(is_solution_cell(c) for c in cells_b)
        if any(is_exercise_cell(c) for c in cells_a):  # chapter 8 has no exercises of its own
            assert any(is_solution_cell(c) for c in cells_a)
        for cell in cells_a:
            if is_exercise_cell(cell) and "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
                assert cell["outputs"] == []


@pytest.mark.kernel
def test_the_release_edition_runs_under_nbval(tmp_path):
    (path,) = [p for p in release(tmp_path, no_solutions=True) if p.name.startswith("00_")]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path),
                           "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with",
                           str(ROOT / "tests" / "nbval_sanitize.cfg"), "--rootdir", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_chapters_come_from_the_clone_or_from_the_installed_package(tmp_path, monkeypatch):
    """In a clone, notebooks/; installed from a wheel, lm_course/notebooks/ (setup.py's build step
    copies them there; tests/test_wheel.py builds and installs one)."""
    from lm_course import data, workspace

    assert workspace.chapters_dir() == ROOT / "notebooks"
    monkeypatch.setattr(data, "clone_root", lambda: None)
    assert workspace.chapters_dir().parts[-2:] == ("lm_course", "notebooks")
    empty = tmp_path / "none"
    empty.mkdir()
    try:
        chapter_notebooks(empty)
    except FileNotFoundError as err:
        assert "reinstall" in str(err) and "clone" in str(err)
    else:
        raise AssertionError("expected FileNotFoundError")
