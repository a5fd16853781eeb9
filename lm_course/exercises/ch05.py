"""Checkers for the exercises of ``05_transformer.ipynb`` (section "Exercises").

Each checker runs the student's function on fixed and random inputs, compares
it with the package (``torch.nn.functional`` or :class:`lm_course.gpt.Block`),
prints ✅ or a hint that names the likely mistake, and never raises (see
:mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch05_layers` and :mod:`.ch05_model`; this module
gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch05_layers import (check_layer_norm, check_gelu, check_gpt_block, block_weights,
    block_reference)
from lm_course.exercises.ch05_model import (check_first_position_score, check_parameter_count, check_gpt_forward,
    parameter_count_reference, gpt_forward_reference)

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_layer_norm", "check_gelu", "check_gpt_block", "check_parameter_count", "check_gpt_forward",
    "check_first_position_score", "block_weights", "block_reference", "parameter_count_reference",
    "gpt_forward_reference"]
