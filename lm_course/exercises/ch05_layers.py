"""Checkers for chapter 5's layer exercises (``05_transformer.ipynb``): LayerNorm (exercise 1),
GELU (exercise 2) and a whole GPT block (exercise 3).
"""

from __future__ import annotations

import math
import random
from functools import partial

import torch
import torch.nn.functional as F

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.gpt import Block, GPTConfig

__all__ = ["check_layer_norm", "check_gelu", "check_gpt_block", "block_weights", "block_reference"]


def _close_tensor(got: object, want: torch.Tensor, atol: float = 1e-5) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == want.shape
            and bool(torch.isfinite(got).all()) and torch.allclose(got.detach().to(want.dtype), want, atol=atol))


# ---- Exercise 1: LayerNorm -------------------------------------------------

def _layer_norm_variant(x: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5, *,
                        where_eps: str = "inside", dim: int = -1, unbiased: bool = False) -> torch.Tensor:
    """LayerNorm right (the defaults) or with one mistake: ``where_eps="outside"``
    ((x - mean) / (std + eps)), ``"variance"`` (divided by var + eps, no
    square root), ``dim`` (a fixed axis), ``unbiased`` (the variance over C - 1)."""
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, unbiased=unbiased)
    if where_eps == "outside":
        norm = (x - mean) / (var.sqrt() + eps)
    elif where_eps == "variance":
        norm = (x - mean) / (var + eps)
    else:
        norm = (x - mean) / torch.sqrt(var + eps)
    return norm * gain + bias


_LN_WRONG = (
    Wrong("unbiased variance", partial(_layer_norm_variant, unbiased=True),
          "LayerNorm uses the biased variance: x.var(-1, unbiased=False), i.e. divide by C, not C - 1."),
    Wrong("eps outside the square root", partial(_layer_norm_variant, where_eps="outside"),
          "eps goes INSIDE the square root: (x - mean) / sqrt(var + eps); (x - mean) / (std + eps) differs when "
          "the variance is small (this input's is about 1e-6)."),
    Wrong("divided by the variance", partial(_layer_norm_variant, where_eps="variance"),
          "divide by the standard deviation, sqrt(var + eps), not by the variance."),
    Wrong("a hard-coded dim=2", partial(_layer_norm_variant, dim=2),
          "normalise over the LAST dimension (dim=-1): x is (..., C) and may have any number of dimensions; "
          "dim=2 is the last one only for 3-D inputs."),
    Wrong("over the positions", partial(_layer_norm_variant, dim=-2),
          "normalise each position over its C features (dim=-1), not each feature over the positions."),
)


def _same_values(got: torch.Tensor, wrong: torch.Tensor) -> bool:
    return got.shape == wrong.shape and torch.allclose(got, wrong.double(), rtol=1e-4, atol=1e-5)


def _layer_norm_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A 3-D input, one with a tiny variance (where eps matters), a 4-D and a 2-D one."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for shape, scale in (((2, 7, 16), 3.0), ((3, 5, 16), 1e-3), ((2, 3, 4, 16), 1.0), ((6, 16), 2.0)):
        x = torch.randn(*shape, generator=g, dtype=torch.float64) * scale + 1  # (..., C)
        gain = torch.rand(16, generator=g, dtype=torch.float64) + 0.5  # (C,)
        bias = torch.randn(16, generator=g, dtype=torch.float64)  # (C,)
        cases.append((x, gain, bias))
    return cases


def _dim_hint(err: Exception) -> str:
    if "Dimension out of range" in str(err) or "dim" in str(err).lower():
        return "x is (..., C) with any number of dimensions: normalise over the last one, dim=-1."
    return ""


