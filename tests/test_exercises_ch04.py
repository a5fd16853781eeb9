"""Chapter 4's exercise checkers: right answers pass, wrong ones fail with a
hint, nothing raises."""

import math

import pytest
import torch

from lm_course.attention import MultiHeadAttention, causal_mask
from lm_course.exercises.ch04 import (EX1_KEYS, EX1_QUERY, EX3_D_MODEL, EX3_N_HEADS, check_attention_weights,
                                      check_copy_model, check_mha_parameters, check_window_mask)
from lm_course.toy_attention import ToyConfig, train_toy


def test_attention_weights(capsys):
    q, K = torch.tensor(EX1_QUERY), torch.tensor(EX1_KEYS)
    right = torch.softmax(K @ q / math.sqrt(2), 0)
    assert check_attention_weights(right)
    assert check_attention_weights(right.tolist())
    assert not check_attention_weights(torch.softmax(K @ q, 0))
    assert "√d_k" in capsys.readouterr().out
    assert not check_attention_weights([1 / 3] * 3)
    assert not check_attention_weights([0.5, 0.5])
    assert not check_attention_weights(None)
    assert not check_attention_weights("0.2, 0.3, 0.5")


def test_window_mask(capsys):
    def right(T, w):
        t = torch.arange(T)
        return causal_mask(T) & (t[:, None] - t[None, :] < w)

    def off_by_one(T, w):
        t = torch.arange(T)
        return causal_mask(T) & (t[:, None] - t[None, :] <= w)

    def symmetric(T, w):
        t = torch.arange(T)
        return (t[:, None] - t[None, :]).abs() < w

    def crashes(T, w):
        raise RuntimeError("oops")

    assert check_window_mask(right)
    assert not check_window_mask(off_by_one)
    assert not check_window_mask(symmetric)
    assert "future" in capsys.readouterr().out
    assert not check_window_mask(lambda T, w: right(T, w).int())
    assert not check_window_mask(lambda T, w: right(T, w)[:-1])
    assert not check_window_mask(crashes)
    assert not check_window_mask(None)


def test_mha_parameters():
    right = sum(p.numel() for p in MultiHeadAttention(EX3_D_MODEL, EX3_N_HEADS).parameters())
    assert check_mha_parameters(right)
    assert check_mha_parameters(torch.tensor(right))
    assert not check_mha_parameters(4 * EX3_D_MODEL ** 2)
    assert not check_mha_parameters(right * EX3_N_HEADS)
    assert not check_mha_parameters(None)
    assert not check_mha_parameters(12345)


@pytest.fixture(scope="module")
def copier():
    return train_toy(ToyConfig(task="copy"), steps=200, progress=False)[0]


def test_copy_model(copier):
    assert check_copy_model(copier)
    reverser = train_toy(ToyConfig(), steps=5, progress=False)[0]
    assert not check_copy_model(reverser)
    untrained = train_toy(ToyConfig(task="copy"), steps=1, progress=False)[0]
    assert not check_copy_model(untrained)
    assert not check_copy_model(None)
