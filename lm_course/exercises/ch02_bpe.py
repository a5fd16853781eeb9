"""Checkers for chapter 2's BPE exercises (``02_tokens_and_embeddings.ipynb``): merging a pair
(exercise 1), counting pairs (exercise 2) and training BPE (exercise 3).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.wrong_versions import diagnose, from_switches
from lm_course.tokenizers import BPETokenizer
from lm_course.tokenizers.bpe import SPLIT_PATTERN, merge_pair

__all__ = ["check_merge", "check_pair_counts", "check_train_bpe", "pair_counts_reference", "train_bpe_reference"]


def _reference_merge(ids, pair, new_id):
    return merge_pair(ids, pair, new_id)


def _merge_variant(ids: list[int], pair: tuple[int, int], new_id: int, *, skip: int = 2, stop: int = 0,
                   as_list: bool = False, first_only: bool = False, backwards: bool = False) -> list[int]:
    """One merge, left to right, right (the defaults) or with one slip: ``skip=1``
    (after a match only one id is skipped), ``stop=1`` (the loop stops one id
    short and the last one is lost), ``as_list`` (the pair compared as a list,
    never equal to the tuple), ``first_only`` (only the first occurrence
    replaced), ``backwards`` (merged from the right, as a loop that edits a
    copy from its end does)."""
    if backwards:
        return _merge_variant(ids[::-1], pair[::-1], new_id)[::-1]
    out, i, done = [], 0, False
    while i < len(ids) - stop:
        here = ids[i:i + 2] if as_list else tuple(ids[i:i + 2])
        if here == pair and not (first_only and done):
            out.append(new_id)
            done, i = True, i + skip
        else:
            out.append(ids[i])
            i += 1
    return out


# merge's commonest slips and what to say (editing the caller's list is named by call itself)
_MERGE_SLIPS = [
    (dict(stop=1), "the last id is lost. When the loop stops one short of the end (to look at ids[i + 1]), "
                   "append the last id too."),
    (dict(skip=1), "after a match, skip BOTH ids of the pair (i += 2): the second id is part of the new one, "
                   "so merging (1, 2) into 9 turns [1, 2, 3] into [9, 3], not [9, 2, 3]."),
    (dict(as_list=True), "the pair was never replaced; compare (ids[i], ids[i + 1]) with pair, as tuples "
                         "(a list is never equal to a tuple)."),
    (dict(first_only=True), "only the first occurrence was replaced: keep walking after a match, every "
                            "occurrence of the pair becomes new_id."),
    (dict(backwards=True), "you merged from the right (a loop from the end, say): merge left to right, so "
                           "[5, 5, 5] becomes [7, 5], not [5, 7]."),
]
_MERGE_WRONG = from_switches(_merge_variant, _MERGE_SLIPS)


def _merge_cases() -> list[tuple[list[int], tuple[int, int], int]]:
    rng = random.Random(0)
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5], (5, 5), 7), ([5, 5, 5, 5], (5, 5), 7),
             ([], (1, 2), 9), ([1], (1, 2), 9), ([3, 1, 2], (1, 2), 9), ([2, 1], (1, 2), 9)]
    return cases + [([rng.randrange(3) for _ in range(20)], (rng.randrange(3), rng.randrange(3)), 3)
                    for _ in range(20)]


@exercise("ch02.merge", wrong=_MERGE_WRONG)
def check_merge(merge) -> bool:
    """Exercise 1: ``merge(ids, pair, new_id)`` returns a new list in which
    every occurrence of ``pair`` in ``ids``, left to right, is ``new_id``;
    ``ids`` itself is left unchanged."""
    name = "Exercise 1 (one BPE merge)"
    for ids, pair, new_id in _merge_cases():
        want = _reference_merge(ids, pair, new_id)
        got = call(merge, list(ids), pair, new_id,
                   on_error=lambda err, ids=ids, pair=pair, new_id=new_id: f"(on merge({ids}, {pair}, {new_id}))")
        if not isinstance(got, (list, tuple)):
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) returned "
                                           f"{type(got).__name__}; return a list of ids.")
        if list(got) == want:
            continue
        seen = f"merge({ids}, {pair}, {new_id}) gave {list(got)}, expected {want}"
        hint = diagnose(list(got), (list(ids), pair, new_id), _MERGE_WRONG, lambda a, b: list(a) == list(b))
        return report(False, name, "", f"{seen}: {hint}" if hint else
                      f"{seen}. Walk left to right; after a match skip both ids (so [5, 5, 5] becomes [7, 5]).")
    return report(True, name, "This loop is the whole of BPE training, repeated once per merge.", "")


# --------------------------------------------------------------------- Exercise 2: pair counts
def pair_counts_reference(chunks, *, across: bool = False, wrap: bool = False, overlapping: bool = True,
                          short: bool = False, once: bool = False,
                          swapped: bool = False) -> dict[tuple[int, int], int]:
    """How often each adjacent pair of ids occurs inside the chunks (a list
    of lists of ids), every position counted (``[5, 5, 5]`` holds ``(5, 5)``
    twice), never across two chunks: the counts BPE training starts from.

    ``across=True`` (the chunks glued together first), ``wrap=True`` (the last
    id of a chunk paired with its first), ``overlapping=False`` (a pair of
    equal ids skips the next position), ``short=True`` (the last pair of a
    chunk missed), ``once=True`` (each pair counted once per chunk) and
    ``swapped=True`` (the pairs written (b, a)) build the commonest wrong versions."""
    from collections import Counter

    seqs = [[i for chunk in chunks for i in chunk]] if across else [list(c) for c in chunks]
    out: Counter = Counter()
    for seq in seqs:
        pairs = list(zip(seq, seq[1:] + seq[:1])) if wrap and len(seq) > 1 else list(zip(seq, seq[1:]))
        pairs = [(b, a) for a, b in pairs[:-1 if short else None]] if swapped else pairs[:-1 if short else None]
        if once:
            pairs = list(dict.fromkeys(pairs))
        if overlapping:
            out.update(pairs)
            continue
        i = 0
        while i < len(pairs):
            out[pairs[i]] += 1
            i += 2 if pairs[i][0] == pairs[i][1] else 1
    return dict(out)


def _as_pair_dict(got: object) -> dict[tuple[int, int], int] | None:
    """The student's counts as ``{(a, b): n}`` without zero entries, or ``None``."""
    try:
        items = dict(got).items()
        out = {}
        for key, n in items:
            if not (isinstance(key, tuple) and len(key) == 2):
                return None
            if int(n) != 0:
                out[(int(key[0]), int(key[1]))] = int(n)
        return out
    except (TypeError, ValueError):
        return None


