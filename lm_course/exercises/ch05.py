"""Checkers for the exercises of ``05_transformer.ipynb``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lm_course.exercises._check import report, require_number

__all__ = ["check_parameter_count", "check_layer_norm", "check_gelu", "check_first_position_score"]

# the configuration of exercise 1 (a GPT the size of the course's reference model)
EXERCISE_1_CONFIG = dict(vocab_size=63, block_size=128, n_layer=4, n_head=4, n_embd=128)


def _parameter_count(vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> int:
    """Parameters of a GPT with biases and a tied head, from the formula (the
    number of heads does not matter: they split the same projections)."""
    C = n_embd
    block = (2 * C) + (3 * C * C + 3 * C) + (C * C + C) + (2 * C) + (4 * C * C + 4 * C) + (4 * C * C + C)
    return vocab_size * C + block_size * C + n_layer * block + 2 * C


def check_parameter_count(answer: object) -> bool:
    """Exercise 1: the number of parameters of ``GPT(GPTConfig(**EXERCISE_1_CONFIG))``,
    worked out with pen and paper."""
    name = "Exercise 1 (counting parameters)"
    value = require_number(answer, name)
    if value is None:
        return False
    want = _parameter_count(**EXERCISE_1_CONFIG)
    untied = want + EXERCISE_1_CONFIG["vocab_size"] * EXERCISE_1_CONFIG["n_embd"]
    if value == untied:
        return report(False, name, "", "the language-model head shares its matrix with the token embedding "
                                       "(weight tying): count it once.")
    L, C = EXERCISE_1_CONFIG["n_layer"], EXERCISE_1_CONFIG["n_embd"]
    if value == want - L * 2 * 2 * C - 2 * C:
        return report(False, name, "", "each LayerNorm has parameters too: a gain and a bias of width C.")
    return report(value == want, name,
                  f"{want:,} parameters; {L * 12 * C * C:,} of them are the blocks' 12 C^2 weight matrices.",
                  "per block: c_attn (C x 3C + 3C), attn.c_proj (C x C + C), c_fc (C x 4C + 4C), "
                  "mlp.c_proj (4C x C + C), two LayerNorms (2C each); plus wte (V x C), wpe (block_size x C) "
                  "and ln_f (2C).")


def _require_function(answer: object, exercise: str, signature: str) -> bool:
    """True if ``answer`` is callable; otherwise print what is missing."""
    if answer is None:
        print(f"❌ {exercise}: no answer yet. Define {signature}, set `answer` to it and run the cell again.")
        return False
    if not callable(answer):
        print(f"❌ {exercise}: expected a function {signature}, got {type(answer).__name__}.")
        return False
    return True


def _try(fn: Callable, *args) -> tuple[object, str | None]:
    try:
        return fn(*args), None
    except Exception as err:  # the student's code: report, never raise
        return None, f"{type(err).__name__}: {err}"


def _close_tensor(got: object, want: torch.Tensor, atol: float = 1e-5) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == want.shape
            and torch.allclose(got.float(), want, atol=atol))


def check_layer_norm(answer: object) -> bool:
    """Exercise 2: ``layer_norm(x, gain, bias, eps=1e-5)`` written by hand,
    compared with ``torch.nn.functional.layer_norm`` over the last dimension."""
    name = "Exercise 2 (LayerNorm by hand)"
    if not _require_function(answer, name, "layer_norm(x, gain, bias, eps=1e-5)"):
        return False
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 7, 16, generator=g) * 3 + 1  # (B, T, C)
    gain, bias = torch.rand(16, generator=g) + 0.5, torch.randn(16, generator=g)
    want = F.layer_norm(x, (16,), gain, bias, eps=1e-5)  # (B, T, C)
    got, err = _try(answer, x, gain, bias)
    if err:
        return report(False, name, "", f"your function raised {err}.")
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        unbiased = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5) * gain + bias
        if torch.allclose(got.float(), unbiased, atol=1e-5):
            return report(False, name, "", "LayerNorm uses the biased variance: x.var(-1, unbiased=False), "
                                           "i.e. divide by C, not C - 1.")
    return report(_close_tensor(got, want), name,
                  "mean 0 and variance 1 over the features of each position, then a learned gain and bias.",
                  "normalise over the last dimension: (x - mean) / sqrt(var + eps), with the biased variance, "
                  "then multiply by gain and add bias.")


def check_gelu(answer: object) -> bool:
    """Exercise 3: GPT-2's GELU (the tanh approximation) written by hand."""
    name = "Exercise 3 (GPT-2's GELU)"
    if not _require_function(answer, name, "gelu(x)"):
        return False
    x = torch.linspace(-6, 6, 241)  # (241,)
    want = F.gelu(x, approximate="tanh")  # (241,)
    got, err = _try(answer, x)
    if err:
        return report(False, name, "", f"your function raised {err}.")
    if _close_tensor(got, F.gelu(x), atol=1e-6) and not _close_tensor(got, want, atol=1e-6):
        return report(False, name, "", "that is the exact GELU (with erf); GPT-2 uses the tanh approximation.")
    return report(_close_tensor(got, want, atol=1e-5), name,
                  "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), Hendrycks & Gimpel (2016).",
                  "GELU(x) ~ 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))).")


def check_first_position_score(answer: object) -> bool:
    """Exercise 4: ``first_position_score(weights)``: for causal attention
    weights of shape ``(..., T, T)``, the mean over queries ``t = 1..T-1`` of
    the weight on key 0, one number per leading index (shape ``(...)``).
    Query 0 is left out: it can only attend to itself."""
    name = "Exercise 4 (attention to the first position)"
    if not _require_function(answer, name, "first_position_score(weights)"):
        return False
    g = torch.Generator().manual_seed(11)
    T = 9
    scores = torch.randn(2, 3, T, T, generator=g)  # (L, H, T, T)
    mask = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (L, H, T, T)
    want = weights[..., 1:, 0].mean(-1)  # (L, H)
    got, err = _try(answer, weights)
    if err:
        return report(False, name, "", f"your function raised {err}.")
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        if torch.allclose(got.float(), weights[..., :, 0].mean(-1), atol=1e-6):
            return report(False, name, "", "leave query 0 out: its only choice is key 0, so it always "
                                           "scores 1 and inflates the mean.")
        if torch.allclose(got.float(), weights[..., 0, 1:].mean(-1), atol=1e-6):
            return report(False, name, "", "rows are queries and columns are keys: take column 0 of rows 1..T-1.")
    return report(_close_tensor(got, want, atol=1e-6), name,
                  "heads that park their attention on the first position when nothing else is useful are "
                  "known as attention sinks (Xiao et al. 2023).",
                  "weights[..., 1:, 0] is column 0 (key 0) of the queries 1..T-1; average it over the last "
                  "dimension.")
