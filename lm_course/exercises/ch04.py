"""Checkers for the exercises of ``04_attention.ipynb`` (section "Exercises").

Each checker prints ✅ or ❌ with a hint and never raises on a wrong answer
(nor on an answer that raises itself, loops forever, or is still the stub):
see :mod:`lm_course.exercises._check`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lm_course.attention import (MultiHeadAttention, causal_mask, scaled_dot_product_attention,
                                 sinusoidal_positional_encoding)
from lm_course.exercises._check import call, exercise, no_answer, report
from lm_course.toy_attention import ToyAttentionModel, make_batch, toy_accuracy

__all__ = ["check_multi_head_attention", "check_window_mask", "check_copy_model", "check_masked_attention",
           "check_causal_mask", "check_split_merge_heads", "check_positional_encoding", "attention_reference",
           "positional_encoding_reference"]


# --------------------------------------------------------------------------- masks (exercises 2 and 5)


def _is_boolean(mask: torch.Tensor, name: str) -> bool:
    """True if ``mask`` is boolean; otherwise report it (and return False)."""
    if mask.dtype == torch.bool:
        return True
    return report(False, name, "", f"the mask must be boolean (True = may attend), got {mask.dtype}.")


def _first_cell(mask: torch.Tensor) -> tuple[int, int]:
    """``(query, key)`` of the first True cell of a ``(T, S)`` boolean mask."""
    i, j = mask.nonzero()[0].tolist()
    return i, j


def _wrong_cell(got: torch.Tensor, want: torch.Tensor, where: str, rule: str) -> str:
    """The hint for a mask that differs from ``want``: its first wrong cell, then the rule."""
    i, j = _first_cell(got != want)
    return f"{where}: query {i} and key {j} should be {bool(want[i, j])}. {rule}"


# --------------------------------------------------------------------------- exercise 1


@dataclass(frozen=True)
class _Case:
    batch: int
    T: int
    d_model: int
    n_heads: int
    causal: bool
    seed: int


# Fixed cases (T, d_head and n_heads all differ, so a wrong reshape cannot pass
# by luck), then one with a fresh random seed.
_MHA_CASES = (_Case(2, 5, 12, 3, False, 0), _Case(1, 7, 16, 4, True, 1), _Case(3, 6, 8, 2, True, 2))


def _mha_variant(x: torch.Tensor, mha: MultiHeadAttention, causal: bool, *, split: str = "right",
                 merge: str = "right", project: bool = True, mask: bool = True, scale: str = "head",
                 one_head: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention done right (the defaults) or with one known mistake."""
    B, T, C = x.shape  # (B, T, d_model)
    H = 1 if one_head else mha.n_heads
    dh = C // H

    def heads(t: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H, T, dh)
        if split == "right":
            return t.view(B, T, H, dh).transpose(1, 2)
        return t.reshape(B, H, T, dh)  # mistake: time steps spread over heads

    q, k, v = heads(mha.q_proj(x)), heads(mha.k_proj(x)), heads(mha.v_proj(x))  # (B, H, T, dh) each
    d = {"head": dh, "model": C, "none": 1}[scale]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, H, T, T)
    if causal and mask:
        scores = scores.masked_fill(~causal_mask(T), float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, H, T, T)
    out = weights @ v  # (B, H, T, dh)
    if merge == "right":
        out = out.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
    else:
        out = out.reshape(B, T, C)  # mistake: heads not moved back beside each other
    return (mha.out_proj(out) if project else out), weights  # (B, T, C), (B, H, T, T)


