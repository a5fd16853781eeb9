"""The chapter-6 checkers: the solutions pass, the diagnosed wrong versions fail
with their hint, a stub says "not implemented yet", and nothing raises."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lm_course.exercises import ch06
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import flags, passes
from lm_course.gpt import GPT, GPTConfig


def stub(*args):
    raise NotImplementedError


# ---- exercise 2: top-k -----------------------------------------------------

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
    assert "returned None" in capsys.readouterr().out


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
                         (one_row_only, "batch"), (strict, "too few"), (in_place, "changed its argument `logits` in place")):
        assert not ch06.check_top_k(wrong), wrong.__name__
        out = capsys.readouterr().out
        assert words in out, (wrong.__name__, out)


# ---- exercise 3: the nucleus -----------------------------------------------

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


# ---- exercise 5: attention with a KV cache ---------------------------------

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
    assert "returned None" in capsys.readouterr().out
    assert not ch06.check_cached_attention(lambda *a: [a[0]])
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


# ---- exercise 1: the decoding loop -----------------------------------------

def generate_loop(model, idx, max_new_tokens, temperature=1.0, generator=None):
    """The notebook's solution of exercise 1."""
    block_size = model.config.block_size
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(idx[:, -block_size:]).logits[:, -1, :]  # (B, V): the last position
        probs = torch.softmax(logits / temperature, dim=-1)  # (B, V)
        idx_next = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, idx_next], dim=1)  # (B, T + 1)
    return idx


