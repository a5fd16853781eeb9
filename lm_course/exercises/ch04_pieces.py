"""Checkers for chapter 4's attention pieces (``04_attention.ipynb``): masked attention
(exercise 2), the causal mask with a cache (exercise 3), splitting and merging heads (exercise 4) and
the sinusoidal positional encoding (exercise 6).
"""

from __future__ import annotations

import math
import secrets
from functools import partial

import torch

from lm_course.attention import (
    MultiHeadAttention,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positional_encoding,
)
from lm_course.exercises._check import MISSING, call, exercise, report
from lm_course.exercises.ch04_attention import _is_boolean, _wrong_cell
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches

__all__ = ["check_masked_attention", "check_causal_mask", "check_split_merge_heads", "check_positional_encoding",
    "attention_reference", "positional_encoding_reference"]


# --------------------------------------------------------------------------- shared by exercises 2, 3, 4 and 6


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


# --------------------------------------------------------------------------- exercise 2: attention with a mask


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, *,
                        scale: str = "d_k", flip: bool = False, dim: int = -1,
                        nan_rows: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, weights)`` of scaled dot-product attention (the defaults:
    :func:`lm_course.attention.scaled_dot_product_attention`, a query with no
    allowed key gets zero weights), or with one of the mistakes Exercise 2's
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


@exercise("ch04.masked_attention", wrong=from_switches(attention_reference, _SDPA_MISTAKES))
def check_masked_attention(attention_fn: object) -> bool:
    """Exercise 2: ``attention_fn(q, k, v, mask=None)`` returns ``(output, weights)``
    like :func:`lm_course.attention.scaled_dot_product_attention`: ``mask`` is
    boolean, broadcastable to ``(..., T, S)``, ``True`` where the query may
    attend; a query with no allowed key gets zero weights and a zero output."""
    name = "Exercise 2 (attention with a mask)"
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


# --------------------------------------------------------------------------- exercise 3: a causal mask with a cache


def _ones(T: int, S: int) -> torch.Tensor:
    return torch.ones(T, S, dtype=torch.bool)  # (T, S)


_TRANSPOSED = ("the mask is transposed (the upper triangle): rows are queries, columns are keys, and a query sees "
               "the keys at or before it, the lower triangle.")
_CACHE_HIDDEN = "the cached keys 0 .. S - T - 1 are in every query's past: every query may attend to them."
_CAUSAL_WRONG = (
    Wrong("the diagonal left out", lambda T, S: _ones(T, S).tril(S - T - 1),
          "each query misses itself: the diagonal is allowed (s <= t + S - T, not <), or a query with no earlier "
          "key would see nothing."),
    Wrong("transposed", lambda T, S: _ones(T, S).triu(S - T), _TRANSPOSED),
    Wrong("the upper triangle", lambda T, S: _ones(T, S).triu(0), _TRANSPOSED),
    Wrong("the top-left triangle", lambda T, S: _ones(T, S).tril(0),
          "the triangle starts at the top left, so the last query sees only the first T keys. The queries are the "
          "*last* T positions (the first S - T are in the cache): shift the diagonal by S - T."),
    Wrong("the diagonal shifted the wrong way", lambda T, S: _ones(T, S).tril(T - S), _CACHE_HIDDEN),
    Wrong("the cache hidden", lambda T, S: torch.cat([torch.zeros(T, S - T, dtype=torch.bool), causal_mask(T)], 1),
          _CACHE_HIDDEN),
)


@exercise("ch04.causal_mask_with_cache", wrong=_CAUSAL_WRONG)
def check_causal_mask(mask_fn: object) -> bool:
    """Exercise 3: ``mask_fn(T, S)`` returns the boolean ``(T, S)`` causal mask
    of :func:`lm_course.attention.causal_mask`: the ``T`` queries are the last
    ``T`` of ``S`` positions, query ``t`` may attend to keys ``0 .. t + S - T``."""
    name = "Exercise 3 (a causal mask with a cache)"
    for T, S in ((5, 5), (3, 7), (1, 6), (1, 1), (4, 9), (6, 6)):
        want = causal_mask(T, S)  # (T, S)
        got = _call_for_tensor(name, mask_fn, (T, S), (T, S), f"the mask of causal_mask({T}, {S})")
        if got is None:
            return False
        if not _is_boolean(got, name):
            return False
        if torch.equal(got, want):
            continue
        where = f"With T={T}, S={S}"
        hint = diagnose(got, (T, S), _CAUSAL_WRONG, torch.equal)
        if hint is None and S > T and torch.equal(got[:, S - T:], causal_mask(T)):  # some cached keys hidden
            hint = _CACHE_HIDDEN
        if hint:
            return report(False, name, "", f"{where} {hint}")
        return report(False, name, "", _wrong_cell(got, want, where, "Query t may attend to keys 0 .. t + S - T."))
    return report(True, name, "the lower triangle shifted by S - T: what GPT uses when a KV cache holds the "
                              "first S - T positions (chapter 6).", "")