# The commonest mistakes, in the order they are looked for, with their hints.
_MHA_MISTAKES = (
    (dict(mask=False), "with causal=True the outputs are those of attention without a mask: apply "
                       "causal_mask(T) (True = may attend) so that query t sees keys 0..t only."),
    (dict(project=False), "your output is the heads concatenated, before the output projection: finish "
                          "with mha.out_proj(...), which mixes the heads."),
    (dict(split="no_transpose"), "splitting into heads: reshaping (B, T, d_model) straight to (B, n_heads, "
                                 "T, d_head) mixes time steps into heads. View it as (B, T, n_heads, "
                                 "d_head), then .transpose(1, 2)."),
    (dict(merge="no_transpose"), "merging the heads: (B, n_heads, T, d_head) must be transposed back to "
                                 "(B, T, n_heads, d_head) (.transpose(1, 2)) before .reshape(B, T, d_model)."),
    (dict(split="no_transpose", merge="no_transpose"),
     "the heads are split and merged without .transpose(1, 2): each head must see every time step of its "
     "own d_head-wide slice: view (B, T, n_heads, d_head), transpose to (B, n_heads, T, d_head), and back."),
    (dict(scale="model"), "divide the scores by sqrt(d_head), the width of one head's queries, not by "
                          "sqrt(d_model)."),
    (dict(scale="none"), "divide the scores by sqrt(d_head) before the softmax (or use "
                         "scaled_dot_product_attention, which does)."),
    (dict(one_head=True), "that is one head of width d_model: split the projections into mha.n_heads heads "
                          "of width d_model // n_heads."),
)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _leaks(fn: Callable, x: torch.Tensor, mha: MultiHeadAttention, out: torch.Tensor) -> bool:
    """Does changing the last position change the outputs before it?"""
    x2 = x.clone()
    x2[:, -1] = x2[:, -1] + 1.0
    with torch.no_grad():
        got = call(fn, x2, mha, causal=True, quiet=True)
    try:
        return not torch.allclose(out[:, :-1], got[0].detach().float()[:, :-1], atol=1e-6)
    except Exception:  # not a pair of tensors of that shape: no verdict on leaking
        return False


@exercise("ch04.mha_forward")
def check_multi_head_attention(fn: object) -> bool:
    """Exercise 1: ``fn(x, mha, causal=False)`` computes the forward pass of
    :class:`~lm_course.attention.MultiHeadAttention` ``mha`` on ``x``
    ``(B, T, d_model)`` from its projections (``mha.q_proj``, ``mha.k_proj``,
    ``mha.v_proj``, ``mha.out_proj``) and returns ``(output, weights)``,
    shapes ``(B, T, d_model)`` and ``(B, n_heads, T, T)``, like ``mha(x, causal=causal)``."""
    name = "Exercise 1 (multi-head attention)"
    cases = _MHA_CASES + (_Case(2, 9, 24, 4, True, secrets.randbelow(1_000_000)),)  # and one random case
    for case in cases:
        with torch.random.fork_rng(devices=[]):  # the notebook's global random state is left alone
            torch.manual_seed(case.seed)
            mha = MultiHeadAttention(case.d_model, case.n_heads).eval()
            x = torch.randn(case.batch, case.T, case.d_model)  # (B, T, d_model)
        with torch.no_grad():
            want_out, want_w = mha(x, causal=case.causal)  # (B, T, C), (B, H, T, T)
            got = call(fn, x, mha, causal=case.causal,
                       on_error=lambda err, x=x, case=case: f"(on x of shape {tuple(x.shape)}, "
                                                            f"n_heads={case.n_heads}, causal={case.causal})")
        shapes = f"(B, T, d_model) = {tuple(want_out.shape)} and (B, n_heads, T, T) = {tuple(want_w.shape)}"
        if not (isinstance(got, (tuple, list)) and len(got) == 2
                and all(isinstance(t, torch.Tensor) for t in got)):
            return report(False, name, "", f"return a pair of tensors (output, weights), of shapes {shapes}; "
                                           f"got {type(got).__name__}.")
        out, w = (t.detach().float() for t in got)
        if out.shape == want_out.shape and w.shape != want_w.shape and w.shape[1:2] == (1,):
            with torch.no_grad():
                if _close(out, _mha_variant(x, mha, case.causal, one_head=True)[0]):
                    return report(False, name, "", _MHA_MISTAKES[-1][1])
        if out.shape != want_out.shape or w.shape != want_w.shape:
            return report(False, name, "", f"with x of shape {tuple(x.shape)} and n_heads={case.n_heads}, "
                                           f"expected shapes {shapes}, got {tuple(out.shape)} and "
                                           f"{tuple(w.shape)} (one map per head, not their mean).")
        if _close(out, want_out) and _close(w, want_w):
            continue
        where = f"(x of shape {tuple(x.shape)}, n_heads={case.n_heads}, causal={case.causal})"
        with torch.no_grad():
            for mistake, hint in _MHA_MISTAKES:
                if mistake.get("mask") is False and not case.causal:
                    continue
                wrong_out, _ = _mha_variant(x, mha, case.causal, **mistake)
                if _close(out, wrong_out):
                    return report(False, name, "", f"{hint} {where}")
        if _close(out, want_out):
            return report(False, name, "", "the output is right but the weights are not: return the softmax "
                                           f"weights of every head, shape (B, n_heads, T, T). {where}")
        if case.causal and _leaks(fn, x, mha, out):
            return report(False, name, "", "a later token changes earlier outputs: the causal mask is missing "
                                           "or the wrong way round (causal_mask(T) is True where attention "
                                           f"is allowed, the lower triangle). {where}")
        error = (out - want_out).abs().max().item()
        return report(False, name, "", f"the output differs from mha(x) by up to {error:.3g} {where}. Check "
                                       "each step: q = mha.q_proj(x) viewed as (B, T, n_heads, d_head) and "
                                       "transposed to (B, n_heads, T, d_head); scores / sqrt(d_head); "
                                       "softmax over the keys; merge; mha.out_proj.")
    return report(True, name, "split, attend, merge, project: your forward pass matches "
                              "lm_course.attention.MultiHeadAttention on every case, with and without "
                              "the causal mask.", "")


