"""Checkers for the exercises of ``00_welcome.ipynb``.

Exercises 1 and 2 take a number; exercises 3 and 4 take a function the
student writes (its stub raises ``NotImplementedError``), run through
:func:`lm_course.exercises._check.call`. Every checker prints ✅ or ❌ with a
hint and never raises (see :mod:`lm_course.exercises._check`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

import torch

from lm_course.corpus import corpus_tokenizer
from lm_course.data import load_shakespeare
from lm_course.evaluate import bits_per_token
from lm_course.exercises._check import call, close, exercise, report, require_number
from lm_course.exercises.wrong_versions import Wrong, WrongValue, diagnose, diagnose_value, from_switches
from lm_course.unigram import UnigramLM

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_words_seen_twice", "check_log_prob_of_word", "check_entropy_bits", "check_bits_per_character"]


@lru_cache(maxsize=1)
def _unigram():
    tok = corpus_tokenizer()
    return tok, UnigramLM(tok.vocab_size).fit(tok.encode(load_shakespeare("train")))


@lru_cache(maxsize=1)
def _letter_probs() -> tuple[float, ...]:
    """p('t'), p('h'), p('e') under the unigram model."""
    tok, model = _unigram()
    return tuple(float(model.probs[i]) for i in tok.encode("the"))


def _log2_sum(probs: tuple[float, ...]) -> float:
    return sum(math.log2(p) for p in probs)


def _from_letters(name: str, of_probs: Callable[[tuple[float, ...]], float], diagnosis: str) -> WrongValue:
    """A wrong answer to exercise 2, computed from the three letters' probabilities on first use."""
    return WrongValue(name, lambda: of_probs(_letter_probs()), diagnosis)


# Exercise 2's wrong numbers: what a student enters after each slip with logs and the chain rule.
_LOG_PROB_WRONG = (
    _from_letters("the sign", lambda ps: -_log2_sum(ps),
                  "log-probabilities of events with p < 1 are negative; keep the sign."),
    _from_letters("the probability", math.prod, "that is the probability itself; the exercise asks for its log2."),
    _from_letters("natural log", lambda ps: sum(math.log(p) for p in ps),
                  "that is the natural log (math.log); the exercise asks for log2 (math.log2), the log of bits."),
    _from_letters("one letter", lambda ps: math.log2(ps[0]),
                  "that is log2 p('t') alone: the chain rule multiplies the probabilities of all three letters "
                  "(adds their log2)."),
    _from_letters("summed probabilities", lambda ps: math.log2(sum(ps)),
                  "that is log2 of the SUM of the three probabilities; the chain rule MULTIPLIES them "
                  "(adds their log2)."),
    _from_letters("mean per letter", lambda ps: _log2_sum(ps) / 3,
                  "that is the mean log2 per letter; the exercise asks for log2 p('the') of the whole word, "
                  "the sum over its three letters."),
)


@exercise("ch00.log_prob_of_word", wrong=_LOG_PROB_WRONG)
def check_log_prob_of_word(answer: object) -> bool:
    """Exercise 2: log2 p("the") under the unigram model (all three letters
    predicted, chain rule with a context-free model)."""
    name = "Exercise 2 (chain rule)"
    value = require_number(answer, name)
    if value is None:
        return False
    want = _log2_sum(_letter_probs())
    if close(value, want):
        return report(True, name, f"log2 p('the') = {want:.3f} bits, i.e. {-want:.1f} bits of surprise for "
                                  "3 characters.", "")
    return report(False, name, "", diagnose_value(value, _LOG_PROB_WRONG, close)
                  or "multiply p('t') p('h') p('e'), or add their log2; the unigram model ignores the context.")


# ---------------------------------------------------------------- exercise 3
def _entropy(p: torch.Tensor) -> float:
    """The reference: H(p) in bits with 0 log 0 = 0 (float64)."""
    p = p.double()
    nz = p[p > 0]
    return float(-(nz * nz.log2()).sum())


def _entropy_cases() -> list[torch.Tensor]:
    """Fixed distributions, then random ones; those with zeros come last, so
    the commonest slips (log base, sign, weighting) are diagnosed first."""
    g = torch.Generator().manual_seed(0)
    no_zeros = [torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.25, 0.25]), torch.full((63,), 1 / 63)]
    no_zeros += [torch.rand(n, generator=g) + 0.05 for n in (5, 17)]
    with_zeros = [torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.tensor([0.0, 0.25, 0.75])]
    sparse = torch.rand(30, generator=g) * (torch.rand(30, generator=g) > 0.5)
    sparse[0] = 1.0
    with_zeros.append(sparse)
    return [p / p.sum() for p in no_zeros + with_zeros]


