"""Every exercise of the course as data: one row per exercise.

A row gives the chapter, the exercise's number and title, the function the
student writes (or the answer's name), the checker that judges it, a rating
(``difficulty`` and ``importance`` from 1 to 5, the estimated ``minutes`` of
a first-time student), what the checker tests (printed on a pass) and three
graded hints: 1 the idea, 2 the approach with the shapes, 3 almost the code.
``needs`` names the earlier exercises whose functions the student's code
may call (a failure then blames the unfinished one). ``notebook=False``
would mark a checker whose notebook cell is still to be written (left out
of :func:`~lm_course.exercises.progress`); none is, now.

The row type is :class:`~.exercise_row.Exercise`; the rows are in
:mod:`.catalog_ch0_3` and :mod:`.catalog_ch4_7`, gathered here. The
notebooks, the teacher's guide and :func:`lm_course.exercises.progress`
(module :mod:`lm_course.exercises.tracking`) read this table; a checker's
``.hint(level)`` prints a row's hints.
"""

from __future__ import annotations

from lm_course.exercises.catalog_ch0_3 import ROWS as _CHAPTERS_0_3
from lm_course.exercises.catalog_ch4_7 import ROWS as _CHAPTERS_4_7
from lm_course.exercises.exercise_row import Exercise

__all__ = ["Exercise", "EXERCISES", "CHAPTERS", "entry", "by_function", "hint"]

CHAPTERS = {0: "Welcome", 1: "n-grams", 2: "Tokens and embeddings", 3: "Recurrent networks", 4: "Attention",
            5: "The Transformer", 6: "GPT-2 and sampling", 7: "Pre-training and fine-tuning"}

EXERCISES: tuple[Exercise, ...] = _CHAPTERS_0_3 + _CHAPTERS_4_7


_BY_KEY = {e.key: e for e in EXERCISES}
_LEVELS = {1: "the idea", 2: "the approach", 3: "almost the code"}


def entry(key: str) -> Exercise:
    """The row of ``key`` (``"ch03.lstm_step"``); a ``KeyError`` lists the keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no exercise {key!r}; the keys are {sorted(_BY_KEY)}") from None


def by_function(name: str, near: str | None = None) -> Exercise | None:
    """The exercise whose function is called ``name`` (in the chapter of the
    key ``near`` first), or ``None``."""
    rows = [e for e in EXERCISES if e.function == name or (e.function == "split_merge_heads"
                                                            and name in ("split_heads", "merge_heads"))]
    if near is not None:
        rows.sort(key=lambda e: e.chapter_module != near.split(".")[0])
    return rows[0] if rows else None


def hint(key: str, level: int = 1) -> str:
    """Hint ``level`` (1 the idea, 2 the approach, 3 almost the code) of exercise ``key``."""
    row = entry(key)
    if level not in _LEVELS:
        raise ValueError(f"level is 1 (the idea), 2 (the approach) or 3 (almost the code), got {level!r}")
    more = f" For more: .hint({level + 1})." if level < 3 else ""
    return (f"Hint {level} of 3 ({_LEVELS[level]}) for Exercise {row.number} ({row.title}): "
            f"{row.hints[level - 1]}{more}")