# --------------------------------------------------------------------------- exercise 2


@exercise("ch04.window_mask")
def check_window_mask(answer: object) -> bool:
    """Exercise 2: a function ``window_mask(T, w)`` returning the boolean
    ``(T, T)`` mask of causal sliding-window attention: query ``t`` may attend
    to keys ``t - w + 1 .. t``."""
    name = "Exercise 2 (a sliding-window mask)"
    for T, w in ((6, 3), (5, 1), (4, 4), (7, 2), (3, 5)):
        got = call(answer, T, w, on_error=lambda err, T=T, w=w: f"(on window_mask({T}, {w}))")
        t = torch.arange(T)
        want = (t[None, :] <= t[:, None]) & (t[:, None] - t[None, :] < w)  # (T, T): keys t-w+1..t
        if not isinstance(got, torch.Tensor) or got.shape != (T, T):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"window_mask({T}, {w}) should be a ({T}, {T}) tensor, got {shape}.")
        if not _is_boolean(got, name):
            return False
        if torch.equal(got, want):
            continue
        future = got & ~(t[None, :] <= t[:, None])
        if future.any():
            i, j = _first_cell(future)
            return report(False, name, "", f"query {i} may see key {j}, which is in its future: start from "
                                           "causal_mask(T).")
        return report(False, name, "", _wrong_cell(got, want, f"with T={T}, w={w}",
                                                   "Each query sees itself and the w - 1 keys before it."))
    return report(True, name, "each token sees only its last w tokens: the cost grows as T·w instead of T² "
                              "(sliding-window attention, e.g. Beltagy et al. 2020).", "")


# --------------------------------------------------------------------------- exercise 3


