"""Checkers for chapter 3's gradient exercises (``03_rnns.ipynb``): the gradient of W_hh by
backpropagation through time (exercise 2) and gradient clipping (exercise 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.wrong_versions import diagnose, from_switches

__all__ = ["check_bptt_grad_W_hh", "check_clip_grad_norm", "bptt_grad_W_hh_autograd"]


def _as_tensor(got: object, like: torch.Tensor) -> torch.Tensor | None:
    """``got`` as a tensor of ``like``'s dtype, or ``None`` if it is not one of its shape."""
    try:
        got = torch.as_tensor(got).detach().to(like.dtype)
    except Exception:
        return None
    return got if got.shape == like.shape else None


# --------------------------------------------------------------------- Exercise 2: BPTT for W_hh
def bptt_grad_W_hh_autograd(xs: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor,
                            u: torch.Tensor) -> torch.Tensor:
    """``d (u . h_T) / d W_hh`` for ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)``,
    ``h_0 = 0``, computed by autograd: the reference of Exercise 2."""
    W = W_hh.detach().clone().requires_grad_(True)  # (H, H)
    with torch.enable_grad():
        h = xs.new_zeros(W.size(0))  # (H,) h_0
        for x_t in xs:  # (I,)
            h = torch.tanh(W @ h + W_xh @ x_t + b_h)  # (H,)
        (u @ h).backward()
    return W.grad.detach()  # (H, H)


def _bptt_variant(xs, W_xh, W_hh, b_h, u, *, back_through_W=False, no_tanh_grad=False, last_only=False,
                  h_now=False, pass_dh=False) -> torch.Tensor:
    """The manual backward pass, right (no flags) or with one typical mistake."""
    hs = [xs.new_zeros(W_hh.size(0))]  # h_0 .. h_T
    for x_t in xs:
        hs.append(torch.tanh(W_hh @ hs[-1] + W_xh @ x_t + b_h))
    grad = torch.zeros_like(W_hh)  # (H, H)
    dh = u.clone()  # dloss/dh_T
    for t in range(len(xs), 0, -1):
        delta = dh if no_tanh_grad else dh * (1 - hs[t] ** 2)  # dloss/d(pre-activation at t)
        grad += torch.outer(delta, hs[t] if h_now else hs[t - 1])
        if last_only:
            break
        back = dh if pass_dh else delta  # pass_dh: the tanh derivative left out of the recursion only
        dh = W_hh @ back if back_through_W else W_hh.T @ back  # dloss/dh_{t-1}
    return grad


_BPTT_MISTAKES = [
    (dict(last_only=True), "you kept only the last step's contribution. W_hh is used at EVERY step, so its "
                           "gradient is the sum over t = T..1 of delta_t h_{t-1}^T (pass delta back and add)."),
    (dict(no_tanh_grad=True), "the tanh derivative is missing: delta_t = dloss/dh_t * (1 - h_t**2) before the "
                              "outer product and before passing the gradient back."),
    (dict(back_through_W=True), "going one step back, the gradient goes through W_hh TRANSPOSED: "
                                "dloss/dh_{t-1} = W_hh.T @ delta_t."),
    (dict(h_now=True), "at step t the weight multiplies the PREVIOUS state: the contribution is "
                       "outer(delta_t, h_{t-1}), not outer(delta_t, h_t)."),
    (dict(pass_dh=True), "going one step back, pass the gradient through the tanh too: dloss/dh_{t-1} = "
                         "W_hh.T @ delta_t, with delta_t = dloss/dh_t * (1 - h_t**2), not W_hh.T @ dloss/dh_t."),
]


def _bptt_cases() -> list[tuple[torch.Tensor, ...]]:
    cases = []
    for seed, (T, I, H) in enumerate([(6, 5, 8), (1, 3, 4), (12, 4, 7)]):
        g = torch.Generator().manual_seed(100 + seed)
        xs = torch.randn(T, I, generator=g, dtype=torch.float64)  # (T, I)
        W_xh = 0.5 * torch.randn(H, I, generator=g, dtype=torch.float64)  # (H, I)
        W_hh = 0.4 * torch.randn(H, H, generator=g, dtype=torch.float64)  # (H, H)
        b_h = 0.1 * torch.randn(H, generator=g, dtype=torch.float64)  # (H,)
        u = torch.randn(H, generator=g, dtype=torch.float64)  # (H,)
        cases.append((xs, W_xh, W_hh, b_h, u))
    return cases


