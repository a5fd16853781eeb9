"""Checkers for the exercises of ``00_welcome.ipynb``."""

from __future__ import annotations

import math
from functools import lru_cache

from lm_course.exercises._check import close, report, require_number

__all__ = ["check_log_prob_of_word", "check_uniform_bits", "check_perplexity", "check_words_seen_twice"]


@lru_cache(maxsize=1)
def _unigram():
    from lm_course.data import load_shakespeare
    from lm_course.tokenizers import corpus_tokenizer
    from lm_course.unigram import UnigramLM

    tok = corpus_tokenizer()
    return tok, UnigramLM(tok.vocab_size).fit(tok.encode(load_shakespeare("train")))


def _log2_prob(text: str) -> float:
    tok, model = _unigram()
    probs = model.probs
    return sum(math.log2(float(probs[i])) for i in tok.encode(text))


def check_log_prob_of_word(answer: object) -> bool:
    """Exercise 1: log2 p("the") under the unigram model (all three letters
    predicted, chain rule with a context-free model)."""
    name = "Exercise 1 (chain rule)"
    value = require_number(answer, name)
    if value is None:
        return False
    want = _log2_prob("the")
    if close(value, -want):
        return report(False, name, "", "log-probabilities of events with p < 1 are negative; keep the sign.")
    if close(value, 2 ** want):
        return report(False, name, "", "that is the probability itself; the exercise asks for its log2.")
    return report(close(value, want), name,
                  f"log2 p('the') = {want:.3f} bits, i.e. {-want:.1f} bits of surprise for 3 characters.",
                  "multiply p('t') p('h') p('e'), or add their log2; the unigram model ignores the context.")


def check_uniform_bits(answer: object) -> bool:
    """Exercise 2: bits per character of the uniform model over 63 characters."""
    name = "Exercise 2 (uniform model)"
    value = require_number(answer, name)
    if value is None:
        return False
    want = math.log2(63)
    if close(value, 1 / 63) or close(value, 63):
        return report(False, name, "", "bits per character is -log2 of the probability of each character.")
    return report(close(value, want), name,
                  f"log2(63) = {want:.3f} bits: every character costs the same, whatever it is.",
                  "every character gets probability 1/63; take -log2 of that.")


def check_perplexity(answer: object, bits: float) -> bool:
    """Exercise 3: the perplexity that corresponds to ``bits`` bits per character."""
    name = "Exercise 3 (perplexity)"
    value = require_number(answer, name)
    if value is None:
        return False
    want = 2 ** bits
    if close(value, math.exp(bits)):
        return report(False, name, "", "bits are base-2 logarithms, so use 2 ** bits, not e ** bits.")
    return report(close(value, want), name,
                  f"2 ** {bits:.3f} = {want:.2f}: as uncertain as a fair choice among {want:.1f} characters.",
                  "perplexity = 2 ** (bits per character).")


def check_words_seen_twice(answer: object) -> bool:
    """Exercise 4: how many different words occur exactly twice in the
    training split (lower-cased, as counted by ``viz.corpus.word_counts``)."""
    from lm_course.data import load_shakespeare
    from lm_course.viz.corpus import word_counts

    name = "Exercise 4 (the long tail)"
    value = require_number(answer, name)
    if value is None:
        return False
    counts = word_counts(load_shakespeare("train"))
    want = sum(1 for n in counts.values() if n == 2)
    once = sum(1 for n in counts.values() if n == 1)
    if value == once:
        return report(False, name, "", "that is the number of words seen once; the exercise asks for twice.")
    return report(value == want, name,
                  f"{want:,} words occur exactly twice, {once:,} exactly once: most word types are rare.",
                  "count the entries of word_counts(...) whose count equals 2.")
