"""Checkers for chapter 1's smoothing exercises (``01_ngrams.ipynb``): Jelinek-Mercer
interpolation (exercise 4) and Kneser-Ney for trigrams (exercise 5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch

from lm_course.corpus import corpus_tokenizer
from lm_course.data import load_shakespeare
from lm_course.exercises._check import call, close, exercise, report, require_number
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.ngram import NGramLM, default_lambdas

__all__ = ["check_jelinek_mercer", "check_kneser_ney_trigram", "jelinek_mercer_reference",
    "kneser_ney_trigram_reference"]


# ---------------------------------------------------------------- exercise 4
class _CountsOnly:
    """What exercises 4 and 5's functions may use: the counts of a fitted
    :class:`~lm_course.ngram.NGramLM`, without its probabilities."""

    def __init__(self, model):
        self.vocab_size = model.vocab_size
        self._model = model

    def count(self, ngram: Sequence[int]) -> int:
        return self._model.count(ngram)

    def continuation_count(self, ngram: Sequence[int]) -> int:
        return self._model.continuation_count(ngram)


@lru_cache(maxsize=1)
def _small_counts() -> tuple[_CountsOnly, list[int]]:
    """A random text over 5 tokens: token 4 never occurs, token 3 only at the
    very end (so contexts ending in it are never followed by anything)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 3, (59,), generator=g).tolist() + [3]
    return _CountsOnly(NGramLM(4).fit(ids, 5)), ids


@lru_cache(maxsize=1)
def _shakespeare_counts() -> _CountsOnly:
    tok = corpus_tokenizer()
    return _CountsOnly(NGramLM(5).fit(tok.encode(load_shakespeare("train")), tok.vocab_size))


def jelinek_mercer_reference(counts, w: int, h: Sequence[int], lambdas: Sequence[float], *,
                             renormalise: bool = True, last: bool | str = True, uniform: bool = True,
                             context_total: str = "followers", reverse: bool = False) -> float:
    """``p_JM(w | h)`` of the Jelinek-Mercer model of order ``n = len(lambdas) - 1``
    (``01_ngrams.ipynb``, "Interpolation"), from ``counts.count`` alone; ``h``
    holds the ``n - 1`` context tokens. Orders whose context was never
    followed by anything are dropped and the other weights renormalised;
    equals ``NGramLM(n, "interpolated", lambdas=lambdas).prob(w, h)``.

    ``renormalise=False`` (unseen orders count as probability 0),
    ``last=False`` (the first ``m - 1`` tokens of ``h`` instead of the last),
    ``last="negative"`` (``h[-(m-1):]``, which is all of ``h`` for ``m = 1``),
    ``uniform=False`` (no ``lambda_0 / V`` term), ``context_total="count"``
    (``c(h)`` as ``counts.count(h)``) and ``reverse=True`` (the lambdas in
    the reverse order) build the commonest wrong versions, which the checker
    recognises.
    """
    V, n = counts.vocab_size, len(lambdas) - 1
    if reverse:
        lambdas = list(lambdas)[::-1]
    numerator, weight = (lambdas[0] / V if uniform else 0.0), lambdas[0]
    for m in range(1, n + 1):
        if last == "negative":
            ctx = list(h[-(m - 1):])  # the pitfall: h[-0:] is all of h
        else:
            ctx = list(h[len(h) - m + 1:]) if last else list(h[: m - 1])  # m - 1 tokens
        row = [counts.count(ctx + [v]) for v in range(V)]
        total = counts.count(ctx) if context_total == "count" and ctx else sum(row)
        if total > 0:
            numerator += lambdas[m] * row[w] / total
        if total > 0 or not renormalise:
            weight += lambdas[m]
    return numerator / weight


_FOLLOWED_HINT = ("take c(h) as the sum over v of c(h v), how often h is FOLLOWED by something; "
                  "counts.count(h) also counts an h at the very end of the text.")

# Exercise 4's wrong versions: h[-0:], count(h) for c(h), unseen orders kept, the first tokens of h, no uniform
# term, the lambdas reversed. count(h) comes before the kept orders: where count(h) differs (a context seen only at
# the very end) it gives what keeping that order's weight gives, and the student who used count(h) must hear of c(h).
_JM_WRONG = from_switches(jelinek_mercer_reference, [
    (dict(last="negative"), "for m = 1 the context is empty, but h[-(m - 1):] is h[-0:], which is ALL of h (-0 is "
                            "0): slice with h[len(h) - m + 1:] instead."),
    (dict(context_total="count"), _FOLLOWED_HINT),
    (dict(renormalise=False), "when the context of an order was never seen, drop that order: leave its lambda out "
                              "of the sum and divide by the sum of the weights you kept, so the probabilities "
                              "still add up to 1."),
    (dict(last=False), "the context of order m is the LAST m - 1 tokens of h, the ones right before w: "
                       "h[len(h) - m + 1:]."),
    (dict(uniform=False), "add the uniform term lambda_0 / V: it is what keeps unseen tokens above 0."),
    (dict(reverse=True), "lambdas[m] goes with order m: lambdas[0] with the uniform term, lambdas[n] with the "
                         "longest context; you used them in the reverse order."),
])


