"""Checkers for the exercises of ``03_rnns.ipynb``.

Each ``check_...(student_function)`` runs the student's function on fixed and
random inputs, compares it with PyTorch (autograd, ``nn.LSTMCell``,
``clip_grad_norm_``, ``nn.GRUCell``), prints ✅ or a hint naming the likely
mistake, and returns ``True``/``False``. It never raises: a stub that raises
``NotImplementedError`` gets "not implemented yet" and a hint.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn as nn

from lm_course.exercises._check import report

__all__ = ["check_bptt_grad_W_hh", "check_clip_grad_norm", "check_lstm_step", "check_gru_step",
           "bptt_grad_W_hh_autograd"]

_FAILED = object()  # what _run returns when the student's call did not produce a value


def _run(fn: Callable, name: str, args: tuple, stub_hint: str) -> object:
    """Call the student's ``fn(*args)``; on a stub or an error print why and
    return ``_FAILED`` (never raise into the notebook)."""
    if not callable(fn):
        print(f"❌ {name}: expected a function, got {type(fn).__name__}.")
        return _FAILED
    try:
        out = fn(*args)
    except NotImplementedError:
        print(f"❌ {name}: not implemented yet. Hint: {stub_hint}")
        return _FAILED
    except Exception as err:  # the student's code: report, never raise
        print(f"❌ {name}: your function raised {type(err).__name__}: {err}")
        return _FAILED
    if out is None:
        print(f"❌ {name}: your function returned None; write its body and return the result.")
        return _FAILED
    return out


def _as_tensor(got: object, like: torch.Tensor) -> torch.Tensor | None:
    """``got`` as a tensor of ``like``'s dtype, or ``None`` if it is not one of its shape."""
    try:
        got = torch.as_tensor(got).detach().to(like.dtype)
    except Exception:
        return None
    return got if got.shape == like.shape else None


# --------------------------------------------------------------------- Exercise 1: BPTT for W_hh
def bptt_grad_W_hh_autograd(xs: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor,
                            u: torch.Tensor) -> torch.Tensor:
    """``d (u . h_T) / d W_hh`` for ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)``,
    ``h_0 = 0``, computed by autograd: the reference of Exercise 1."""
    W = W_hh.detach().clone().requires_grad_(True)  # (H, H)
    with torch.enable_grad():
        h = xs.new_zeros(W.size(0))  # (H,) h_0
        for x_t in xs:  # (I,)
            h = torch.tanh(W @ h + W_xh @ x_t + b_h)  # (H,)
        (u @ h).backward()
    return W.grad.detach()  # (H, H)


def _bptt_variant(xs, W_xh, W_hh, b_h, u, *, back_through_W=False, no_tanh_grad=False, last_only=False,
                  h_now=False) -> torch.Tensor:
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
        dh = W_hh @ delta if back_through_W else W_hh.T @ delta  # dloss/dh_{t-1}
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


def check_bptt_grad_W_hh(fn: Callable) -> bool:
    """Exercise 1: ``fn(xs, W_xh, W_hh, b_h, u)`` returns ``d (u . h_T) / d W_hh``
    (``(H, H)``) by a manual backward pass, checked against autograd."""
    name = "Exercise 1 (BPTT for W_hh)"
    stub = ("run the RNN forward keeping h_0 .. h_T, then walk back from t = T to 1 with "
            "delta_t = dloss/dh_t * (1 - h_t**2); add outer(delta_t, h_{t-1}) to the gradient and pass "
            "W_hh.T @ delta_t back to h_{t-1}.")
    for case in _bptt_cases():
        want = bptt_grad_W_hh_autograd(*case)  # (H, H)
        out = _run(fn, name, tuple(t.clone() for t in case), stub)
        if out is _FAILED:
            return False
        got = _as_tensor(out, want)
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


# --------------------------------------------------------------------- Exercise 2: clipping
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


