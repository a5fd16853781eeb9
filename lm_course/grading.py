"""Grade submitted notebooks with the course's own checkers (``python -m lm_course grade``).

A teacher who sets the build exercises as homework downloads the students'
notebooks (one per student and chapter, any file names, e.g. a folder per
student as an LMS gives it) and runs::

    python -m lm_course grade submissions/ --out gradebook/

Each notebook runs top to bottom in a fresh kernel, offline, in a temporary
folder, with a time limit per cell and per notebook, exactly as the student
ran it; every exercise's verdict is read from its checker's printed line
(the same ✅ / ❌ and the same diagnosis the student saw, so nothing is
hidden). The gradebook is ``gradebook.csv`` (one row per student, chapter and
exercise) and ``gradebook.md`` (a table per chapter: students x exercises,
totals, run time, and every ❌ with its diagnosis).

A notebook that is not a notebook, fails to run, loops forever, renamed the
function or deleted the exercise's cell is reported as such; one bad
submission never stops the run.

**Not a security sandbox.** Students' code runs with your user's rights; the
network is only discouraged (proxy variables point nowhere, Hugging Face is
set offline). For untrusted submissions run the command in a container with
no network, e.g. ``docker run --rm --network none -v "$PWD":/work -w /work
IMAGE python -m lm_course grade submissions --out gradebook``.

Notebook sections: ``docs/teaching.md``, "Grading homework".
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lm_course.fileio import atomic_write_text, check_writable_dir
from lm_course.notebook_runner import run_every_cell

__all__ = ["Verdict", "chapter_exercises", "find_submissions", "grade_notebook", "grade", "write_gradebook"]

#: A verdict's status, and how the gradebook shows it.
STATUS_MARK = {"pass": "✅", "fail": "❌", "not done": "·", "error": "⚠", "missing": "∅", "timeout": "⏱"}

_CHECK_CALL = re.compile(r"^\s*(check_\w+)\s*\(", re.M)
_CHAPTER_TITLE = re.compile(r"^#\s*Chapter\s+(\d+)\b", re.M)
_CHAPTER_IMPORT = re.compile(r"lm_course\.exercises\.ch(\d\d)\b")
_NOT_DONE = ("not implemented yet", "no answer yet")


@dataclass
class Verdict:
    """One exercise of one submission."""

    student: str
    chapter: int | None
    notebook: str  # the submitted file, relative to the folder it was found in
    exercise: str  # the checker's name, e.g. "check_lstm_step"
    status: str  # one of STATUS_MARK
    message: str  # the checker's line (its diagnosis), or why there is none
    seconds: float  # the whole notebook's run time


def chapter_exercises(chapter: int) -> list[str]:
    """The checkers of chapter ``chapter``, in the order its module lists them (the notebook's order)."""
    import importlib

    module = importlib.import_module(f"lm_course.exercises.ch{chapter:02d}")
    return [name for name in module.__all__ if name.startswith("check_")]


def find_submissions(paths: list[Path]) -> list[tuple[str, Path, Path]]:
    """``(student, file, base)`` for every file to grade.

    A folder is searched recursively (hidden files and Jupyter's checkpoints
    skipped; a file that is not a notebook is reported, not skipped); the student is the first folder below it when the file sits in one
    (``subs/alice/ch3.ipynb`` -> ``alice``), else the file's stem. A file
    given directly is graded the same way, the student being its stem.
    """
    found = []
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if not file.is_file() or ".ipynb_checkpoints" in file.parts or file.name.startswith("."):
                    continue
                rel = file.relative_to(path)
                student = rel.parts[0] if len(rel.parts) > 1 else file.stem
                found.append((student, file, path))
        elif path.exists():
            found.append((path.stem, path, path.parent))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder to grade")
    return found


def _chapter_of(nb: object) -> int | None:
    text = "\n".join("".join(c.source) for c in nb.cells)  # type: ignore[attr-defined]
    for pattern in (_CHAPTER_TITLE, _CHAPTER_IMPORT):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def _cell_text(cell: object) -> str:
    parts = []
    for out in cell.get("outputs", []):  # type: ignore[attr-defined]
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _verdict_from_output(text: str) -> tuple[str, str]:
    """The checker's verdict from what its cell printed: a ✅ line and no ❌ line passes."""
    all_lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    stub = next((ln for ln in all_lines if any(phrase in ln for phrase in _NOT_DONE)), None)
    if stub is not None:
        return "not done", stub
    lines = [ln for ln in all_lines if ln.startswith(("✅", "❌"))]
    if not lines:
        return "error", "the checker printed no verdict"
    bad = [ln for ln in lines if ln.startswith("❌")]
    return ("fail", bad[0]) if bad else ("pass", lines[-1])


def _sandbox_env(workdir: Path) -> dict[str, str]:
    """This process's environment, offline and with the course cache in ``workdir``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    dead = "http://127.0.0.1:9"  # the discard port: nothing answers
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
                "http_proxy": dead, "https_proxy": dead, "NO_PROXY": "", "no_proxy": "",
                "LM_COURSE_CACHE": str(workdir / "cache"), "MPLBACKEND": "Agg"})
    return env


def grade_notebook(student: str, path: Path, base: Path, cell_timeout: int = 120,
                   notebook_timeout: int = 900) -> list[Verdict]:
    """Run one submission and return one :class:`Verdict` per exercise of its chapter."""
    import nbformat

    name = str(path.relative_to(base)) if path.is_relative_to(base) else path.name
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # not JSON, not a notebook, unreadable: all the same to a teacher
        return [Verdict(student, None, name, "-", "error", f"not a readable notebook ({type(err).__name__})", 0.0)]
    chapter = _chapter_of(nb)
    if chapter is None or not 0 <= chapter <= 99:
        return [Verdict(student, None, name, "-", "error", "no chapter found (no '# Chapter N' title and no "
                        "lm_course.exercises import)", 0.0)]
    try:
        expected = chapter_exercises(chapter)
    except ModuleNotFoundError:
        return [Verdict(student, chapter, name, "-", "error", f"the course has no chapter {chapter}", 0.0)]
    with tempfile.TemporaryDirectory(prefix="lm_course_grade_") as tmp:
        work = Path(tmp)
        copy = work / "submission.ipynb"
        nbformat.write(nb, copy)
        start = time.perf_counter()
        try:
            run = run_every_cell(copy, env=_sandbox_env(work), cwd=work, cell_timeout=cell_timeout,
                                 total_timeout=notebook_timeout)
        except Exception as err:  # the kernel died or could not start
            seconds = time.perf_counter() - start
            return [Verdict(student, chapter, name, ex, "error", f"the notebook could not run: {err}", seconds)
                    for ex in expected]
    failures = {f.cell: f for f in run.failures}
    verdicts = {}
    for index, cell in enumerate(run.notebook.cells):  # type: ignore[attr-defined]
        if cell.cell_type != "code":
            continue
        for checker in _CHECK_CALL.findall(cell.source):
            if checker not in expected or checker in verdicts:
                continue
            if run.stopped_at is not None and index >= run.stopped_at:
                status, message = "timeout", f"not reached: the notebook ran past its limit of {notebook_timeout} s"
            elif index in failures:
                failure = failures[index]
                status = "timeout" if failure.timed_out else "error"
                message = failure.error
                if "NameError" in message:
                    message += " (was the function renamed, or its cell not run?)"
            else:
                status, message = _verdict_from_output(_cell_text(cell))
            verdicts[checker] = Verdict(student, chapter, name, checker, status, message, round(run.seconds, 1))
    return [verdicts.get(ex) or Verdict(student, chapter, name, ex, "missing",
                                        "no cell calls this checker (deleted or renamed?)", round(run.seconds, 1))
            for ex in expected]


def write_gradebook(verdicts: list[Verdict], out: Path) -> tuple[Path, Path]:
    """``gradebook.csv`` and ``gradebook.md`` in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    check_writable_dir(out, "gradebook folder")
    csv_path, md_path = out / "gradebook.csv", out / "gradebook.md"
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(asdict(verdicts[0]).keys()) if verdicts else ["student"])
    writer.writeheader()
    for v in verdicts:
        writer.writerow(asdict(v))
    atomic_write_text(csv_path, table.getvalue())
    lines = ["# Gradebook", "", "Legend: " + ", ".join(f"{m} {s}" for s, m in STATUS_MARK.items()), ""]
    for chapter in sorted({v.chapter for v in verdicts if v.chapter is not None}):
        rows = [v for v in verdicts if v.chapter == chapter]
        exercises = list(dict.fromkeys(v.exercise for v in rows))
        lines += [f"## Chapter {chapter}", "",
                  "| student | notebook | " + " | ".join(e.removeprefix("check_") for e in exercises)
                  + " | passed | time |", "|---|---|" + "---|" * len(exercises) + "---|---|"]
        for (student, notebook) in dict.fromkeys((v.student, v.notebook) for v in rows):
            mine = {v.exercise: v for v in rows if (v.student, v.notebook) == (student, notebook)}
            marks = [STATUS_MARK[mine[e].status] if e in mine else "" for e in exercises]
            passed = sum(v.status == "pass" for v in mine.values())
            seconds = max(v.seconds for v in mine.values())
            lines.append(f"| {student} | {notebook} | " + " | ".join(marks)
                         + f" | {passed}/{len(exercises)} | {seconds:.0f} s |")
        lines.append("")
        notes = [v for v in rows if v.status not in ("pass", "not done")]
        lines += [f"- {v.student}, {v.exercise.removeprefix('check_')}: {v.status}: {v.message}" for v in notes]
        lines.append("")
    unplaced = [v for v in verdicts if v.chapter is None]
    if unplaced:
        lines += ["## Not graded", ""] + [f"- {v.student} ({v.notebook}): {v.message}" for v in unplaced] + [""]
    atomic_write_text(md_path, "\n".join(lines))
    return csv_path, md_path


def grade(paths: list[Path], out: Path, cell_timeout: int = 120, notebook_timeout: int = 900,
          progress: bool = True) -> list[Verdict]:
    """Grade every submission under ``paths`` and write the gradebook to ``out``."""
    verdicts: list[Verdict] = []
    for student, path, base in find_submissions(paths):
        mine = grade_notebook(student, path, base, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        verdicts += mine
        if progress:
            passed = sum(v.status == "pass" for v in mine)
            print(f"{student}: {path.name}: {passed}/{len(mine)} passed, {max(v.seconds for v in mine):.0f} s",
                  file=sys.stderr, flush=True)
    csv_path, md_path = write_gradebook(verdicts, out)
    if progress:
        print(f"wrote {csv_path} and {md_path}", file=sys.stderr)
    return verdicts


def summary_json(verdicts: list[Verdict]) -> str:
    """The verdicts as JSON (for scripts)."""
    return json.dumps([asdict(v) for v in verdicts], indent=1, ensure_ascii=False)