@exercise("ch04.copy_model")
def check_copy_model(answer: object) -> bool:
    """Exercise 3: a :class:`~lm_course.toy_attention.ToyAttentionModel`
    trained on the *copy* task with positions (the statement asks for learned
    ones), whose attention forms the diagonal. A position-blind copier copies
    too, by content (section 7), but is not what the exercise asks for: it is
    rejected, with that explanation."""
    name = "Exercise 3 (learning to copy)"
    if answer is None:
        return no_answer(name)
    if not isinstance(answer, ToyAttentionModel):
        print(f"❌ {name}: expected the model returned by train_toy(...), got {type(answer).__name__}.")
        return False
    config = answer.config
    if config.task != "copy":
        return report(False, name, "", f"this model was trained to {config.task}: use ToyConfig(task='copy').")
    if config.positions == "none":
        return report(False, name, "", "this model was trained without positions (positions='none'): it may "
                                       "copy, by content, as section 7's position-blind copier does, but the "
                                       "exercise asks for learned positions: train with ToyConfig(task='copy', "
                                       "positions='learned') and look at its diagonal.")
    acc = toy_accuracy(answer)
    if acc.sequences < 0.99:
        return report(False, name, "", f"it copies {acc.sequences:.0%} of sequences right: train for more steps "
                                       "(train_toy's default of 600 is plenty; 300 are enough for one layer).")
    # Sequences of distinct symbols: attending to a repeat of the same symbol
    # would copy just as well, so only there must the map be the diagonal.
    T = config.seq_len
    g = torch.Generator().manual_seed(0)
    if config.n_symbols >= T:
        x = torch.rand(200, config.n_symbols, generator=g).argsort(-1)[:, :T]  # (200, T), no repeats
    else:
        x = make_batch(config, 200, g)[0]  # (200, T)
    with torch.no_grad():
        w = answer(x, output_attentions=True).attentions[-1].mean(1)  # (200, T, T), mean of heads
    on_diagonal = (w.argmax(-1) == torch.arange(T)).float().mean().item()
    if on_diagonal < 0.95:
        return report(False, name, "", f"it copies, but only {on_diagonal:.0%} of its queries look hardest at "
                                       "their own position: use one layer so the map is readable.")
    weight = w[:, torch.arange(T), torch.arange(T)].mean().item()
    how = "each output reads its own input position"
    return report(True, name, f"{acc.sequences:.0%} of sequences copied, and the attention map is the diagonal "
                              f"(mean weight {weight:.2f} on it when no symbol repeats): {how}.", "")


# --------------------------------------------------------------------------- shared by exercises 4 to 7


def _tensor_of_shape(got: object, shape: tuple, name: str, what: str) -> bool:
    """True if ``got`` is a tensor of ``shape``; otherwise report it (and return False)."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(shape):
        return True
    seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    return report(False, name, "", f"return {what} of shape {tuple(shape)}, got {seen}.")


def _call_for_tensor(name: str, fn: object, args: tuple, shape: tuple, what: str) -> torch.Tensor | None:
    """``fn(*args)`` if it returns a tensor of ``shape``; otherwise ``None``,
    after reporting why (see :func:`call` and :func:`_tensor_of_shape`)."""
    got = call(fn, *args)
    if not _tensor_of_shape(got, shape, name, what):
        return None
    return got


def _allclose(got: torch.Tensor, want: torch.Tensor, atol: float = 1e-5) -> bool:
    got = got.detach().to(want.dtype)
    return got.shape == want.shape and bool(torch.isfinite(got).all() == torch.isfinite(want).all()) \
        and torch.allclose(torch.nan_to_num(got), torch.nan_to_num(want), atol=atol, rtol=1e-4)


# --------------------------------------------------------------------------- exercise 4: attention with a mask


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, *,
                        scale: str = "d_k", flip: bool = False, dim: int = -1,
                        nan_rows: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, weights)`` of scaled dot-product attention (the defaults:
    :func:`lm_course.attention.scaled_dot_product_attention`, a query with no
    allowed key gets zero weights), or with one of the mistakes Exercise 4's
    checker recognises: ``scale="none"`` or ``"d_v"`` (the scores divided by
    nothing or by sqrt(d_v)), ``flip=True`` (the mask's convention reversed),
    ``dim=-2`` (the softmax over the queries), ``nan_rows=True`` (NaN weights
    for a fully masked query)."""
    d = {"d_k": q.size(-1), "d_v": v.size(-1), "none": 1}[scale]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(mask if flip else ~mask, float("-inf"))
    weights = torch.softmax(scores, dim=dim)  # (..., T, S)
    if not nan_rows:
        weights = torch.nan_to_num(weights, nan=0.0)
    return weights @ v, weights  # (..., T, dv), (..., T, S)


