"""Checkers for the exercises of ``05_transformer.ipynb`` (section "Exercises").

Each checker runs the student's function on fixed and random inputs, compares
it with the package (``torch.nn.functional`` or :class:`lm_course.gpt.Block`),
prints ✅ or a hint that names the likely mistake, and never raises (see
:mod:`lm_course.exercises._check`).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lm_course.exercises._check import call, exercise, report
from lm_course.gpt import GPT, Block, GPTConfig

# The notebook's checkers, in its order (lm_course.grading reads them from here). check_gpt_forward, whose
# notebook cell is still to come, is public but not listed yet.
__all__ = ["check_layer_norm", "check_gelu", "check_gpt_block", "check_first_position_score",
           "check_parameter_count", "check_gpt_forward", "block_weights", "block_reference", "parameter_count_reference",
           "gpt_forward_reference"]

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


_LN_MISTAKES = [
    (dict(unbiased=True), "LayerNorm uses the biased variance: x.var(-1, unbiased=False), i.e. divide by C, "
                          "not C - 1."),
    (dict(where_eps="outside"), "eps goes INSIDE the square root: (x - mean) / sqrt(var + eps); "
                                "(x - mean) / (std + eps) differs when the variance is small (this input's is "
                                "about 1e-6)."),
    (dict(where_eps="variance"), "divide by the standard deviation, sqrt(var + eps), not by the variance."),
    (dict(dim=2), "normalise over the LAST dimension (dim=-1): x is (..., C) and may have any number of "
                  "dimensions; dim=2 is the last one only for 3-D inputs."),
]


def _layer_norm_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A 3-D input, one with a tiny variance (where eps matters), a 2-D and a 4-D one."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for shape, scale in (((2, 7, 16), 3.0), ((3, 5, 16), 1e-3), ((6, 16), 2.0), ((2, 3, 4, 16), 1.0)):
        x = torch.randn(*shape, generator=g, dtype=torch.float64) * scale + 1  # (..., C)
        gain = torch.rand(16, generator=g, dtype=torch.float64) + 0.5  # (C,)
        bias = torch.randn(16, generator=g, dtype=torch.float64)  # (C,)
        cases.append((x, gain, bias))
    return cases


def _dim_hint(err: Exception) -> str:
    if "Dimension out of range" in str(err) or "dim" in str(err).lower():
        return "x is (..., C) with any number of dimensions: normalise over the last one, dim=-1."
    return ""


@exercise("ch05.layer_norm")
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
        for switches, hint in _LN_MISTAKES:
            if "dim" in switches and x.dim() != 4:  # dim=2 is the last axis of a 3-D input, absent in 2-D
                continue
            if torch.allclose(got, _layer_norm_variant(x, gain, bias, **switches), rtol=1e-4, atol=1e-5):
                return report(False, name, "", hint)
        over_positions = None
        if x.dim() == 3:
            over_positions = F.layer_norm(x.transpose(-1, -2), (x.size(1),)).transpose(-1, -2) * gain + bias
        if over_positions is not None and torch.allclose(got, over_positions, atol=1e-5):
            return report(False, name, "", "normalise each position over its C features (dim=-1), "
                                           "not each feature over the positions.")
        return report(False, name, "", f"on x of shape {tuple(x.shape)} your output differs from "
                                       "F.layer_norm by up to {:.3g}: (x - mean) / sqrt(var + eps) over the "
                                       "last dimension, biased variance, then * gain + bias."
                                       .format(float((got - want).abs().max())))
    return report(True, name, "mean 0 and variance 1 over the features of each position, then a learned gain "
                              "and bias.", "")


# ---- Exercise 2: GELU ------------------------------------------------------

_GELU_MISTAKES = [
    (lambda x: F.gelu(x), "that is the exact GELU (with erf); GPT-2 uses the tanh approximation."),
    (torch.relu, "that is ReLU; GELU is smooth and slightly negative for x < 0."),
    (lambda x: x * torch.sigmoid(1.702 * x), "that is the sigmoid approximation x * sigmoid(1.702 x); GPT-2 "
                                             "uses the tanh one."),
    (lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)),
     "the cubic term is missing: tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))."),
    (lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 * math.pi) * (x + 0.044715 * x ** 3))),
     "the constant is sqrt(2 / pi), about 0.798, not sqrt(2 pi)."),
]


@exercise("ch05.gelu")
def check_gelu(answer: object) -> bool:
    """Exercise 2: GPT-2's GELU (the tanh approximation) written by hand."""
    name = "Exercise 2 (GPT-2's GELU)"
    x = torch.linspace(-6, 6, 241)  # (241,)
    want = F.gelu(x, approximate="tanh")  # (241,)
    got = call(answer, x)
    if _close_tensor(got, want, atol=1e-5):
        return report(True, name, "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), Hendrycks & Gimpel (2016).", "")
    for wrong, hint in _GELU_MISTAKES:
        if _close_tensor(got, wrong(x), atol=1e-6):
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


