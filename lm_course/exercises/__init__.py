"""Automatic checkers for the exercises of each notebook.

One module per chapter (``ch00`` ... ``ch07``, each gathering its checkers
from modules named for what they check, e.g. ``ch02_bpe``); each
``check_...(answer)`` runs the student's answer under a time limit, on
copies of its inputs (:mod:`._check`, :mod:`._sandbox`), prints ✅
with what it checked, or ❌ with a hint naming the likely mistake, and never
raises into the notebook. On a stub it says only that the exercise is not
done yet and how to ask for a hint: ``check_x.hint(1)`` (the idea),
``.hint(2)`` (the approach), ``.hint(3)`` (almost the code).
:mod:`.catalog` lists every exercise with its rating and hints;
:mod:`.wrong_versions` holds the known wrong versions a checker walks to
name a mistake (``check_x.wrong_versions``);
:func:`progress` prints which ones the student has passed.
"""

from lm_course.exercises.catalog import EXERCISES, hint
from lm_course.exercises.tracking import progress

__all__ = ["EXERCISES", "hint", "progress"]