def check_clip_grad_norm(fn: Callable) -> bool:
    """Exercise 2: ``fn(grads, max_norm)`` returns the gradients clipped like
    ``torch.nn.utils.clip_grad_norm_`` (one global norm over all tensors)."""
    name = "Exercise 2 (gradient clipping)"
    stub = "compute ONE norm over all the tensors, then scale every tensor by min(1, max_norm / norm)."
    for scale, max_norm in [(5.0, 1.0), (0.05, 1.0), (3.0, 0.5)]:
        grads = _random_grads(scale, seed=int(scale * 100))
        params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        nn.utils.clip_grad_norm_(params, max_norm)
        got = _run(fn, name, ([g.clone() for g in grads], max_norm), stub)
        if got is _FAILED:
            return False
        if not _same(got, [p.grad for p in params]):
            total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
            if _same(got, [g * min(1.0, max_norm / max(float(g.norm()), 1e-12)) for g in grads]):
                hint = "use ONE norm over all the tensors together (sqrt of the sum of every squared entry)."
            elif total < max_norm:
                hint = f"when the total norm ({total:.3f}) is already below max_norm, leave the gradients alone."
            else:
                hint = "scale every tensor by max_norm / total_norm when total_norm > max_norm."
            return report(False, name, "", hint)
    return report(True, name, "Same numbers as torch.nn.utils.clip_grad_norm_: the direction is kept, "
                  "only the length is capped.", "")


# --------------------------------------------------------------------- Exercise 3: an LSTM step
def _lstm_variant(x, h, c, cell, order=(0, 1, 2, 3), g_sigmoid=False, no_tanh_c=False, biases="both"):
    """One LSTM step from the cell's weights, right (defaults) or with one mistake.
    ``order`` says which row block is used as i, f, g, o."""
    b = {"both": cell.bias_ih + cell.bias_hh, "ih": cell.bias_ih, "hh": cell.bias_hh}[biases]
    z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + b  # (B, 4H)
    blocks = z.chunk(4, dim=-1)
    i, f, g, o = (blocks[k] for k in order)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if g_sigmoid else torch.tanh(g)
    c_new = f * c + i * g  # (B, H)
    h_new = o * (c_new if no_tanh_c else torch.tanh(c_new))  # (B, H)
    return h_new, c_new


_LSTM_MISTAKES = [
    (dict(g_sigmoid=True), "the candidate g_t uses tanh (values in (-1, 1), so the cell can also be decreased); "
                           "only i, f and o are sigmoids."),
    (dict(no_tanh_c=True), "the new hidden state is h_t = o_t * tanh(c_t): squash the cell before the output gate."),
    (dict(biases="ih"), "PyTorch keeps two bias vectors, bias_ih and bias_hh; add both."),
    (dict(biases="hh"), "PyTorch keeps two bias vectors, bias_ih and bias_hh; add both."),
]


