"""Checkers for chapter 4's first exercises (``04_attention.ipynb``): multi-head attention
(exercise 5), a sliding-window mask (exercise 1) and the copy task (exercise 7).
"""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import torch

from lm_course.attention import MultiHeadAttention, causal_mask
from lm_course.exercises._check import call, exercise, no_answer, report
from lm_course.exercises.wrong_versions import Wrong, WrongValue, diagnose, from_switches
from lm_course.toy_attention import ToyAttentionModel, ToyConfig, make_batch, toy_accuracy, train_toy

__all__ = ["check_multi_head_attention", "check_window_mask", "check_copy_model"]


# --------------------------------------------------------------------------- masks (exercises 1 and 3)


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


# --------------------------------------------------------------------------- exercise 5


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


def _mha_variant(x: torch.Tensor, mha: MultiHeadAttention, causal: bool = False, *, split: str = "right",
                 merge: str = "right", project: bool = True, mask: str = "before", scale: str = "head",
                 one_head: bool = False, dim: int = -1, weights: str = "softmax",
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention done right (the defaults) or with one known mistake:
    ``mask="none"``, ``"after"`` (the softmax's output masked) or ``"transposed"``
    (the upper triangle); ``dim=-2`` (the softmax over the queries); ``weights="scores"``
    (the scores returned as the weights); the others are named in ``_MHA_MISTAKES``."""
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
    allowed = causal_mask(T).T if mask == "transposed" else causal_mask(T)  # (T, T)
    if causal and mask in ("before", "transposed"):
        scores = scores.masked_fill(~allowed, float("-inf"))
    w = torch.softmax(scores, dim=dim)  # (B, H, T, T)
    if causal and mask == "after":
        w = w.masked_fill(~allowed, 0.0)  # mistake: the future shaped the softmax, the rows no longer sum to 1
    out = w @ v  # (B, H, T, dh)
    if merge == "right":
        out = out.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
    else:
        out = out.reshape(B, T, C)  # mistake: heads not moved back beside each other
    return (mha.out_proj(out) if project else out), (scores if weights == "scores" else w)  # (B, T, C), (B, H, T, T)


# Exercise 5's known mistakes (switches of _mha_variant), in the order they are looked for, with their hints.
_MHA_MISTAKES = (
    (dict(mask="none"), "with causal=True the outputs are those of attention without a mask: apply "
                        "causal_mask(T) (True = may attend) so that query t sees keys 0..t only."),
    (dict(mask="after"), "the mask is applied after the softmax: the future keys still shaped the weights, "
                         "and each row no longer sums to 1. Fill the masked scores with -inf before the softmax."),
    (dict(mask="transposed"), "the causal mask is the wrong way round (the upper triangle): causal_mask(T) is "
                              "True where attention is allowed, so hide the scores where it is False (~mask)."),
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
    (dict(dim=-2), "the softmax runs over the queries (dim=-2): each query's weights over the keys must sum "
                   "to 1, so take it over the last dimension."),
    (dict(weights="scores"), "the weights you return are the scores before the softmax: return the softmax's "
                             "output, which sums to 1 over the keys."),
    (dict(one_head=True), "that is one head of width d_model: split the projections into mha.n_heads heads "
                          "of width d_model // n_heads."),
)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def _same_pair(got: tuple[torch.Tensor, torch.Tensor], wrong: tuple[torch.Tensor, torch.Tensor]) -> bool:
    """The same (output, weights), up to rounding."""
    return all(_close(a, b.detach().float()) for a, b in zip(got, wrong))


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


def _mha_fallback(fn: Callable, x: torch.Tensor, mha: MultiHeadAttention, case: _Case, out: torch.Tensor,
                  want_out: torch.Tensor, where: str) -> str:
    """The hint for a forward pass that no known mistake explains: what is
    right, whether the future leaks, else how far off it is."""
    if _close(out, want_out):
        return ("the output is right but the weights are not: return the softmax weights of every head, shape "
                f"(B, n_heads, T, T). {where}")
    if case.causal and _leaks(fn, x, mha, out):
        return ("a later token changes earlier outputs: the causal mask is missing or the wrong way round "
                f"(causal_mask(T) is True where attention is allowed, the lower triangle). {where}")
    error = (out - want_out).abs().max().item()
    return (f"the output differs from mha(x) by up to {error:.3g} {where}. Check each step: q = mha.q_proj(x) "
            "viewed as (B, T, n_heads, d_head) and transposed to (B, n_heads, T, d_head); scores / sqrt(d_head); "
            "softmax over the keys; merge; mha.out_proj.")


@exercise("ch04.mha_forward", wrong=from_switches(_mha_variant, _MHA_MISTAKES))
def check_multi_head_attention(fn: object) -> bool:
    """Exercise 5: ``fn(x, mha, causal=False)`` computes the forward pass of
    :class:`~lm_course.attention.MultiHeadAttention` ``mha`` on ``x``
    ``(B, T, d_model)`` from its projections (``mha.q_proj``, ``mha.k_proj``,
    ``mha.v_proj``, ``mha.out_proj``) and returns ``(output, weights)``,
    shapes ``(B, T, d_model)`` and ``(B, n_heads, T, T)``, like ``mha(x, causal=causal)``."""
    name = "Exercise 5 (multi-head attention)"
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
        if _close(out, want_out) and _close(w, want_w):
            continue
        where = f"(x of shape {tuple(x.shape)}, n_heads={case.n_heads}, causal={case.causal})"
        with torch.no_grad():
            hint = diagnose((out, w), (x, mha, case.causal), check_multi_head_attention.wrong_versions,
                            _same_pair)
        if hint:
            return report(False, name, "", f"{hint} {where}")
        if out.shape != want_out.shape or w.shape != want_w.shape:
            return report(False, name, "", f"with x of shape {tuple(x.shape)} and n_heads={case.n_heads}, "
                                           f"expected shapes {shapes}, got {tuple(out.shape)} and "
                                           f"{tuple(w.shape)} (one map per head, not their mean).")
        return report(False, name, "", _mha_fallback(fn, x, mha, case, out, want_out, where))
    return report(True, name, "split, attend, merge, project: your forward pass matches "
                              "lm_course.attention.MultiHeadAttention on every case, with and without "
                              "the causal mask.", "")


# --------------------------------------------------------------------------- exercise 1


def _window(T: int, w: int, *, past: int, causal: bool = True) -> torch.Tensor:
    """Keys t - past .. t (and, with ``causal=False``, t .. t + past too): (T, T) bool."""
    t = torch.arange(T)
    d = t[:, None] - t[None, :]  # (T, T): how far back key s is from query t
    return ((d >= 0) if causal else (d.abs() >= 0)) & (d.abs() <= past)


_WINDOW_WRONG = (
    Wrong("one key too many", lambda T, w: _window(T, w, past=w),
          "each query sees w + 1 keys: t - s <= w lets in one key too many; the window is the query itself and "
          "the w - 1 keys before it, t - s < w."),
    Wrong("one key too few", lambda T, w: _window(T, w, past=w - 2),
          "each query sees only w - 1 keys: the window counts the query itself, so it holds the keys t - w + 1 .. "
          "t (t - s < w, not t - s < w - 1)."),
    Wrong("both sides", lambda T, w: _window(T, w, past=w - 1, causal=False),
          "the window looks both ways: a query may not see keys in its future; keep only s <= t (start from "
          "causal_mask(T))."),
    Wrong("the plain causal mask", lambda T, w: _window(T, w, past=T),
          "that is the plain causal mask: every query sees all the keys before it; keep only the last w of them "
          "(t - s < w)."),
)


@exercise("ch04.window_mask", wrong=_WINDOW_WRONG)
def check_window_mask(answer: object) -> bool:
    """Exercise 1: a function ``window_mask(T, w)`` returning the boolean
    ``(T, T)`` mask of causal sliding-window attention: query ``t`` may attend
    to keys ``t - w + 1 .. t``."""
    name = "Exercise 1 (a sliding-window mask)"
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
        hint = diagnose(got, (T, w), _WINDOW_WRONG, torch.equal)
        if hint:
            return report(False, name, "", f"{hint} (window_mask({T}, {w}))")
        future = got & ~(t[None, :] <= t[:, None])
        if future.any():
            i, j = _first_cell(future)
            return report(False, name, "", f"query {i} may see key {j}, which is in its future: start from "
                                           "causal_mask(T).")
        return report(False, name, "", _wrong_cell(got, want, f"with T={T}, w={w}",
                                                   "Each query sees itself and the w - 1 keys before it."))
    return report(True, name, "each token sees only its last w tokens: the cost grows as T·w instead of T² "
                              "(sliding-window attention, e.g. Beltagy et al. 2020).", "")


# --------------------------------------------------------------------------- exercise 7


@functools.cache
def _trained(task: str = "copy", positions: str = "learned", steps: int = 1) -> tuple[ToyAttentionModel, list]:
    """``train_toy``'s pair (model, history), as a student with a wrong answer
    to exercise 7 trains it (seeded; a few steps, under a second), trained once."""
    return train_toy(ToyConfig(task=task, positions=positions), steps=steps, progress=False)


def _toy(answer: object) -> bool:
    return isinstance(answer, ToyAttentionModel)


def _too_few_steps(answer: object) -> str | None:
    """What to say before the diagnosis if ``answer`` copies under 99% of sequences right."""
    if not _toy(answer):
        return None
    acc = toy_accuracy(answer).sequences
    return f"it copies {acc:.0%} of sequences right: " if acc < 0.99 else None


def _other_architecture(answer: object) -> str | None:
    """What to say before the diagnosis if ``answer`` is not one layer, one head, learned positions."""
    if not _toy(answer):
        return None
    c = answer.config
    if (c.n_layers, c.n_heads, c.positions) == (1, 1, "learned"):
        return None
    return f"this model has {c.n_layers} layer(s), {c.n_heads} head(s) and {c.positions} positions: "


# Exercise 7's wrong answers, in the order the checker looks for them: how to spot the mistake in an
# answer (None: not this one; else the words to put before the diagnosis), then the row, whose answer
# (the one a student with that mistake passes) is trained on first use.
_COPY_SLIPS: tuple[tuple[Callable[[object], str | None], Wrong], ...] = (
    (lambda a: "" if isinstance(a, tuple) and a and _toy(a[0]) else None,
     WrongValue("train_toy's pair", _trained,
                "train_toy returns a pair (model, history): pass the model, train_toy(...)[0].")),
    (lambda a: f"this model was trained to {a.config.task}: " if _toy(a) and a.config.task != "copy" else None,
     WrongValue("another task", lambda: _trained("reverse", steps=5)[0], "use ToyConfig(task='copy').")),
    (lambda a: "" if _toy(a) and a.config.positions == "none" else None,
     WrongValue("no positions", lambda: _trained(positions="none", steps=150)[0],
                "this model was trained without positions (positions='none'): it may copy, by content, as section "
                "7's position-blind copier does, but the exercise asks for learned positions: train with "
                "ToyConfig(task='copy', positions='learned') and look at its diagonal.")),
    (_other_architecture, WrongValue("two layers", lambda: train_toy(ToyConfig(task="copy", n_layers=2), steps=300,
                                                                     progress=False)[0],
                                     "the exercise asks for one layer, one head and learned positions "
                                     "(ToyConfig(task='copy') with its other defaults), so that the model's one "
                                     "attention map is the one to read.")),
    (_too_few_steps, WrongValue("too few steps", lambda: _trained()[0],
                                "train for more steps (train_toy's default of 600 is plenty; 300 are enough for "
                                "one layer).")),
)


@exercise("ch04.copy_model", wrong=tuple(row for _, row in _COPY_SLIPS))
def check_copy_model(answer: object) -> bool:
    """Exercise 7: a :class:`~lm_course.toy_attention.ToyAttentionModel`
    trained on the *copy* task with positions (the statement asks for learned
    ones), whose attention forms the diagonal. A position-blind copier copies
    too, by content (section 7), but is not what the exercise asks for: it is
    rejected, with that explanation."""
    name = "Exercise 7 (learning to copy)"
    if answer is None:
        return no_answer(name)
    for spot, row in _COPY_SLIPS:
        lead = spot(answer)
        if lead is not None:
            return report(False, name, "", lead + row.diagnosis)
    if not isinstance(answer, ToyAttentionModel):
        return report(False, name, "", f"expected the model returned by train_toy(...), got {type(answer).__name__}.")
    # Sequences of distinct symbols: attending to a repeat of the same symbol
    # would copy just as well, so only there must the map be the diagonal.
    config = answer.config
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
                                       "their own position: train it longer (train_toy's default of 600 steps).")
    weight = w[:, torch.arange(T), torch.arange(T)].mean().item()
    how = "each output reads its own input position"
    return report(True, name, f"{toy_accuracy(answer).sequences:.0%} of sequences copied, and the attention map "
                              f"is the diagonal (mean weight {weight:.2f} on it when no symbol repeats): {how}.", "")
