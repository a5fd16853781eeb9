"""Checkers for chapter 6's KV-cache exercises (``06_gpt2_sampling.ipynb``): one attention step
with a cache (exercise 5) and a whole cached generate (exercise 6).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.ch06_decoding import _toy_gpt
from lm_course.exercises.ch06_filters import _tensor_like
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.gpt import GPT
from lm_course.sampling import generate

__all__ = ["check_cached_attention", "check_generate_cached", "generate_cached_reference"]


# ---- exercise 5: one attention step with a KV cache ------------------------

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


def _step_attending(attend: Callable) -> Callable:
    """A student's attention step that appends right and attends with ``attend(q, k_all, v_all, k_cache, v_cache)``."""
    def step(q, k_new, v_new, k_cache, v_cache):
        k_all, v_all = torch.cat([k_cache, k_new], dim=2), torch.cat([v_cache, v_new], dim=2)  # (B, H, P + 1, D)
        return attend(q, k_all, v_all, k_cache, v_cache), k_all, v_all
    return step


_ATTENTION_STEP_WRONG = (
    Wrong("unscaled scores", _step_attending(lambda q, k, v, kc, vc: _attend(q, k, v, scale=1.0)),
          "scale the scores: divide q @ k^T by sqrt(D) before the softmax."),
    Wrong("softmax over the query", _step_attending(lambda q, k, v, kc, vc: _attend(q, k, v, dim=-2)),
          "the softmax runs over the keys, the last dimension of the scores (dim=-1); over the single query every "
          "weight becomes 1."),
    Wrong("attends over the old cache only", _step_attending(lambda q, k, v, kc, vc: _attend(q, kc, vc)),
          "the new token attends to itself too: attend over the cache *with* the new key and value appended "
          "(k_all, v_all), not over the old cache."),
    Wrong("is_causal=True with one query", _step_attending(lambda q, k, v, kc, vc: v[:, :, :1]),
          "your new token sees only the first position. No mask is needed in a cached step: the cache holds only "
          "earlier positions, all of which the newest token may see. (F.scaled_dot_product_attention(..., "
          "is_causal=True) with 1 query and P + 1 keys aligns the mask top-left and lets the query see key 0 "
          "only.)"),
)


@exercise("ch06.attention_step", wrong=_ATTENTION_STEP_WRONG)
def check_cached_attention(attention_step: Callable) -> bool:
    """Exercise 5: ``attention_step(q, k_new, v_new, k_cache, v_cache)`` with
    ``q, k_new, v_new`` ``(B, H, 1, D)`` and caches ``(B, H, P, D)`` (``P``
    may be 0) returns ``(out, k_all, v_all)``: the new token's attention
    output ``(B, H, 1, D)`` over all ``P + 1`` positions and the caches with
    the new key and value appended, ``(B, H, P + 1, D)``.

    Run token by token from an empty cache and compared with causal attention
    over the whole sequence at once
    (:func:`~lm_course.attention.scaled_dot_product_attention` with
    :func:`~lm_course.attention.causal_mask`).
    """
    name = "Exercise 5 (attention with a KV cache)"
    gen = torch.Generator().manual_seed(63)
    B, H, T, D = 2, 3, 6, 4
    q, k, v = (torch.randn(B, H, T, D, generator=gen, dtype=torch.float64) for _ in range(3))  # (B, H, T, D)
    full, _ = scaled_dot_product_attention(q, k, v, causal_mask(T))  # (B, H, T, D): the answer, all at once
    k_cache, v_cache = k[:, :, :0], v[:, :, :0]  # (B, H, 0, D): nothing cached yet
    for t in range(T):
        step = slice(t, t + 1)
        got = call(attention_step, q[:, :, step], k[:, :, step], v[:, :, step], k_cache, v_cache,
                   on_error=_cat_hint)
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
        if t == 1 and torch.allclose(out, v[:, :, :1]):  # "old cache only" or "first key only": step 2 tells
            k_cache, v_cache = k_all, v_all
            continue
        args = (q[:, :, step], k[:, :, step], v[:, :, step], k_cache, v_cache)
        hint = diagnose(out, args, _ATTENTION_STEP_WRONG, lambda mine, wrong: torch.allclose(mine, wrong[0].double()))
        if hint:
            return report(False, name, "", hint)
        return report(False, name, "", f"at step {t} (with {t} cached positions) the output differs from causal "
                                       "attention over the whole sequence: out = softmax(q @ k_all^T / sqrt(D)) "
                                       "@ v_all.")
    return report(True, name, f"{T} steps from an empty cache give exactly causal attention over all {T} "
                              "positions: this is what every layer of GPT does per generated token.", "")


# ---- exercise 6: greedy generation with the KV cache -------------------------

# what the checker says when the model was fed more than the newest token with a cache
_FEED_NEW = ("feed only the NEW token (idx[:, -1:], shape (B, 1)): the cached positions are already in "
             "past_key_values, and feeding them again counts them twice.")
# ... and when every step ran without a cache: the right tokens, at the cost of the whole text per step
_RERAN = "right tokens, but each step reran the model on more than the new token"


def _cache_hint(err: Exception) -> str:
    if "cached" in str(err) and "block_size" in str(err):
        return f"With a cache, {_FEED_NEW}"
    return ""