@exercise("ch05.gpt_block")
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


# ---- Exercise 4: attention to the first position ---------------------------

@exercise("ch05.first_position_score")
def check_first_position_score(answer: object) -> bool:
    """Exercise 4: ``first_position_score(weights)``: for causal attention
    weights of shape ``(..., T, T)``, the mean over queries ``t = 1..T-1`` of
    the weight on key 0, one number per leading index (shape ``(...)``).
    Query 0 is left out: it can only attend to itself."""
    name = "Exercise 4 (attention to the first position)"
    g = torch.Generator().manual_seed(11)
    T = 9
    scores = torch.randn(2, 3, T, T, generator=g)  # (L, H, T, T)
    mask = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (L, H, T, T)
    want = weights[..., 1:, 0].mean(-1)  # (L, H)
    got = call(answer, weights)
    if isinstance(got, torch.Tensor) and got.numel() == 1 and torch.allclose(got.float(), want.mean(), atol=1e-6):
        return report(False, name, "", "that is one mean over everything; return one number per leading index "
                                       "(per layer and head): average over the last dimension only, .mean(-1).")
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        if torch.allclose(got.float(), weights[..., :, 0].mean(-1), atol=1e-6):
            return report(False, name, "", "leave query 0 out: its only choice is key 0, so it always "
                                           "scores 1 and inflates the mean.")
        if torch.allclose(got.float(), weights[..., 0, 1:].mean(-1), atol=1e-6):
            return report(False, name, "", "rows are queries and columns are keys: take column 0 of rows 1..T-1.")
        if torch.allclose(got.float(), weights[..., 1:, 0].sum(-1), atol=1e-6):
            return report(False, name, "", "that is the sum over the queries; the score is their mean, so that "
                                           "windows of different lengths compare (.mean(-1)).")

    return report(_close_tensor(got, want, atol=1e-6), name,
                  "heads that park their attention on the first position when nothing else is useful are "
                  "known as attention sinks (Xiao et al. 2023).",
                  "weights[..., 1:, 0] is column 0 (key 0) of the queries 1..T-1; average it over the last "
                  "dimension.")


# ---- Exercise 5: the parameter count ---------------------------------------

def parameter_count_reference(V: int, T: int, L: int, C: int, bias: bool, tied: bool, *,
                              head_twice: bool = False, ln: bool = True, biases: bool = True, ln_f: bool = True,
                              wpe: bool = True) -> int:
    """The parameter count of a GPT with vocabulary ``V``, ``block_size``
    ``T``, ``L`` layers of width ``C`` (``bias``: with biases; ``tied``: the
    head is the token embedding), as ``GPT(config).num_parameters()`` counts
    it (the defaults); ``head_twice=True`` (a tied head counted again),
    ``ln=False``, ``biases=False``, ``ln_f=False`` and ``wpe=False`` (those
    parameters left out) are the mistakes Exercise 5's checker recognises."""
    b = bool(bias) and biases
    ln_params = (2 * C if b else C) if ln else 0  # one LayerNorm: gain (and bias)
    attn = 3 * C * C + C * C + ((3 * C + C) if b else 0)  # c_attn, c_proj
    mlp = 4 * C * C + 4 * C * C + ((4 * C + C) if b else 0)  # c_fc, c_proj
    block = 2 * ln_params + attn + mlp
    head = V * C if (not tied or head_twice) else 0
    return V * C + (T * C if wpe else 0) + L * block + (ln_params if ln_f else 0) + head


_COUNT_MISTAKES = [
    (dict(head_twice=True), "the tied lm_head is counted twice: with weight tying it *is* the token embedding "
                            "wte (the same tensor), so its V x C weights count once."),
    (dict(ln=False), "the LayerNorms are missing: each has a gain of C (and a bias of C when bias=True); "
                     "every block has two (ln_1, ln_2), plus the final ln_f."),
    (dict(biases=False), "the biases are missing when bias=True: c_attn has 3C, attn.c_proj C, mlp.c_fc 4C, "
                         "mlp.c_proj C, and each LayerNorm C."),
    (dict(ln_f=False), "the final LayerNorm ln_f (after the last block, before the head) is missing."),
    (dict(wpe=False), "the learned position embeddings wpe (block_size x n_embd) are missing."),
]


