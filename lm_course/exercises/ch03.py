"""Checkers for the exercises of ``03_rnns.ipynb``."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn

from lm_course.exercises._check import close, report, require_number

__all__ = ["check_lstm_parameters", "check_steps_to_vanish", "check_clip_grad_norm", "check_gru_step"]


def check_lstm_parameters(answer: object) -> bool:
    """Exercise 1: parameters of ``nn.LSTM(input_size=64, hidden_size=256)``."""
    name = "Exercise 1 (LSTM parameters)"
    value = require_number(answer, name)
    if value is None:
        return False
    I, H = 64, 256
    want = 4 * (H * I + H * H + 2 * H)
    if close(value, 4 * (H * I + H * H + H)):
        return report(False, name, "", "PyTorch keeps two bias vectors per gate (b_ih and b_hh); count both.")
    if close(value, H * I + H * H + 2 * H):
        return report(False, name, "", "that is one gate's worth; an LSTM has four blocks (i, f, g, o).")
    if close(value, 4 * (H * I + H * H)):
        return report(False, name, "", "do not forget the biases.")
    return report(close(value, want), name,
                  f"4 x (256x64 + 256x256 + 2x256) = {want:,}. Check: sum(p.numel() for p in lstm.parameters()).",
                  "each of the 4 gates has W_x (H x I), W_h (H x H) and two biases of size H.")


def check_steps_to_vanish(answer: object) -> bool:
    """Exercise 2: steps back until a gradient shrinks below 1/1000 when each
    step multiplies its norm by 0.9."""
    name = "Exercise 2 (vanishing gradients)"
    value = require_number(answer, name)
    if value is None:
        return False
    exact = math.log(1e-3) / math.log(0.9)  # 65.56...
    want = math.ceil(exact)
    if close(value, exact, rel=1e-3):
        return report(False, name, "", f"{exact:.2f} is where 0.9^k = 1e-3; the question asks for a whole "
                      "number of steps with 0.9^k BELOW 1e-3.")
    if value < 0:
        return report(False, name, "", "a number of steps is positive; divide two negative logarithms.")
    return report(value == want, name,
                  f"0.9^{want} = {0.9 ** want:.2e} < 1e-3 <= 0.9^{want - 1} = {0.9 ** (want - 1):.2e}: "
                  "a radius just below 1 already forgets within a few dozen characters.",
                  "solve 0.9^k < 1e-3 for k with logarithms: k > ln(1e-3) / ln(0.9), then round up.")


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
    """Exercise 3: ``fn(grads, max_norm)`` returns the gradients clipped like
    ``torch.nn.utils.clip_grad_norm_`` (one global norm over all tensors)."""
    name = "Exercise 3 (gradient clipping)"
    if not callable(fn):
        print(f"❌ {name}: expected a function clip(grads, max_norm), got {type(fn).__name__}.")
        return False
    for scale, max_norm in [(5.0, 1.0), (0.05, 1.0), (3.0, 0.5)]:
        grads = _random_grads(scale, seed=int(scale * 100))
        params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        nn.utils.clip_grad_norm_(params, max_norm)
        try:
            got = fn([g.clone() for g in grads], max_norm)
        except Exception as err:  # the student's code: report, never raise
            print(f"❌ {name}: your function raised {type(err).__name__}: {err}")
            return False
        if got is None:
            print(f"❌ {name}: your function returned None; write its body and return the list of clipped tensors.")
            return False
        ok = _same(got, [p.grad for p in params])
        if not ok:
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


def check_gru_step(fn: Callable) -> bool:
    """Exercise 4: ``fn(x, h, cell)`` computes one ``nn.GRUCell`` step by hand
    from ``cell.weight_ih``, ``cell.weight_hh``, ``cell.bias_ih``, ``cell.bias_hh``."""
    name = "Exercise 4 (a GRU step by hand)"
    if not callable(fn):
        print(f"❌ {name}: expected a function gru_step(x, h, cell), got {type(fn).__name__}.")
        return False
    torch.manual_seed(3)
    cell = nn.GRUCell(5, 6)
    x, h = torch.randn(4, 5), torch.randn(4, 6)
    want = cell(x, h).detach()
    try:
        with torch.no_grad():
            got = fn(x, h, cell)
    except Exception as err:
        print(f"❌ {name}: your function raised {type(err).__name__}: {err}")
        return False
    if got is None:
        print(f"❌ {name}: your function returned None; write its body and return the new hidden state.")
        return False
    try:
        got = torch.as_tensor(got).detach().float()
    except Exception:
        print(f"❌ {name}: expected a tensor of shape {tuple(want.shape)}, got {type(got).__name__}.")
        return False
    if got.shape != want.shape:
        return report(False, name, "", f"return the new hidden state, shape {tuple(want.shape)}; "
                      f"got {tuple(got.shape)}.")
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
