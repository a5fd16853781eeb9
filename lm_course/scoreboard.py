"""The course scoreboard: validation and test bits per character of every
model, chapter after chapter.

Explained in ``00_welcome.ipynb`` ("The scoreboard"); every chapter adds its
model with :func:`record` and draws the board with
:func:`lm_course.viz.plot_scoreboard`.

Two files hold it:

* ``data/scoreboard.json`` (committed): the reference numbers, produced by
  the course's own notebooks when they were last executed. A chapter that
  shows the board never depends on another notebook having been run.
* ``<cache>/scoreboard.json`` (git-ignored): what *you* measured in this copy
  of the course. Your numbers replace the reference ones of the same name.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lm_course.data import cache_dir, data_dir

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
    chapter: int  # the chapter that trains the model
    val: float  # bits per character on the validation split
    test: float  # bits per character on the test split
    notes: str = ""  # how it was made (order, size, training budget...)
    source: str = "reference"  # "reference" (committed) or "this run"

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a scoreboard entry needs a name")
        if not isinstance(self.chapter, int) or not 0 <= self.chapter <= 7:
            raise ValueError(f"chapter must be an int in 0..7, got {self.chapter!r}")
        for field in ("val", "test"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{field} bits-per-char must be a positive finite number, got {value!r}")


def _reference_path() -> Path:
    return data_dir() / "scoreboard.json"


def _run_path() -> Path:
    return cache_dir() / "scoreboard.json"


def _read(path: Path, source: str) -> dict[str, ScoreEntry]:
    if not path.exists():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {r["name"]: ScoreEntry(**{**r, "source": source}) for r in rows}


def _write(path: Path, entries: dict[str, ScoreEntry]) -> None:
    rows = [
        {k: v for k, v in asdict(e).items() if k != "source"}
        for e in sorted(entries.values(), key=lambda e: (e.chapter, -e.val, e.name))
    ]
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


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

    def best(self) -> ScoreEntry:
        """The entry with the lowest validation bits-per-char."""
        return min(self.entries.values(), key=lambda e: e.val)

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
    entries.update(_read(_run_path(), "this run"))
    return Scoreboard(entries)


def reference_entry(name: str) -> ScoreEntry | None:
    """The committed reference result for ``name`` (``None`` if there is none)."""
    return _read(_reference_path(), "reference").get(name)


def record(name: str, val: float, test: float, chapter: int, notes: str = "",
           reference: bool = False) -> Scoreboard:
    """Add (or replace) a model's result and return the updated board.

    The entry goes to this run's file. ``reference=True`` (or the environment
    variable ``LM_COURSE_REFERENCE=1``, set by ``tools/execute_notebooks.py
    --reference``) also writes it to the committed ``data/scoreboard.json``:
    that is how the course's authors refresh the reference numbers.
    """
    entry = ScoreEntry(name, chapter, float(val), float(test), notes)
    paths = [_run_path()]
    if reference or os.environ.get("LM_COURSE_REFERENCE") == "1":
        paths.append(_reference_path())
    for path in paths:
        entries = _read(path, "reference")
        entries[name] = entry
        _write(path, entries)
    return load_scoreboard()