def _package_count(config, tied: bool) -> int:
    """What :class:`lm_course.gpt.GPT` counts (with the head untied by hand when ``tied=False``)."""
    with torch.random.fork_rng(devices=[]):  # the notebook's random state is left alone
        model = GPT(config)
    n = model.num_parameters()
    return n if tied else n + model.lm_head.weight.numel()  # an untied head: its own V x C weights


def _count_configs() -> list[tuple[object, bool]]:
    rng = random.Random(random.SystemRandom().randrange(2**31))
    fixed = [GPTConfig(65, 64, 4, 4, 128), GPTConfig(11, 8, 2, 2, 16, bias=False), GPTConfig(7, 5, 1, 1, 4),
             GPTConfig(30, 12, 3, 3, 24)]
    cases = [(c, True) for c in fixed] + [(fixed[0], False), (fixed[1], False)]
    n_head = rng.choice([1, 2, 4])
    cases.append((GPTConfig(rng.randint(2, 90), rng.randint(1, 40), rng.randint(1, 3), n_head,
                            n_head * rng.randint(1, 12), bias=rng.random() < 0.5), rng.random() < 0.7))
    return cases


@exercise("ch05.count_parameters")
def check_parameter_count(answer: object) -> bool:
    """Exercise 5: ``count_parameters(config, tied=True)``: the number of
    parameters of ``lm_course.gpt.GPT(config)`` as a formula of its fields
    (``vocab_size``, ``block_size``, ``n_layer``, ``n_embd``, ``bias``), with the
    output head tied to the token embedding (``tied=True``, the course's GPT) or
    a separate ``n_embd x vocab_size`` matrix; compared with ``GPT.num_parameters()``."""
    name = "Exercise 5 (counting a GPT's parameters)"
    for config, tied in _count_configs():
        want = _package_count(config, tied)
        got = call(answer, config, tied)
        where = (f"(vocab_size={config.vocab_size}, block_size={config.block_size}, n_layer={config.n_layer}, "
                 f"n_embd={config.n_embd}, bias={config.bias}, tied={tied})")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, numbers.Real):  # numpy integers are Real too
            return report(False, name, "", f"return one integer (a Python int), got {type(got).__name__}.")
        got = float(got)
        if got == want:
            continue
        args = (config.vocab_size, config.block_size, config.n_layer, config.n_embd, config.bias, tied)
        for switches, hint in _COUNT_MISTAKES:
            wrong = parameter_count_reference(*args, **switches)
            if wrong != want and got == wrong:
                return report(False, name, "", f"{hint} {where}: you count {int(got):,}, GPT has {want:,}.")
        if tied and got == want + config.vocab_size * config.n_embd:
            return report(False, name, "", _COUNT_MISTAKES[0][1])
        if not tied and got == want - config.vocab_size * config.n_embd:
            return report(False, name, "", f"with tied=False the head is its own n_embd x vocab_size matrix: "
                                           f"add it. {where}")
        if not config.bias and got == parameter_count_reference(*args[:4], True, tied):
            return report(False, name, "", f"with bias=False neither the Linear layers nor the LayerNorms have "
                                           f"biases (each LayerNorm keeps its gain of C). {where}")
        if got - want and (got - want) % config.n_layer == 0 and config.n_layer > 1:
            hint = "the difference is the same for every block: recount one block (2 LayerNorms, c_attn 3C x C, " \
                   "attn.c_proj C x C, c_fc 4C x C, mlp.c_proj 4C x C, and their biases)."
        else:
            hint = "count wte, wpe, n_layer blocks, ln_f and (if untied) the head."
        return report(False, name, "", f"{where}: you count {got:,.0f}, GPT(config).num_parameters() is "
                                       f"{want:,}. {hint}")
    return report(True, name, "V C + T C + n_layer (12 C^2 + 13 C) + 2 C with biases: the 12 C^2 of the blocks "
                              "dominate once C is large, the embedding V C for small models.", "")


# ---- Exercise 6: the whole GPT forward pass --------------------------------

