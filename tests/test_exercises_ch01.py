"""The chapter-1 checkers accept right answers and reject wrong ones."""

import torch

from lm_course.exercises import ch01


def test_bigram_probability(capsys):
    counts, labels = ch01._names_counts()
    a, end = labels.index("a"), labels.index(".")
    right = float(counts[a, end] / counts[a].sum())
    assert 0.3 < right < 0.5
    assert ch01.check_bigram_probability(right)
    assert not ch01.check_bigram_probability(float(counts[end, a] / counts[end].sum()))
    assert "start" in capsys.readouterr().out
    assert not ch01.check_bigram_probability(int(counts[a, end]))
    assert not ch01.check_bigram_probability(None)
    assert "Hint" in capsys.readouterr().out


def test_add_k(capsys):
    def right(counts, k):
        counts = counts.double()
        return (counts + k) / (counts.sum() + k * len(counts))

    def forgot_kv(counts, k):
        return (counts + k) / counts.sum().clamp(min=1)

    def crashes(counts, k):
        raise ZeroDivisionError("oops")

    assert ch01.check_add_k(right)
    assert not ch01.check_add_k(forgot_kv)
    assert "k * V" in capsys.readouterr().out
    assert not ch01.check_add_k(crashes)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch01.check_add_k(lambda c, k: torch.ones(2))
    assert not ch01.check_add_k(right(torch.tensor([1, 2]), 1.0))  # a result, not a function
    assert not ch01.check_add_k(None)
    assert not ch01.check_add_k(lambda c, k: None)  # the notebook's placeholder
    assert "returns None" in capsys.readouterr().out


def test_kneser_ney_weight(capsys):
    types, total = ch01._kn_context_stats()
    assert 5 < types < 63 and total > 100
    assert ch01.check_kneser_ney_weight(0.75 * types / total)
    assert not ch01.check_kneser_ney_weight(types / total)
    assert "discount" in capsys.readouterr().out
    assert not ch01.check_kneser_ney_weight(0.75 / total)
    assert not ch01.check_kneser_ney_weight(0.5)


def test_best_k(capsys):
    best = ch01.best_k()
    assert best in ch01.K_CANDIDATES and best != 1.0
    assert ch01.check_best_k(best)
    assert not ch01.check_best_k(1.0)
    assert not ch01.check_best_k(0.5)
    assert "candidates" in capsys.readouterr().out
