"""Every checker's table of wrong versions (issue 33 step 4, issue 31 step 5): each known
wrong version, run through its checker as a student's function, is rejected with its own
diagnosis, never another one (two versions may share one: both biases of an LSTM are one slip)."""

from __future__ import annotations

import importlib

import pytest

from exercise_util import flags
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from lm_course.exercises import EXERCISES
from lm_course.exercises.wrong_versions import Wrong, diagnose

pytestmark = pytest.mark.usefixtures("one_thread")


def _checker(e):
    return getattr(importlib.import_module(f"lm_course.exercises.{e.chapter_module}"), e.checker)


TABLES = [(e, w) for e in EXERCISES for w in _checker(e).wrong_versions]


def test_the_tables_hold_wrong_versions_with_distinct_names_and_diagnoses():
    assert TABLES  # at least the converted checkers carry one
    for e in EXERCISES:
        table = _checker(e).wrong_versions
        assert all(isinstance(w, Wrong) for w in table), e.key
        assert len({w.name for w in table}) == len(table), e.key


@pytest.mark.parametrize("e, wrong", TABLES, ids=[f"{e.key}:{w.name}" for e, w in TABLES])
def test_each_wrong_version_is_rejected_with_its_own_diagnosis(capsys, e, wrong):
    out = flags(capsys, _checker(e), wrong.version)
    assert wrong.diagnosis in out, out
    others = [w.diagnosis for w in _checker(e).wrong_versions if w.diagnosis != wrong.diagnosis]
    assert not any(d in out for d in others), out


def test_diagnose_skips_a_version_that_does_not_fit_the_case():
    def breaks(x):
        raise RuntimeError("shape")

    table = (Wrong("breaks", breaks, "never"), Wrong("doubles", lambda x: 2 * x, "you doubled it"))
    assert diagnose(6, (3,), table, lambda a, b: a == b) == "you doubled it"
    assert diagnose(7, (3,), table, lambda a, b: a == b) is None


def test_a_number_exercise_lists_the_wrong_numbers_themselves():
    from lm_course.exercises.wrong_versions import WrongValue, diagnose_value

    calls = []
    table = (Wrong("doubled", 12, "you doubled it"),
             WrongValue("negated", lambda: calls.append(1) or -6, "mind the sign"))
    assert not calls  # a WrongValue is computed on use, not when the table is built
    assert diagnose_value(-6, table, lambda a, b: a == b) == "mind the sign"
    assert diagnose_value(12, table, lambda a, b: a == b) == "you doubled it"
    assert diagnose_value(7, table, lambda a, b: a == b) is None
    assert diagnose(12, (3,), table, lambda a, b: a == b) is None  # diagnose skips the numbers