@exercise("ch03.bptt_grad_W_hh", wrong=from_switches(_bptt_variant, _BPTT_MISTAKES))
def check_bptt_grad_W_hh(fn: Callable) -> bool:
    """Exercise 2: ``fn(xs, W_xh, W_hh, b_h, u)`` returns ``d (u . h_T) / d W_hh``
    (``(H, H)``) by a manual backward pass, checked against autograd."""
    name = "Exercise 2 (BPTT for W_hh)"
    for case in _bptt_cases():
        want = bptt_grad_W_hh_autograd(*case)  # (H, H)
        got = _as_tensor(call(fn, *case), want)
        if got is None:
            return report(False, name, "", f"return one (H, H) tensor (here {tuple(want.shape)}), "
                          "the gradient with respect to W_hh.")
        if torch.allclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        T = case[0].size(0)
        if torch.allclose(got, want.T, rtol=1e-6, atol=1e-9):
            return report(False, name, "", "your matrix is the transpose of the gradient: entry [i, j] is "
                          "delta_t[i] * h_{t-1}[j], i.e. torch.outer(delta_t, h_prev).")
        for flags, hint in _BPTT_MISTAKES:
            if torch.allclose(got, _bptt_variant(*case, **flags), rtol=1e-6, atol=1e-9):
                return report(False, name, "", hint)
        if T == 1:
            return report(False, name, "", "with one step h_0 = 0, so W_hh multiplies a zero vector and its "
                          "gradient is all zeros.")
        return report(False, name, "", "compare your result with autograd on a short sequence, step by step; "
                      "the gradient is the sum over t of outer(delta_t, h_{t-1}).")
    return report(True, name, "Your backward pass equals autograd's: the shared W_hh's gradient is the sum of "
                  "one outer product per step, each reached through the product of Jacobians.", "")


# --------------------------------------------------------------------- Exercise 3: clipping
def _random_grads(scale: float, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(shape, generator=g) for shape in [(4, 3), (3,), (2, 2, 2)]]


def _same(got: object, want: list[torch.Tensor]) -> bool:
    """``got`` is a list of tensors equal to ``want`` (False for anything else)."""
    try:
        return len(got) == len(want) and all(
            torch.allclose(torch.as_tensor(a, dtype=torch.float32), b, rtol=1e-4, atol=1e-6)
            for a, b in zip(got, want))
    except Exception:  # wrong types or shapes: simply not the same
        return False


def _clip_variant(grads: list[torch.Tensor], max_norm: float, *, norm: str = "global",
                  scale: str = "min") -> list[torch.Tensor]:
    """``clip_grad_norm_``'s numbers, right (the defaults) or with one slip:
    ``norm="each"`` (every tensor clipped by its own norm), ``"sum"`` (the
    tensors' norms added up), ``"l1"`` (the sum of absolute values),
    ``"value"`` (every entry clamped to [-max_norm, max_norm]);
    ``scale="always"`` (scaled to max_norm even when below it)."""
    if norm == "value":
        return [g.clamp(-max_norm, max_norm) for g in grads]
    if norm == "each":
        return [g * min(1.0, max_norm / max(float(g.norm()), 1e-12)) for g in grads]
    total = {"global": math.sqrt(sum(float(g.pow(2).sum()) for g in grads)),
             "sum": sum(float(g.norm()) for g in grads), "l1": sum(float(g.abs().sum()) for g in grads)}[norm]
    factor = max_norm / (total + 1e-6)
    return [g * (factor if scale == "always" else min(1.0, factor)) for g in grads]


# clipping's commonest slips and what to say
_CLIP_SLIPS = [
    (dict(norm="each"), "use ONE norm over all the tensors together (sqrt of the sum of every squared entry)."),
    (dict(norm="sum"), "the total norm is the square root of the sum of EVERY squared entry of every tensor; "
                       "adding up the tensors' own norms gives a larger number."),
    (dict(norm="l1"), "that is the L1 norm (sum of absolute values); clip_grad_norm_ uses the L2 norm, the "
                      "square root of the sum of squares."),
    (dict(norm="value"), "that clips each entry to [-max_norm, max_norm] (clipping by value), which changes the "
                         "direction; clipping by norm multiplies every tensor by the same max_norm / total_norm."),
    (dict(scale="always"), "when the total norm is already below max_norm, leave the gradients alone: the factor "
                           "is min(1, max_norm / total_norm)."),
]
_CLIP_WRONG = from_switches(_clip_variant, _CLIP_SLIPS)


@exercise("ch03.clip", wrong=_CLIP_WRONG)
def check_clip_grad_norm(fn: Callable) -> bool:
    """Exercise 3: ``fn(grads, max_norm)`` returns the gradients clipped like
    ``torch.nn.utils.clip_grad_norm_`` (one global norm over all tensors;
    scaling them in place, as PyTorch does, is allowed)."""
    name = "Exercise 3 (gradient clipping)"
    for scale, max_norm in [(5.0, 1.0), (0.05, 1.0), (3.0, 0.5)]:
        grads = _random_grads(scale, seed=int(scale * 100))
        params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        nn.utils.clip_grad_norm_(params, max_norm)
        got = call(fn, [g.clone() for g in grads], max_norm, may_change=True)
        if _same(got, [p.grad for p in params]):
            continue
        total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        seen = f"on gradients of total norm {total:.3f} with max_norm={max_norm}"
        hint = diagnose(got, ([g.clone() for g in grads], max_norm), _CLIP_WRONG, _same)
        return report(False, name, "", f"{seen}: {hint}" if hint else
                      f"{seen}, your result differs from clip_grad_norm_'s: scale every tensor by "
                      "max_norm / total_norm when total_norm > max_norm, and leave them alone otherwise.")
    return report(True, name, "Same numbers as torch.nn.utils.clip_grad_norm_: the direction is kept, "
                  "only the length is capped.", "")