@exercise("ch05.layer_norm", wrong=_LN_WRONG)
def check_layer_norm(answer: object) -> bool:
    """Exercise 1: ``layer_norm(x, gain, bias, eps=1e-5)`` written by hand,
    compared with ``torch.nn.functional.layer_norm`` over the last dimension
    on inputs of 2, 3 and 4 dimensions, one with a tiny variance."""
    name = "Exercise 1 (LayerNorm by hand)"
    for x, gain, bias in _layer_norm_cases():
        want = F.layer_norm(x, (16,), gain, bias, eps=1e-5)  # (..., C)
        got = call(answer, x, gain, bias, on_error=_dim_hint)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a tensor of the input's shape {tuple(x.shape)}, got {shape}.")
        got = got.detach().double()
        if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            continue
        hint = diagnose(got, (x, gain, bias), _LN_WRONG, _same_values)
        if hint:
            return report(False, name, "", hint)
        return report(False, name, "", f"on x of shape {tuple(x.shape)} your output differs from "
                                       "F.layer_norm by up to {:.3g}: (x - mean) / sqrt(var + eps) over the "
                                       "last dimension, biased variance, then * gain + bias."
                                       .format(float((got - want).abs().max())))
    return report(True, name, "mean 0 and variance 1 over the features of each position, then a learned gain "
                              "and bias.", "")


# ---- Exercise 2: GELU ------------------------------------------------------

_GELU_WRONG = (
    Wrong("the exact GELU", lambda x: F.gelu(x), "that is the exact GELU (with erf); GPT-2 uses the tanh "
                                                 "approximation."),
    Wrong("ReLU", torch.relu, "that is ReLU; GELU is smooth and slightly negative for x < 0."),
    Wrong("the sigmoid approximation", lambda x: x * torch.sigmoid(1.702 * x),
          "that is the sigmoid approximation x * sigmoid(1.702 x); GPT-2 uses the tanh one."),
    Wrong("no cubic term", lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)),
          "the cubic term is missing: tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))."),
    Wrong("sqrt(2 pi)", lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 * math.pi) * (x + 0.044715 * x ** 3))),
          "the constant is sqrt(2 / pi), about 0.798, not sqrt(2 pi)."),
)


@exercise("ch05.gelu", wrong=_GELU_WRONG)
def check_gelu(answer: object) -> bool:
    """Exercise 2: GPT-2's GELU (the tanh approximation) written by hand."""
    name = "Exercise 2 (GPT-2's GELU)"
    x = torch.linspace(-6, 6, 241)  # (241,)
    want = F.gelu(x, approximate="tanh")  # (241,)
    got = call(answer, x)
    if _close_tensor(got, want, atol=1e-5):
        return report(True, name, "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), Hendrycks & Gimpel (2016).", "")
    hint = diagnose(got, (x,), _GELU_WRONG, lambda a, b: _close_tensor(a, b, atol=1e-6))
    if hint:
        return report(False, name, "", hint)
    return report(False, name, "", "GELU(x) ~ 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))), "
                                   "elementwise, returned as a tensor of x's shape.")


# ---- Exercise 3: a GPT block from its weights ------------------------------

def block_weights(C: int = 16, n_head: int = 4, seed: int = 0, scale: float = 0.3) -> dict[str, torch.Tensor]:
    """Random weights of one :class:`lm_course.gpt.Block` of width ``C``, named
    as in ``Block.state_dict()`` (``"ln_1.weight"``, ``"attn.c_attn.weight"``,
    ...; Linear weights are ``(out, in)``). Larger than GPT-2's initialisation
    (``scale``), so that every piece of the block changes the output."""
    if C % n_head:
        raise ValueError(f"C ({C}) must be divisible by n_head ({n_head})")
    block = Block(GPTConfig(vocab_size=2, block_size=2, n_layer=1, n_head=n_head, n_embd=C))
    g = torch.Generator().manual_seed(seed)
    weights = {}
    for key, p in block.state_dict().items():
        noise = torch.randn(p.shape, generator=g)  # same shape as the parameter
        if key.startswith("ln_"):
            weights[key] = (1.0 if key.endswith("weight") else 0.0) + 0.2 * noise  # gains near 1, biases near 0
        else:
            weights[key] = scale * noise
    return weights


