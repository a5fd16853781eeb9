"""One exercise of the course as a row of data (:class:`Exercise`) and :func:`row`, which
builds one; the rows themselves are in :mod:`.catalog_ch0_3` and :mod:`.catalog_ch4_7`, gathered by
:mod:`.catalog` (the notebooks' exercises, chapters 0 to 7).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Exercise", "row"]


@dataclass(frozen=True)
class Exercise:
    key: str  # "ch03.lstm_step": chapter and the function the student writes
    number: int  # its number in the chapter's Exercises section
    title: str  # as in "Exercise 4 (an LSTM step by hand)"
    checker: str  # the checker's name in lm_course.exercises.chNN
    difficulty: int  # 1 (a line or two) .. 5 (the hardest of the course)
    importance: int  # 1 (a curiosity) .. 5 (an idea the rest of the course builds on)
    minutes: int  # a first-time student's estimated time
    checked: str  # what the checker tests, printed on a pass
    hints: tuple[str, str, str]  # the idea, the approach with the shapes, almost the code
    needs: tuple[str, ...] = ()  # keys of earlier exercises whose functions this one may call
    notebook: bool = True  # False: the checker exists, the notebook cell does not yet

    @property
    def chapter(self) -> int:
        return int(self.key[2:4])

    @property
    def function(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def chapter_module(self) -> str:
        return self.key.split(".", 1)[0]


def row(key, number, title, checker, difficulty, importance, minutes, checked, idea, approach, code, needs=(),
       notebook=True):
    return Exercise(key, number, title, checker, difficulty, importance, minutes, checked, (idea, approach, code),
                    tuple(needs), notebook)
