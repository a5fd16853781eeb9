"""Checkers for the exercises of ``02_tokens_and_embeddings.ipynb``."""

from __future__ import annotations

import random

from lm_course.exercises._check import close, report, require_number

__all__ = ["check_merge", "check_first_merge", "check_mlp_parameters", "check_bits_per_char",
           "FIRST_MERGE_TEXT", "MLP_EXERCISE_CONFIG", "BPE_SCORE"]

#: Exercise 2's text (the example of Hugging Face's NLP course).
FIRST_MERGE_TEXT = "hug pug pun bun hugs"

#: Exercise 3's model size: ``MLPConfig(**MLP_EXERCISE_CONFIG)``.
MLP_EXERCISE_CONFIG = {"vocab_size": 63, "context_length": 5, "n_embd": 10, "n_hidden": 200}

#: Exercise 4's numbers: a BPE-level model's score on the validation split.
BPE_SCORE = {"bits_per_token": 4.6, "tokens": 88_000, "characters": 206_696}


def _reference_merge(ids, pair, new_id):
    from lm_course.tokenizers.bpe import merge_pair

    return merge_pair(ids, pair, new_id)


def check_merge(merge) -> bool:
    """Exercise 1: ``merge(ids, pair, new_id)`` replaces every occurrence of
    ``pair`` in ``ids``, left to right, by ``new_id``."""
    name = "Exercise 1 (one BPE merge)"
    if not callable(merge):
        print(f"❌ {name}: expected a function merge(ids, pair, new_id), got {type(merge).__name__}.")
        return False
    rng = random.Random(0)
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5], (5, 5), 7), ([5, 5, 5, 5], (5, 5), 7),
             ([], (1, 2), 9), ([1], (1, 2), 9), ([3, 1, 2], (1, 2), 9), ([2, 1], (1, 2), 9)]
    cases += [([rng.randrange(3) for _ in range(20)], (rng.randrange(3), rng.randrange(3)), 3)
              for _ in range(20)]
    for ids, pair, new_id in cases:
        want = _reference_merge(ids, pair, new_id)
        try:
            got = merge(list(ids), pair, new_id)
        except Exception as err:  # a student's bug must not stop the notebook
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) raised "
                                           f"{type(err).__name__}: {err}.")
        if not isinstance(got, (list, tuple)):
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) returned "
                                           f"{type(got).__name__}; return a list of ids.")
        if list(got) != want:
            hint = (f"merge({ids}, {pair}, {new_id}) gave {list(got)}, expected {want}. "
                    "Walk left to right; after a match skip both ids (so [5, 5, 5] becomes [7, 5]).")
            return report(False, name, "", hint)
    return report(True, name, "This loop is the whole of BPE training, repeated once per merge.", "")


def check_first_merge(answer: object) -> bool:
    """Exercise 2: the first merge BPE learns on :data:`FIRST_MERGE_TEXT`
    (with the course's pre-split: a word keeps its leading space). Accepts
    ``"ug"``, ``("u", "g")`` or the byte ids ``(117, 103)``."""
    from lm_course.tokenizers import BPETokenizer

    name = "Exercise 2 (the first merge)"
    tok = BPETokenizer.train(FIRST_MERGE_TEXT, 257)
    a, b = tok.merges[0]
    want = tok.token_str(a) + tok.token_str(b)
    if isinstance(answer, str):
        got = answer
    elif isinstance(answer, (tuple, list)) and len(answer) == 2:
        try:
            got = "".join(x if isinstance(x, str) else bytes([int(x)]).decode("latin-1") for x in answer)
        except (TypeError, ValueError, OverflowError):
            got = None
    else:
        got = None
    if got is None:
        print(f"❌ {name}: answer with a string such as 'ab' or a pair such as ('a', 'b').")
        return False
    return report(got == want, name,
                  f"{want!r} occurs {tok.merge_counts[0]} times (in hug, pug and hugs).",
                  "split into chunks ('hug', ' pug', ' pun', ' bun', ' hugs'), then count each "
                  "adjacent pair of characters in every chunk.")


def check_mlp_parameters(answer: object) -> bool:
    """Exercise 3: the number of parameters of
    ``MLPLanguageModel(MLPConfig(**MLP_EXERCISE_CONFIG))``."""
    name = "Exercise 3 (counting parameters)"
    value = require_number(answer, name)
    if value is None:
        return False
    c = MLP_EXERCISE_CONFIG
    V, n, d, H = c["vocab_size"], c["context_length"], c["n_embd"], c["n_hidden"]
    want = (V + 1) * d + (n * d * H + H) + (H * V + V)
    if value == want - d:
        return report(False, name, "", "almost: the embedding table has one more row, the padding token.")
    if value == want - H - V:
        return report(False, name, "", "almost: do not forget the two bias vectors.")
    return report(value == want, name,
                  f"{want:,} = embeddings {(V + 1) * d:,} + hidden layer {n * d * H + H:,} + "
                  f"output layer {H * V + V:,}.",
                  "add the embedding table ((V + 1) x d, with the padding row), the hidden layer "
                  "(n*d x H weights + H biases) and the output layer (H x V + V).")


def check_bits_per_char(answer: object) -> bool:
    """Exercise 4: bits per character of a model that scores
    ``BPE_SCORE["bits_per_token"]`` bits per token on a text of
    ``BPE_SCORE["characters"]`` characters encoded as ``BPE_SCORE["tokens"]`` tokens."""
    name = "Exercise 4 (bits per token to bits per character)"
    value = require_number(answer, name)
    if value is None:
        return False
    s = BPE_SCORE
    total_bits = s["bits_per_token"] * s["tokens"]
    want = total_bits / s["characters"]
    if close(value, s["bits_per_token"] * s["characters"] / s["tokens"]):
        return report(False, name, "", "the ratio is upside down: fewer tokens than characters "
                                       "means fewer bits per character than per token.")
    return report(close(value, want), name,
                  f"{total_bits:,.0f} bits in all, {want:.3f} per character: now it can go on the "
                  "scoreboard next to the character models.",
                  "the total number of bits does not depend on how you cut the text: "
                  "bits per token x tokens = bits per character x characters.")