def block_reference(x: torch.Tensor, p: dict[str, torch.Tensor], n_head: int, *, pre_ln: bool = True,
                    residual: tuple[bool, bool] = (True, True), causal: bool = True,
                    gelu: str = "tanh", scale: str = "head", heads: str = "transpose") -> torch.Tensor:
    """Exercise 3's block on ``x`` ``(B, T, C)`` with the weights ``p`` of
    :func:`block_weights`, with switches that reproduce the commonest mistakes.

    The default is GPT-2's pre-LN block (the tests check it against
    :class:`lm_course.gpt.Block`). ``pre_ln=False``: the original
    Transformer's post-LN; ``residual``: keep the (attention, MLP) residual
    paths; ``gelu``: "tanh", "erf" or "relu"; ``scale``: divide the scores
    by sqrt(head size) ("head"), sqrt(C) ("width") or nothing ("none");
    ``heads="reshape"``: the heads split with ``reshape(B, n_head, T, hs)`` and
    merged with ``reshape(B, T, C)``, without the transposes
    (``"reshape_split"``: the split only).
    """
    B, T, C = x.shape
    hs = C // n_head

    def linear(h: torch.Tensor, name: str) -> torch.Tensor:
        return h @ p[name + ".weight"].T + p[name + ".bias"]

    def ln(h: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(h, (C,), p[name + ".weight"], p[name + ".bias"], eps=1e-5)

    def attn(h: torch.Tensor) -> torch.Tensor:
        q, k, v = linear(h, "attn.c_attn").split(C, dim=-1)  # 3 x (B, T, C)
        if heads in ("reshape", "reshape_split"):  # the mistake: time steps spread over heads
            q, k, v = (t.reshape(B, n_head, T, hs) for t in (q, k, v))  # (B, nh, T, hs)
        else:
            q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        divisor = {"head": math.sqrt(hs), "width": math.sqrt(C), "none": 1.0}[scale]
        scores = q @ k.transpose(-2, -1) / divisor  # (B, nh, T, T)
        if causal:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        y = scores.softmax(-1) @ v  # (B, nh, T, hs)
        merged = y.reshape(B, T, C) if heads == "reshape" else y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return linear(merged, "attn.c_proj")  # (B, T, C)

    def mlp(h: torch.Tensor) -> torch.Tensor:
        u = linear(h, "mlp.c_fc")  # (B, T, 4C)
        u = {"tanh": lambda t: F.gelu(t, approximate="tanh"), "erf": F.gelu, "relu": torch.relu}[gelu](u)
        return linear(u, "mlp.c_proj")  # (B, T, C)

    if pre_ln:
        x = x + attn(ln(x, "ln_1")) if residual[0] else attn(ln(x, "ln_1"))
        return x + mlp(ln(x, "ln_2")) if residual[1] else mlp(ln(x, "ln_2"))
    x = ln(x + attn(x) if residual[0] else attn(x), "ln_1")
    return ln(x + mlp(x) if residual[1] else mlp(x), "ln_2")


# (switches of block_reference, hint) for the mistakes the checker recognises
_BLOCK_MISTAKES = [
    (dict(heads="reshape_split"), "the heads are split with reshape(B, n_head, T, hs), which mixes time steps "
                                  "into heads, so later positions leak into earlier ones even with a correct "
                                  "mask: view (B, T, n_head, hs), then .transpose(1, 2)."),
    (dict(heads="reshape"), "the heads are split with reshape(B, n_head, T, hs) (and merged back with a plain "
                            "reshape), which mixes time steps into heads, so later positions leak into earlier "
                            "ones even with a correct mask: view (B, T, n_head, hs), then .transpose(1, 2); merge "
                            "with .transpose(1, 2).reshape(B, T, C)."),
    (dict(pre_ln=False), "that is the original Transformer's post-LN block, LN(x + f(x)). GPT-2 normalises "
                         "the *input* of each sub-layer and adds to the raw stream: x + attn(ln_1(x)), "
                         "then x + mlp(ln_2(x))."),
    (dict(residual=(False, False)), "the residual connections are missing: add each sub-layer's output to its "
                                    "input, x = x + attn(ln_1(x)) and x = x + mlp(ln_2(x))."),
    (dict(residual=(False, True)), "the attention sub-layer has no residual connection: x = x + attn(ln_1(x))."),
    (dict(residual=(True, False)), "the MLP sub-layer has no residual connection: x = x + mlp(ln_2(x))."),
    (dict(gelu="erf"), "that is the exact GELU (with erf); GPT-2 uses the tanh approximation: "
                       "F.gelu(u, approximate='tanh') or your gelu from exercise 2."),
    (dict(gelu="relu"), "the MLP uses ReLU; GPT-2's MLP uses GELU (the tanh approximation)."),
    (dict(scale="width"), "divide the scores by sqrt(head size) = sqrt(C // n_head), not sqrt(C)."),
    (dict(scale="none"), "scale the scores: q @ k^T / sqrt(head size) before the softmax."),
]


def _block_cases() -> list[tuple[torch.Tensor, dict[str, torch.Tensor], int]]:
    """Fixed inputs, a random one, and a window of one position."""
    seed = random.SystemRandom().randrange(2**31)
    cases = []
    for C, n_head, B, T, s in ((16, 4, 2, 7, 0), (24, 3, 1, 5, seed), (8, 2, 1, 1, 1)):
        g = torch.Generator().manual_seed(1000 + s)
        cases.append((torch.randn(B, T, C, generator=g), block_weights(C, n_head, seed=s), n_head))
    return cases


def _package_block(x: torch.Tensor, p: dict[str, torch.Tensor], n_head: int) -> torch.Tensor:
    """What :class:`lm_course.gpt.Block` computes with the weights ``p``."""
    block = Block(GPTConfig(vocab_size=2, block_size=x.size(1), n_layer=1, n_head=n_head, n_embd=x.size(2)))
    block.load_state_dict(p)
    with torch.no_grad():
        return block.eval()(x)[0]  # (B, T, C)


@exercise("ch05.gpt_block", wrong=from_switches(block_reference, _BLOCK_MISTAKES))
def check_gpt_block(answer: object) -> bool:
    """Exercise 3: ``gpt_block(x, p, n_head)``: one pre-LN GPT block, ``(B, T, C)``
    to ``(B, T, C)``, computed from the weights ``p`` (named as in
    ``lm_course.gpt.Block.state_dict()``), compared with ``Block`` itself. A
    wrong output is matched against the known mistakes (the head split
    first) before the causal probe, so a leak caused by the split is not
    blamed on the mask."""
    name = "Exercise 3 (a GPT block from its weights)"

    def shapes_hint(err: Exception) -> str:
        text = str(err)
        if "cannot be multiplied" in text or "size mismatch" in text or "must match" in text:
            return "nn.Linear stores its weight as (out, in): a layer is h @ W.T + b."
        return ""

    for k, (x, p, n_head) in enumerate(_block_cases()):
        want = _package_block(x, p, n_head)  # (B, T, C)
        got = call(answer, x, p, n_head, on_error=shapes_hint)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a tensor of the input's shape {tuple(x.shape)}, got {shape}.")
        if _close_tensor(got, want, atol=1e-4):
            continue
        with torch.no_grad():
            for switches, hint in _BLOCK_MISTAKES:
                if _close_tensor(got, block_reference(x, p, n_head, **switches), atol=1e-4):
                    return report(False, name, "", hint)
        if x.size(1) > 1:  # does the future leak into the past?
            x2 = x.clone()
            x2[:, -1] = torch.randn(x.size(0), x.size(2), generator=torch.Generator().manual_seed(7))  # (B, C)
            got2 = call(answer, x2, p, n_head, quiet=True)
            if isinstance(got2, torch.Tensor) and got2.shape == got.shape and \
                    not torch.allclose(got2[:, :-1].float(), got[:, :-1].float(), atol=1e-5):
                return report(False, name, "", "the future leaks: changing the last position changed the "
                                               "outputs before it. Either the causal mask is missing (set the "
                                               "scores of keys s > t to -inf before the softmax) or the heads "
                                               "mix time steps (split with view(B, T, n_head, hs).transpose(1, 2)).")
        if k == 2:
            return report(False, name, "", "right on longer windows but not on a window of one position "
                                           "(T = 1): check the shapes of your mask and reshapes.")
        diff = (got.float() - want).abs().max().item() if bool(torch.isfinite(got).all()) else math.inf
        return report(False, name, "", f"the output differs from lm_course.gpt.Block by up to {diff:.3g}. Check, "
                                       "in order: ln_1 on the input, q/k/v = split of c_attn into C-wide "
                                       "chunks, heads as view(B, T, n_head, C // n_head).transpose(1, 2), "
                                       "merging them back with transpose(1, 2).reshape(B, T, C), then c_proj.")
    return report(True, name, "your block computes what lm_course.gpt.Block does (to 1e-4): pre-LN attention "
                              "and MLP, each added to the residual stream.", "")


# ---- Exercise 6: attention to the first position ---------------------------