def _jm_cases() -> list[tuple[object, list[int], list[int], tuple[float, ...]]]:
    """``(counts, h, ws, lambdas)`` for orders 2, 3 and 4, then the
    5-gram of the chapter after ``King``."""
    small, ids = _small_counts()
    ws = list(range(5))
    cases = [(small, [ids[0]], ws, (0.1, 0.3, 0.6)),
             (small, [ids[0], ids[1]], ws, default_lambdas(3)),
             (small, [2, 1, 0], ws, (0.05, 0.15, 0.2, 0.25, 0.35)),
             (small, [ids[-2], 3], ws, default_lambdas(3)),  # never followed: drop two orders
             (small, [3, 3, 3], ws, default_lambdas(4))]
    tok = corpus_tokenizer()
    cases.append((_shakespeare_counts(), tok.encode("King"), tok.encode("slQ"), default_lambdas(5)))
    return cases


def _run_probability_cases(fn: Callable, name: str, cases, reference, table: Sequence[Wrong]) -> bool:
    """Exercises 4 and 5: call ``fn(counts, w, h, setting)`` on every case,
    compare with ``reference`` and name the wrong version of ``table`` it matches."""
    for counts, h, ws, setting in cases:
        V = counts.vocab_size
        unseen = any(sum(counts.count(list(h[len(h) - k:]) + [v]) for v in range(V)) == 0
                     for k in range(1, len(h) + 1))  # some order's context is never followed by anything
        for w in ws:
            zero_total = ("The context {h} (or a shorter part of it) is never followed by anything in the "
                          "counts: its total is 0, so that order cannot give a probability.").format(h=list(h))
            result = call(fn, counts, w, list(h), setting,
                          on_error=lambda err: zero_total if unseen and isinstance(err, ZeroDivisionError) else "")
            value = require_number(result, name)
            if value is None:
                return False
            want = reference(counts, w, h, setting)
            if close(value, want, rel=1e-6, abs_=1e-12):
                continue
            hint = diagnose(value, (counts, w, list(h), setting), table,
                            lambda a, b: close(a, b, rel=1e-6, abs_=1e-12))
            if hint is None:
                hint = f"for w = {w}, h = {list(h)} expected {want:.6g}, got {value:.6g}."
                if not 0 <= value <= 1:
                    hint += (" A probability lies between 0 and 1: " + ("no part of it may be negative."
                             if value < 0 else "check that each level divides by its own total."))
            return report(False, name, "", hint)
    return True


def _shown(reference, counts, h, ws, setting, context: str) -> str:
    tok = corpus_tokenizer()
    return ", ".join(f"p({tok.decode([w])!r} | {context!r}) = {reference(counts, w, h, setting):.3g}" for w in ws)


@exercise("ch01.jelinek_mercer", wrong=_JM_WRONG)
def check_jelinek_mercer(fn: Callable) -> bool:
    """Exercise 4: ``fn(counts, w, h, lambdas)`` returns ``p_JM(w | h)`` of the
    Jelinek-Mercer model of order ``len(lambdas) - 1``, computed from
    ``counts.count`` only; compared with ``NGramLM(n, "interpolated")`` on
    orders 2 to 5, seen and unseen contexts."""
    name = "Exercise 4 (Jelinek-Mercer by hand)"
    cases = _jm_cases()
    if not _run_probability_cases(fn, name, cases, jelinek_mercer_reference, _JM_WRONG):
        return False
    counts, h, ws, lambdas = cases[-1]
    return report(True, name, "The same as NGramLM(n, 'interpolated'): "
                              + _shown(jelinek_mercer_reference, counts, h, ws, lambdas, "King") + ".", "")


