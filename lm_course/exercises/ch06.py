"""Checkers for the exercises of ``06_gpt2_sampling.ipynb`` (section "Exercises").

* Exercise 1, :func:`check_top_k`: the student writes top-k filtering
  (section "Top-k"); compared with :func:`lm_course.sampling.filter_logits`.
* Exercise 2, :func:`check_nucleus`: the student writes the top-p mask
  (section "Top-p (nucleus) sampling"); compared with ``filter_logits``.
* Exercise 3, :func:`check_cached_attention`: the student writes one decoding
  step of attention with a KV cache (section "The KV cache"); run token by
  token and compared with causal attention over the whole sequence
  (:func:`lm_course.attention.scaled_dot_product_attention`).
* Exercise 4, :func:`check_kv_cache_work`: how many positions go through the
  model with and without the cache.

Every checker prints ✅ or ❌ with a hint naming the likely mistake, returns a
bool, and never raises: a student's bug never stops the notebook.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.exercises._check import MISSING as _MISSING
from lm_course.exercises._check import call_or_report as _call
from lm_course.exercises._check import report
from lm_course.sampling import filter_logits

__all__ = ["EXERCISE_4", "check_top_k", "check_nucleus", "check_cached_attention", "check_kv_cache_work"]

EXERCISE_4 = dict(prompt=10, new=50)  # exercise 4: a 10-token prompt, 50 new tokens

def _tensor_like(got: object, want: torch.Tensor, name: str, what: str) -> bool:
    """Report and return False unless ``got`` is a tensor of ``want``'s shape."""
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        return True
    seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    return report(False, name, "", f"return {what} of shape {tuple(want.shape)}, got {seen}.")


# ---- exercise 1: top-k -----------------------------------------------------

def _top_k_cases() -> list[tuple[torch.Tensor, int]]:
    gen = torch.Generator().manual_seed(61)
    return [
        (torch.tensor([2.0, -1.0, 3.0, 0.5, -4.0]), 2),  # plain
        (torch.tensor([-1.0, -3.0, -1.0, -2.0, -5.0, -1.0]), 2),  # ties with the 2nd: all three -1.0 stay
        (torch.tensor([0.3, 1.2, -0.7]), 1),  # k = 1 is greedy's single token
        (torch.tensor([0.3, 1.2, -0.7]), 3),  # k = V removes nothing
        (torch.randn(4, 30, generator=gen) * 2, 5),  # a batch: every row its own k-th value
        (torch.randint(-3, 3, (3, 20), generator=gen).float(), 4),  # a batch full of ties
    ]


