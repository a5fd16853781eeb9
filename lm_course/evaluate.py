"""Evaluation: bits per token (and perplexity) of any :class:`LanguageModel`.

Explained in ``00_welcome.ipynb`` ("Measuring a language model") and used by
every chapter for the scoreboard.

For a sequence x_0 .. x_{N-1} we score every token after the first::

    bits_per_token = -1/(N-1) * sum_{t=1}^{N-1} log2 p(x_t | x_<t)

The first token is the conditioning start (no model is asked to predict it),
so every model of the course is scored on exactly the same N-1 tokens. For a
character model the number is bits per character; perplexity is
``2 ** bits_per_token``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lm_course.interface import LanguageModel
from lm_course.validation import as_id_tensor

__all__ = ["bits_per_token", "perplexity", "token_log_probs"]

_LN2 = math.log(2.0)


def token_log_probs(model: LanguageModel, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """``(N-1,)`` tensor of ``ln p(ids[t] | ids[:t])`` for ``t = 1..N-1``.

    Uses the model's own batched ``token_log_probs`` when it has one; otherwise
    asks ``next_token_probs`` once per position (passing the context as a 1-D
    tensor view, cropped to ``model.context_length`` tokens when the model
    declares one). That slow path makes N-1 calls: fine for a demonstration,
    but models meant for the scoreboard implement ``token_log_probs``.
    """
    ids = as_id_tensor(ids, model.vocab_size)
    if len(ids) < 2:
        raise ValueError(
            f"need at least 2 tokens to evaluate (the first one is only context), got {len(ids)}"
        )
    fast = getattr(model, "token_log_probs", None)
    if callable(fast):
        out = torch.as_tensor(fast(ids.tolist()), dtype=torch.float64)
        if out.shape != (len(ids) - 1,):
            raise ValueError(
                f"{type(model).__name__}.token_log_probs returned shape {tuple(out.shape)}, "
                f"expected ({len(ids) - 1},)"
            )
        return out
    window = getattr(model, "context_length", None)
    targets = ids.tolist()
    logps = torch.empty(len(ids) - 1, dtype=torch.float64)
    for t in range(1, len(ids)):
        start = 0 if window is None else max(0, t - window)
        # the model would crop the same way (the protocol's rule): cropping here only saves
        # checking the whole prefix at every position of a long text
        p = model.next_token_probs(ids[start:t])  # a view of the prefix: no copy
        q = float(p[targets[t]])
        logps[t - 1] = math.log(q) if q > 0 else -math.inf
    return logps


def bits_per_token(model: LanguageModel, ids: Sequence[int] | torch.Tensor) -> float:
    """Mean ``-log2 p(x_t | x_<t)`` over ``ids[1:]`` (bits per character for
    character models). A model that gives probability 0 to a token that occurs
    scores ``inf``: that is what zero counts do to an MLE n-gram."""
    logps = token_log_probs(model, ids)
    return float(-logps.mean() / _LN2)


def perplexity(model: LanguageModel, ids: Sequence[int] | torch.Tensor) -> float:
    """``2 ** bits_per_token``: the effective number of equally likely choices."""
    return float(2.0 ** bits_per_token(model, ids))