# --------------------------------------------------------------------------- exercise 4: splitting and merging heads


def _split(x: torch.Tensor, n_heads: int, *, layout: str = "right") -> torch.Tensor:
    """``(B, T, C)`` to ``(B, n_heads, T, C // n_heads)``, or a student's wrong split: ``layout`` "no_transpose"
    (reshaped straight), "strided" (viewed as (B, T, d_head, n_heads)), "sizes_swapped" (B, d_head, T, n_heads)."""
    B, T, C = x.shape
    H, dh = n_heads, C // n_heads
    if layout == "no_transpose":
        return x.reshape(B, H, T, dh)
    if layout == "strided":
        return x.view(B, T, dh, H).permute(0, 3, 1, 2)
    if layout == "sizes_swapped":
        return x.view(B, T, dh, H).transpose(1, 2)
    return x.view(B, T, H, dh).transpose(1, 2)


def _merge(y: torch.Tensor, *, layout: str = "right") -> torch.Tensor:
    """``(B, H, T, d_head)`` back to ``(B, T, H * d_head)``, or a student's wrong merge: ``layout`` "no_transpose"
    (reshaped straight), "view" (.view on the transposed tensor: raises), "strided" (features as (d_head, H))."""
    B, H, T, dh = y.shape
    if layout == "no_transpose":
        return y.reshape(B, T, H * dh)
    if layout == "view":
        return y.transpose(1, 2).view(B, T, H * dh)
    if layout == "strided":
        return y.permute(0, 2, 3, 1).reshape(B, T, H * dh)
    return y.transpose(1, 2).reshape(B, T, H * dh)


def _heads_row(name: str, split: str, merge: str, diagnosis: str) -> Wrong:
    """A row whose version is a student's pair ``(split_heads, merge_heads)``."""
    return Wrong(name, (partial(_split, layout=split), partial(_merge, layout=merge)), diagnosis)


# Exercise 4's known wrong answers: each version is the pair (split_heads, merge_heads) a student passes.
_HEADS_WRONG = (
    _heads_row("split without transpose", "no_transpose", "right",
               "split_heads reshapes (B, T, C) straight to (B, n_heads, T, d_head), which mixes time steps into "
               "heads: view it as (B, T, n_heads, d_head), then .transpose(1, 2)."),
    _heads_row("split strided", "strided", "right",
               "each head must take a contiguous slice of d_head features (head h gets features h*d_head .. "
               "(h+1)*d_head - 1): view as (B, T, n_heads, d_head), not (B, T, d_head, n_heads)."),
    _heads_row("split sizes swapped", "sizes_swapped", "right",
               "split_heads returns (B, d_head, T, n_heads): the number of heads and the head size are swapped; "
               "the heads come first, (B, n_heads, T, d_head)."),
    _heads_row("merge without transpose", "right", "no_transpose",
               "merge_heads reshapes (B, n_heads, T, d_head) straight to (B, T, C): transpose back to (B, T, "
               "n_heads, d_head) first (.transpose(1, 2), then .reshape, which copies: .view would fail on the "
               "transposed tensor)."),
    _heads_row("merge with view", "right", "view",
               "merge_heads calls .view on the transposed tensor, which is not contiguous in memory: use .reshape "
               "(or .contiguous().view)."),
    _heads_row("merge strided", "right", "strided",
               "merge_heads interleaves the heads' features: after .transpose(1, 2) the tensor is (B, T, n_heads, "
               "d_head), and reshaping that puts each head's d_head features side by side; permute no further."),
)


def _half(half: int) -> tuple[Wrong, ...]:
    """The rows of ``_HEADS_WRONG`` whose split (``half=0``) or merge (1) is wrong, as that function alone."""
    return tuple(Wrong(w.name, w.version[half], w.diagnosis) for w in _HEADS_WRONG
                 if w.version[half].keywords["layout"] != "right")


