"""Which exercises the student has passed, kept in the course cache.

A passing checker calls :func:`record`: the exercise's key and the time go
into ``<cache>/exercises/progress.json`` (the cache is
:func:`lm_course.data.cache_dir`, ``LM_COURSE_CACHE`` overrides it), and the
student's function source (``inspect.getsource``) into
``<cache>/exercises/solutions/<key>.py``, for the course's finale, which
assembles a GPT from the student's own pieces. A function whose source
cannot be read (a lambda, a function typed in a console) saves no source,
silently. Every write is atomic and the read-modify-write of the record is
locked (:mod:`lm_course.fileio`); a damaged record is set aside
(``progress.json.corrupt``, with a warning naming it) and a fresh one
started. :func:`progress` prints what is done, chapter by chapter.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import textwrap
from pathlib import Path

from lm_course.exercises.catalog import CHAPTERS, EXERCISES

__all__ = ["progress", "record", "load", "progress_file", "solution_file", "ProgressReport"]


def progress_file() -> Path:
    from lm_course.data import cache_dir

    return cache_dir() / "exercises" / "progress.json"


def solution_file(key: str) -> Path:
    return progress_file().parent / "solutions" / f"{key}.py"


def _parse(data: bytes) -> dict[str, dict]:
    records = json.loads(data.decode("utf-8"))
    if not isinstance(records, dict) or not all(isinstance(v, dict) for v in records.values()):
        raise ValueError("not a JSON object of records")
    return records


def load() -> dict[str, dict]:
    """The progress record ``{key: {"passed": ISO time, "source": path or None}}``
    (``{}`` when there is none yet, or when a damaged one was just set aside)."""
    from lm_course.fileio import read_or_set_aside

    return read_or_set_aside(progress_file(), _parse, "exercise progress record") or {}


def _source(answers: tuple) -> str | None:
    """The source of the student's function(s), or ``None`` when it cannot be read."""
    parts = []
    for fn in answers:
        if not callable(fn) or getattr(fn, "__name__", "") == "<lambda>":
            return None
        try:
            parts.append(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):
            return None
    return "\n\n".join(parts) if parts else None


def record(key: str, answers: tuple = ()) -> None:
    """Note that exercise ``key`` passed (now), and keep the student's source.
    Never raises: a read-only cache only costs the record (said in one line)."""
    from lm_course.fileio import atomic_write_text, locked

    try:
        path = progress_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        source = _source(answers)
        saved = None
        if source is not None:
            target = solution_file(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, f"# {key}: the student's function, saved when it passed its checker\n\n"
                                      f"{source}")
            saved = str(target)
        with locked(path, timeout=10):
            data = load()
            data[key] = {"passed": _dt.datetime.now().isoformat(timespec="seconds"), "source": saved}
            atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
    except (OSError, TimeoutError) as err:  # a read-only or full disk: the checker's verdict still stands
        print(f"(your progress could not be saved: {err})")


class ProgressReport(list):
    """:func:`progress`'s rows; a notebook shows nothing more for it (the
    table is printed already)."""

    def _ipython_display_(self) -> None:
        return None


def progress(chapter: int | None = None) -> ProgressReport:
    """Print which exercises of the notebooks are done, chapter by chapter
    (✅ passed, · not yet), and return one dict per exercise: ``key``,
    ``chapter``, ``number``, ``title``, ``difficulty``, ``importance``,
    ``minutes``, ``done``, ``passed`` (the time) and ``source`` (the saved file).

    ``progress(chapter=N)`` prints one line for chapter ``N`` only (the line
    under each notebook's title) and returns that chapter's rows."""
    data = load()
    rows = ProgressReport()
    for e in (e for e in EXERCISES if e.notebook and chapter in (None, e.chapter)):
        rec = data.get(e.key, {})
        rows.append(dict(key=e.key, chapter=e.chapter, number=e.number, title=e.title, difficulty=e.difficulty,
                         importance=e.importance, minutes=e.minutes, done=bool(rec), passed=rec.get("passed"),
                         source=rec.get("source")))
    if chapter is not None:
        if chapter not in CHAPTERS:
            raise ValueError(f"chapter is one of {sorted(CHAPTERS)}, got {chapter!r}")
        print(f"Your exercises in this chapter: {sum(r['done'] for r in rows)} of {len(rows)} done; "
              "lm_course.exercises.progress() lists the whole course.")
        return rows
    print(f"Exercises done: {sum(r['done'] for r in rows)} of {len(rows)}")
    for number, title in CHAPTERS.items():
        mine = [r for r in rows if r["chapter"] == number]
        print(f"Chapter {number} ({title}): {sum(r['done'] for r in mine)} of {len(mine)}")
        for r in mine:
            print(f"  {'✅' if r['done'] else '·'} {r['number']}. {r['title']}")
    return rows