# ---------------------------------------------------------------- exercise 5
def kneser_ney_trigram_reference(counts, w: int, h: Sequence[int], D: float, *,
                                 lower: str = "continuation", floor: bool = True,
                                 context_total: str = "followers", clamp: bool = True, types: bool = True,
                                 middle: int = 1, unseen: str = "pass") -> float:
    """``p_KN(w | h)`` of an interpolated Kneser-Ney trigram model, from
    ``counts.count`` and ``counts.continuation_count`` (``01_ngrams.ipynb``,
    "Kneser-Ney smoothing"); equals ``NGramLM(3, discount=D).prob(w, h)``.

    The keyword arguments build the commonest wrong versions the checker
    recognises: ``lower="raw"`` (ordinary counts at the lower orders),
    ``floor=False`` (an undiscounted unigram level with no uniform floor),
    ``context_total="count"`` (``c(h)`` taken as ``count(h)`` rather than
    ``sum_v c(h v)``), ``clamp=False`` (``c - D`` without ``max(., 0)``),
    ``types=False`` (the reserved mass ``D / total``, not times the number
    of types), ``middle=0`` (the bigram level's context ``h[0]``, not
    ``h[1]``), ``unseen="zero"`` (a never-followed context gives 0 instead of
    passing the lower order through).
    """
    V = counts.vocab_size
    low = counts.continuation_count if lower == "continuation" else counts.count

    def level(row: list[int], p_lower: float, total: float | None = None) -> float:
        total = sum(row) if total is None else total
        if total == 0:  # a context never seen passes the lower order through
            return p_lower if unseen == "pass" else 0.0
        kept = max(row[w] - D, 0) if clamp else row[w] - D
        return kept / total + D * (sum(c > 0 for c in row) if types else 1) / total * p_lower

    unigram = [low([v]) for v in range(V)]
    p = level(unigram, 1.0 / V) if floor else unigram[w] / sum(unigram)
    p = level([low([h[middle], v]) for v in range(V)], p)
    top = [counts.count([h[0], h[1], v]) for v in range(V)]
    return level(top, p, total=counts.count(list(h)) if context_total == "count" else None)


# Exercise 5's wrong versions: raw counts below the top, no floor, count(h) for c(h), a negative discounted count,
# the reserved mass without the number of types, the wrong token as the bigram's context, 0 for an unseen context.
_KN_WRONG = from_switches(kneser_ney_trigram_reference, [
    (dict(lower="raw"), "at the lower orders use continuation counts (counts.continuation_count), not the "
                        "ordinary counts: that is the 'San Francisco' idea."),
    (dict(floor=False), "the unigram level is discounted too: max(N1+(. w) - D, 0) / N1+(. .) plus its reserved "
                        "mass times the uniform 1/V, so that no token gets probability 0."),
    (dict(context_total="count"), _FOLLOWED_HINT),
    (dict(clamp=False), "a discounted count is max(c - D, 0): a token never seen after the context keeps 0, "
                        "it does not go negative."),
    (dict(types=False), "the reserved mass is D times the NUMBER OF DIFFERENT tokens seen after the context "
                        "(the entries > 0 of its row), divided by its total: D once per type, not D once."),
    (dict(middle=0), "the bigram level's context is h[1], the token right before w, not h[0]."),
    (dict(unseen="zero"), "a context never followed by anything (total 0) says nothing: pass the lower level's "
                          "probability through unchanged instead of returning 0."),
])


def _kn_cases() -> list[tuple[object, list[int], list[int], float]]:
    """``(counts, h, ws, D)``: the small random text with every kind of
    context, and a few characters after ``Ki`` in Shakespeare."""
    small, ids = _small_counts()
    ws = list(range(5))
    cases = [(small, [ids[0], ids[1]], ws, 0.75),
             (small, [2, 1], ws, 0.3),
             (small, [3, 3], ws, 0.5),  # never seen: before the next one, where count(h) gives 0 like a 0 total
             (small, [ids[-2], 3], ws, 0.75)]  # seen once, at the very end: never followed
    tok = corpus_tokenizer()
    cases.append((_shakespeare_counts(), tok.encode("Ki"), tok.encode("ngQ"), 0.75))
    return cases


@exercise("ch01.kneser_ney_trigram", wrong=_KN_WRONG)
def check_kneser_ney_trigram(fn: Callable) -> bool:
    """Exercise 5: ``fn(counts, w, h, D)`` returns ``p_KN(w | h)`` of an
    interpolated Kneser-Ney trigram model (``h`` two token ids), computed
    from ``counts.count`` and ``counts.continuation_count`` only; compared
    with :class:`lm_course.ngram.NGramLM` ``(3, "kneser_ney")``."""
    name = "Exercise 5 (Kneser-Ney by hand)"
    cases = _kn_cases()
    if not _run_probability_cases(fn, name, cases, kneser_ney_trigram_reference, _KN_WRONG):
        return False
    counts, h, ws, D = cases[-1]
    return report(True, name, "The same as NGramLM(3, 'kneser_ney'): "
                              + _shown(kneser_ney_trigram_reference, counts, h, ws, D, "Ki") + ".", "")
