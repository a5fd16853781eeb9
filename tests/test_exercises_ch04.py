"""Chapter 4's exercise checkers: right answers pass, wrong ones fail with a
hint naming the mistake, stubs say "not implemented yet", nothing raises."""

import math

import pytest
import torch

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.exercises.ch04 import check_copy_model, check_multi_head_attention, check_window_mask
from lm_course.toy_attention import ToyConfig, train_toy


# --------------------------------------------------------------------------- exercise 1: multi-head attention

def mha_forward(x, mha, causal=False):
    """The notebook's solution."""
    B, T, C = x.shape
    H = mha.n_heads

    def split(t):  # (B, T, C) -> (B, H, T, C // H)
        return t.view(B, T, H, C // H).transpose(1, 2)

    q, k, v = split(mha.q_proj(x)), split(mha.k_proj(x)), split(mha.v_proj(x))
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(T) if causal else None)
    out = out.transpose(1, 2).reshape(B, T, C)
    return mha.out_proj(out), weights


def _by_hand(x, mha, causal, *, project=True, split_t=True, merge_t=True, mask=None, d=None, heads=None):
    """A student's own attention, with one mistake switched on."""
    B, T, C = x.shape
    H = heads or mha.n_heads

    def split(t):
        return t.view(B, T, H, C // H).transpose(1, 2) if split_t else t.view(B, H, T, C // H)

    q, k, v = split(mha.q_proj(x)), split(mha.k_proj(x)), split(mha.v_proj(x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d(C, H) if d else C // H)
    if causal:
        allowed = causal_mask(T) if mask is None else mask(T)
        scores = scores.masked_fill(~allowed, float("-inf"))
    w = torch.nan_to_num(torch.softmax(scores, -1))
    out = w @ v
    out = out.transpose(1, 2).reshape(B, T, C) if merge_t else out.reshape(B, T, C)
    return (mha.out_proj(out) if project else out), w


WRONG = {
    "no output projection": (lambda x, m, causal=False: _by_hand(x, m, causal, project=False), "out_proj"),
    "split without transpose": (lambda x, m, causal=False: _by_hand(x, m, causal, split_t=False),
                                "mixes time steps into heads"),
    "merge without transpose": (lambda x, m, causal=False: _by_hand(x, m, causal, merge_t=False),
                                "merging the heads"),
    "both without transpose": (lambda x, m, causal=False: _by_hand(x, m, causal, split_t=False, merge_t=False),
                               "without .transpose(1, 2)"),
    "no causal mask": (lambda x, m, causal=False: _by_hand(x, m, False), "causal_mask(T)"),
    "mask upside down": (lambda x, m, causal=False: _by_hand(x, m, causal, mask=lambda T: causal_mask(T).T),
                         "wrong way round"),
    "scaled by sqrt(d_model)": (lambda x, m, causal=False: _by_hand(x, m, causal, d=lambda C, H: C),
                                "not by sqrt(d_model)"),
    "unscaled": (lambda x, m, causal=False: _by_hand(x, m, causal, d=lambda C, H: 1), "sqrt(d_head) before"),
    "one head": (lambda x, m, causal=False: _by_hand(x, m, causal, heads=1), "one head of width"),
    "mean of the heads' weights": (lambda x, m, causal=False: (mha_forward(x, m, causal)[0],
                                                               mha_forward(x, m, causal)[1].mean(1)),
                                   "not their mean"),
    "weights after the mask but not softmaxed": (
        lambda x, m, causal=False: (mha_forward(x, m, causal)[0], mha_forward(x, m, causal)[1] * 2),
        "the weights are not"),
}


def test_multi_head_attention_passes_the_solution(capsys):
    rng = torch.get_rng_state()
    assert check_multi_head_attention(mha_forward)
    assert "✅" in capsys.readouterr().out
    assert torch.equal(torch.get_rng_state(), rng)  # the notebook's random state is untouched
    assert check_multi_head_attention(lambda x, m, causal=False: _by_hand(x, m, causal))  # own attention


@pytest.mark.parametrize("mistake", list(WRONG))
def test_multi_head_attention_names_each_mistake(mistake, capsys):
    fn, hint = WRONG[mistake]
    assert not check_multi_head_attention(fn)
    out = capsys.readouterr().out
    assert "❌" in out and hint in out, out


def test_multi_head_attention_stub_crash_and_wrong_types(capsys):
    def stub(x, mha, causal=False):
        raise NotImplementedError

    assert not check_multi_head_attention(stub)
    assert "not implemented yet" in capsys.readouterr().out

    def crashes(x, mha, causal=False):
        return x.view(-1, 7)[0]

    assert not check_multi_head_attention(crashes)
    assert "raised RuntimeError" in capsys.readouterr().out
    assert not check_multi_head_attention(lambda x, mha, causal=False: mha_forward(x, mha, causal)[0])
    assert "pair of tensors" in capsys.readouterr().out
    assert not check_multi_head_attention(None)
    assert not check_multi_head_attention("mha")


# --------------------------------------------------------------------------- exercise 2: sliding window

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

    def stub(T, w):
        raise NotImplementedError

    assert check_window_mask(right)
    assert not check_window_mask(off_by_one)
    assert "should be False" in capsys.readouterr().out
    assert not check_window_mask(symmetric)
    assert "future" in capsys.readouterr().out
    assert not check_window_mask(lambda T, w: right(T, w).int())
    assert not check_window_mask(lambda T, w: right(T, w)[:-1])
    assert not check_window_mask(crashes)
    assert not check_window_mask(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_window_mask(None)


# --------------------------------------------------------------------------- exercise 3: copy model

@pytest.fixture(scope="module")
def copier():
    return train_toy(ToyConfig(task="copy"), steps=200, progress=False)[0]


def test_copy_model(copier, capsys):
    assert check_copy_model(copier)
    reverser = train_toy(ToyConfig(), steps=5, progress=False)[0]
    assert not check_copy_model(reverser)
    assert "task='copy'" in capsys.readouterr().out
    untrained = train_toy(ToyConfig(task="copy"), steps=1, progress=False)[0]
    assert not check_copy_model(untrained)
    out = capsys.readouterr().out
    assert "more steps" in out and "permutation" not in out
    assert not check_copy_model(None)


def test_copy_model_without_positions_is_a_right_answer(capsys):
    # copying commutes with shuffling, so a position-blind model can learn it (by content)
    blind = train_toy(ToyConfig(task="copy", positions="none"), steps=150, progress=False)[0]
    assert check_copy_model(blind)
    assert "by content" in capsys.readouterr().out
