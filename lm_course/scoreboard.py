"""The course scoreboard: validation and test bits per character of every
model, chapter after chapter.

Explained in ``00_welcome.ipynb`` ("The scoreboard"); every chapter adds its
model with :func:`record` and draws the board with
:func:`lm_course.viz.plot_scoreboard`.

Two files hold it:

* ``lm_course/shipped_data/scoreboard.json`` (committed): the reference numbers, produced by
  the course's own notebooks when they were last executed. A chapter that
  shows the board never depends on another notebook having been run.
* ``<cache>/scoreboard.json`` (git-ignored): what *you* measured in this copy
  of the course. Your numbers replace the reference ones of the same name.

Writes are atomic and :func:`record` holds a file lock around its
read-modify-write (:mod:`lm_course.fileio`), so two kernels recording at once
keep both entries; a damaged ``<cache>/scoreboard.json`` is set aside as
``scoreboard.json.corrupt`` (with a warning naming it) and the board starts
again from the reference numbers.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from lm_course.data import cache_dir, data_dir
from lm_course.fileio import atomic_write_text, locked, set_aside
from lm_course.validation import require_number

__all__ = [
    "ScoreEntry",
    "Scoreboard",
    "record",
    "load_scoreboard",
    "reference_entry",
]


@dataclass(frozen=True)
class ScoreEntry:
    """One model's result. ``val``/``test`` are bits per character."""

    name: str  # a short label, e.g. "5-gram Kneser-Ney"
    chapter: int  # the chapter that trains the model (8: the finale's "your GPT")
    val: float  # bits per character on the validation split
    test: float  # bits per character on the test split
    notes: str = ""  # how it was made (order, size, training budget...)
    source: str = "reference"  # "reference" (committed) or "this run"

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a scoreboard entry needs a name")
        if not isinstance(self.chapter, int) or not 0 <= self.chapter <= 8:
            raise ValueError(f"chapter must be an int in 0..8, got {self.chapter!r}")
        for field in ("val", "test"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{field} bits-per-char must be a positive finite number, got {value!r}")


def _reference_path() -> Path:
    return data_dir() / "scoreboard.json"


def _run_path() -> Path:
    return cache_dir() / "scoreboard.json"


def _parse(path: Path, source: str) -> dict[str, ScoreEntry]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError(f"expected a list of entries, got {type(rows).__name__}")
    return {r["name"]: ScoreEntry(**{**r, "source": source}) for r in rows}


def _read(path: Path, source: str) -> dict[str, ScoreEntry]:
    """The entries of ``path`` ({} if it is missing). This run's file, if
    damaged, is set aside as ``*.corrupt`` (a warning names it); a damaged
    committed board is an error that names it and the fix."""
    try:
        return _parse(path, source)
    except FileNotFoundError:
        return {}
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as err:  # JSON or row shape
        reason = f"{type(err).__name__}: {err}"
        if path.resolve() == _reference_path().resolve():
            raise ValueError(f"the committed scoreboard {path} is damaged ({reason}); restore it with "
                             f"`git checkout -- {path}`") from None
        set_aside(path, reason, "scoreboard")
        return {}


def _write(path: Path, entries: dict[str, ScoreEntry]) -> None:
    rows = [
        {k: v for k, v in asdict(e).items() if k != "source"}
        for e in sorted(entries.values(), key=lambda e: (e.chapter, -e.val, e.name))
    ]
    atomic_write_text(path, json.dumps(rows, indent=2) + "\n")  # a private temporary file, then os.replace


class Scoreboard:
    """Reference entries overlaid with this run's entries, in chapter order."""

    def __init__(self, entries: dict[str, ScoreEntry]):
        self.entries = entries

    def __getitem__(self, name: str) -> ScoreEntry:
        return self.entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def rows(self) -> list[ScoreEntry]:
        """Entries sorted by chapter, then from worst to best."""
        return sorted(self.entries.values(), key=lambda e: (e.chapter, -e.val, e.name))

    def best(self, up_to_chapter: int = 8) -> ScoreEntry:
        """The entry with the lowest validation bits-per-char among chapters
        ``0 .. up_to_chapter``: a chapter asks for the best *so far*, so a
        reader who has run later chapters sees the same answer."""
        return min((e for e in self.entries.values() if e.chapter <= up_to_chapter), key=lambda e: e.val)

    def __str__(self) -> str:
        lines = [f"{'ch':>2}  {'model':<34} {'val bpc':>8} {'test bpc':>9}  source"]
        for e in self.rows():
            lines.append(f"{e.chapter:>2}  {e.name:<34} {e.val:>8.3f} {e.test:>9.3f}  {e.source}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython display
        p.text(str(self))


def load_scoreboard() -> Scoreboard:
    """The reference scoreboard with this run's entries on top."""
    entries = _read(_reference_path(), "reference")
    try:
        run = _run_path()
    except OSError as err:  # LM_COURSE_CACHE names a file, or cannot be made: the reference board only
        warnings.warn(f"this run's scoreboard cannot be read: {err}", RuntimeWarning, stacklevel=2)
        return Scoreboard(entries)
    entries.update(_read(run, "this run"))
    return Scoreboard(entries)


def reference_entry(name: str) -> ScoreEntry | None:
    """The committed reference result for ``name`` (``None`` if there is none)."""
    return _read(_reference_path(), "reference").get(name)


def record(name: str, val: float, test: float, chapter: int, notes: str = "",
           reference: bool | None = None) -> Scoreboard:
    """Add (or replace) a model's result and return the updated board.

    The entry goes to this run's file. ``reference=True`` (or the environment
    variable ``LM_COURSE_REFERENCE=1``, set by ``tools/execute_notebooks.py
    --reference``) also writes it to the committed ``lm_course/shipped_data/scoreboard.json``:
    that is how the course's authors refresh the reference numbers;
    ``reference=False`` never does (the finale's "your GPT" is the reader's own).
    """
    entry = ScoreEntry(name, chapter, require_number(val, "val", positive=True),
                       require_number(test, "test", positive=True), notes)
    paths: list[Path | None] = []
    try:
        paths.append(_run_path())
    except OSError as err:
        paths.append(None)
        problem = str(err)
    if reference or (reference is None and os.environ.get("LM_COURSE_REFERENCE") == "1"):
        paths.append(_reference_path())
    for path in paths:
        if path is None:
            continue
        try:
            with locked(path):  # another kernel's record() waits: neither entry is lost
                entries = _read(path, "reference")
                entries[name] = entry
                _write(path, entries)
        except OSError as err:
            if path == _reference_path():
                raise
            paths[0], problem = None, f"could not write {path} ({err.strerror or err})"
    board = load_scoreboard()
    if paths[0] is None:  # the cache cannot be written: the entry is shown, not kept
        warnings.warn(f"{name!r} was not saved to this run's scoreboard: {problem}; set LM_COURSE_CACHE to a "
                      "writable folder to keep it", RuntimeWarning, stacklevel=2)
        board.entries[name] = replace(entry, source="this run")
    return board