_PAIR_SLIPS = [
    (dict(across=True), "you counted a pair across two chunks (the last id of one and the first of the next): "
                        "BPE never merges across a chunk boundary, so count inside each chunk separately."),
    (dict(wrap=True), "you paired the last id of a chunk with its first (wrap-around): use zip(chunk, chunk[1:]), "
                      "which stops at the last pair."),
    (dict(overlapping=False), "every position counts, overlapping pairs too: [5, 5, 5] holds (5, 5) twice "
                              "(merging is left to right and skips, counting is not)."),
    (dict(short=True), "the last pair of a chunk is missing: zip(chunk, chunk[1:]) or range(len(chunk) - 1) "
                       "reaches it; range(len(chunk) - 2) stops one pair early."),
    (dict(once=True), "you counted each pair once per chunk (a set): count every occurrence, [5, 5, 5] holds "
                      "(5, 5) twice."),
    (dict(swapped=True), "your pairs are written backwards: the key is (left id, right id), (chunk[i], "
                         "chunk[i + 1])."),
]
_PAIR_TABLE = from_switches(pair_counts_reference, _PAIR_SLIPS)


def _pair_cases() -> list[list[list[int]]]:
    rng = random.Random(1)
    cases = [[[1, 2, 3], [1, 2]], [[1, 2, 1, 2, 3]], [[5, 5, 5]], [[5, 5, 5, 5], [5]], [[1, 2], [2, 1]], [[]], [[7]], [],
             [list(c.encode()) for c in ["hug", " pug", " pun", " bun", " hugs"]]]
    cases += [[[rng.randrange(3) for _ in range(rng.randrange(0, 7))] for _ in range(rng.randrange(1, 5))]
              for _ in range(15)]
    return cases


@exercise("ch02.pair_counts", wrong=_PAIR_TABLE)
def check_pair_counts(fn: Callable) -> bool:
    """Exercise 2: ``fn(chunks)`` counts the adjacent pairs inside each chunk
    (a list of lists of ids) and returns ``{(a, b): count}``; compared with
    the counting of :meth:`lm_course.tokenizers.BPETokenizer.train`."""
    name = "Exercise 2 (counting pairs)"
    for chunks in _pair_cases():
        got = _as_pair_dict(call(fn, [list(c) for c in chunks]))
        if got is None:
            return report(False, name, "", "return a dict (or Counter) from pairs of ids (a, b), as tuples, "
                                           "to how often they occur.")
        want = pair_counts_reference(chunks)
        if got == want:
            continue
        hint = diagnose(got, (chunks,), _PAIR_TABLE, lambda mine, wrong: mine == wrong)
        if hint:
            return report(False, name, "", f"{hint} (for chunks {chunks})")
        return report(False, name, "", f"for chunks {chunks} expected {want}, got {got}.")
    return report(True, name, "the counts BPE training starts from: in 'hug pug pun bun hugs' the pair "
                              "(u, g) = (117, 103) occurs 3 times, more than any other.", "")


