"""Known wrong versions of an exercise, as data, and the walk that names the one a student wrote.

A checker lists its exercise's common mistakes as :class:`Wrong` rows: a short name, a
*student-like* function with the same signature as the student's (it returns what a student
who made that mistake would return) and the diagnosis printed when the student's output
matches it. :func:`diagnose` runs each wrong version on the case the student failed and
returns the first diagnosis whose output is the student's. The checker registers its table
with ``@exercise(key, wrong=TABLE)``, so that ``check_x.wrong_versions`` lists it and
``tests/test_exercise_wrong_versions.py`` checks that each is rejected with its own
diagnosis. (How the checker runs the student's code: :mod:`lm_course.exercises._check`.)

An exercise whose answer is a number (not a function) lists the wrong numbers themselves:
a row's ``version`` is the value a student with that mistake would enter, and
:func:`diagnose_value` compares the student's number with each. A value that is costly to
compute (it reads the corpus) is a :class:`WrongValue`, computed on first use of ``version``,
so that building the table at import stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

__all__ = ["Wrong", "WrongValue", "diagnose", "diagnose_value", "from_switches"]


@dataclass(frozen=True)
class Wrong:
    name: str  # e.g. "eps outside the square root"
    # a student's function with this mistake (the student's signature, its kind of result); for an
    # exercise whose answer is a number, the wrong number itself
    version: Callable | float
    diagnosis: str  # what the checker prints when the student's output is this version's


class WrongValue(Wrong):
    """A number exercise's row whose wrong number is computed by ``compute()``
    on each use of ``version`` (cache it there), not when the table is built."""

    def __init__(self, name: str, compute: Callable[[], float], diagnosis: str):
        object.__setattr__(self, "name", name)  # Wrong is frozen
        object.__setattr__(self, "compute", compute)
        object.__setattr__(self, "diagnosis", diagnosis)

    @property
    def version(self) -> float:  # type: ignore[override]
        return self.compute()


def diagnose(got: object, args: Sequence[object], table: Sequence[Wrong],
             same: Callable[[object, object], bool]) -> str | None:
    """The diagnosis of the first wrong version of ``table`` whose output on
    ``args`` is ``same`` as the student's ``got``; ``None`` if none is."""
    for wrong in table:
        if isinstance(wrong, WrongValue) or not callable(wrong.version):  # a number's row: diagnose_value
            continue
        try:
            out = wrong.version(*args)
            if same(got, out):
                return wrong.diagnosis
        except Exception:  # noqa: S112 - this mistake does not fit this case (a shape, a type): try the next
            continue
    return None


def diagnose_value(got: object, table: Sequence[Wrong], same: Callable[[object, object], bool]) -> str | None:
    """The diagnosis of the first wrong number of ``table`` that is ``same``
    as the student's answer ``got`` (a number exercise); ``None`` if none is."""
    for wrong in table:
        value = wrong.version
        if not callable(value) and same(got, value):
            return wrong.diagnosis
    return None


def from_switches(reference: Callable, rows: Sequence[tuple[dict, str]]) -> tuple[Wrong, ...]:
    """A table from a reference written with switches for its known mistakes:
    each row ``(switches, diagnosis)`` is the wrong version
    ``reference(..., **switches)``, named by its switches."""
    return tuple(Wrong(", ".join(f"{k}={v!r}" for k, v in switches.items()), partial(reference, **switches),
                       diagnosis) for switches, diagnosis in rows)
