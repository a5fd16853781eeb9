"""The one interface every model of the course implements.

Explained in ``00_welcome.ipynb``, section "One question, many models":
given a context of token ids, what is the distribution of the next token?

n-gram, MLP, RNN/LSTM/GRU, GPT and GPT-2 all answer it through
``next_token_probs``; :func:`lm_course.evaluate.bits_per_token` turns the
answers into bits per token, and :mod:`lm_course.widgets` shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

__all__ = ["LanguageModel", "check_token_ids", "check_distribution"]


@runtime_checkable
class LanguageModel(Protocol):
    """A model of p(next token | context).

    Required:
        vocab_size: the number of token ids, ``0 .. vocab_size - 1``.
        next_token_probs(context): a ``(vocab_size,)`` float tensor that is
            non-negative and sums to 1. ``context`` may be empty (the model
            then predicts the first token) unless the model documents it needs
            at least one token.

    Optional (used when present, see :mod:`lm_course.evaluate`):
        context_length: the longest context the model looks at (``None`` for
            unbounded); evaluation crops contexts to it.
        token_log_probs(ids): a fast, batched path returning the ``(len(ids)-1,)``
            natural-log probabilities ``ln p(ids[t] | ids[:t])`` for
            ``t = 1 .. len(ids)-1``.
    """

    vocab_size: int

    def next_token_probs(self, context: Sequence[int]) -> torch.Tensor: ...


def check_token_ids(ids: Sequence[int] | torch.Tensor, vocab_size: int, what: str = "ids") -> list[int]:
    """Return ``ids`` as a list of ints, or raise a clear error.

    Raises:
        TypeError: ``ids`` is a string or holds non-integers.
        ValueError: an id is outside ``0 .. vocab_size - 1``.
    """
    if isinstance(ids, str):
        raise TypeError(
            f"{what} must be a sequence of token ids, not a string; "
            "encode the text first (e.g. tokenizer.encode(text))."
        )
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"{what} must be 1-D, got a tensor of shape {tuple(ids.shape)}")
        if ids.is_floating_point():
            raise TypeError(f"{what} must hold integer token ids, got dtype {ids.dtype}")
        ids = ids.tolist()
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            try:
                i = int(i) if float(i).is_integer() else None  # numpy ints
            except (TypeError, ValueError):
                i = None
            if i is None:
                raise TypeError(f"{what} must hold integer token ids")
        out.append(i)
    bad = [i for i in out if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(
            f"{what} holds token id(s) {sorted(set(bad))[:5]} outside the vocabulary "
            f"0..{vocab_size - 1}"
        )
    return out


def check_distribution(probs: torch.Tensor, vocab_size: int, atol: float = 1e-4) -> torch.Tensor:
    """Assert that ``probs`` is a ``(vocab_size,)`` probability vector."""
    if probs.shape != (vocab_size,):
        raise ValueError(f"expected a ({vocab_size},) distribution, got shape {tuple(probs.shape)}")
    if (probs < 0).any() or not torch.isfinite(probs).all():
        raise ValueError("a distribution must be finite and non-negative")
    total = float(probs.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"a distribution must sum to 1, this one sums to {total:.6f}")
    return probs
