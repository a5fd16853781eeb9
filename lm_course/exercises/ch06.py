"""Checkers for the exercises of ``06_gpt2_sampling.ipynb`` (section "Exercises").

* Exercise 1, :func:`check_generate`: the student writes the sampling loop with
  a temperature and the context cropped to ``block_size``; compared token for
  token with :func:`lm_course.sampling.generate` under the same seed.
* Exercise 2, :func:`check_top_k`: the student writes top-k filtering
  (section "Top-k"); compared with :func:`lm_course.sampling.filter_logits`.
* Exercise 3, :func:`check_nucleus`: the student writes the top-p mask
  (section "Top-p (nucleus) sampling"); compared with ``filter_logits``.
* Exercise 4, :func:`check_beam_step`: the student writes one step of beam
  search; compared with the step of :func:`lm_course.sampling.beam_search`.
* Exercise 5, :func:`check_cached_attention`: the student writes one decoding
  step of attention with a KV cache (section "The KV cache"); run token by
  token and compared with causal attention over the whole sequence
  (:func:`lm_course.attention.scaled_dot_product_attention`).
* Exercise 6, :func:`check_generate_cached`: greedy
  generation with the KV cache; compared with ``generate(..., use_cache=True)``,
  watching what the model is fed at each step.

Every checker prints ✅ or ❌ with a hint naming the likely mistake and never
raises: a student's bug never stops the notebook (see
:mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch06_filters`, :mod:`.ch06_decoding` and
:mod:`.ch06_cache`; this module gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch06_filters import check_top_k, check_nucleus
from lm_course.exercises.ch06_decoding import check_generate, check_beam_step, generate_reference, beam_step_reference
from lm_course.exercises.ch06_cache import check_cached_attention, check_generate_cached, generate_cached_reference

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_generate", "check_top_k", "check_nucleus", "check_beam_step", "check_cached_attention",
    "check_generate_cached", "generate_reference", "beam_step_reference", "generate_cached_reference"]
