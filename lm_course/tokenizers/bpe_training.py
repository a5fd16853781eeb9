"""Training a byte-level BPE: the merges learned from counted chunks, with an
incremental pair count (chapter 2, ``02_tokens_and_embeddings.ipynb``,
"Byte-pair encoding"; the tokenizer that uses them is
:class:`lm_course.tokenizers.bpe.BPETokenizer`).

The textbook loop recounts every pair after every merge. Here the pair counts
are kept, with an index from each pair to the chunks that hold it and a heap
of counts: a merge rewrites only the chunks that hold its pair and changes
only the counts of the pairs around it (:func:`_merge_everywhere`,
:func:`_apply_delta`). A full recount per merge would be hundreds of times
slower; notebook 02 checks that both give the same merges.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence

__all__ = ["N_BYTES", "merge_pair", "train_merges"]

N_BYTES = 256  # the byte tokens: ids 0..255, before the first merge

Pair = tuple[int, int]


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids``
    (left to right) by ``new_id``: the single step of BPE.

    >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 9)
    [9, 3, 9]
    """
    out: list[int] = []
    i, n = 0, len(ids)
    a, b = pair
    while i < n:
        if i < n - 1 and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _count_pairs(words: list[list[int]], freqs: list[int]) -> tuple[dict[Pair, int], dict[Pair, set[int]]]:
    """Every adjacent pair's count (weighted by its chunk's frequency) and the chunks holding it."""
    pair_counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> chunks holding it
    for i, (word, f) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += f
            where[pair].add(i)
    return pair_counts, where


def _merge_everywhere(words: list[list[int]], freqs: list[int], where: dict[Pair, set[int]], pair: Pair,
                      new_id: int) -> dict[Pair, int]:
    """Merge ``pair`` into ``new_id`` in every chunk that holds it (in place);
    returns how the count of each neighbouring pair changed."""
    delta: dict[Pair, int] = defaultdict(int)
    for i in where.pop(pair):
        word = words[i]
        merged = merge_pair(word, pair, new_id)
        if len(merged) == len(word):  # stale index entry: pair no longer there
            continue
        f = freqs[i]
        for p in zip(word, word[1:]):
            delta[p] -= f
        for p in zip(merged, merged[1:]):
            delta[p] += f
            where[p].add(i)
        words[i] = merged
    return delta


def _apply_delta(pair_counts: dict[Pair, int], heap: list[tuple[int, Pair]], delta: dict[Pair, int]) -> None:
    """Update the counts by ``delta``, pushing each changed count on the heap
    (the old entry goes stale and is skipped when popped)."""
    for p, d in delta.items():
        if d == 0:
            continue
        c = pair_counts[p] + d
        if c > 0:
            pair_counts[p] = c
            heapq.heappush(heap, (-c, p))
        else:
            del pair_counts[p]


def train_merges(chunk_counts: Counter, n_merges: int, min_frequency: int = 2,
                 progress: bool = False) -> tuple[list[Pair], list[int]]:
    """Up to ``n_merges`` merges learned from the pre-split chunks (``chunk ->
    how often it occurs``) and each merge's count. Ties between equally
    frequent pairs go to the smaller pair of ids, so training is
    deterministic; it stops early when no pair occurs ``min_frequency`` times."""
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # distinct chunks
    freqs = list(chunk_counts.values())  # how often each occurs
    pair_counts, where = _count_pairs(words, freqs)
    heap = [(-c, pair) for pair, c in pair_counts.items()]  # max-heap by count
    heapq.heapify(heap)
    merges: list[Pair] = []
    counts: list[int] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # deferred on purpose: only a long, watched training needs it

        bar = tqdm(total=n_merges, desc="BPE merges")
    while len(merges) < n_merges:
        while heap and pair_counts.get(heap[0][1], 0) != -heap[0][0]:  # skip stale entries
            heapq.heappop(heap)
        if not heap or -heap[0][0] < min_frequency:
            break
        neg_count, pair = heapq.heappop(heap)
        merges.append(pair)
        counts.append(-neg_count)
        _apply_delta(pair_counts, heap, _merge_everywhere(words, freqs, where, pair, N_BYTES + len(merges) - 1))
        pair_counts.pop(pair, None)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return merges, counts