def gpt_forward_reference(model: GPT, idx: torch.Tensor, *, positions: str = "from 0", ln_f: bool = True,
                          last_only: bool = False, softmax: bool = False) -> torch.Tensor:
    """``model``'s logits ``(B, T, V)`` for ``idx`` ``(B, T)`` computed from its
    parts (the defaults: ``model(idx).logits`` in eval mode), or a wrong
    version: ``positions="none"`` or ``"from 1"``, ``ln_f=False``,
    ``last_only=True`` (the last position's logits only), ``softmax=True``."""
    t = model.transformer
    B, T = idx.shape
    with torch.no_grad():
        x = t.wte(idx)  # (B, T, C)
        if positions != "none":
            start = 1 if positions == "from 1" else 0
            x = x + t.wpe(torch.arange(start, start + T).clamp(max=model.config.block_size - 1))  # (T, C)
        for block in t.h:
            x = block(x)[0]  # (B, T, C)
        if ln_f:
            x = t.ln_f(x)
        logits = x @ t.wte.weight.T  # (B, T, V): the head is tied to wte
    if last_only:
        logits = logits[:, -1:]
    return logits.softmax(-1) if softmax else logits


_FORWARD_MISTAKES = [
    (dict(positions="none"), "the position embeddings are missing: x = wte(idx) + wpe(arange(T)); without them the "
                             "model cannot tell the order of the tokens."),
    (dict(positions="from 1"), "positions count from 0: wpe(torch.arange(T)), not arange(1, T + 1)."),
    (dict(ln_f=False), "the final LayerNorm ln_f is missing: after the last block, x = ln_f(x), then the head."),
    (dict(softmax=True), "return the logits (before the softmax), not probabilities."),
]


def _forward_cases() -> list[tuple[GPT, torch.Tensor]]:
    cases = []
    with torch.random.fork_rng(devices=[]):
        for seed, (V, T, L, H, C, bias, n) in enumerate([(13, 8, 2, 2, 16, True, 5), (7, 4, 1, 1, 8, False, 4),
                                                         (20, 6, 3, 4, 24, True, 1)]):
            torch.manual_seed(40 + seed)
            model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=H, n_embd=C, bias=bias)).eval()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.2)  # every part matters, the LayerNorms included
            cases.append((model, torch.randint(0, V, (2, n))))
    return cases


@exercise("ch05.gpt_forward")
def check_gpt_forward(answer: object) -> bool:
    """Exercise 6: ``gpt_forward(model, idx)``: the logits ``(B, T, V)`` of the
    GPT ``model`` (in eval mode) for the ids ``idx`` ``(B, T)``, computed from
    its parts (``model.transformer.wte``, ``wpe``, the blocks ``h``, ``ln_f``
    and the tied head), without calling ``model(idx)``; compared with
    ``model(idx).logits`` on three configurations."""
    name = "Exercise 6 (the whole GPT forward pass)"
    for model, idx in _forward_cases():
        with torch.no_grad():
            want = model(idx).logits  # (B, T, V)
        got = call(answer, model, idx)
        B, T, V = want.shape
        if isinstance(got, tuple) and got and isinstance(got[0], torch.Tensor):
            return report(False, name, "", "a block returns a tuple (output, present, weights): keep block(x)[0] "
                                           "and return only the logits.")
        if not isinstance(got, torch.Tensor):
            return report(False, name, "", f"return the logits, a tensor (B, T, V), got {type(got).__name__}.")
        if T > 1 and got.shape in ((B, V), (B, 1, V)):
            return report(False, name, "", f"return the logits of every position, (B, T, V) = {(B, T, V)}, not only "
                                           "the last one.")
        if got.shape != want.shape:
            return report(False, name, "", f"return the logits of shape (B, T, V) = {(B, T, V)}, got "
                                           f"{tuple(got.shape)}.")
        if _close_tensor(got, want, atol=1e-4):
            continue
        for switches, hint in _FORWARD_MISTAKES:
            if _close_tensor(got, gpt_forward_reference(model, idx, **switches), atol=1e-4):
                return report(False, name, "", hint)
        diff = float((got.detach().float() - want).abs().max())
        return report(False, name, "", f"your logits differ from model(idx).logits by up to {diff:.3g}: x = wte(idx) "
                                       "+ wpe(arange(T)); x = block(x)[0] for each block in model.transformer.h; "
                                       "ln_f; logits = x @ wte.weight.T.")
    return report(True, name, "Embeddings plus positions, the blocks, the final LayerNorm and the tied head: "
                              "the same logits as lm_course.gpt.GPT.", "")