_UNWEIGHTED = "weight each -log2 p[i] by its probability p[i]: H is an average over the distribution."
_ENTROPY_WRONG = (
    Wrong("in nats", lambda p: _entropy(p) * math.log(2), "that is the entropy in nats (natural log); bits need log2."),
    Wrong("the sign", lambda p: -_entropy(p),
          "entropy is never negative: -sum p log2 p (each log2 p <= 0, so mind the sign)."),
    Wrong("unweighted sum", lambda p: float(-p.double()[p > 0].log2().sum()), _UNWEIGHTED),
    Wrong("unweighted mean", lambda p: float(-p.double()[p > 0].log2().mean()), _UNWEIGHTED),
)


@exercise("ch00.entropy_bits", wrong=_ENTROPY_WRONG)
def check_entropy_bits(fn: Callable) -> bool:
    """Exercise 3: ``fn(p)`` returns the entropy ``-sum_i p_i log2 p_i`` of a
    ``(V,)`` distribution in bits, with ``0 log 0 = 0``."""
    name = "Exercise 3 (entropy)"
    for p in _entropy_cases():
        got = call(fn, p)
        try:
            nan = math.isnan(float(got))
        except (TypeError, ValueError, RuntimeError):
            nan = False
        if nan and (p == 0).any():
            return report(False, name, "", "your entropy is NaN: 0 * log2(0) is 0 * -inf = nan in floating "
                                           "point; the convention is 0 log 0 = 0: sum over the entries with "
                                           "p > 0 only (e.g. p[p > 0]).")
        value = require_number(got, name)
        if value is None:
            return False
        want = _entropy(p)
        if close(value, want, rel=1e-5):
            continue
        shown = [round(x, 4) for x in p.tolist()[:6]] + (["..."] if len(p) > 6 else [])
        hint = diagnose(value, (p,), _ENTROPY_WRONG, lambda mine, wrong: close(mine, float(wrong), rel=1e-5))
        if hint is None and math.isinf(value):
            hint = "0 log 0 counts as 0: leave out the entries with p = 0."
        hint = hint or f"for p = {shown} expected H = {want:.4f} bits, got {value:.4f}."
        return report(False, name, "", hint)
    _, unigram = _unigram()
    h = _entropy(unigram.counts / unigram.counts.sum())
    return report(True, name, f"H(uniform over 63) = log2 63 = {math.log2(63):.3f} bits, the most any "
                              f"distribution over 63 characters can have; the unigram model's own "
                              f"distribution has H = {h:.3f} bits: text drawn from the model itself would "
                              "cost it exactly that many bits per character, on average.", "")


# ---------------------------------------------------------------- exercise 4
class _ToyModel:
    """A small context-dependent model with only ``next_token_probs``: its own
    start distribution, then a random table over the last ``order - 1``
    tokens (a bigram for ``order=2``, a trigram for ``order=3``, whose
    second position falls back on a bigram). The reference is
    :func:`lm_course.evaluate.bits_per_token`'s slow path; a trigram tells a
    function that passes only the last token as context from a right one."""

    def __init__(self, vocab_size: int, seed: int, order: int = 2):
        g = torch.Generator().manual_seed(seed)
        self.vocab_size, self.order = vocab_size, order
        self.start = torch.rand(vocab_size, generator=g, dtype=torch.float64) + 0.1  # (V,)
        self.start /= self.start.sum()
        self.tables = {}
        for k in range(1, order):
            table = torch.rand(*(vocab_size,) * (k + 1), generator=g, dtype=torch.float64) ** 3 + 0.01
            self.tables[k] = table / table.sum(dim=-1, keepdim=True)  # (V,) * k + (V,)

    def next_token_probs(self, context) -> torch.Tensor:
        context = [int(i) for i in context]
        if len(context) == 0:
            return self.start.clone()
        k = min(len(context), self.order - 1)
        return self.tables[k][tuple(context[-k:])].clone()  # (V,)


# The context a (wrong) bits-per-character version gives the model for ids[t], by its slice's name.
_CONTEXTS: dict[str, Callable[[list[int], int], list[int]]] = {
    "ids[:t]": lambda ids, t: ids[:t],
    "ids[:t+1]": lambda ids, t: ids[:t + 1],
    "ids[t-1:t]": lambda ids, t: ids[t - 1:t],
    "ids[:t-1]": lambda ids, t: ids[:max(t - 1, 0)],
}


def _bpc_reference(model, ids: list[int], *, first: int = 1, over_n: bool = False, log: str = "log2",
                   sign: int = -1, context: str = "ids[:t]") -> float:
    """Bits per character, with switches for its known mistakes: the first
    token scored, the count divided by N, the log, the sign, the context."""
    logs = [getattr(math, log)(float(model.next_token_probs(_CONTEXTS[context](ids, t))[ids[t]]))
            for t in range(first, len(ids))]
    return sign * sum(logs) / (len(ids) if over_n else len(logs))


