"""Checkers for the exercises of ``01_ngrams.ipynb``.

Each checker computes the right answer itself (from the course's data and
:mod:`lm_course.ngram`) only once you give an answer, prints ✅ or ❌ with a
hint, and returns ``True``/``False``; it never raises on a wrong answer.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from lm_course.exercises._check import close, report, require_number

__all__ = [
    "check_bigram_probability",
    "check_add_k",
    "check_kneser_ney_weight",
    "check_best_k",
]

#: Exercise 3's context and the model it is asked about.
KN_CONTEXT, KN_ORDER, KN_DISCOUNT = "King", 5, 0.75
#: Exercise 4's candidate pseudo-counts.
K_CANDIDATES = (1.0, 0.1, 0.01, 0.001)


@lru_cache(maxsize=1)
def _names_counts() -> tuple[torch.Tensor, list[str]]:
    from lm_course.data import load_names
    from lm_course.ngram import bigram_count_matrix

    return bigram_count_matrix(load_names())


@lru_cache(maxsize=1)
def _train_model():
    from lm_course.data import load_shakespeare
    from lm_course.ngram import NGramLM
    from lm_course.tokenizers import corpus_tokenizer

    tok = corpus_tokenizer()
    return tok, NGramLM(KN_ORDER, discount=KN_DISCOUNT).fit(tok.encode(load_shakespeare("train")),
                                                           tok.vocab_size)


def check_bigram_probability(answer: object) -> bool:
    """Exercise 1: the MLE probability that a name ends right after the letter
    ``a``, ``P(. | a)``, from the names' bigram counts."""
    name = "Exercise 1 (a bigram probability)"
    value = require_number(answer, name)
    if value is None:
        return False
    counts, labels = _names_counts()
    a, end = labels.index("a"), labels.index(".")
    want = float(counts[a, end] / counts[a].sum())
    swapped = float(counts[end, a] / counts[end].sum())  # P(a | .): names that start with a
    if close(value, swapped):
        return report(False, name, "", "that is P(a | .), names that *start* with a; you need the row of "
                                       "'a' (current character), column '.' (next).")
    if value > 1:
        return report(False, name, "", "a probability is at most 1: divide the count by the row's total.")
    return report(close(value, want), name,
                  f"P(. | a) = {int(counts[a, end])} / {int(counts[a].sum())} = {want:.4f}: "
                  "more than a third of the a's end a name.",
                  "take counts[row of 'a', column of '.'] and divide by the sum of the row of 'a'.")


def _reference_add_k(counts: torch.Tensor, k: float) -> torch.Tensor:
    counts = counts.double()
    return (counts + k) / (counts.sum() + k * len(counts))


def check_add_k(answer: object) -> bool:
    """Exercise 2: a function ``add_k(counts, k)`` that turns the ``(V,)``
    counts of one context into its add-k distribution."""
    name = "Exercise 2 (add-k for one context)"
    if answer is None:
        print(f"❌ {name}: no answer yet. Define add_k(counts, k) and pass the function itself.")
        return False
    if not callable(answer):
        return report(False, name, "", "pass the function itself, e.g. check_add_k(add_k), not its result.")
    cases = [
        (torch.tensor([3, 0, 1, 0]), 1.0),
        (torch.tensor([3, 0, 1, 0]), 0.5),
        (torch.tensor([10, 5, 0, 0, 0, 1]), 0.01),
        (torch.tensor([0, 0, 0]), 2.0),  # an unseen context: uniform
        (torch.tensor([2, 2, 4]), 0.0),  # k = 0 is the MLE
    ]
    for counts, k in cases:
        try:
            result = answer(counts.clone(), k)
            if result is None:
                print(f"❌ {name}: your add_k returns None so far. Fill in its body and run the cell again.")
                return False
            got = torch.as_tensor(result, dtype=torch.float64)
        except Exception as err:  # a student's function may fail in any way
            return report(False, name, "", f"add_k({counts.tolist()}, {k}) raised {type(err).__name__}: {err}.")
        want = _reference_add_k(counts, k)
        if got.shape != want.shape:
            return report(False, name, "", f"return one probability per token: shape {tuple(want.shape)}, "
                                           f"got {tuple(got.shape)}.")
        if not torch.allclose(got, want, atol=1e-6):
            total = float(got.sum())
            hint = (f"for counts {counts.tolist()} and k = {k} your probabilities sum to {total:.3f}; "
                    "the denominator must grow by k for every token of the vocabulary (k * V)."
                    if abs(total - 1) > 1e-4 else
                    f"for counts {counts.tolist()} and k = {k} expected {want.tolist()}, got {got.tolist()}.")
            return report(False, name, "", hint)
    return report(True, name, "(c + k) / (N + k V): every token gets k pseudo-counts, so nothing "
                              "has probability 0 (and k = 0 is the MLE).", "")


