"""Checkers for the exercises of ``02_tokens_and_embeddings.ipynb``.

Every exercise takes a function the student writes: one BPE merge, the
pair counts, a small BPE trainer (checked against
:class:`lm_course.tokenizers.BPETokenizer`), the MLP's forward pass (against
:meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula`), one training
step (against :func:`lm_course.train.train`), the cross-entropy from
logits (against ``F.cross_entropy``) and an AdamW step (against
``torch.optim.AdamW``). Every checker prints ✅ or ❌ with a hint naming the likely mistake and never raises into
the notebook (see :mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch02_bpe`, :mod:`.ch02_training` and
:mod:`.ch02_by_hand`; this module gathers them (the notebooks import from
here).
"""

from __future__ import annotations

from lm_course.exercises.ch02_bpe import (check_merge, check_pair_counts, check_train_bpe, pair_counts_reference,
    train_bpe_reference)
from lm_course.exercises.ch02_training import check_mlp_logits, check_training_step, mlp_logits_reference
from lm_course.exercises.ch02_by_hand import (check_cross_entropy, check_adamw_step, cross_entropy_reference,
    adamw_step_reference)

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_merge", "check_pair_counts", "check_train_bpe", "check_mlp_logits", "check_training_step",
    "check_cross_entropy", "check_adamw_step", "pair_counts_reference", "train_bpe_reference", "mlp_logits_reference",
    "cross_entropy_reference", "adamw_step_reference"]
