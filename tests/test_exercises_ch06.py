"""The chapter-6 checkers: right answers pass, wrong ones fail with a hint, nothing raises."""

from __future__ import annotations

import torch

from lm_course.exercises import ch06


def test_temperature(capsys):
    z = torch.tensor(ch06.EXERCISE_1_LOGITS)
    assert ch06.check_temperature(torch.softmax(z / 0.5, -1))
    assert ch06.check_temperature(torch.softmax(z / 0.5, -1).tolist())
    assert not ch06.check_temperature(torch.softmax(z * 0.5, -1))
    assert "divide" in capsys.readouterr().out
    assert not ch06.check_temperature(torch.softmax(z, -1))
    assert not ch06.check_temperature(z / 0.5)
    assert not ch06.check_temperature(None)
    assert not ch06.check_temperature([0.25] * 3)
    assert not ch06.check_temperature("0.6")


def solution_nucleus(probs, p):
    sorted_probs, order = torch.sort(probs, descending=True)
    before = torch.cumsum(sorted_probs, 0) - sorted_probs  # mass of the more probable tokens
    keep_sorted = before < p
    keep_sorted[0] = True
    keep = torch.zeros_like(keep_sorted)
    keep[order] = keep_sorted
    return keep


def test_nucleus(capsys):
    assert ch06.check_nucleus(solution_nucleus)
    capsys.readouterr()

    def one_too_few(probs, p):  # stops *before* reaching p
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.zeros_like(probs, dtype=torch.bool)
        keep[order[torch.cumsum(sorted_probs, 0) <= p]] = True
        return keep

    assert not ch06.check_nucleus(one_too_few)
    assert "reach p" in capsys.readouterr().out
    assert not ch06.check_nucleus(lambda probs, p: torch.ones_like(probs, dtype=torch.bool))
    assert not ch06.check_nucleus(lambda probs, p: (probs > 0.1).float())  # not boolean
    assert not ch06.check_nucleus(lambda probs, p: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch06.check_nucleus(None)
    assert not ch06.check_nucleus(lambda probs, p: None)  # the notebook's placeholder
    assert "got NoneType" in capsys.readouterr().out
    assert not ch06.check_nucleus(lambda probs, p: [True] * len(probs))  # a list, not a tensor


def test_repetition_penalty(capsys):
    z = torch.tensor(ch06.EXERCISE_3_LOGITS)
    right = z.clone()
    for i in set(ch06.EXERCISE_3_PREVIOUS):
        right[i] = right[i] / 2 if right[i] > 0 else right[i] * 2
    assert ch06.check_repetition_penalty(right)
    all_divided = z.clone()
    all_divided[list(set(ch06.EXERCISE_3_PREVIOUS))] /= 2
    assert not ch06.check_repetition_penalty(all_divided)
    assert "negative" in capsys.readouterr().out
    twice = right.clone()
    twice[1] = twice[1] * 2  # token 1 appears twice but is penalised once
    assert not ch06.check_repetition_penalty(twice)
    assert not ch06.check_repetition_penalty([1, 2])


def test_kv_cache_work(capsys):
    P, N = ch06.EXERCISE_4["prompt"], ch06.EXERCISE_4["new"]
    assert ch06.check_kv_cache_work((N * P + N * (N - 1) // 2, P + N - 1))
    assert not ch06.check_kv_cache_work((N * (P + N), P + N - 1))
    assert "sum them" in capsys.readouterr().out
    assert not ch06.check_kv_cache_work((N * P + N * (N - 1) // 2, N))
    assert not ch06.check_kv_cache_work(1725)
    assert not ch06.check_kv_cache_work(None)