# Exercise 4's wrong versions: the reference with one of its switches set wrong.
_BPC_WRONG = from_switches(_bpc_reference, [
    ({"first": 0}, "the first character is only context: score x_2..x_N, N-1 predictions "
                   "(the context of ids[t] is ids[:t], for t = 1 .. N-1)."),
    ({"over_n": True}, "you sum N-1 predictions, so divide by N-1, not by N."),
    ({"log": "log"}, "that is nats per character (natural log); bits need log2."),
    ({"sign": 1}, "bits per character is positive: it is MINUS the mean log2 probability."),
    ({"context": "ids[:t+1]"}, "the context of ids[t] is ids[:t], the characters BEFORE it; "
                               "ids[:t+1] already contains the answer."),
    ({"context": "ids[t-1:t]"}, "you give the model only the last character as context; it may look further "
                                "back (this one is a trigram): pass everything before ids[t], ids[:t]."),
    ({"context": "ids[:t-1]"}, "the context of ids[t] is ids[:t], every character before it; ids[:t-1] leaves "
                               "out the one right before it."),
])


@exercise("ch00.bits_per_character", wrong=_BPC_WRONG)
def check_bits_per_character(fn: Callable) -> bool:
    """Exercise 4: ``fn(model, ids)`` returns the bits per character
    ``-1/(N-1) sum_{t=2..N} log2 p(x_t | x_<t)`` of ``model`` (anything with
    ``next_token_probs(context)``) on the list of ``N >= 2`` token ids ``ids``,
    as :func:`lm_course.evaluate.bits_per_token` computes it; checked on
    bigram and trigram toy models."""
    name = "Exercise 4 (bits per character)"
    g = torch.Generator().manual_seed(1)
    cases = [(_ToyModel(3, seed=0), [0, 1]), (_ToyModel(3, seed=0), [2, 0, 1, 1, 0])]
    for seed, length, order in [(1, 12, 2), (2, 40, 2), (3, 15, 3), (4, 30, 3)]:
        cases.append((_ToyModel(5, seed, order), torch.randint(0, 5, (length,), generator=g).tolist()))
    for model, ids in cases:
        value = require_number(call(fn, model, list(ids)), name)
        if value is None:
            return False
        want = bits_per_token(model, ids)
        if close(value, want, rel=1e-6):
            continue
        hint = diagnose(value, (model, ids), _BPC_WRONG, lambda mine, wrong: close(mine, wrong, rel=1e-6))
        return report(False, name, "", hint or f"on ids = {ids} expected {want:.4f} bits per character, "
                                               f"got {value:.4f}.")
    return report(True, name, "The same number as lm_course.evaluate.bits_per_token; its perplexity is "
                              "2 ** bpc. (The course's models also offer a batched token_log_probs, "
                              "which is much faster than one call per character.)", "")


# ---------------------------------------------------------------- exercise 1
@lru_cache(maxsize=1)
def _word_tallies() -> dict[str, int]:
    """Exercise 1's right answer ("twice") and the counts behind its wrong ones, by name."""
    from lm_course.viz.corpus import word_counts

    text = load_shakespeare("train")
    counts = list(word_counts(text).values())
    return {"twice": sum(1 for n in counts if n == 2), "once": sum(1 for n in counts if n == 1),
            "at least twice": sum(1 for n in counts if n >= 2), "at most twice": sum(1 for n in counts if n <= 2),
            "str.split()": sum(1 for n in Counter(text.split()).values() if n == 2)}


def _tally(name: str, of_tallies: Callable[[dict[str, int]], int], diagnosis: str) -> WrongValue:
    """A wrong answer to exercise 1, computed from the corpus's word counts on first use."""
    return WrongValue(name, lambda: of_tallies(_word_tallies()), diagnosis)


# Exercise 1's wrong numbers: the counts a student gets by counting the wrong words, or the wrong way.
_TWICE_WRONG = (
    _tally("once", lambda t: t["once"], "that is the number of words seen once; the exercise asks for twice."),
    _tally("at least twice", lambda t: t["at least twice"],
           "that counts the words seen at least twice; the exercise asks for exactly twice (n == 2)."),
    _tally("at most twice", lambda t: t["at most twice"],
           "that counts the words seen once or twice (n <= 2); the exercise asks for exactly twice (n == 2)."),
    _tally("occurrences", lambda t: 2 * t["twice"],
           "that counts occurrences (each such word twice); count the different words, one per entry of "
           "word_counts."),
    _tally("str.split()", lambda t: t["str.split()"],
           "str.split() keeps punctuation and capitals ('King,' and 'king' differ); use the chapter's "
           "word_counts, which lower-cases the words first."),
)


@exercise("ch00.words_seen_twice", wrong=_TWICE_WRONG)
def check_words_seen_twice(answer: object) -> bool:
    """Exercise 1: how many different words occur exactly twice in the
    training split (lower-cased, as counted by ``viz.corpus.word_counts``)."""
    name = "Exercise 1 (the long tail)"
    value = require_number(answer, name)
    if value is None:
        return False
    tallies = _word_tallies()
    want, once = tallies["twice"], tallies["once"]
    if value == want:
        return report(True, name, f"{want:,} words occur exactly twice, {once:,} exactly once: most word types "
                                  "are rare.", "")
    return report(False, name, "", diagnose_value(value, _TWICE_WRONG, lambda a, b: a == b)
                  or "count the entries of word_counts(...) whose count equals 2.")
