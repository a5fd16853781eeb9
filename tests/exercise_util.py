"""Helpers shared by the exercise-checker tests (tests/test_exercises_chNN.py)."""

from __future__ import annotations


def stub(*args):
    """A student's function before the exercise is done."""
    raise NotImplementedError


def accepts_right_flags_wrong(capsys, check, right, wrong, hint):
    """``check`` passes ``right``, fails ``wrong`` and prints ``hint`` for it."""
    assert check(right)
    capsys.readouterr()
    assert not check(wrong)
    assert hint in capsys.readouterr().out