def test_generate(capsys):
    assert ch06.check_generate(generate_loop)
    assert "✅" in capsys.readouterr().out

    def no_crop(model, idx, n, temperature=1.0, generator=None):
        for _ in range(n):
            probs = torch.softmax(model(idx).logits[:, -1] / temperature, -1)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], 1)
        return idx

    def from_logits(model, idx, n, temperature=1.0, generator=None):
        for _ in range(n):
            logits = model(idx[:, -model.config.block_size:]).logits[:, -1] / temperature
            idx = torch.cat([idx, torch.multinomial(logits, 1, generator=generator)], 1)
        return idx

    def variant(**switches):
        return lambda m, idx, n, t=1.0, g=None: ch06.generate_reference(m, idx, n, t, g, **switches)

    for wrong, words in ((no_crop, "idx[:, -block_size:]"), (from_logits, "needs probabilities"),
                         (variant(temp="multiply"), "multiplied by the temperature"),
                         (variant(dim=0), "over the batch"), (variant(sample_from="argmax"), "greedy"),
                         (variant(crop="first"), "*first* block_size")):
        assert not ch06.check_generate(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, out
    assert not ch06.check_generate(lambda m, idx, n, t=1.0, g=None: generate_loop(m, idx, n, t, None))
    assert "same seed" in capsys.readouterr().out
    assert not ch06.check_generate(lambda m, idx, n, t=1.0, g=None: generate_loop(m, idx, n, t, g)[:, idx.size(1):])
    assert "(B, T + max_new_tokens)" in capsys.readouterr().out
    assert not ch06.check_generate(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch06.check_generate(None)


def test_generate_reference_is_the_package_generate():
    assert ch06.check_generate(ch06.generate_reference)  # the checker compares with sampling.generate


# ---- exercise 4: one step of beam search ----------------------------------

def beam_step(beam_scores, next_log_probs, num_beams):
    """The notebook's solution of exercise 4."""
    K, V = next_log_probs.shape
    totals = beam_scores[:, None] + next_log_probs  # (K, V): log p(beam) + log p(token | beam)
    scores, flat = totals.reshape(-1).topk(num_beams)  # the best over all K * V extensions
    return scores, flat // V, flat % V  # (num_beams,) each: score, parent beam, token


def test_beam_step(capsys):
    assert ch06.check_beam_step(beam_step)
    assert "✅" in capsys.readouterr().out

    def variant(**switches):
        return lambda s, lp, n: ch06.beam_step_reference(s, lp, n, **switches)

    def top_b_per_beam(s, lp, n):  # n per beam, all kept
        v, t = (s[:, None] + lp).topk(n, dim=-1)
        return v.reshape(-1), torch.arange(lp.size(0)).repeat_interleave(n), t.reshape(-1)

    def unsorted(s, lp, n):
        sc, p, t = beam_step(s, lp, n)
        return sc.flip(0), p.flip(0), t.flip(0)

    for wrong, words in ((variant(add="probs"), "probabilities added"), (variant(per_beam=True), "its own best"),
                         (variant(add="next"), "forgotten"), (top_b_per_beam, "not num_beams per beam"),
                         (unsorted, "best first"),
                         (lambda s, lp, n: (beam_step(s, lp, n)[0], beam_step(s, lp, n)[2], beam_step(s, lp, n)[1]),
                          "swapped"),
                         (lambda s, lp, n: (beam_step(s, lp, n)[0] * 0, *beam_step(s, lp, n)[1:]), "new totals")):
        assert not ch06.check_beam_step(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, out
    assert not ch06.check_beam_step(lambda s, lp, n: beam_step(s, lp, n)[0])
    assert "three tensors" in capsys.readouterr().out
    assert not ch06.check_beam_step(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch06.check_beam_step(None)


def test_beam_step_reproduces_the_package_beam_search():
    from lm_course.sampling import beam_search
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        model = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():
        model.transformer.wte.weight.mul_(12.0)  # (V, C): peaked distributions, no near-ties between beams
    idx = torch.tensor([[1, 2]])
    for K in (1, 3):
        beams, scores = idx.repeat(K, 1), torch.tensor([0.0] + [float("-inf")] * (K - 1))
        for _ in range(5):
            with torch.no_grad():
                logp = torch.log_softmax(model(beams).logits[:, -1].float(), -1)  # (K, V)
            scores, parents, tokens = beam_step(scores, logp, K)
            beams = torch.cat([beams[parents], tokens[:, None]], 1)
        assert torch.equal(beams[0], beam_search(model, idx, 5, num_beams=K, use_cache=False)[0])


# ---- issue 31: holes closed ---------------------------------------------------
def test_beam_step_dividing_by_the_number_of_beams_is_named(capsys):
    def by_k(beam_scores, next_log_probs, num_beams):
        K, V = next_log_probs.shape
        scores, flat = (beam_scores[:, None] + next_log_probs).reshape(-1).topk(num_beams)
        return scores, flat // K, flat % K

    out = flags(capsys, ch06.check_beam_step, by_k)
    assert "vocabulary size V" in out and "swapped" not in out


def test_beam_step_one_per_beam_message_reads_as_sentences(capsys):
    out = flags(capsys, ch06.check_beam_step, lambda s, lp, n: ch06.beam_step_reference(s, lp, n, per_beam=True))
    assert ". each" not in out


def test_generate_loop_that_never_ends_is_stopped(capsys):
    def forever(model, idx, max_new_tokens, temperature=1.0, generator=None):
        while True:
            pass

    assert "did not return within" in flags(capsys, ch06.check_generate, forever)


# ---- exercise 6 (no notebook cell yet): greedy generation with the KV cache ----------
def generate_cached(model, idx, max_new_tokens):
    out = model(idx, use_cache=True)
    for _ in range(max_new_tokens):
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)
        out = model(nxt, past_key_values=out.past_key_values, use_cache=True)
    return idx


def test_generate_cached(capsys):
    passes(capsys, ch06.check_generate_cached, generate_cached)
    passes(capsys, ch06.check_generate_cached, ch06.generate_cached_reference)

    def no_cache(model, idx, max_new_tokens):  # the right tokens, the whole text at every step
        for _ in range(max_new_tokens):
            idx = torch.cat([idx, model(idx).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        return idx

    def whole_text_with_cache(model, idx, max_new_tokens):
        out = model(idx, use_cache=True)
        for _ in range(max_new_tokens):
            idx = torch.cat([idx, out.logits[:, -1].argmax(-1, keepdim=True)], dim=1)
            out = model(idx[:, -2:], past_key_values=out.past_key_values, use_cache=True)
        return idx

    for wrong, words in [(no_cache, "reran the model"),
                         (lambda m, i, n: ch06.generate_cached_reference(m, i, n, stale=True), "the LAST call"),
                         (lambda m, i, n: ch06.generate_cached_reference(m, i, n, first_position=True),
                          "LAST prompt position"),
                         (whole_text_with_cache, "only the NEW token"),
                         (stub, "not implemented yet")]:
        assert words in flags(capsys, ch06.check_generate_cached, wrong), words


def test_nucleus_names_an_ascending_sort_and_top_k_a_batch_bug(capsys):
    def ascending(probs, p):  # torch.sort's default order: the least probable first
        sorted_probs, order = torch.sort(probs)
        keep_sorted = torch.cumsum(sorted_probs, 0) - sorted_probs < p
        keep = torch.zeros_like(keep_sorted)
        keep[order] = keep_sorted
        return keep

    def no_keepdim(logits, k):  # right on one row; on a batch (B,) does not broadcast against (B, V)
        kth = torch.topk(logits, k, dim=-1).values[..., -1]
        return logits.masked_fill(logits < kth, float("-inf"))

    assert "least probable" in flags(capsys, ch06.check_nucleus, ascending)
    assert "not on a batch" in flags(capsys, ch06.check_top_k, no_keepdim)