def _kn_context_stats() -> tuple[int, int]:
    """``N1+(h .)`` and ``c(h)`` for exercise 3's context in the training split."""
    tok, model = _train_model()
    h = tok.encode(KN_CONTEXT)
    counts = [model.count(h + [w]) for w in range(tok.vocab_size)]
    return sum(c > 0 for c in counts), sum(counts)


def kneser_ney_weight() -> float:
    """The interpolation weight ``D N1+(h .) / c(h)`` of exercise 3."""
    types, total = _kn_context_stats()
    return KN_DISCOUNT * types / total


def check_kneser_ney_weight(answer: object) -> bool:
    """Exercise 3: the probability mass a 5-gram Kneser-Ney model (D = 0.75)
    hands to the lower orders after the context ``"King"``."""
    name = "Exercise 3 (Kneser-Ney's reserved mass)"
    value = require_number(answer, name)
    if value is None:
        return False
    types, total = _kn_context_stats()
    want = KN_DISCOUNT * types / total
    if close(value, types / total):
        return report(False, name, "", "you forgot the discount: each of the distinct followers gives up D.")
    if close(value, KN_DISCOUNT / total):
        return report(False, name, "", "multiply D by the number of *distinct* characters seen after the "
                                       "context, N1+(h .), not by 1.")
    return report(close(value, want), name,
                  f"{KN_DISCOUNT} x {types} / {total} = {want:.4f}: every distinct follower of '{KN_CONTEXT}' "
                  "gave up D counts, and that mass goes to the lower orders, so unseen characters get "
                  "some probability too.",
                  "lambda(h) = D * (number of distinct characters seen after h) / (count of h); "
                  "use model.count(context_ids + [w]) for every w.")


def best_k() -> float:
    """The k of :data:`K_CANDIDATES` with the lowest validation bits per
    character for add-k at order 5 (exercise 4)."""
    from lm_course.data import load_shakespeare
    from lm_course.evaluate import bits_per_token

    tok, model = _train_model()
    val = tok.encode(load_shakespeare("val"))
    scores = {k: bits_per_token(model.variant(smoothing="add_k", k=k), val) for k in K_CANDIDATES}
    return min(scores, key=scores.get)


def check_best_k(answer: object) -> bool:
    """Exercise 4: which k of ``K_CANDIDATES`` gives the add-k 5-gram model the
    lowest validation bits per character."""
    name = "Exercise 4 (tuning k)"
    value = require_number(answer, name)
    if value is None:
        return False
    if not any(math.isclose(value, k) for k in K_CANDIDATES):
        return report(False, name, "", f"pick one of the candidates {K_CANDIDATES}.")
    want = best_k()
    return report(math.isclose(value, want), name,
                  f"k = {want:g}: at order 5 most contexts are rare, and a big k drowns their few "
                  "counts in pseudo-counts. (Kneser-Ney still does better.)",
                  "score model.variant(smoothing='add_k', k=k) with bits_per_token on the validation "
                  "ids for each candidate and keep the lowest.")
