"""Checkers for chapter 5's model exercises (``05_transformer.ipynb``): attention to the first
position (exercise 6), counting parameters (exercise 4) and the whole forward pass (exercise 5).
"""

from __future__ import annotations

import numbers
import random

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.ch05_layers import _close_tensor
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.gpt import GPT, GPTConfig

__all__ = ["check_first_position_score", "check_parameter_count", "check_gpt_forward", "parameter_count_reference",
    "gpt_forward_reference"]


# ---- Exercise 6: attention to the first position ---------------------------

# Wrong versions of Exercise 6: a slice or an average a student gets wrong.
_FIRST_WRONG = (
    Wrong("query 0 included", lambda w: w[..., :, 0].mean(-1),
          "leave query 0 out: its only choice is key 0, so it always scores 1 and inflates the mean."),
    Wrong("a row, not a column", lambda w: w[..., 0, 1:].mean(-1),
          "rows are queries and columns are keys: take column 0 of rows 1..T-1."),
    Wrong("the sum", lambda w: w[..., 1:, 0].sum(-1),
          "that is the sum over the queries; the score is their mean, so that windows of different lengths "
          "compare (.mean(-1))."),
    Wrong("one mean over everything", lambda w: w[..., 1:, 0].mean(),
          "that is one mean over everything; return one number per leading index (per layer and head): average "
          "over the last dimension only, .mean(-1)."),
    Wrong("the last query left out", lambda w: w[..., 1:-1, 0].mean(-1),
          "the last query is left out: the queries are rows 1 up to and including T-1 (a slice that starts at 1 "
          "and runs to the end)."),
)


