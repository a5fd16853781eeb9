"""A student's own copy of the chapters, and the student edition for homework.

``python -m lm_course workspace [DIR]`` copies the chapters into a folder of
the student's own (default ``~/lm-course-work``), where they write their
exercises; a course update (``git pull``) never touches it, and running the
command again adds new chapters without overwriting the student's files. The
chapters come from the clone's ``notebooks/``, or, for an installed wheel, from
the copy it carries (:func:`chapters_dir`).
``make lab`` opens the workspace when it exists.

``python -m lm_course release OUT [--no-solutions]`` writes the student
edition a teacher hands out for graded homework: the exercise cells' outputs
cleared, and with ``--no-solutions`` the hidden solutions removed (the
``<details><summary>Solution`` cells). Both editions run under nbval like
the chapters. Grading: :mod:`lm_course.grading`.

Notebook sections: README "Your own copy"; ``docs/teaching.md``, "Grading homework".
"""

from __future__ import annotations

import importlib.resources
import re
import shutil
from pathlib import Path

__all__ = ["DEFAULT_WORKSPACE", "chapters_dir", "chapter_notebooks", "make_workspace", "release", "is_exercise_cell",
           "is_solution_cell"]

#: Where ``workspace`` copies the chapters unless told otherwise.
DEFAULT_WORKSPACE = Path.home() / "lm-course-work"

_CHECK_CALL = re.compile(r"^\s*check_\w+\s*\(", re.M)
_STUB = re.compile(r"raise NotImplementedError|=\s*None\s*#\s*your code here")


def chapters_dir() -> Path:
    """Where the chapters are: ``notebooks/`` of the clone this package runs
    from, else the copy an installed wheel carries (``lm_course/notebooks/``,
    put there by the build step in ``setup.py``)."""
    from lm_course.data import clone_root

    root = clone_root()
    if root is not None:
        return root / "notebooks"
    return Path(str(importlib.resources.files("lm_course") / "notebooks"))


def chapter_notebooks(folder: Path | None = None) -> list[Path]:
    """The chapters (``NN_*.ipynb``) of the course, in order."""
    folder = folder or chapters_dir()
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no chapters (NN_*.ipynb) in {folder}: reinstall the course (the wheel carries "
                                "them in lm_course/notebooks/) or run this from a clone of the course")
    return found


def make_workspace(dest: Path | None = None, source: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Copy every chapter into ``dest`` unless a file of that name is already there.

    Returns ``(copied, kept)``: a chapter already in the workspace is the
    student's work and is never overwritten.
    """
    dest = (dest or DEFAULT_WORKSPACE).expanduser()
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} is a file; give a folder for the workspace")
    dest.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for chapter in chapter_notebooks(source):
        target = dest / chapter.name
        if target.exists():
            kept.append(target)
        else:
            shutil.copy2(chapter, target)
            copied.append(target)
    return copied, kept


def is_exercise_cell(cell: dict) -> bool:
    """A code cell that calls a checker or holds an exercise's stub."""
    source = "".join(cell.get("source", ""))
    return cell.get("cell_type") == "code" and bool(_CHECK_CALL.search(source) or _STUB.search(source))


def is_solution_cell(cell: dict) -> bool:
    """A Markdown cell holding a hidden solution (``<details><summary>Solution``)."""
    return cell.get("cell_type") == "markdown" and "<summary>Solution" in "".join(cell.get("source", ""))


def release(out: Path, no_solutions: bool = False, source: Path | None = None) -> list[Path]:
    """Write the student edition of every chapter into ``out``; returns the files written.

    Exercise cells lose their outputs (a checked output, ``# NBVAL_CHECK_OUTPUT``,
    keeps its own); with ``no_solutions`` the solution cells are removed.
    """
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapter_notebooks(source):
        nb = nbformat.read(chapter, as_version=4)
        if no_solutions:
            nb.cells = [cell for cell in nb.cells if not is_solution_cell(cell)]
        for cell in nb.cells:
            if is_exercise_cell(cell) and "NBVAL_CHECK_OUTPUT" not in "".join(cell.source):
                cell.outputs, cell.execution_count = [], None
        target = out / chapter.name
        nbformat.write(nb, target)
        written.append(target)
    return written
