"""The counts of an n-gram model, stored for fast lookup, and chapter 1's
first table of counts.

Explained in ``01_ngrams.ipynb``: "Counting bigrams" (:func:`bigram_count_matrix`,
the table of character pairs in names) and, for the store behind
:class:`lm_course.ngram.NGramLM`, "Maximum likelihood, and why zero counts break it".

How the counts are stored
    Every n-gram ``(x_1, .., x_n)`` is one integer, its digits in base V
    (``code = x_1 V^(n-1) + .. + x_n``); the counts of one order are a sorted
    array of codes and an array of counts, built with one ``numpy.unique`` over
    all the windows of the text (no Python loop over tokens). Looking counts up
    is a binary search (``numpy.searchsorted``), batched over many queries.
    ``V ** order`` must stay below 2**62 (order 8 with 63 characters is fine).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["CountTable", "window_codes", "MAX_CODE", "bigram_count_matrix"]

MAX_CODE = 2**62  # n-gram codes are int64


@dataclass
class CountTable:
    """The counts of the n-grams of one order n, keyed by integer codes."""

    codes: np.ndarray  # (M,) int64, sorted: the distinct n-grams
    counts: np.ndarray  # (M,) float64, count of each n-gram (>= 1)
    ctx_codes: np.ndarray  # (C,) int64, sorted: the distinct contexts (codes // V)
    ctx_totals: np.ndarray  # (C,) float64, sum of counts over the next token
    ctx_types: np.ndarray  # (C,) float64, number of distinct next tokens seen

    @classmethod
    def from_codes(cls, codes: np.ndarray, counts: np.ndarray, vocab_size: int) -> "CountTable":
        """Build from sorted, distinct n-gram ``codes`` and their ``counts``."""
        ctx_codes, totals, types = _group_sorted(codes // vocab_size, counts)  # codes // V stays sorted
        return cls(codes, counts.astype(np.float64), ctx_codes, totals.astype(np.float64),
                   types.astype(np.float64))

    @staticmethod
    def _lookup(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of each query in ``keys`` and whether it is there at all."""
        if len(keys) == 0:
            return np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries), dtype=bool)
        if len(queries) > 4096:  # sorted queries make the binary searches cache-friendly (~5x)
            order = np.argsort(queries)  # (Q,)
            idx = np.empty(len(queries), dtype=np.int64)  # (Q,)
            idx[order] = np.searchsorted(keys, queries[order])
        else:
            idx = np.searchsorted(keys, queries)  # (Q,)
        idx = idx.clip(max=len(keys) - 1)  # (Q,)
        return idx, keys[idx] == queries  # (Q,), (Q,)

    def count(self, codes: np.ndarray) -> np.ndarray:
        """``(Q,)`` counts of the n-grams ``codes`` (0 when never seen)."""
        idx, found = self._lookup(self.codes, codes)
        return np.where(found, self.counts[idx] if len(self.counts) else 0.0, 0.0)

    def context_stats(self, ctx_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Q,)`` totals and ``(Q,)`` numbers of distinct followers of the
        contexts ``ctx_codes`` (both 0 for a context never seen)."""
        idx, found = self._lookup(self.ctx_codes, ctx_codes)
        if len(self.ctx_codes) == 0:
            return np.zeros(len(ctx_codes)), np.zeros(len(ctx_codes))
        return np.where(found, self.ctx_totals[idx], 0.0), np.where(found, self.ctx_types[idx], 0.0)


def _group_sorted(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group a *sorted* ``keys`` array: the distinct keys, the sum of ``values``
    in each group and the group sizes (no sort needed, unlike ``np.unique``)."""
    if len(keys) == 0:
        return keys.copy(), values.copy(), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # (G,) first index of each group
    sizes = np.diff(np.r_[starts, len(keys)])  # (G,)
    return keys[starts], np.add.reduceat(values, starts), sizes


def window_codes(ids: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """``(len(ids) - n + 1,)`` codes of every length-n window of ``ids``
    (``n = 0`` gives ``len(ids) + 1`` zeros: the empty window at each gap)."""
    count = len(ids) - n + 1
    codes = np.zeros(count, dtype=np.int64)  # (L-n+1,)
    for j in range(n):
        codes = codes * vocab_size + ids[j: j + count]  # (L-n+1,) append token j of each window
    return codes


def bigram_count_matrix(words: Sequence[str], marker: str = ".") -> tuple[torch.Tensor, list[str]]:
    """Count the character bigrams of ``words``, each wrapped in ``marker``
    (start and end of word), as in ``01_ngrams.ipynb``, "Counting bigrams".

    Returns ``(counts, labels)``: ``counts[i, j]`` is how often ``labels[j]``
    follows ``labels[i]``, a ``(V, V)`` long tensor; ``labels`` is the marker
    followed by the sorted characters (27 for lower-case names).
    """
    if isinstance(words, str):
        raise TypeError("words must be a list of strings, not one string")
    if not words:
        raise ValueError("need at least one word to count bigrams")
    if len(marker) != 1:
        raise ValueError(f"marker must be a single character, got {marker!r}")
    chars = sorted(set("".join(words)))
    if marker in chars:
        raise ValueError(f"the marker {marker!r} occurs inside the words; choose another one")
    labels = [marker, *chars]
    index = {c: i for i, c in enumerate(labels)}
    pairs = Counter()
    for word in words:
        seq = [0, *(index[c] for c in word), 0]
        pairs.update(zip(seq, seq[1:]))
    counts = torch.zeros(len(labels), len(labels), dtype=torch.long)  # (V, V)
    for (a, b), n in pairs.items():
        counts[a, b] = n
    return counts, labels
