"""The chapter-0 checkers accept right answers and reject wrong ones."""

import math

from lm_course.exercises import ch00


def test_log_prob_of_word(capsys):
    right = ch00._log2_prob("the")
    assert ch00.check_log_prob_of_word(right)
    assert not ch00.check_log_prob_of_word(-right)
    assert not ch00.check_log_prob_of_word(2 ** right)
    assert not ch00.check_log_prob_of_word(None)
    assert "Hint" in capsys.readouterr().out


def test_uniform_bits():
    assert ch00.check_uniform_bits(math.log2(63))
    assert not ch00.check_uniform_bits(1 / 63)
    assert not ch00.check_uniform_bits("six")


def test_perplexity():
    assert ch00.check_perplexity(2 ** 4.8, bits=4.8)
    assert not ch00.check_perplexity(math.exp(4.8), bits=4.8)


def test_words_seen_twice():
    from lm_course.data import load_shakespeare
    from lm_course.viz.corpus import word_counts

    counts = word_counts(load_shakespeare("train")).values()
    assert ch00.check_words_seen_twice(sum(1 for n in counts if n == 2))
    assert not ch00.check_words_seen_twice(sum(1 for n in counts if n == 1))
    assert not ch00.check_words_seen_twice(None)
