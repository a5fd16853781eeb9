"""The two pre-training objectives of chapter 7, as training pairs of one sequence.

Explained in ``07_finetuning.ipynb``, "Two ways to pre-train": the causal
(GPT) objective predicts every token from the ones before it
(:func:`causal_lm_targets`); the masked (BERT) objective predicts a few
corrupted tokens from the whole sequence (:func:`masked_lm_targets`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["IGNORE_INDEX", "causal_lm_targets", "masked_lm_targets"]

IGNORE_INDEX = -100  # targets with this value add nothing to F.cross_entropy (its default ignore_index)


def causal_lm_targets(ids: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The autoregressive (GPT) training pair of one sequence: inputs
    ``ids[:-1]`` and targets ``ids[1:]``, both ``(N-1,)``: every position is a
    target, predicted from the positions before it."""
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) < 2:
        raise ValueError(f"need at least 2 tokens (one input, one target), got {len(t)}")
    return t[:-1], t[1:]


def masked_lm_targets(ids: Sequence[int] | torch.Tensor, mask_id: int, vocab_size: int, mask_prob: float = 0.15,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The masked-LM (BERT, Devlin et al. 2019) training pair of one sequence.

    Each position is chosen with probability ``mask_prob``; a chosen token is
    replaced by ``mask_id`` 80% of the time, by a random token 10%, and kept
    10%. Returns ``(inputs, targets)``, both ``(N,)``: targets hold the original
    token at chosen positions and :data:`IGNORE_INDEX` elsewhere, so only the
    chosen positions are predicted (from the whole corrupted sequence).
    """
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) == 0:
        raise ValueError("need at least one token")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob!r}")
    chosen = torch.rand(len(t), generator=generator) < mask_prob  # (N,)
    roll = torch.rand(len(t), generator=generator)  # (N,): 80% [MASK], 10% random, 10% kept
    random_ids = torch.randint(vocab_size, (len(t),), generator=generator)  # (N,)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(t, mask_id), t)  # (N,)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)  # (N,)
    targets = torch.where(chosen, t, torch.full_like(t, IGNORE_INDEX))  # (N,)
    return inputs, targets
