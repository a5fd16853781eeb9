"""The chapter-0 checkers accept right answers and reject wrong ones, with
the hint that names the mistake, and report a stub without raising."""

import math
from functools import lru_cache

import pytest
import torch

from lm_course.corpus import corpus_tokenizer
from lm_course.data import load_shakespeare
from lm_course.exercises import ch00
from lm_course.unigram import UnigramLM
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import accepts_right_flags_wrong as _accepts_right_flags_wrong
from exercise_util import flags, passes
from exercise_util import stub as _stub


@lru_cache(maxsize=1)
def _unigram():
    """The chapter's unigram model on the training split, and its tokenizer."""
    tok = corpus_tokenizer()
    return tok, UnigramLM(tok.vocab_size).fit(tok.encode(load_shakespeare("train")))


def test_log_prob_of_word(capsys):
    tok, unigram = _unigram()
    right = sum(math.log2(float(unigram.probs[i])) for i in tok.encode("the"))
    assert ch00.check_log_prob_of_word(right)
    assert not ch00.check_log_prob_of_word(-right)
    assert not ch00.check_log_prob_of_word(2 ** right)
    assert not ch00.check_log_prob_of_word(None)
    assert "Hint" in capsys.readouterr().out


def entropy_solution(p):  # the notebook's solution
    p = p.double()
    nz = p[p > 0]
    return float(-(nz * torch.log2(nz)).sum())


@pytest.mark.parametrize("wrong, hint", [
    (lambda p: float(-(p[p > 0] * p[p > 0].log()).sum()), "nats"),
    (lambda p: float((p[p > 0] * p[p > 0].log2()).sum()), "never negative"),
    (lambda p: float(-(p * p.log2()).sum()), "0 log 0"),  # NaN at the zeros
    (lambda p: float(-p.log2().sum()), "weight each"),
    (lambda p: float(-p.log2().mean()), "weight each"),
    (lambda p: 1.0, "expected H"),
    (_stub, "not implemented yet"),
])
def test_entropy_bits(capsys, wrong, hint):
    from lm_course.viz.distributions import entropy_bits

    assert ch00.check_entropy_bits(entropy_bits)  # the package's own version
    _accepts_right_flags_wrong(capsys, ch00.check_entropy_bits, entropy_solution, wrong, hint)


def bpc_solution(model, ids):  # the notebook's solution
    total = 0.0
    for t in range(1, len(ids)):
        p = model.next_token_probs(ids[:t])
        total += -math.log2(float(p[ids[t]]))
    return total / (len(ids) - 1)


def _bpc(model, ids, first=1, denominator=-1, ahead=0, log=math.log2, sign=-1):
    total = sum(log(float(model.next_token_probs(ids[:t + ahead])[ids[t]])) for t in range(first, len(ids)))
    return sign * total / (len(ids) + denominator)


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, ids: _bpc(m, ids, first=0, denominator=0), "only context"),
    (lambda m, ids: _bpc(m, ids, denominator=0), "divide by N-1"),
    (lambda m, ids: _bpc(m, ids, ahead=1), "BEFORE"),
    (lambda m, ids: _bpc(m, ids, log=math.log), "nats"),
    (lambda m, ids: _bpc(m, ids, sign=1), "MINUS"),
    (lambda m, ids: 2.0, "expected"),
    (_stub, "not implemented yet"),
])
def test_bits_per_character(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch00.check_bits_per_character, bpc_solution, wrong, hint)


def test_bits_per_character_solution_matches_the_package_on_the_unigram():
    from lm_course.evaluate import bits_per_token

    tok, unigram = _unigram()
    ids = tok.encode("To be, or not to be")
    assert math.isclose(bpc_solution(unigram, ids), bits_per_token(unigram, ids), rel_tol=1e-6)


def test_words_seen_twice():
    from lm_course.data import load_shakespeare
    from lm_course.viz.corpus import word_counts

    counts = word_counts(load_shakespeare("train")).values()
    assert ch00.check_words_seen_twice(sum(1 for n in counts if n == 2))
    assert not ch00.check_words_seen_twice(sum(1 for n in counts if n == 1))
    assert not ch00.check_words_seen_twice(None)


# ---------------------------------------------------------------- issue 31: holes closed
def test_bits_per_character_needs_the_whole_context(capsys):
    """A toy trigram tells a function that passes only the last token (or one too few) from a right one."""
    def last_token_only(model, ids):
        return -sum(math.log2(float(model.next_token_probs(ids[t - 1:t])[ids[t]]))
                    for t in range(1, len(ids))) / (len(ids) - 1)

    def one_short(model, ids):
        return -sum(math.log2(float(model.next_token_probs(ids[:max(t - 1, 0)])[ids[t]]))
                    for t in range(1, len(ids))) / (len(ids) - 1)

    assert "this one is a trigram" in flags(capsys, ch00.check_bits_per_character, last_token_only)
    assert "leaves out the one right before it" in flags(capsys, ch00.check_bits_per_character, one_short)
    assert "bigram and trigram" in passes(capsys, ch00.check_bits_per_character, bpc_solution)


def test_entropy_nan_is_reported_once(capsys):
    out = flags(capsys, ch00.check_entropy_bits, lambda p: float(-(p * p.log2()).sum()))
    assert out.count("❌") == 1 and out.count("NaN") == 1 and "0 log 0" in out


def test_log_prob_of_word_names_the_natural_log_and_a_single_letter(capsys):
    tok, unigram = _unigram()
    logs = [math.log2(float(unigram.probs[i])) for i in tok.encode("the")]
    assert "natural log" in flags(capsys, ch00.check_log_prob_of_word, sum(logs) * math.log(2))
    assert "alone" in flags(capsys, ch00.check_log_prob_of_word, logs[0])
    assert "passes the checks" in passes(capsys, ch00.check_log_prob_of_word, sum(logs))


def test_words_seen_twice_names_the_common_miscounts(capsys):
    from collections import Counter

    from lm_course.viz.corpus import word_counts

    text = load_shakespeare("train")
    counts = list(word_counts(text).values())
    twice = sum(1 for n in counts if n == 2)
    assert "at least twice" in flags(capsys, ch00.check_words_seen_twice, sum(1 for n in counts if n >= 2))
    assert "occurrences" in flags(capsys, ch00.check_words_seen_twice, 2 * twice)
    assert "str.split()" in flags(capsys, ch00.check_words_seen_twice,
                                  sum(1 for n in Counter(text.split()).values() if n == 2))
    passes(capsys, ch00.check_words_seen_twice, float(twice))  # a float is a number too


# ---------------------------------------------------------------- the tables of wrong versions
def test_the_number_exercises_list_their_wrong_numbers_lazily():
    """Exercises 1 and 2 take a number: their rows are the wrong numbers, read from the corpus on first use."""
    from lm_course.exercises.wrong_versions import WrongValue

    for check in (ch00.check_words_seen_twice, ch00.check_log_prob_of_word):
        assert len(check.wrong_versions) >= 4
        assert all(isinstance(w, WrongValue) for w in check.wrong_versions)
        assert all(isinstance(w.version, (int, float)) for w in check.wrong_versions)


def test_bits_per_character_lists_the_last_token_only_mistake():
    rows = {w.name: w for w in ch00.check_bits_per_character.wrong_versions}
    assert "this one is a trigram" in rows["context='ids[t-1:t]'"].diagnosis
