"""Checkers for the exercises of ``01_ngrams.ipynb``.

Every exercise takes a function the student writes (its stub raises
``NotImplementedError``), run on fixed and random inputs against
:mod:`lm_course.ngram` or an exact reference: exercises 1 and 3 turn a
bigram count matrix into a table of probabilities (MLE, add-k), exercise 2
samples a name from it with a seeded generator. In
exercises 4 and 5 the function gets only the counts (``count``,
``continuation_count``, ``vocab_size``), not the model's probabilities. Each checker
prints ✅ or ❌ with a hint and never raises (see :mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch01_tables` and :mod:`.ch01_smoothing`; this
module gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch01_tables import (check_mle_table, check_add_k_table, check_sample_name,
    mle_table_reference, add_k_table_reference, sample_name_reference)
from lm_course.exercises.ch01_smoothing import (check_jelinek_mercer, check_kneser_ney_trigram,
    jelinek_mercer_reference, kneser_ney_trigram_reference)

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_mle_table", "check_sample_name", "check_add_k_table", "mle_table_reference", "add_k_table_reference",
    "sample_name_reference", "check_jelinek_mercer", "check_kneser_ney_trigram", "jelinek_mercer_reference",
    "kneser_ney_trigram_reference"]
