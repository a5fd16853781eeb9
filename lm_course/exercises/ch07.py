"""Checkers for the exercises of ``07_finetuning.ipynb`` (section "Exercises").

* Exercise 1, :func:`check_prefix_lm_mask`: the student writes a prefix-LM
  attention mask (section "Two ways to pre-train"); compared with an exact
  reference.
* Exercise 2, :func:`check_last_token_pool`: the student writes last-token
  pooling of a right-padded batch (section "A head on a pre-trained body");
  compared with :class:`lm_course.classifier.GPTClassifier` with
  ``pooling="last"``.
* Exercise 3, :func:`check_head_logits`: the student writes the head with
  its normalisation, as it runs in eval mode (section "A head on a
  pre-trained body"); compared with
  :meth:`lm_course.classifier.GPTClassifier.classify_features` with
  ``normalize=True``.
* Exercise 4, :func:`check_trainable_parameters`: the student freezes or
  unfreezes the body for a linear probe or full fine-tuning and returns the
  parameters to optimise (section "A head on a pre-trained body"); compared
  with what :func:`lm_course.classifier.make_classifier` sets, and checked by
  one optimiser step.
* Exercise 5, :func:`check_paired_difference`: the student writes the
  difference of two classifiers' accuracies on the same passages with its
  paired standard error (section "The held-out test"); compared with
  :func:`lm_course.genre_eval.paired_difference`.

Every checker prints ✅ or ❌ with a hint naming the likely mistake and never
raises: a student's bug never stops the notebook (see
:mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch07_masks` and :mod:`.ch07_classifier`; this
module gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch07_masks import check_paired_difference, check_prefix_lm_mask
from lm_course.exercises.ch07_classifier import check_last_token_pool, check_head_logits, check_trainable_parameters

# The notebook's checkers, in its order (lm_course.grading reads them from here).
__all__ = ["check_prefix_lm_mask", "check_last_token_pool", "check_head_logits", "check_trainable_parameters",
    "check_paired_difference"]