def check_top_k(top_k_filter: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Exercise 1: ``top_k_filter(logits, k)`` for logits ``(V,)`` or ``(B, V)``
    returns the same shape: each row's ``k`` largest logits (and every logit
    tied with the k-th) unchanged, every other entry ``-inf``; the input is
    not modified. Compared with ``filter_logits(logits, top_k=k)``."""
    name = "Exercise 1 (top-k)"
    stub = ("find each row's k-th largest logit (torch.topk(logits, k, dim=-1) gives the k largest) and replace "
            "every logit below it by float('-inf').")
    batch_hint = ("your function works on one row but not on a batch (B, V): take the k-th largest along the last "
                  "dimension, per row, and keep that dimension (dim=-1, keepdim=True) so it broadcasts.")
    for logits, k in _top_k_cases():
        want = filter_logits(logits, top_k=k)
        given = logits.clone()
        rows_ok = logits.dim() == 2 and _one_row_ok(top_k_filter, logits, k)
        if rows_ok:  # a batch: a failure here is a batching bug
            try:
                got = top_k_filter(given, k)
            except Exception:  # the student's code: report, never raise
                return report(False, name, "", batch_hint)
        else:
            got = _call(name, top_k_filter, (given, k), stub)
            if got is _MISSING:
                return False
        if not torch.equal(given, logits):
            return report(False, name, "", "your function changed the logits it was given: build a new tensor "
                                           "(masked_fill, not masked_fill_), the caller may still need them.")
        if not _tensor_like(got, want, name, "logits"):
            return False
        got = got.to(want.dtype)
        kept, want_kept = torch.isfinite(got), torch.isfinite(want)
        if torch.equal(kept, want_kept) and torch.allclose(got[kept], want[kept]):
            continue
        if rows_ok:
            return report(False, name, "", batch_hint)
        if bool(((got >= 0) & (got <= 1)).all()) and torch.allclose(got.sum(-1), torch.ones(got.shape[:-1])):
            return report(False, name, "", "you returned probabilities; return logits: the kept ones unchanged, "
                                           "the others -inf (the softmax comes later, in the sampler).")
        if bool(torch.isfinite(got[~want_kept]).all()) and torch.allclose(got[want_kept], want[want_kept]):
            return report(False, name, "", "removed tokens must get -inf (float('-inf')), not a finite number "
                                           "such as 0: softmax gives exp(0) = 1 a share of the probability.")
        if torch.equal(kept, want_kept):
            return report(False, name, "", "you keep the right tokens but changed their logits: leave the kept "
                                           "logits exactly as they were.")
        n_got, n_want = kept.sum(-1), want_kept.sum(-1)  # per row
        if bool((n_got == k).all()) and bool((n_want > k).any()):
            return report(False, name, "", f"with ties you keep exactly k = {k}; top-k keeps every token whose "
                                           "logit equals the k-th largest too: compare the logits with the k-th "
                                           "largest value (logits < kth -> -inf) rather than keeping k indices.")
        if bool((n_got == n_want - 1).all()):
            return report(False, name, "", "you keep one token too few (k - 1): keep the logits >= the k-th "
                                           "largest and remove only those strictly below it.")
        if bool((n_got == n_want + 1).all()):
            return report(False, name, "", "you keep one token too many (k + 1): the k-th largest is "
                                           "topk(...).values[..., -1], the last of the k values.")
        return report(False, name, "", f"for k = {k} you keep {n_got.tolist()} token(s) per row, top-k keeps "
                                       f"{n_want.tolist()}; keep the k largest logits and any tied with the k-th.")
    return report(True, name, "each row's k-th largest logit is the threshold; ties with it survive, as in "
                              "transformers' TopKLogitsWarper.", "")


def _one_row_ok(top_k_filter: Callable, logits: torch.Tensor, k: int) -> bool:
    """Whether the student's function is right on each row of ``logits`` alone."""
    try:
        for row in logits:
            got = top_k_filter(row.clone(), k)
            want = filter_logits(row, top_k=k)
            if not isinstance(got, torch.Tensor) or not torch.equal(torch.isfinite(got), torch.isfinite(want)):
                return False
    except Exception:  # the student's code: any failure means "no"
        return False
    return True


# ---- exercise 2: the nucleus -----------------------------------------------