def _causal_weights(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Random causal attention weights of ``shape`` ``(..., T, T)``: each row sums to 1 over keys 0..t."""
    g = torch.Generator().manual_seed(seed)
    T = shape[-1]
    mask = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T)
    return torch.softmax(torch.randn(*shape, generator=g).masked_fill(~mask, float("-inf")), dim=-1)


@exercise("ch05.first_position_score", wrong=_FIRST_WRONG)
def check_first_position_score(answer: object) -> bool:
    """Exercise 6: ``first_position_score(weights)``: for causal attention
    weights of shape ``(..., T, T)``, the mean over queries ``t = 1..T-1`` of
    the weight on key 0, one number per leading index (shape ``(...)``).
    Query 0 is left out: it can only attend to itself. Checked on weights of
    shape (L, H, T, T) and (N, T, T)."""
    name = "Exercise 6 (attention to the first position)"
    for weights in (_causal_weights((2, 3, 9, 9), 11), _causal_weights((4, 6, 6), 12)):
        want = weights[..., 1:, 0].mean(-1)  # (...)
        got = call(answer, weights)
        if _close_tensor(got, want, atol=1e-6):
            continue
        hint = diagnose(got, (weights,), _FIRST_WRONG, lambda a, b: _close_tensor(a, b, atol=1e-6))
        if hint:
            return report(False, name, "", hint)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            seen = f"shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"for weights of shape {tuple(weights.shape)} return a tensor of shape "
                                           f"{tuple(want.shape)} (a score per leading index), got {seen}.")
        return report(False, name, "", "weights[..., 1:, 0] is column 0 (key 0) of the queries 1..T-1; average it "
                                       "over the last dimension.")
    return report(True, name, "heads that park their attention on the first position when nothing else is useful "
                              "are known as attention sinks (Xiao et al. 2023).", "")


# ---- Exercise 4: the parameter count ---------------------------------------

def parameter_count_reference(V: int, T: int, L: int, C: int, bias: bool, tied: bool, *,
                              head_twice: bool = False, ln: bool = True, biases: bool = True, ln_f: bool = True,
                              wpe: bool = True) -> int:
    """The parameter count of a GPT with vocabulary ``V``, ``block_size``
    ``T``, ``L`` layers of width ``C`` (``bias``: with biases; ``tied``: the
    head is the token embedding), as ``GPT(config).num_parameters()`` counts
    it (the defaults); ``head_twice=True`` (a tied head counted again),
    ``ln=False``, ``biases=False``, ``ln_f=False`` and ``wpe=False`` (those
    parameters left out) are the mistakes Exercise 4's checker recognises."""
    b = bool(bias) and biases
    ln_params = (2 * C if b else C) if ln else 0  # one LayerNorm: gain (and bias)
    attn = 3 * C * C + C * C + ((3 * C + C) if b else 0)  # c_attn, c_proj
    mlp = 4 * C * C + 4 * C * C + ((4 * C + C) if b else 0)  # c_fc, c_proj
    block = 2 * ln_params + attn + mlp
    head = V * C if (not tied or head_twice) else 0
    return V * C + (T * C if wpe else 0) + L * block + (ln_params if ln_f else 0) + head


# Wrong versions of Exercise 4, as switches of _count_version: the parts of a GPT a count misses or repeats.
_COUNT_MISTAKES = [
    (dict(head_twice=True), "the tied lm_head is counted twice: with weight tying it *is* the token embedding "
                            "wte (the same tensor), so its V x C weights count once."),
    (dict(ln=False), "the LayerNorms are missing: each has a gain of C (and a bias of C when bias=True); "
                     "every block has two (ln_1, ln_2), plus the final ln_f."),
    (dict(biases=False), "the biases are missing when bias=True: c_attn has 3C, attn.c_proj C, mlp.c_fc 4C, "
                         "mlp.c_proj C, and each LayerNorm C."),
    (dict(ln_f=False), "the final LayerNorm ln_f (after the last block, before the head) is missing."),
    (dict(wpe=False), "the learned position embeddings wpe (block_size x n_embd) are missing."),
    (dict(head_never=True), "with tied=False the head is its own n_embd x vocab_size matrix: add it."),
    (dict(bias_always=True), "with bias=False neither the Linear layers nor the LayerNorms have biases (each "
                             "LayerNorm keeps its gain of C)."),
]


def _count_version(config: GPTConfig, tied: bool = True, *, head_never: bool = False, bias_always: bool = False,
                   **switches: bool) -> int:
    """A student's ``count_parameters(config, tied)``: right (the defaults) or
    with one mistake: the switches of :func:`parameter_count_reference`,
    ``head_never`` (an untied head never added), ``bias_always`` (biases
    counted even when ``config.bias`` is False)."""
    return parameter_count_reference(config.vocab_size, config.block_size, config.n_layer, config.n_embd,
                                     config.bias or bias_always, tied or head_never, **switches)


_COUNT_WRONG = from_switches(_count_version, _COUNT_MISTAKES)


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


@exercise("ch05.count_parameters", wrong=_COUNT_WRONG)
def check_parameter_count(answer: object) -> bool:
    """Exercise 4: ``count_parameters(config, tied=True)``: the number of
    parameters of ``lm_course.gpt.GPT(config)`` as a formula of its fields
    (``vocab_size``, ``block_size``, ``n_layer``, ``n_embd``, ``bias``), with the
    output head tied to the token embedding (``tied=True``, the course's GPT) or
    a separate ``n_embd x vocab_size`` matrix; compared with ``GPT.num_parameters()``."""
    name = "Exercise 4 (counting a GPT's parameters)"
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
        hint = diagnose(got, (config, tied), _COUNT_WRONG, lambda a, b: a == b)
        if hint:
            return report(False, name, "", f"{hint} {where}: you count {got:,.0f}, GPT has {want:,}.")
        if got - want and (got - want) % config.n_layer == 0 and config.n_layer > 1:
            hint = "the difference is the same for every block: recount one block (2 LayerNorms, c_attn 3C x C, " \
                   "attn.c_proj C x C, c_fc 4C x C, mlp.c_proj 4C x C, and their biases)."
        else:
            hint = "count wte, wpe, n_layer blocks, ln_f and (if untied) the head."
        return report(False, name, "", f"{where}: you count {got:,.0f}, GPT(config).num_parameters() is "
                                       f"{want:,}. {hint}")
    return report(True, name, "V C + T C + n_layer (12 C^2 + 13 C) + 2 C with biases: the 12 C^2 of the blocks "
                              "dominate once C is large, the embedding V C for small models.", "")


# ---- Exercise 5: the whole GPT forward pass --------------------------------

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


@exercise("ch05.gpt_forward", wrong=from_switches(gpt_forward_reference, _FORWARD_MISTAKES))
def check_gpt_forward(answer: object) -> bool:
    """Exercise 5: ``gpt_forward(model, idx)``: the logits ``(B, T, V)`` of the
    GPT ``model`` (in eval mode) for the ids ``idx`` ``(B, T)``, computed from
    its parts (``model.transformer.wte``, ``wpe``, the blocks ``h``, ``ln_f``
    and the tied head), without calling ``model(idx)``; compared with
    ``model(idx).logits`` on three configurations."""
    name = "Exercise 5 (the whole GPT forward pass)"
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
