"""Known wrong versions of an exercise, as data, and the walk that names the one a student wrote.

A checker lists its exercise's common mistakes as :class:`Wrong` rows: a short name, a
*student-like* function with the same signature as the student's (it returns what a student
who made that mistake would return) and the diagnosis printed when the student's output
matches it. :func:`diagnose` runs each wrong version on the case the student failed and
returns the first diagnosis whose output is the student's. The checker registers its table
with ``@exercise(key, wrong=TABLE)``, so that ``check_x.wrong_versions`` lists it and
``tests/test_exercise_wrong_versions.py`` checks that each is rejected with its own
diagnosis. (How the checker runs the student's code: :mod:`lm_course.exercises._check`.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

__all__ = ["Wrong", "diagnose", "from_switches"]


@dataclass(frozen=True)
class Wrong:
    name: str  # e.g. "eps outside the square root"
    version: Callable  # a student's function with this mistake: the student's signature, its kind of result
    diagnosis: str  # what the checker prints when the student's output is this version's


def diagnose(got: object, args: Sequence[object], table: Sequence[Wrong],
             same: Callable[[object, object], bool]) -> str | None:
    """The diagnosis of the first wrong version of ``table`` whose output on
    ``args`` is ``same`` as the student's ``got``; ``None`` if none is."""
    for wrong in table:
        try:
            out = wrong.version(*args)
            if same(got, out):
                return wrong.diagnosis
        except Exception:  # noqa: S112 - this mistake does not fit this case (a shape, a type): try the next
            continue
    return None


def from_switches(reference: Callable, rows: Sequence[tuple[dict, str]]) -> tuple[Wrong, ...]:
    """A table from a reference written with switches for its known mistakes:
    each row ``(switches, diagnosis)`` is the wrong version
    ``reference(..., **switches)``, named by its switches."""
    return tuple(Wrong(", ".join(f"{k}={v!r}" for k, v in switches.items()), partial(reference, **switches),
                       diagnosis) for switches, diagnosis in rows)
