"""The chapter-5 checkers accept right answers and reject wrong ones."""

import math

import torch

from lm_course.exercises import ch05
from lm_course.gpt import GPT, GPTConfig


def test_parameter_count(capsys):
    right = GPT(GPTConfig(**ch05.EXERCISE_1_CONFIG)).num_parameters()
    assert ch05.check_parameter_count(right)
    cfg = ch05.EXERCISE_1_CONFIG
    assert not ch05.check_parameter_count(right + cfg["vocab_size"] * cfg["n_embd"])  # untied head
    assert "tying" in capsys.readouterr().out
    assert not ch05.check_parameter_count(right + 1)
    assert not ch05.check_parameter_count("many")


def test_layer_norm(capsys):
    def right(x, gain, bias, eps=1e-5):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * gain + bias

    def unbiased(x, gain, bias, eps=1e-5):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * gain + bias

    def broken(x, gain, bias):
        raise RuntimeError("oops")

    assert ch05.check_layer_norm(right)
    assert not ch05.check_layer_norm(unbiased)
    assert "biased variance" in capsys.readouterr().out
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
    assert not ch05.check_gelu(None)


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


def test_missing_or_wrong_type_answers_get_a_message(capsys):
    for check in (ch05.check_layer_norm, ch05.check_gelu, ch05.check_first_position_score):
        assert not check(None)
        assert "no answer yet" in capsys.readouterr().out
        assert not check(3.0)
        assert "expected a function" in capsys.readouterr().out