def check_nucleus(nucleus: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise 2: ``nucleus(probs, p) -> bool mask`` ``(V,)`` in vocabulary
    order of the tokens top-p keeps, compared with
    :func:`~lm_course.sampling.filter_logits` on fixed and random cases."""
    name = "Exercise 2 (the nucleus)"
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.tensor([0.1, 0.5, 0.15, 0.25]), 0.7), (torch.tensor([0.9, 0.05, 0.05]), 0.5)]
    cases += [(torch.softmax(torch.randn(30, generator=gen) * s, -1), p) for s in (1, 3) for p in (0.3, 0.9)]
    for probs, p in cases:
        want = torch.isfinite(filter_logits(probs.log(), top_p=p))
        got = _call(name, nucleus, (probs.clone(), p),
                    "sort the probabilities (torch.sort(probs, descending=True)), keep each token while the mass "
                    "of the tokens before it is below p, then put the mask back in vocabulary order.")
        if got is _MISSING:
            return False
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != torch.bool:
            what = f"{got.dtype} {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a boolean tensor of shape {tuple(want.shape)}, got {what}.")
        if torch.equal(got, want):
            continue
        n_got, n_want = int(got.sum()), int(want.sum())
        if n_got == n_want:
            in_sorted_order = torch.zeros_like(want)
            in_sorted_order[:n_want] = True
            if torch.equal(got, in_sorted_order):
                return report(False, name, "", "you keep the right number of tokens but return the mask in sorted "
                                               "order; return it in vocabulary order (mask[i] is about token i): "
                                               "undo the sort with the indices torch.sort returned.")
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, as top-p does, but not the most "
                                           "probable ones: sort in descending order and return the mask in "
                                           "vocabulary order.")
        if n_got < n_want:
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Keep the "
                                           "token that makes the total reach p (cumsum <= p drops it).")
        return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Stop as soon "
                                       "as the running total reaches p.")
    return report(True, name, "sort, accumulate, and keep up to the token whose running total reaches p.", "")


# ---- exercise 3: one attention step with a KV cache ------------------------

def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None,
            dim: int = -1) -> torch.Tensor:
    """softmax(q k^T * scale) v over ``dim`` of the scores: the wrong versions' maths."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim) @ v


def _cat_hint(err: Exception) -> str:
    if "Sizes of tensors must match" in str(err) or "size" in str(err).lower():
        return ("Append along the position dimension, dim=2 (caches are (B, H, P, D); at the first step P = 0), "
                "and check the shapes of q @ k_all^T (B, H, 1, P + 1).")
    return ""


def check_cached_attention(attention_step: Callable) -> bool:
    """Exercise 3: ``attention_step(q, k_new, v_new, k_cache, v_cache)`` with
    ``q, k_new, v_new`` ``(B, H, 1, D)`` and caches ``(B, H, P, D)`` (``P``
    may be 0) returns ``(out, k_all, v_all)``: the new token's attention
    output ``(B, H, 1, D)`` over all ``P + 1`` positions and the caches with
    the new key and value appended, ``(B, H, P + 1, D)``.

    Run token by token from an empty cache and compared with causal attention
    over the whole sequence at once
    (:func:`~lm_course.attention.scaled_dot_product_attention` with
    :func:`~lm_course.attention.causal_mask`).
    """
    name = "Exercise 3 (attention with a KV cache)"
    gen = torch.Generator().manual_seed(63)
    B, H, T, D = 2, 3, 6, 4
    q, k, v = (torch.randn(B, H, T, D, generator=gen, dtype=torch.float64) for _ in range(3))  # (B, H, T, D)
    full, _ = scaled_dot_product_attention(q, k, v, causal_mask(T))  # (B, H, T, D): the answer, all at once
    k_cache, v_cache = k[:, :, :0], v[:, :, :0]  # (B, H, 0, D): nothing cached yet
    for t in range(T):
        step = slice(t, t + 1)
        got = _call(name, attention_step, (q[:, :, step], k[:, :, step], v[:, :, step], k_cache, v_cache),
                    "append the new key and value to the caches (torch.cat along dim=2), then "
                    "softmax(q @ k_all^T / sqrt(D)) @ v_all.", on_error=_cat_hint)
        if got is _MISSING:
            return False
        if not isinstance(got, tuple) or len(got) != 3:
            return report(False, name, "", f"return a tuple (out, k_all, v_all), got {type(got).__name__}.")
        out, k_all, v_all = got
        want_k, want_v = k[:, :, :t + 1], v[:, :, :t + 1]  # (B, H, t + 1, D)
        if not (_tensor_like(k_all, want_k, name, "k_all") and _tensor_like(v_all, want_v, name, "v_all")):
            if isinstance(k_all, torch.Tensor) and k_all.dim() == 4 and k_all.size(2) != t + 1:
                print("   (append along the position dimension, dim=2: the caches grow by one position per step)")
            return False
        if not (torch.allclose(k_all.double(), want_k) and torch.allclose(v_all.double(), want_v)):
            reordered = torch.cat([k[:, :, step], k[:, :, :t]], dim=2)
            if torch.allclose(k_all.double(), reordered):
                return report(False, name, "", "you put the new key before the cache: append it at the end "
                                               "(torch.cat([k_cache, k_new], dim=2)) so the cache stays in "
                                               "position order.")
            return report(False, name, "", "k_all and v_all must be the caches with this step's k_new and v_new "
                                           "appended, unchanged otherwise.")
        if not _tensor_like(out, full[:, :, step], name, "the attention output (B, H, 1, D)"):
            return False
        out = out.double()
        if torch.allclose(out, full[:, :, step]):
            k_cache, v_cache = k_all, v_all  # the student's cache feeds the next step, as in generation
            continue
        qt, ka, va = q[:, :, step], k[:, :, :t + 1], v[:, :, :t + 1]
        if torch.allclose(out, _attend(qt, ka, va, scale=1.0)):
            return report(False, name, "", "scale the scores: divide q @ k^T by sqrt(D) before the softmax.")
        if torch.allclose(out, _attend(qt, ka, va, dim=-2)):
            return report(False, name, "", "the softmax runs over the keys, the last dimension of the scores "
                                           "(dim=-1); over the single query every weight becomes 1.")
        if t == 1 and torch.allclose(out, va[:, :, :1]):  # "old cache only" or "first key only": step 2 tells
            k_cache, v_cache = k_all, v_all
            continue
        if t > 0 and torch.allclose(out, _attend(qt, ka[:, :, :t], va[:, :, :t])):
            return report(False, name, "", "the new token attends to itself too: attend over the cache *with* "
                                           "the new key and value appended (k_all, v_all), not over the old cache.")
        if t > 0 and torch.allclose(out, va[:, :, :1]):
            return report(False, name, "", "your new token sees only the first position. No mask is needed in a "
                                           "cached step: the cache holds only earlier positions, all of which the "
                                           "newest token may see. (F.scaled_dot_product_attention(..., "
                                           "is_causal=True) with 1 query and P + 1 keys aligns the mask top-left "
                                           "and lets the query see key 0 only.)")
        return report(False, name, "", f"at step {t} (with {t} cached positions) the output differs from causal "
                                       "attention over the whole sequence: out = softmax(q @ k_all^T / sqrt(D)) "
                                       "@ v_all.")
    return report(True, name, f"{T} steps from an empty cache give exactly causal attention over all {T} "
                              "positions: this is what every layer of GPT does per generated token.", "")


# ---- exercise 4: what the cache saves --------------------------------------

def check_kv_cache_work(answer: object) -> bool:
    """Exercise 4: ``(without, with_cache)``: how many token positions go
    through the model to generate ``EXERCISE_4["new"]`` tokens after a
    ``EXERCISE_4["prompt"]``-token prompt, without and with the KV cache
    (the context never exceeds ``block_size``)."""
    name = "Exercise 4 (the work a KV cache saves)"
    P, N = EXERCISE_4["prompt"], EXERCISE_4["new"]
    without = sum(P + i for i in range(N))  # step i reruns all P + i tokens
    with_cache = P + (N - 1)  # the prompt once, then one new token per step
    try:
        a, b = (int(v) for v in answer)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return report(False, name, "", "give a pair of integers: (without_cache, with_cache).")
    if (a, b) == (without, with_cache):
        return report(True, name, f"{without} against {with_cache}: {without / with_cache:.0f} times fewer "
                                  "token positions, and the gap grows with the square of the length. (The time "
                                  "saved is smaller: a one-token step is limited by reading the weights, see "
                                  "\"Why the speed-up is smaller than the work saved\".)", "")
    hints = []
    if a != without:
        hints.append(f"without the cache step i (0..{N - 1}) runs the whole text so far, P + i tokens: sum them")
    if b != with_cache:
        hints.append("with the cache the first step runs the P prompt tokens, every later step only 1 token")
    return report(False, name, "", "; ".join(hints) + ".")
