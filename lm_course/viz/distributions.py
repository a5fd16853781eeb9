"""Next-token distributions as bar charts.

Introduced in ``01_ngrams.ipynb`` ("What comes next? The explorer"), drawn by
the next-token explorer (:mod:`lm_course.widgets.explorer`) and reused for
GPT-2's BPE tokens in ``06_gpt2_sampling.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from lm_course.tokenizers.visible import visible
from lm_course.validation import require_positive
from lm_course.viz._axes import literal

__all__ = ["plot_next_token_probs", "top_tokens", "entropy_bits"]

def _as_probs(probs) -> np.ndarray:
    arr = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, dtype=np.float64)
    if arr.ndim != 1 or len(arr) == 0:
        raise ValueError(f"probs must be a non-empty 1-D distribution, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError("probs must be finite and non-negative (pass probabilities, not logits)")
    return arr


def top_tokens(probs, labels: Sequence[str] | None = None, tokenizer=None,
               top_k: int = 10) -> list[tuple[int, str, float]]:
    """The ``top_k`` most likely tokens as ``(id, visible label, probability)``,
    most likely first (ties: lower id first).

    Labels come from ``labels[id]``, else ``tokenizer.decode([id])``, else the
    id itself; whitespace is made visible by :func:`lm_course.tokenizers.visible.visible`.
    """
    arr = _as_probs(probs)
    top_k = require_positive(top_k, "top_k")
    if labels is not None and len(labels) != len(arr):
        raise ValueError(f"got {len(labels)} labels for a distribution over {len(arr)} tokens")
    ids = np.argsort(-arr, kind="stable")[:top_k]
    out = []
    for i in ids.tolist():
        if labels is not None:
            label = str(labels[i])
        elif tokenizer is not None:
            label = tokenizer.decode([i])
        else:
            label = f"#{i}"
        out.append((i, visible(label), float(arr[i])))
    return out


def plot_next_token_probs(probs, labels: Sequence[str] | None = None, tokenizer=None,
                          top_k: int = 10, ax=None, title: str | None = None,
                          color: str = "tab:blue"):
    """Horizontal bar chart of the ``top_k`` most likely next tokens.

    Args:
        probs: a ``(vocab_size,)`` distribution (tensor, array or list), e.g.
            ``model.next_token_probs(context)``.
        labels: one string per token id (e.g. ``tokenizer.chars``); or
        tokenizer: anything with ``decode(ids) -> str`` (characters or BPE).
            Whitespace is drawn visibly (``␣`` space, ``↵`` newline).
        top_k: how many tokens to show, most likely at the top.
        ax: the matplotlib axes to draw on (a new figure if ``None``).
        title: the title; by default it says how much probability the bars cover.

    Returns the axes.
    """
    import matplotlib.pyplot as plt

    rows = top_tokens(probs, labels, tokenizer, top_k)
    covered = sum(p for _, _, p in rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.32 * len(rows) + 1.3))
    ys = np.arange(len(rows))[::-1]
    values = [p for _, _, p in rows]
    ax.barh(ys, values, color=color, label="p(next token | context)")
    ax.set_yticks(ys, [literal(label) for _, label, _ in rows], fontfamily="DejaVu Sans Mono")  # tokens as typed
    for y, p in zip(ys, values):
        ax.text(p, y, f" {p:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, max(values) * 1.25) if max(values) > 0 else 1.0)
    ax.set_xlabel("probability")
    ax.set_ylabel("next token (␣ = space, ↵ = newline)")
    default = f"Top {len(rows)} next tokens ({covered:.0%} of the probability)"
    ax.set_title(literal(title) if title is not None else default)  # a widget's title holds typed text
    ax.legend(loc="lower right", fontsize=8)
    return ax


def entropy_bits(probs) -> float:
    """Entropy of a distribution in bits (0 log 0 = 0)."""
    arr = _as_probs(probs)
    nz = arr[arr > 0]
    return float(-(nz * np.log2(nz)).sum()) if len(nz) else math.nan
