"""The chapter-5 checkers accept right answers and reject wrong ones."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from lm_course.exercises import ch05
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import flags, passes
from lm_course.gpt import Block, GPTConfig


def test_layer_norm(capsys):
    def right(x, gain, bias, eps=1e-5):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * gain + bias

    def unbiased(x, gain, bias, eps=1e-5):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * gain + bias

    def over_positions(x, gain, bias, eps=1e-5):
        mu = x.mean(-2, keepdim=True)
        var = ((x - mu) ** 2).mean(-2, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * gain + bias

    def broken(x, gain, bias):
        raise RuntimeError("oops")

    assert ch05.check_layer_norm(right)
    assert not ch05.check_layer_norm(unbiased)
    assert "biased variance" in capsys.readouterr().out
    assert not ch05.check_layer_norm(over_positions)
    assert "dim=-1" in capsys.readouterr().out
    assert not ch05.check_layer_norm(lambda x, g, b: x)
    assert not ch05.check_layer_norm(broken)  # never raises
    assert not ch05.check_layer_norm(None)


def test_gelu(capsys):
    def right(x):
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    assert ch05.check_gelu(right)
    assert not ch05.check_gelu(torch.nn.functional.gelu)  # exact GELU
    assert "tanh approximation" in capsys.readouterr().out
    assert not ch05.check_gelu(torch.relu)
    assert "ReLU" in capsys.readouterr().out
    assert not ch05.check_gelu(None)


# the notebook's solution of exercise 3
def gpt_block(x, p, n_head):
    B, T, C = x.shape
    hs = C // n_head

    def linear(h, name):  # nn.Linear's layout: weight (out, in)
        return h @ p[name + ".weight"].T + p[name + ".bias"]

    def ln(h, name):
        return F.layer_norm(h, (C,), p[name + ".weight"], p[name + ".bias"], eps=1e-5)

    q, k, v = linear(ln(x, "ln_1"), "attn.c_attn").split(C, dim=-1)  # 3 x (B, T, C)
    q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # True above the diagonal: keys after the query
    a = scores.masked_fill(future, float("-inf")).softmax(-1) @ v  # (B, nh, T, hs)
    x = x + linear(a.transpose(1, 2).reshape(B, T, C), "attn.c_proj")  # (B, T, C)
    h = F.gelu(linear(ln(x, "ln_2"), "mlp.c_fc"), approximate="tanh")  # (B, T, 4C)
    return x + linear(h, "mlp.c_proj")  # (B, T, C)


def test_reference_block_is_the_package_block():
    for C, n_head, T in ((16, 4, 7), (24, 3, 5), (8, 2, 1)):
        p = ch05.block_weights(C, n_head, seed=3)
        x = torch.randn(2, T, C)
        block = Block(GPTConfig(vocab_size=2, block_size=T, n_layer=1, n_head=n_head, n_embd=C))
        block.load_state_dict(p)
        with torch.no_grad():
            want = block.eval()(x)[0]  # (B, T, C)
        assert torch.allclose(ch05.block_reference(x, p, n_head), want, atol=1e-5)
        assert torch.allclose(gpt_block(x, p, n_head), want, atol=1e-5)


def test_block_weights_fit_the_package_block():
    block = Block(GPTConfig(vocab_size=2, block_size=4, n_layer=1, n_head=4, n_embd=16))
    block.load_state_dict(ch05.block_weights(16, 4))  # strict: same names and shapes
    with pytest.raises(ValueError, match="divisible"):
        ch05.block_weights(10, 4)


def test_gpt_block(capsys):
    assert ch05.check_gpt_block(gpt_block)
    assert "✅" in capsys.readouterr().out
    assert ch05.check_gpt_block(lambda x, p, n_head: gpt_block(x.double(), {k: v.double() for k, v in p.items()},
                                                               n_head))  # float64 is fine


@pytest.mark.parametrize("switches, words", [
    (dict(pre_ln=False), "post-LN"),
    (dict(residual=(False, False)), "residual connections are missing"),
    (dict(residual=(True, False)), "MLP sub-layer has no residual"),
    (dict(residual=(False, True)), "attention sub-layer has no residual"),
    (dict(gelu="erf"), "exact GELU"),
    (dict(gelu="relu"), "ReLU"),
    (dict(scale="width"), "sqrt(head size)"),
    (dict(scale="none"), "scale the scores"),
    (dict(causal=False), "the future leaks"),
])
def test_gpt_block_diagnoses_mistakes(capsys, switches, words):
    def wrong(x, p, n_head):
        return ch05.block_reference(x, p, n_head, **switches)

    assert not ch05.check_gpt_block(wrong)
    out = capsys.readouterr().out
    assert "❌" in out and words in out, out


def test_gpt_block_other_wrong_answers(capsys):
    def stub(x, p, n_head):
        raise NotImplementedError

    assert not ch05.check_gpt_block(stub)
    assert "not implemented yet" in capsys.readouterr().out

    def transposed(x, p, n_head):  # x @ W instead of x @ W.T
        return x @ p["attn.c_attn.weight"] + p["attn.c_attn.bias"]

    assert not ch05.check_gpt_block(transposed)
    assert "(out, in)" in capsys.readouterr().out
    assert not ch05.check_gpt_block(lambda x, p, n_head: x[..., :-1])
    assert "shape" in capsys.readouterr().out
    assert not ch05.check_gpt_block(lambda x, p, n_head: x)
    assert "differs from lm_course.gpt.Block" in capsys.readouterr().out
    assert not ch05.check_gpt_block(lambda x, p, n_head: "block")
    assert not ch05.check_gpt_block(None)


def test_first_position_score(capsys):
    def right(w):
        T = w.size(-1)
        return torch.stack([w[..., t, 0] for t in range(1, T)], -1).mean(-1)

    assert ch05.check_first_position_score(right)
    assert not ch05.check_first_position_score(lambda w: w[..., :, 0].mean(-1))  # query 0 included
    assert "leave query 0 out" in capsys.readouterr().out
    assert not ch05.check_first_position_score(lambda w: w[..., 0, 1:].mean(-1))  # a row, not a column
    assert not ch05.check_first_position_score(lambda w: w.mean())
    assert not ch05.check_first_position_score(None)


def test_missing_stub_or_wrong_type_answers_get_a_message(capsys):
    def stub(*args):
        raise NotImplementedError

    for check in (ch05.check_layer_norm, ch05.check_gelu, ch05.check_gpt_block, ch05.check_first_position_score,
                  ch05.check_parameter_count):
        assert not check(None)
        assert "no answer yet" in capsys.readouterr().out
        assert not check(3.0)
        assert "pass your function itself" in capsys.readouterr().out
        assert not check(stub)
        assert "not implemented yet" in capsys.readouterr().out


# the notebook's solution of exercise 4
def count_parameters(config, tied=True):
    V, T, L, C = config.vocab_size, config.block_size, config.n_layer, config.n_embd
    b = 1 if config.bias else 0
    layer_norm = C + b * C  # gain (and bias)
    attn = 3 * C * C + b * 3 * C + C * C + b * C  # c_attn, c_proj
    mlp = 4 * C * C + b * 4 * C + 4 * C * C + b * C  # c_fc, c_proj
    block = 2 * layer_norm + attn + mlp
    head = 0 if tied else C * V
    return V * C + T * C + L * block + layer_norm + head  # wte, wpe, blocks, ln_f, head


def test_parameter_count(capsys):
    assert ch05.check_parameter_count(count_parameters)
    assert "✅" in capsys.readouterr().out
    from lm_course.gpt import GPT
    assert ch05.check_parameter_count(lambda c, tied=True: GPT(c).num_parameters() + (0 if tied else
                                                                                     c.vocab_size * c.n_embd))
    for switches, words in ((dict(head_twice=True), "counted twice"), (dict(ln=False), "LayerNorms are missing"),
                            (dict(biases=False), "biases are missing"), (dict(ln_f=False), "ln_f"),
                            (dict(wpe=False), "wpe")):
        def wrong(c, tied=True, s=switches):
            return ch05.parameter_count_reference(c.vocab_size, c.block_size, c.n_layer, c.n_embd, c.bias, tied, **s)
        assert not ch05.check_parameter_count(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, (switches, out)
    assert not ch05.check_parameter_count(lambda c, tied=True: count_parameters(c, True))  # head never added
    assert "add it" in capsys.readouterr().out
    assert not ch05.check_parameter_count(lambda c, tied=True: count_parameters(c, tied) + 1)
    assert "num_parameters() is" in capsys.readouterr().out
    assert not ch05.check_parameter_count(lambda c, tied=True: "many")
    assert "one integer" in capsys.readouterr().out


def test_count_reference_is_the_package():
    def reference(c, tied=True):
        return ch05.parameter_count_reference(c.vocab_size, c.block_size, c.n_layer, c.n_embd, c.bias, tied)

    assert ch05.check_parameter_count(reference)  # the checker compares with GPT(config).num_parameters()


# ---------------------------------------------------------------- issue 31: holes closed
def test_layer_norm_eps_outside_the_root_and_a_hard_coded_axis_fail(capsys):
    def eps_outside(x, gain, bias, eps=1e-5):
        mu = x.mean(-1, keepdim=True)
        return (x - mu) / (x.std(-1, keepdim=True, unbiased=False) + eps) * gain + bias

    def dim_2(x, gain, bias, eps=1e-5):
        mu = x.mean(2, keepdim=True)
        var = ((x - mu) ** 2).mean(2, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * gain + bias

    def right(x, gain, bias, eps=1e-5):
        return F.layer_norm(x, x.shape[-1:], gain, bias, eps)

    assert "INSIDE the square root" in flags(capsys, ch05.check_layer_norm, eps_outside)
    assert "dim=-1" in flags(capsys, ch05.check_layer_norm, dim_2)
    assert "2, 3 and 4 dimensions" in passes(capsys, ch05.check_layer_norm, right)


def test_gpt_block_split_without_transpose_is_told_about_the_transpose(capsys):
    for heads in ("reshape_split", "reshape"):
        out = flags(capsys, ch05.check_gpt_block, partial(ch05.block_reference, heads=heads))
        assert ".transpose(1, 2)" in out and "causal mask" not in out, out


def test_gpt_block_blames_an_unfinished_layer_norm(capsys):
    ns = {"F": F, "torch": torch, "math": math}
    exec("def layer_norm(x, gain, bias, eps=1e-5):\n    raise NotImplementedError\n", ns)
    exec("def gpt_block(x, p, n_head):\n    return layer_norm(x, p['ln_1.weight'], p['ln_1.bias'])\n", ns)
    out = flags(capsys, ch05.check_gpt_block, ns["gpt_block"])
    assert "calls layer_norm, which is still the stub" in out and "Exercise 1 (LayerNorm by hand)" in out


def test_parameter_count_accepts_numpy_integers(capsys):
    import numpy as np

    passes(capsys, ch05.check_parameter_count, lambda c, tied=True: np.int64(count_parameters(c, tied)))


def test_gelu_names_more_approximations(capsys):
    assert "sigmoid approximation" in flags(capsys, ch05.check_gelu, lambda x: x * torch.sigmoid(1.702 * x))
    assert "cubic term" in flags(capsys, ch05.check_gelu,
                                 lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)))


def test_first_position_score_names_a_sum_and_a_single_mean(capsys):
    assert "mean" in flags(capsys, ch05.check_first_position_score, lambda w: w[..., 1:, 0].sum(-1))
    assert "one number per leading index" in flags(capsys, ch05.check_first_position_score,
                                                   lambda w: w[..., 1:, 0].mean())


# ---------------------------------------------------------------- exercise 5 (no notebook cell yet)
def gpt_forward(model, idx):
    t = model.transformer
    x = t.wte(idx) + t.wpe(torch.arange(idx.size(1)))  # (B, T, C)
    for block in t.h:
        x = block(x)[0]
    return t.ln_f(x) @ t.wte.weight.T  # (B, T, V)


@pytest.mark.parametrize("switches, words", [
    (dict(positions="none"), "position embeddings are missing"),
    (dict(positions="from 1"), "count from 0"),
    (dict(ln_f=False), "ln_f is missing"),
    (dict(softmax=True), "not probabilities"),
    (dict(last_only=True), "not only the last"),
])
def test_gpt_forward_names_the_mistake(capsys, switches, words):
    assert words in flags(capsys, ch05.check_gpt_forward, partial(ch05.gpt_forward_reference, **switches))


def test_gpt_forward_solution_and_reference_pass(capsys):
    passes(capsys, ch05.check_gpt_forward, gpt_forward)
    passes(capsys, ch05.check_gpt_forward, ch05.gpt_forward_reference)
    assert "block(x)[0]" in flags(capsys, ch05.check_gpt_forward,
                                   lambda model, idx: model.transformer.h[0](model.transformer.wte(idx)))


def test_first_position_score_checks_any_number_of_leading_dimensions(capsys):
    passes(capsys, ch05.check_first_position_score, lambda w: w[..., 1:, 0].mean(-1))
    assert "IndexError" in flags(capsys, ch05.check_first_position_score, lambda w: w[:, :, 1:, 0].mean(-1))