def _raised_like(err: Exception, args: tuple, table: tuple[Wrong, ...]) -> str:
    """The diagnosis of the first version of ``table`` that raises ``err``'s
    error (same type and message) on ``args``; "" if none does."""
    for wrong in table:
        try:
            wrong.version(*args)
        except Exception as own:  # noqa: BLE001 - the wrong version's own error, to compare
            if type(own) is type(err) and str(own) == str(err):
                return wrong.diagnosis
    return ""


def _heads_verdict(name: str, fn: object, args: tuple, want: torch.Tensor, half: int, where: str) -> bool:
    """Run the student's split (``half=0``) or merge (1) on ``args``: True if it gives ``want``;
    otherwise report the known mistake, a wrong shape or the fallback (``where``: the arguments)."""
    table = _half(half)
    got = call(fn, *args, on_error=lambda err: _raised_like(err, args, table))
    if isinstance(got, torch.Tensor) and torch.equal(got.float(), want):
        return True
    hint = diagnose(got, args, table, lambda a, b: isinstance(a, torch.Tensor) and torch.equal(a.float(), b))
    if hint:
        return report(False, name, "", f"{hint} ({where})")
    if not _tensor_of_shape(got, want.shape, name, f"{('split_heads', 'merge_heads')[half]}'s result ({where})"):
        return False
    return report(False, name, "", ("split_heads differs from view(B, T, n_heads, d_head).transpose(1, 2)",
                                    "merge_heads(split_heads(x)) must give x back: y.transpose(1, 2).reshape(B, "
                                    "T, n_heads * d_head)")[half] + f" ({where}).")


@exercise("ch04.split_merge_heads", wrong=_HEADS_WRONG)
def check_split_merge_heads(split_heads: object, merge_heads: object = MISSING) -> bool:
    """Exercise 4: ``split_heads(x, n_heads)``: ``(B, T, C)`` to ``(B, n_heads, T,
    C // n_heads)`` as :class:`~lm_course.attention.MultiHeadAttention` does it;
    ``merge_heads(y)``: back from ``(B, H, T, d_head)`` to ``(B, T, H * d_head)``.
    The two may also come as one pair ``(split_heads, merge_heads)``, as the
    table's wrong versions do."""
    name = "Exercise 4 (splitting and merging heads)"
    if merge_heads is MISSING:
        split_heads, merge_heads = split_heads if isinstance(split_heads, tuple) and len(split_heads) == 2 \
            else (split_heads, None)
    for B, T, H, dh in ((2, 5, 3, 4), (1, 7, 4, 2), (3, 1, 2, 6), (2, 6, 1, 5)):
        C = H * dh
        x = torch.arange(B * T * C, dtype=torch.float32).reshape(B, T, C)  # every entry different
        with torch.random.fork_rng(devices=[]):  # the notebook's random state is left alone
            want = MultiHeadAttention(C, H)._split_heads(x)  # (B, H, T, dh)
        if not _heads_verdict(name, split_heads, (x, H), want, 0, f"x of shape {(B, T, C)}, n_heads={H}"):
            return False
        y = torch.arange(B * H * T * dh, dtype=torch.float32).reshape(B, H, T, dh) * -1.0  # (B, H, T, dh)
        if not _heads_verdict(name, merge_heads, (y,), y.transpose(1, 2).reshape(B, T, C), 1,
                              f"y of shape {(B, H, T, dh)}"):
            return False
    return report(True, name, "(B, T, C) <-> (B, n_heads, T, d_head): each head sees every time step of its "
                              "own d_head-wide slice, and merging puts the slices side by side again.", "")


# --------------------------------------------------------------------------- exercise 6: sinusoidal positions


def positional_encoding_reference(T: int, d: int, *, swap: bool = False, exponent: str = "2i",
                                  layout: str = "interleaved") -> torch.Tensor:
    """The ``(T, d)`` float64 sinusoidal encoding (the defaults: that of
    :func:`lm_course.attention.sinusoidal_positional_encoding`), or with one of
    the mistakes Exercise 6's checker recognises: ``swap=True`` (cos in the
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


@exercise("ch04.positional_encoding", wrong=from_switches(positional_encoding_reference, _PE_MISTAKES))
def check_positional_encoding(pe_fn: object) -> bool:
    """Exercise 6: ``pe_fn(T, d)`` returns the ``(T, d)`` float encoding of
    :func:`lm_course.attention.sinusoidal_positional_encoding` (Vaswani et al.
    2017, section 3.5), odd ``d`` included (the last column is a sine)."""
    name = "Exercise 6 (sinusoidal positions)"
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