def _feeds(model: GPT, fn: Callable, *args) -> tuple[object, list[tuple[int, int]]]:
    """``call(fn, model, *args)`` and what each forward pass of ``model``
    was fed: ``(new tokens T, cached positions P)``."""
    fed: list[tuple[int, int]] = []

    def spy(module, args, kwargs):
        idx = args[0] if args else kwargs.get("idx")
        past = kwargs.get("past_key_values", args[1] if len(args) > 1 else None)
        fed.append((int(idx.shape[-1]), 0 if past is None else int(past[0][0].size(2))))

    handle = model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        return call(fn, model, *args, timeout=20.0, on_error=_cache_hint), fed
    finally:
        handle.remove()


def generate_cached_reference(model: GPT, idx: torch.Tensor, max_new_tokens: int, *, stale: bool = False,
                              first_position: bool = False, feed_all: bool = False, no_cache: bool = False,
                              new_only: bool = False) -> torch.Tensor:
    """Greedy decoding with the KV cache (the defaults: the tokens of
    ``generate(model, idx, n, use_cache=True)``), or a wrong version:
    ``stale`` (the prompt's cache reused at every step, never the updated
    one), ``first_position`` (the prompt step's token from the logits of
    position 0), ``feed_all`` (the whole text fed with the cache at every
    step), ``no_cache`` (the whole text, no cache: right tokens, slowly),
    ``new_only`` (only the new tokens returned, without the prompt)."""
    T0 = idx.size(1)
    with torch.no_grad():
        out = model(idx, use_cache=True)
        prompt_past = past = out.past_key_values
        logits = out.logits[:, 0 if first_position else -1]  # (B, V)
        for step in range(max_new_tokens):
            nxt = logits.argmax(-1, keepdim=True)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
            if step == max_new_tokens - 1:
                break  # the last token needs no forward pass of its own
            if no_cache:
                out = model(idx)
            else:  # with the cache: the newest token only (feed_all: the whole text again)
                out = model(idx if feed_all else nxt, past_key_values=prompt_past if stale else past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
    return idx[:, T0:] if new_only else idx


# the wrong versions the tokens reveal (first two) or what the model was fed (the others); a table
_CACHED_MISTAKES = [
    (dict(stale=True), "every step reuses the prompt's cache: pass the past_key_values the LAST call returned, so "
                       "the cache grows by one position per step."),
    (dict(first_position=True), "the first new token comes from the logits of the LAST prompt position, "
                                "out.logits[:, -1], not position 0."),
    (dict(feed_all=True), _FEED_NEW),
    (dict(no_cache=True), _RERAN),
    (dict(new_only=True), "return the prompt followed by the new tokens"),
]


_CACHED_TABLE = from_switches(generate_cached_reference, _CACHED_MISTAKES)


@exercise("ch06.generate_cached", wrong=_CACHED_TABLE)
def check_generate_cached(generate_fn: object) -> bool:
    """Exercise 6: ``generate_fn(model, idx, max_new_tokens)``: greedy
    decoding of the GPT ``model`` from the prompt ``idx`` ``(B, T)`` with the
    KV cache: one call on the prompt with ``use_cache=True``, then one call
    per new token feeding only that token and the ``past_key_values`` of the
    call before. The prompt plus the new tokens fit in ``block_size``.
    Compared, token for token, with ``lm_course.sampling.generate(...,
    use_cache=True)``, and what the model is fed at each step is watched."""
    name = "Exercise 6 (greedy generation with the KV cache)"
    g = torch.Generator().manual_seed(66)
    cases = [(_toy_gpt(5, block_size=12), torch.randint(0, 13, (2, 3), generator=g), 8),
             (_toy_gpt(6, block_size=8), torch.randint(0, 13, (3, 1), generator=g), 7),
             (_toy_gpt(7, block_size=10), torch.randint(0, 13, (1, 5), generator=g), 1)]
    for model, idx, n in cases:
        want = generate(model, idx, n, use_cache=True)  # (B, T + n), greedy
        where = f"(prompt of shape {tuple(idx.shape)}, {n} new tokens)"
        got, fed = _feeds(model, generate_fn, idx, n)
        if not _tensor_like(got, want, name, "the prompt followed by the new tokens, (B, T + max_new_tokens),"):
            return False
        if not torch.equal(got.long(), want):
            hint = diagnose(got.long(), (model, idx, n), _CACHED_TABLE, torch.equal)
            if hint:
                return report(False, name, "", f"{hint} {where}")
            if any(T > 1 and P > 0 for T, P in fed):
                return report(False, name, "", f"with a cache, {_FEED_NEW} {where}")
            return report(False, name, "", f"other tokens than greedy generate with the cache {where}: take the "
                                           "argmax of out.logits[:, -1] at each step and append it to idx.")
        T0 = idx.size(1)
        if not fed:  # model.forward(...) called directly: hooks do not see it, the tokens are right
            continue
        if fed[0] != (T0, 0):
            return report(False, name, "", f"the first call should read the whole prompt ({T0} tokens) with no cache, "
                                           "model(idx, use_cache=True).")
        if all(T == 1 and P > 0 for T, P in fed[1:]) and [P for _, P in fed[1:]] != list(range(T0, T0 + len(fed) - 1)):
            return report(False, name, "", f"the cache does not grow (it held {[P for _, P in fed[1:]]} positions at "
                                           f"the steps): {_CACHED_MISTAKES[0][1]} {where}")
        if any(T > 1 for T, P in fed[1:]) or any(P == 0 for T, P in fed[1:]):
            return report(False, name, "", f"{_RERAN} (it was fed {[T for T, P in fed]} tokens): pass "
                                           f"past_key_values and only the newest token, so a step costs one "
                                           f"position, not the whole text. {where}")
    return report(True, name, "One pass over the prompt, then one position per new token: the same tokens as "
                              "lm_course.sampling.generate with use_cache=True.", "")