def check_lstm_step(fn: Callable) -> bool:
    """Exercise 3: ``fn(x, h, c, cell)`` computes one ``nn.LSTMCell`` step by
    hand and returns ``(h_new, c_new)``."""
    name = "Exercise 3 (an LSTM step by hand)"
    stub = ("z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh is (B, 4H); "
            "split it into i, f, g, o (in that order), then c_new = f * c + i * g and h_new = o * tanh(c_new).")
    for seed, (B, I, H) in enumerate([(4, 5, 6), (1, 3, 2)]):
        torch.manual_seed(10 + seed)
        cell = nn.LSTMCell(I, H)
        x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
        with torch.no_grad():
            want_h, want_c = cell(x, (h, c))  # (B, H) each
        out = _run(fn, name, (x.clone(), h.clone(), c.clone(), cell), stub)
        if out is _FAILED:
            return False
        if isinstance(out, torch.Tensor) or not isinstance(out, (tuple, list)) or len(out) != 2:
            return report(False, name, "", "return a pair (h_new, c_new): the LSTM has two states.")
        got_h, got_c = (_as_tensor(t, want_h) for t in out)
        if got_h is None or got_c is None:
            return report(False, name, "", f"return (h_new, c_new), each of shape {tuple(want_h.shape)}.")
        if torch.allclose(got_h, want_h, atol=1e-5) and torch.allclose(got_c, want_c, atol=1e-5):
            continue
        if torch.allclose(got_h, want_c, atol=1e-5) and torch.allclose(got_c, want_h, atol=1e-5):
            return report(False, name, "", "you returned (c_new, h_new); return (h_new, c_new) like nn.LSTMCell.")
        with torch.no_grad():
            for flags, hint in _LSTM_MISTAKES:
                if torch.allclose(got_h, _lstm_variant(x, h, c, cell, **flags)[0], atol=1e-5):
                    return report(False, name, "", hint)
            for order in itertools.permutations(range(4)):
                if order != (0, 1, 2, 3) and torch.allclose(got_h, _lstm_variant(x, h, c, cell, order)[0],
                                                            atol=1e-5):
                    return report(False, name, "", "PyTorch stacks the rows of weight_ih / weight_hh in the "
                                  "order i, f, g, o (input gate, forget gate, candidate, output gate), H rows each.")
        if torch.allclose(got_c, want_c, atol=1e-5):
            return report(False, name, "", "your c_new is right; h_new = o * tanh(c_new), with o the 4th block.")
        return report(False, name, "", "check the memory-cell line: c_new = f * c + i * g (elementwise).")
    return report(True, name, "Your LSTM step equals torch.nn.LSTMCell: four blocks of weights, "
                  "an additive memory cell.", "")


# --------------------------------------------------------------------- Exercise 4: a GRU step
def check_gru_step(fn: Callable) -> bool:
    """Exercise 4: ``fn(x, h, cell)`` computes one ``nn.GRUCell`` step by hand
    from ``cell.weight_ih``, ``cell.weight_hh``, ``cell.bias_ih``, ``cell.bias_hh``."""
    name = "Exercise 4 (a GRU step by hand)"
    stub = ("gi = x @ cell.weight_ih.T + cell.bias_ih and gh = h @ cell.weight_hh.T + cell.bias_hh are (B, 3H), "
            "blocks r, z, n; then n = tanh(gi_n + r * gh_n) and h_new = (1 - z) * n + z * h.")
    torch.manual_seed(3)
    cell = nn.GRUCell(5, 6)
    x, h = torch.randn(4, 5), torch.randn(4, 6)
    want = cell(x, h).detach()
    out = _run(fn, name, (x, h, cell), stub)
    if out is _FAILED:
        return False
    got = _as_tensor(out, want)
    if got is None:
        return report(False, name, "", f"return the new hidden state, one tensor of shape {tuple(want.shape)}.")
    if torch.allclose(got, want, atol=1e-5):
        return report(True, name, "Your GRU step equals torch.nn.GRUCell.", "")
    # a frequent slip: the update gate used the other way round
    with torch.no_grad():
        gi = x @ cell.weight_ih.T + cell.bias_ih  # (B, 3H)
        gh = h @ cell.weight_hh.T + cell.bias_hh  # (B, 3H)
        r = torch.sigmoid(gi[:, :6] + gh[:, :6])
        z = torch.sigmoid(gi[:, 6:12] + gh[:, 6:12])
        n = torch.tanh(gi[:, 12:] + r * gh[:, 12:])
    if torch.allclose(got, z * n + (1 - z) * h, atol=1e-5):
        hint = "PyTorch's convention is h' = (1 - z) * n + z * h: z is how much of the OLD state is kept."
    else:
        hint = ("the rows of weight_ih / weight_hh are [reset r; update z; new n], H each; "
                "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) puts r around the whole hidden term.")
    return report(False, name, "", hint)
