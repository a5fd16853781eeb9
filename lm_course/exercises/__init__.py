"""Automatic checkers for the exercises at the end of each notebook.

One module per chapter (``ch00`` ... ``ch07``); each ``check_...(answer)``
runs the student's answer under a time limit (:mod:`._check`), prints ✅
with what it checked, or ❌ with a hint naming the likely mistake, and never
raises into the notebook. On a stub it says only that the exercise is not
done yet and how to ask for a hint: ``check_x.hint(1)`` (the idea),
``.hint(2)`` (the approach), ``.hint(3)`` (almost the code).
:mod:`.catalog` lists every exercise with its rating and hints;
:func:`progress` prints which ones the student has passed.
"""

from lm_course.exercises.catalog import EXERCISES, hint
from lm_course.exercises.tracking import progress

__all__ = ["EXERCISES", "hint", "progress"]
