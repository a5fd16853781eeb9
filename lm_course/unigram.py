"""The simplest language model: a unigram (order-0) model that ignores the
context. The first entry of the scoreboard.

Explained in ``00_welcome.ipynb`` ("A first model: character frequencies");
chapter 1 generalises it to n-grams (``lm_course.ngram``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lm_course.interface import Generates
from lm_course.validation import as_id_tensor, check_token_ids, require_number, require_positive

__all__ = ["UnigramLM"]


class UnigramLM(Generates):
    """p(x_t | x_<t) = p(x_t) = (count(x_t) + k) / (N + k V).

    ``k = 0`` is the maximum-likelihood estimate; a small ``k`` (add-k
    smoothing) keeps characters unseen in training from getting probability 0.

    The vocabulary goes to :meth:`fit`, as for :class:`lm_course.ngram.NGramLM`
    (``UnigramLM(k=1.0).fit(ids, vocab_size)``, like ``NGramLM(3).fit(ids,
    vocab_size)``); ``UnigramLM(vocab_size).fit(ids)``, chapter 0's first
    spelling, means the same.
    """

    context_length = 0  # no context at all: every context is cropped to nothing

    def __init__(self, vocab_size: int | None = None, k: float = 0.0):
        self.vocab_size = None if vocab_size is None else require_positive(vocab_size, "vocab_size")
        self.k = require_number(k, "k", minimum=0)  # NaN or inf would make every probability NaN
        self.counts: torch.Tensor | None = None

    def fit(self, ids: Sequence[int] | torch.Tensor, vocab_size: int | None = None) -> "UnigramLM":
        """Count every token of ``ids`` (ids ``0 .. vocab_size - 1``); returns ``self``."""
        if vocab_size is not None:
            vocab_size = require_positive(vocab_size, "vocab_size")
            if self.vocab_size not in (None, vocab_size):
                raise ValueError(f"fit(..., vocab_size={vocab_size}) disagrees with UnigramLM({self.vocab_size})")
            self.vocab_size = vocab_size
        if self.vocab_size is None:
            raise ValueError("give the vocabulary size: UnigramLM().fit(ids, vocab_size)")
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
        """The ``(vocab_size,)`` float32 distribution, whatever the context (its ids are checked)."""
        probs = self.probs  # refuses an unfitted model first
        check_token_ids(context, self.vocab_size, "context")
        return probs.clone()

    def token_log_probs(self, ids: Sequence[int]) -> torch.Tensor:
        """``ln p(ids[t])`` for ``t >= 1`` (the fast path of ``bits_per_token``)."""
        idx = as_id_tensor(ids, self.vocab_size)[1:]  # (N-1,)
        return self.probs.double().log()[idx]  # (N-1,)
