"""The simplest language model: a unigram (order-0) model that ignores the
context. The first entry of the scoreboard.

Explained in ``00_welcome.ipynb`` ("A first model: character frequencies");
chapter 1 generalises it to n-grams (``lm_course.ngram``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lm_course.interface import Generates, as_id_tensor, check_token_ids

__all__ = ["UnigramLM"]


class UnigramLM(Generates):
    """p(x_t | x_<t) = p(x_t) = (count(x_t) + k) / (N + k V).

    ``k = 0`` is the maximum-likelihood estimate; a small ``k`` (add-k
    smoothing) keeps characters unseen in training from getting probability 0.
    """

    context_length = 0

    def __init__(self, vocab_size: int, k: float = 0.0):
        if vocab_size < 1:
            raise ValueError("vocab_size must be >= 1")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.vocab_size, self.k = vocab_size, float(k)
        self.counts: torch.Tensor | None = None

    def fit(self, ids: Sequence[int] | torch.Tensor) -> "UnigramLM":
        ids = as_id_tensor(ids, self.vocab_size)
        if len(ids) == 0:
            raise ValueError("cannot fit on an empty sequence")
        self.counts = torch.bincount(ids, minlength=self.vocab_size).double()  # (V,)
        return self

    @property
    def probs(self) -> torch.Tensor:
        """The ``(vocab_size,)`` distribution; the same for every context."""
        if self.counts is None:
            raise RuntimeError("call fit(ids) before asking for probabilities")
        smoothed = self.counts + self.k  # (V,)
        return (smoothed / smoothed.sum()).float()

    def next_token_probs(self, context: Sequence[int]) -> torch.Tensor:
        check_token_ids(context, self.vocab_size, "context")
        return self.probs.clone()

    def token_log_probs(self, ids: Sequence[int]) -> torch.Tensor:
        """``ln p(ids[t])`` for ``t >= 1`` (the fast path of ``bits_per_token``)."""
        idx = as_id_tensor(ids, self.vocab_size)[1:]  # (N-1,)
        return self.probs.double().log()[idx]  # (N-1,)
