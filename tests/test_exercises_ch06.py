"""The chapter-6 checkers: the solutions pass, the diagnosed wrong versions fail
with their hint, a stub says "not implemented yet", and nothing raises."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lm_course.exercises import ch06


def stub(*args):
    raise NotImplementedError


# ---- exercise 1: top-k -----------------------------------------------------

def solution_top_k(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): each row's k-th largest
    return logits.masked_fill(logits < kth, float("-inf"))


def test_top_k_solution_and_stub(capsys):
    assert ch06.check_top_k(solution_top_k)
    assert "✅" in capsys.readouterr().out
    assert not ch06.check_top_k(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch06.check_top_k(None)
    assert not ch06.check_top_k(lambda logits, k: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch06.check_top_k(lambda logits, k: None)
    assert "shape" in capsys.readouterr().out


def test_top_k_diagnoses(capsys):
    def ties_dropped(logits, k):  # keeps exactly k indices
        idx = torch.topk(logits, k, dim=-1).indices
        out = torch.full_like(logits, float("-inf"))
        return out.scatter(-1, idx, logits.gather(-1, idx))

    def zero_not_inf(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, 0.0)

    def probabilities(logits, k):
        return torch.softmax(solution_top_k(logits, k), -1)

    def one_row_only(logits, k):  # values[-1] is the last row of a batch, not each row's k-th value
        kth = torch.topk(logits, k).values[-1]
        return logits.masked_fill(logits < kth, float("-inf"))

    def strict(logits, k):  # drops the k-th itself
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits <= kth, float("-inf"))

    def in_place(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]
        return logits.masked_fill_(logits < kth, float("-inf"))

    for wrong, words in ((ties_dropped, "ties"), (zero_not_inf, "-inf"), (probabilities, "probabilities"),
                         (one_row_only, "batch"), (strict, "too few"), (in_place, "changed the logits")):
        assert not ch06.check_top_k(wrong), wrong.__name__
        out = capsys.readouterr().out
        assert words in out, (wrong.__name__, out)


# ---- exercise 2: the nucleus -----------------------------------------------

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

    def sorted_order(probs, p):  # right set, returned in sorted order
        sorted_probs, _ = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, 0) - sorted_probs < p
        keep[0] = True
        return keep

    assert not ch06.check_nucleus(one_too_few)
    assert "reach p" in capsys.readouterr().out
    assert not ch06.check_nucleus(sorted_order)
    assert "vocabulary order" in capsys.readouterr().out
    assert not ch06.check_nucleus(lambda probs, p: torch.ones_like(probs, dtype=torch.bool))
    assert "Stop as soon" in capsys.readouterr().out
    assert not ch06.check_nucleus(lambda probs, p: (probs > 0.1).float())  # not boolean
    assert not ch06.check_nucleus(lambda probs, p: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch06.check_nucleus(None)
    assert not ch06.check_nucleus(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch06.check_nucleus(lambda probs, p: [True] * len(probs))  # a list, not a tensor


# ---- exercise 3: attention with a KV cache ---------------------------------

def solution_step(q, k_new, v_new, k_cache, v_cache):
    k_all = torch.cat([k_cache, k_new], dim=2)  # (B, H, P + 1, D)
    v_all = torch.cat([v_cache, v_new], dim=2)  # (B, H, P + 1, D)
    weights = torch.softmax(q @ k_all.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)  # (B, H, 1, P + 1)
    return weights @ v_all, k_all, v_all


def test_cached_attention_solution_and_stub(capsys):
    assert ch06.check_cached_attention(solution_step)
    assert "✅" in capsys.readouterr().out

    def with_sdpa(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        return F.scaled_dot_product_attention(q, k_all, v_all), k_all, v_all

    assert ch06.check_cached_attention(with_sdpa)
    assert not ch06.check_cached_attention(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch06.check_cached_attention(lambda *a: None)
    assert "tuple" in capsys.readouterr().out
    assert not ch06.check_cached_attention(None)


def test_cached_attention_diagnoses(capsys):
    def attend(q, k, v, scale=None, dim=-1):
        scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
        return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim) @ v

    def unscaled(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        return attend(q, k_all, v_all, scale=1.0), k_all, v_all

    def wrong_dim(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        return attend(q, k_all, v_all, dim=-2), k_all, v_all

    def old_cache_only(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        if k_cache.size(2) == 0:
            return v_new, k_all, v_all
        return attend(q, k_cache, v_cache), k_all, v_all

    def is_causal(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], 2), torch.cat([v_cache, v_new], 2)
        return F.scaled_dot_product_attention(q, k_all, v_all, is_causal=True), k_all, v_all

    def prepended(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_new, k_cache], 2), torch.cat([v_new, v_cache], 2)
        return attend(q, k_all, v_all), k_all, v_all

    def wrong_axis(q, k_new, v_new, k_cache, v_cache):  # concatenates the features: fails at once
        k_all, v_all = torch.cat([k_cache, k_new], -1), torch.cat([v_cache, v_new], -1)
        return attend(q, k_all, v_all), k_all, v_all

    def forgot_to_append(q, k_new, v_new, k_cache, v_cache):  # right output, cache never grows
        return solution_step(q, k_new, v_new, k_cache, v_cache)[0], k_new, v_new

    for wrong, words in ((unscaled, "sqrt(D)"), (wrong_dim, "dim=-1"), (old_cache_only, "attends to itself"),
                         (is_causal, "is_causal"), (prepended, "position order"), (wrong_axis, "dim=2"),
                         (forgot_to_append, "grow by one position")):
        assert not ch06.check_cached_attention(wrong), wrong.__name__
        out = capsys.readouterr().out
        assert words in out, (wrong.__name__, out)


# ---- exercise 4: what the cache saves --------------------------------------

def test_kv_cache_work(capsys):
    P, N = ch06.EXERCISE_4["prompt"], ch06.EXERCISE_4["new"]
    assert ch06.check_kv_cache_work((N * P + N * (N - 1) // 2, P + N - 1))
    assert not ch06.check_kv_cache_work((N * (P + N), P + N - 1))
    assert "sum them" in capsys.readouterr().out
    assert not ch06.check_kv_cache_work((N * P + N * (N - 1) // 2, N))
    assert not ch06.check_kv_cache_work(1725)
    assert not ch06.check_kv_cache_work(None)
