"""Linear interpolation (a mixture) of language models.

Explained in ``02_tokens_and_embeddings.ipynb``, section "The scoreboard":
Bengio et al. (2003) obtained their best results by mixing the neural
network's probabilities with an n-gram model's, because the two make
different mistakes::

    p(x | h) = sum_k w_k p_k(x | h),   w_k >= 0,  sum_k w_k = 1

A mixture of distributions is a distribution, so the mixture is itself a
:class:`~lm_course.interface.LanguageModel` and is scored like any other.
The weights are chosen on validation data (as chapter 1 chooses the order and
discount of its n-grams).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lm_course.evaluate import token_log_probs
from lm_course.interface import Generates

__all__ = ["InterpolatedLM"]


class InterpolatedLM(Generates):
    """``sum_k weights[k] * models[k]``, for models over the same vocabulary.

    Each model sees the context as given and crops it to its own
    ``context_length``; the mixture's ``context_length`` is the longest of them
    (``None`` if one of them is unbounded).
    """

    def __init__(self, models: Sequence, weights: Sequence[float]):
        models, weights = list(models), [float(w) for w in weights]
        if not models:
            raise ValueError("a mixture needs at least one model")
        if len(models) != len(weights):
            raise ValueError(f"got {len(models)} models but {len(weights)} weights")
        if any(not math.isfinite(w) or w < 0 for w in weights) or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights}")
        sizes = {m.vocab_size for m in models}
        if len(sizes) != 1:
            raise ValueError(f"the models have different vocabulary sizes {sorted(sizes)}")
        self.models, self.weights = models, weights
        self.vocab_size: int = sizes.pop()
        lengths = [getattr(m, "context_length", None) for m in models]
        self.context_length: int | None = None if None in lengths else max(lengths)

    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)``: the weighted sum of the models' distributions."""
        probs = [w * m.next_token_probs(context).double() for m, w in zip(self.models, self.weights)]
        return torch.stack(probs).sum(0).float()  # (V,)

    def token_log_probs(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(len(ids)-1,)`` float64 ``ln p(ids[t] | ids[:t])``, mixed in log
        space (``logsumexp_k(ln w_k + ln p_k)``) from each model's scores."""
        logs = [token_log_probs(m, ids) + (math.log(w) if w > 0 else -math.inf)
                for m, w in zip(self.models, self.weights)]  # each (N-1,)
        return torch.logsumexp(torch.stack(logs), dim=0)  # (N-1,)

    def __repr__(self) -> str:
        parts = " + ".join(f"{w:g} x {type(m).__name__}" for m, w in zip(self.models, self.weights))
        return f"InterpolatedLM({parts})"
