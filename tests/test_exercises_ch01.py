"""The chapter-1 checkers accept right answers and reject wrong ones, with
the hint that names the mistake, and report a stub without raising."""

import pytest
import torch

from lm_course.exercises import ch01
from exercise_util import accepts_right_flags_wrong as _accepts_right_flags_wrong
from exercise_util import stub as _stub


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
    assert not ch01.check_add_k(lambda c, k: None)
    assert "returned None" in capsys.readouterr().out
    assert not ch01.check_add_k(_stub)  # the notebook's placeholder
    assert "not implemented yet" in capsys.readouterr().out


def jm_solution(counts, w, h, lambdas):  # the notebook's solution
    V, n = counts.vocab_size, len(lambdas) - 1
    total_p, total_weight = lambdas[0] / V, lambdas[0]
    for m in range(1, n + 1):
        context = list(h[len(h) - (m - 1):])  # the last m - 1 tokens
        row = [counts.count(context + [v]) for v in range(V)]
        if sum(row) > 0:  # a context never seen: drop this order
            total_p += lambdas[m] * row[w] / sum(row)
            total_weight += lambdas[m]
    return total_p / total_weight


def test_jelinek_mercer_reference_matches_ngram_model():
    for counts, h, ws, lambdas in ch01._jm_cases():
        model = counts._model.variant(order=len(lambdas) - 1, smoothing="interpolated", lambdas=lambdas)
        for w in ws:
            assert abs(model.prob(w, h) - ch01.jelinek_mercer_reference(counts, w, h, lambdas)) < 1e-12


def _jm_no_check(counts, w, h, lambdas):  # divides by a zero total on an unseen context
    V = counts.vocab_size
    p = lambdas[0] / V
    for m in range(1, len(lambdas)):
        row = [counts.count(list(h[len(h) - (m - 1):]) + [v]) for v in range(V)]
        p += lambdas[m] * row[w] / sum(row)
    return p


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, renormalise=False), "drop that order"),
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, last=False), "LAST"),
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, uniform=False), "lambda_0 / V"),
    (_jm_no_check, "never followed"),
    (lambda c, w, h, lam: 0.5, "expected"),
    (_stub, "not implemented yet"),
])
def test_jelinek_mercer(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_jelinek_mercer, jm_solution, wrong, hint)


def kn_solution(counts, w, h, D):  # the notebook's solution
    V = counts.vocab_size

    def level(row, p_lower):
        total = sum(row)
        if total == 0:
            return p_lower
        types = sum(c > 0 for c in row)
        return max(row[w] - D, 0) / total + D * types / total * p_lower

    p = level([counts.continuation_count([v]) for v in range(V)], 1 / V)
    p = level([counts.continuation_count([h[1], v]) for v in range(V)], p)
    return level([counts.count([h[0], h[1], v]) for v in range(V)], p)


def test_kneser_ney_reference_matches_ngram_model():
    for counts, h, ws, D in ch01._kn_cases():
        model = counts._model.variant(order=3, smoothing="kneser_ney", discount=D)
        for w in ws:
            assert abs(model.prob(w, h) - ch01.kneser_ney_trigram_reference(counts, w, h, D)) < 1e-12


def _no_pass_through(counts, w, h, D):  # divides by a zero total on an unseen context
    V = counts.vocab_size
    level = (lambda row, p: max(row[w] - D, 0) / sum(row) + D * sum(c > 0 for c in row) / sum(row) * p)
    p = level([counts.continuation_count([v]) for v in range(V)], 1 / V)
    p = level([counts.continuation_count([h[1], v]) for v in range(V)], p)
    return level([counts.count([h[0], h[1], v]) for v in range(V)], p)


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, lower="raw"), "continuation counts"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, floor=False), "uniform 1/V"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, context_total="count"), "FOLLOWED"),
    (_no_pass_through, "never followed"),
    (lambda c, w, h, D: 0.5, "expected"),
    (_stub, "not implemented yet"),
])
def test_kneser_ney_trigram(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_kneser_ney_trigram, kn_solution, wrong, hint)