# --------------------------------------------------------------------- Exercise 3: a BPE trainer
def train_bpe_reference(text: str, num_merges: int, *, tie: str = "smallest", split: bool = True,
                        min_count: int = 2) -> list[tuple[int, int]]:
    """The merges, in order, that BPE learns on ``text`` (byte-level, the
    course's pre-split, new ids from 256, ties to the smallest pair of ids,
    stopping early when no pair occurs ``min_count`` times): the same as
    ``BPETokenizer.train(text, 256 + num_merges).merges``. ``tie="first"``
    (the pair seen first wins), ``tie="largest"``, ``split=False`` (no
    pre-split) and ``min_count=1`` build wrong versions."""
    import re

    chunks = [list(c.encode("utf-8")) for c in (re.findall(SPLIT_PATTERN, text) if split else [text])]
    merges = []
    for k in range(num_merges):
        counts = pair_counts_reference(chunks)
        if not counts:
            break
        top = max(counts.values())
        if top < min_count:
            break
        best = [p for p in counts if counts[p] == top]  # in the order first seen
        pair = {"smallest": min(best), "largest": max(best), "first": best[0]}[tie]
        merges.append(pair)
        chunks = [merge_pair_reference(c, pair, 256 + k) for c in chunks]
    return merges


def merge_pair_reference(ids, pair, new_id):
    return _reference_merge(ids, pair, new_id)


_BPE_TEXTS = [("hug pug pun bun hugs", 4), ("bb aa bb aa", 3), ("low lower lowest newer wider", 8),
              ("abab baba", 4), ("aaaa aaa", 3), ("ab.ab.ab", 3), ("zzyy yyzz", 4), ("the cat", 3)]


def _bpe_texts() -> list[tuple[str, int]]:
    rng = random.Random(2)
    texts = list(_BPE_TEXTS)
    for _ in range(6):
        texts.append(("".join(rng.choice("ab c") for _ in range(rng.randrange(8, 30))), rng.randrange(2, 8)))
    return texts


def _package_merges(text: str, num_merges: int) -> list[tuple[int, int]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopping early (no pair occurs twice) is part of the exercise
        return [tuple(p) for p in BPETokenizer.train(text, 256 + num_merges).merges]


_BPE_SLIPS = [
    (dict(tie="first"), "on a tie (two pairs equally frequent) the package takes the SMALLER pair of ids, "
                        "min(...) over the tied pairs, not the one seen first (max(counts, key=counts.get) "
                        "returns the first)."),
    (dict(tie="largest"), "on a tie the package takes the smaller pair of ids (min over the tied pairs), "
                          "not the larger."),
    (dict(split=False), "pre-split the text first (re.findall(SPLIT_PATTERN, text)) and never merge across "
                        "chunks: a merge such as 'g ' or ' p' glues a word to the next one."),
    (dict(split=False, tie="first"), "pre-split the text (re.findall(SPLIT_PATTERN, text)) and break ties "
                                     "with the smaller pair of ids."),
    (dict(min_count=1), "stop when the most frequent pair occurs only once: merging a pair seen once "
                        "saves nothing (the package stops there and returns fewer merges)."),
]


# (row 3, both slips at once, is told about the split first: the table lists the single slips)
@exercise("ch02.train_bpe", wrong=from_switches(train_bpe_reference, _BPE_SLIPS[:3] + _BPE_SLIPS[4:]))
def check_train_bpe(fn: Callable) -> bool:
    """Exercise 3: ``fn(text, num_merges)`` returns the list of merges
    ``(a, b)`` in the order learned, compared with
    ``BPETokenizer.train(text, 256 + num_merges).merges`` on short texts
    (ties, repeated letters, pre-split chunks, early stops)."""
    name = "Exercise 3 (a BPE trainer)"
    for text, k in _bpe_texts():
        got = call(fn, text, k)
        try:
            got = [(int(a), int(b)) for a, b in got]
        except (TypeError, ValueError):
            return report(False, name, "", "return a list of merges, each a pair of token ids (a, b).")
        want = _package_merges(text, k)
        if got == want:
            continue
        for kw, hint in _BPE_SLIPS:
            if got == train_bpe_reference(text, k, **kw):
                return report(False, name, "", hint)
        if len(got) > len(want) and got[:len(want)] == want:
            return report(False, name, "", _BPE_SLIPS[-1][1])
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        return report(False, name, "", f"on {text!r} with {k} merges expected {want}, got {got} (they differ "
                                       f"from merge {first} on). New ids are 256, 257, ... in the order learned.")
    return report(True, name, "the same merges as BPETokenizer.train, ties and early stops included. "
                              "The package does the same with a heap and incremental counts, to be fast.", "")
