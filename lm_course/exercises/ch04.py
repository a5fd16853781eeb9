"""Checkers for the exercises of ``04_attention.ipynb`` (section "Exercises").

Each checker prints ✅ or ❌ with a hint and never raises on a wrong answer
(nor on an answer that raises itself, loops forever, or is still the stub):
see :mod:`lm_course.exercises._check`.

The checkers live in :mod:`.ch04_attention` and :mod:`.ch04_pieces`; this
module gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch04_attention import check_multi_head_attention, check_window_mask, check_copy_model
from lm_course.exercises.ch04_pieces import (check_masked_attention, check_causal_mask, check_split_merge_heads,
    check_positional_encoding, attention_reference, positional_encoding_reference)

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_window_mask", "check_masked_attention", "check_causal_mask", "check_split_merge_heads",
    "check_multi_head_attention", "check_positional_encoding", "check_copy_model", "attention_reference",
    "positional_encoding_reference"]