_SDPA_MISTAKES = (
    (dict(scale="none"), "the scores are not scaled: divide q @ k^T by sqrt(d_k), the width of the queries "
                         "and keys (section 3)."),
    (dict(scale="d_v"), "divide by sqrt(d_k), the width of the queries and keys (q.size(-1)), not of the "
                        "values."),
    (dict(flip=True), "the mask convention is flipped: True means *may attend*, so fill the scores where the "
                      "mask is False (masked_fill(~mask, -inf)), not where it is True."),
    (dict(dim=-2), "the softmax runs over the wrong axis: each *row* (one query, all keys: dim=-1) must sum "
                   "to 1, not each column."),
    (dict(nan_rows=True), "a query whose mask row is all False gets NaNs (softmax of a row of -inf): return "
                          "all-zero weights and a zero output for it instead (torch.nan_to_num(weights, "
                          "nan=0.0) after the softmax)."),
)


def _sdpa_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """Random shapes (T != S, d_k != d_v), masks with rows that allow one key only, a fully masked row."""
    cases = []
    for seed, lead, T, S, dk, dv, kind in ((0, (2, 3), 5, 7, 16, 8, "one"), (1, (4,), 6, 6, 9, 9, "causal"),
                                           (2, (), 4, 5, 4, 6, "none"), (3, (2,), 3, 8, 32, 5, "empty_row"),
                                           (secrets.randbelow(10**6), (2, 2), 7, 9, 12, 7, "random")):
        g = torch.Generator().manual_seed(1000 + seed)
        q = torch.randn(*lead, T, dk, generator=g) * 2  # (..., T, d_k)
        k = torch.randn(*lead, S, dk, generator=g) * 2  # (..., S, d_k)
        v = torch.randn(*lead, S, dv, generator=g)  # (..., S, d_v)
        mask = None
        if kind == "causal":
            mask = causal_mask(T, S)  # (T, S): row 0 allows one key only
        elif kind in ("one", "empty_row", "random"):
            mask = torch.rand(*lead, T, S, generator=g) < 0.5  # (..., T, S)
            mask[..., 0, :] = False
            mask[..., 0, S // 2] = True  # a row with exactly one allowed key
            mask[..., -1, :] = True  # and one with every key
            if kind == "empty_row":
                mask[..., 1, :] = False  # a query that may attend to nothing
        cases.append((q, k, v, mask))
    return cases


@exercise("ch04.masked_attention")
def check_masked_attention(attention_fn: object) -> bool:
    """Exercise 4: ``attention_fn(q, k, v, mask=None)`` returns ``(output, weights)``
    like :func:`lm_course.attention.scaled_dot_product_attention`: ``mask`` is
    boolean, broadcastable to ``(..., T, S)``, ``True`` where the query may
    attend; a query with no allowed key gets zero weights and a zero output."""
    name = "Exercise 4 (attention with a mask)"
    for q, k, v, mask in _sdpa_cases():
        want_out, want_w = scaled_dot_product_attention(q, k, v, mask)  # (..., T, dv), (..., T, S)
        got = call(attention_fn, q, k, v, mask)
        where = (f"(q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, "
                 f"mask {'None' if mask is None else tuple(mask.shape)})")
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return report(False, name, "", f"return a pair (output, weights), got {type(got).__name__}.")
        if not (_tensor_of_shape(got[0], want_out.shape, name, "the output (..., T, d_v)")
                and _tensor_of_shape(got[1], want_w.shape, name, "the weights (..., T, S)")):
            return False
        out, w = got
        if _allclose(out, want_out) and _allclose(w, want_w):
            continue
        for switches, hint in _SDPA_MISTAKES:
            if switches.get("flip") and mask is None:
                continue
            wrong_out, wrong_w = attention_reference(q, k, v, mask, **switches)
            if _allclose(wrong_w, want_w):  # this case cannot tell that mistake apart
                continue
            if _allclose(w, wrong_w) or (_allclose(out, wrong_out) and not _allclose(out, want_out)):
                return report(False, name, "", f"{hint} {where}")
        if _allclose(w, want_w):
            return report(False, name, "", f"the weights are right but the output is not: it is weights @ v. {where}")
        if mask is not None and bool(torch.isfinite(w.detach()).all()) and \
                bool((w.detach()[(~mask).expand_as(w)] != 0).any()):
            return report(False, name, "", f"a masked key (mask False) got a non-zero weight: fill its score "
                                           f"with -inf before the softmax. {where}")
        err = (torch.nan_to_num(w.detach().float()) - want_w).abs().max().item()
        return report(False, name, "", f"the weights differ from scaled_dot_product_attention's by up to "
                                       f"{err:.3g} {where}. Check: q @ k.transpose(-2, -1), / sqrt(d_k), "
                                       "masked_fill(~mask, -inf), softmax(dim=-1), weights @ v.")
    return report(True, name, "the same output and weights as lm_course.attention.scaled_dot_product_attention "
                              "on every shape and mask, zeros for a query that may attend to nothing.", "")


# --------------------------------------------------------------------------- exercise 5: a causal mask with a cache


@exercise("ch04.causal_mask_with_cache")
def check_causal_mask(mask_fn: object) -> bool:
    """Exercise 5: ``mask_fn(T, S)`` returns the boolean ``(T, S)`` causal mask
    of :func:`lm_course.attention.causal_mask`: the ``T`` queries are the last
    ``T`` of ``S`` positions, query ``t`` may attend to keys ``0 .. t + S - T``."""
    name = "Exercise 5 (a causal mask with a cache)"
    for T, S in ((5, 5), (3, 7), (1, 6), (1, 1), (4, 9), (6, 6)):
        want = causal_mask(T, S)  # (T, S)
        got = _call_for_tensor(name, mask_fn, (T, S), (T, S), f"the mask of causal_mask({T}, {S})")
        if got is None:
            return False
        if not _is_boolean(got, name):
            return False
        if torch.equal(got, want):
            continue
        ones = torch.ones(T, S, dtype=torch.bool)
        where = f"With T={T}, S={S}"
        if torch.equal(got, ones.tril(S - T - 1)):
            return report(False, name, "", f"{where} each query misses itself: the diagonal is allowed "
                                           "(s <= t + S - T, not <), or a query with no earlier key would "
                                           "see nothing.")
        if torch.equal(got, ones.triu(S - T)) or torch.equal(got, ones.triu(0)) or \
                (T == S and torch.equal(got, want.T)):
            return report(False, name, "", f"{where} the mask is transposed (the upper triangle): rows are "
                                           "queries, columns are keys, and a query sees the keys at or before "
                                           "it, the lower triangle.")
        if S > T and torch.equal(got, ones.tril(0)):
            return report(False, name, "", f"{where} the triangle starts at the top left, so the last query "
                                           "sees only the first T keys. The queries are the *last* T positions "
                                           "(the first S - T are in the cache): shift the diagonal by S - T.")
        if S > T and (torch.equal(got, ones.tril(T - S)) or torch.equal(got[:, S - T:], causal_mask(T))
                      and not got[:, :S - T].all()):
            return report(False, name, "", f"{where} the cached keys 0 .. S - T - 1 are in every query's past: "
                                           "every query may attend to them.")
        return report(False, name, "", _wrong_cell(got, want, where, "Query t may attend to keys 0 .. t + S - T."))
    return report(True, name, "the lower triangle shifted by S - T: what GPT uses when a KV cache holds the "
                              "first S - T positions (chapter 6).", "")


# --------------------------------------------------------------------------- exercise 6: splitting and merging heads


@exercise("ch04.split_merge_heads")
def check_split_merge_heads(split_heads: object, merge_heads: object) -> bool:
    """Exercise 6: ``split_heads(x, n_heads)``: ``(B, T, C)`` to ``(B, n_heads, T,
    C // n_heads)`` as :class:`~lm_course.attention.MultiHeadAttention` does it;
    ``merge_heads(y)``: back from ``(B, H, T, d_head)`` to ``(B, T, H * d_head)``."""
    name = "Exercise 6 (splitting and merging heads)"
    for B, T, H, dh in ((2, 5, 3, 4), (1, 7, 4, 2), (3, 1, 2, 6), (2, 6, 1, 5)):
        C = H * dh
        x = torch.arange(B * T * C, dtype=torch.float32).reshape(B, T, C)  # every entry different
        with torch.random.fork_rng(devices=[]):  # the notebook's random state is left alone
            want = MultiHeadAttention(C, H)._split_heads(x)  # (B, H, T, dh)
        where = f"(x of shape {(B, T, C)}, n_heads={H})"
        got = _call_for_tensor(name, split_heads, (x, H), (B, H, T, dh), f"split_heads's result {where}")
        if got is None:
            return False
        if not torch.equal(got.float(), want):
            if torch.equal(got.float(), x.reshape(B, H, T, dh)):
                return report(False, name, "", "split_heads reshapes (B, T, C) straight to (B, n_heads, T, "
                                               "d_head), which mixes time steps into heads: view it as (B, T, "
                                               f"n_heads, d_head), then .transpose(1, 2). {where}")
            if torch.equal(got.float(), x.view(B, T, dh, H).permute(0, 3, 1, 2)):
                return report(False, name, "", "each head must take a contiguous slice of d_head features "
                                               "(head h gets features h*d_head .. (h+1)*d_head - 1): view as "
                                               f"(B, T, n_heads, d_head), not (B, T, d_head, n_heads). {where}")
            return report(False, name, "", f"split_heads differs from view(B, T, n_heads, d_head)."
                                           f"transpose(1, 2) {where}.")
        y = torch.arange(B * H * T * dh, dtype=torch.float32).reshape(B, H, T, dh) * -1.0  # (B, H, T, dh)
        want_m = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        got = _call_for_tensor(name, merge_heads, (y,), (B, T, C), f"merge_heads's result for y of shape "
                                                                    f"{(B, H, T, dh)}")
        if got is None:
            return False
        if not torch.equal(got.float(), want_m):
            if torch.equal(got.float(), y.reshape(B, T, C)):
                return report(False, name, "", "merge_heads reshapes (B, n_heads, T, d_head) straight to (B, "
                                               "T, C): transpose back to (B, T, n_heads, d_head) first "
                                               "(.transpose(1, 2), then .reshape, which copies: .view would "
                                               "fail on the transposed tensor).")
            return report(False, name, "", "merge_heads(split_heads(x)) must give x back: "
                                           "y.transpose(1, 2).reshape(B, T, n_heads * d_head).")
    return report(True, name, "(B, T, C) <-> (B, n_heads, T, d_head): each head sees every time step of its "
                              "own d_head-wide slice, and merging puts the slices side by side again.", "")


# --------------------------------------------------------------------------- exercise 7: sinusoidal positions


def positional_encoding_reference(T: int, d: int, *, swap: bool = False, exponent: str = "2i",
                                  layout: str = "interleaved") -> torch.Tensor:
    """The ``(T, d)`` float64 sinusoidal encoding (the defaults: that of
    :func:`lm_course.attention.sinusoidal_positional_encoding`), or with one of
    the mistakes Exercise 7's checker recognises: ``swap=True`` (cos in the
    even columns), ``exponent="i"`` (``pos / 10000^(i/d)``) or ``"column"``
    (each column's own index in the exponent), ``layout="halves"`` (all sines,
    then all cosines)."""
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    n_sin, n_cos = (d + 1) // 2, d // 2
    i = torch.arange(n_sin, dtype=torch.float64)  # pair index
    if exponent == "2i":
        angles = pos / 10000.0 ** (2 * i / d)  # (T, n_sin)
    elif exponent == "i":
        angles = pos / 10000.0 ** (i / d)
    first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
    pe = torch.zeros(T, d, dtype=torch.float64)
    if exponent == "column":  # the column's own index j in the exponent, j/d
        j = torch.arange(d, dtype=torch.float64)
        a = pos / 10000.0 ** (j / d)  # (T, d)
        pe[:, 0::2], pe[:, 1::2] = first(a[:, 0::2]), second(a[:, 1::2])
        return pe
    if layout == "halves":
        return torch.cat([first(angles), second(angles[:, :n_cos])], dim=1)  # (T, d)
    pe[:, 0::2], pe[:, 1::2] = first(angles), second(angles[:, :n_cos])
    return pe


_PE_MISTAKES = (
    (dict(swap=True), "sin and cos are swapped: the even columns 2i hold sin(pos / 10000^(2i/d)) and the odd "
                      "columns 2i+1 hold cos of the same angle."),
    (dict(exponent="i"), "the exponent is i/d; it is 2i/d, with i the index of the (sin, cos) pair: the "
                         "frequencies must go all the way down to 1/10000 over the d columns."),
    (dict(exponent="column"), "the exponent uses each column's own index j/d; both columns of a pair "
                              "(2i and 2i+1) share one angle, pos / 10000^(2i/d)."),
    (dict(layout="halves"), "the sines and cosines are in two halves [sin ... sin, cos ... cos]; the encoding "
                            "interleaves them: column 2i is a sine, column 2i+1 the cosine of the same angle."),
    (dict(layout="halves", swap=True), "sines and cosines are in two halves and swapped; interleave them, "
                                       "sin in the even columns and cos in the odd ones."),
)


@exercise("ch04.positional_encoding")
def check_positional_encoding(pe_fn: object) -> bool:
    """Exercise 7: ``pe_fn(T, d)`` returns the ``(T, d)`` float encoding of
    :func:`lm_course.attention.sinusoidal_positional_encoding` (Vaswani et al.
    2017, section 3.5), odd ``d`` included (the last column is a sine)."""
    name = "Exercise 7 (sinusoidal positions)"
    for T, d in ((10, 16), (50, 64), (7, 5), (1, 2), (3, 1), (20, 8)):
        want = sinusoidal_positional_encoding(T, d).double()  # (T, d)
        got = _call_for_tensor(name, pe_fn, (T, d), (T, d), f"the encoding for T={T}, d={d}")
        if got is None:
            return False
        if not got.is_floating_point():
            return report(False, name, "", f"return a float tensor, got {got.dtype}.")
        if _allclose(got.double(), want, atol=1e-4):
            continue
        for switches, hint in _PE_MISTAKES:
            if _allclose(got.double(), positional_encoding_reference(T, d, **switches), atol=1e-4):
                return report(False, name, "", f"{hint} (T={T}, d={d})")
        if d % 2 and _allclose(got.double()[:, :-1], want[:, :-1], atol=1e-4):
            return report(False, name, "", f"right except the last column of an odd d={d}: it is the sine of "
                                           "the last pair's angle (there is no cosine to go with it).")
        err = (torch.nan_to_num(got.double()) - want).abs().max().item()
        return report(False, name, "", f"the encoding differs from sinusoidal_positional_encoding({T}, {d}) by up "
                                       f"to {err:.3g}: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = "
                                       "cos(pos / 10000^(2i/d)).")
    return report(True, name, "sin and cos of pos / 10000^(2i/d), interleaved: the encoding of Vaswani et al. "
                              "(2017), odd widths included.", "")
