"""Chapter 4's exercise checkers: right answers pass, wrong ones fail with a
hint naming the mistake, stubs say "not implemented yet", nothing raises."""

import math

import pytest
import torch

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.exercises.ch04 import check_copy_model, check_multi_head_attention, check_window_mask
from lm_course.toy_attention import ToyConfig, train_toy


# --------------------------------------------------------------------------- exercise 5: multi-head attention

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


def _by_hand(x, mha, causal, *, project=True, split_t=True, merge_t=True, mask=None, d=None, heads=None,
             dim=-1, mask_after=False):
    """A student's own attention, with one mistake switched on."""
    B, T, C = x.shape
    H = heads or mha.n_heads

    def split(t):
        return t.view(B, T, H, C // H).transpose(1, 2) if split_t else t.view(B, H, T, C // H)

    q, k, v = split(mha.q_proj(x)), split(mha.k_proj(x)), split(mha.v_proj(x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d(C, H) if d else C // H)
    allowed = causal_mask(T) if mask is None else mask(T)
    if causal and not mask_after:
        scores = scores.masked_fill(~allowed, float("-inf"))
    w = torch.nan_to_num(torch.softmax(scores, dim))
    if causal and mask_after:
        w = w * allowed
    out = w @ v
    out = out.transpose(1, 2).reshape(B, T, C) if merge_t else out.reshape(B, T, C)
    return (mha.out_proj(out) if project else out), w


def _scores(x, mha, causal):
    """The masked scores (B, H, T, T) of mha_forward, before its softmax."""
    B, T, C = x.shape
    H = mha.n_heads
    q = mha.q_proj(x).view(B, T, H, C // H).transpose(1, 2)
    k = mha.k_proj(x).view(B, T, H, C // H).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(C // H)
    return scores.masked_fill(~causal_mask(T), float("-inf")) if causal else scores


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
    "softmax over the queries": (lambda x, m, causal=False: _by_hand(x, m, causal, dim=-2), "over the queries"),
    "mask after the softmax": (lambda x, m, causal=False: _by_hand(x, m, causal, mask_after=True),
                               "after the softmax"),
    "scores returned as weights": (lambda x, m, causal=False: (mha_forward(x, m, causal)[0],
                                                               _scores(x, m, causal)), "scores before the softmax"),
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


# --------------------------------------------------------------------------- exercise 1: sliding window

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
    assert "one key too many" in capsys.readouterr().out
    assert not check_window_mask(symmetric)
    assert "looks both ways" in capsys.readouterr().out
    assert not check_window_mask(lambda T, w: right(T, w) & ~torch.eye(T, dtype=torch.bool))  # not a known slip
    assert "query 0 and key 0 should be True" in capsys.readouterr().out
    assert not check_window_mask(lambda T, w: right(T, w).int())
    assert not check_window_mask(lambda T, w: right(T, w)[:-1])
    assert not check_window_mask(crashes)
    assert not check_window_mask(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_window_mask(None)


# --------------------------------------------------------------------------- exercise 7: copy model

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
    capsys.readouterr()
    assert not check_copy_model((copier, [1.0]))  # train_toy's pair, not its model
    assert "train_toy(...)[0]" in capsys.readouterr().out
    assert not check_copy_model("model")
    assert "expected the model returned by train_toy" in capsys.readouterr().out


def test_copy_model_table_trains_its_wrong_answers_on_first_use_only():
    from lm_course.exercises import ch04_attention

    before = ch04_attention._trained.cache_info().currsize
    assert len(check_copy_model.wrong_versions) >= 4  # building the table at import trained nothing
    assert ch04_attention._trained.cache_info().currsize == before


def test_copy_model_without_positions_is_rejected_as_the_statement_says(capsys):
    # copying commutes with shuffling, so a position-blind model can learn it (by content), but the
    # statement asks for learned positions: the checker says so (issue 31)
    blind = train_toy(ToyConfig(task="copy", positions="none"), steps=150, progress=False)[0]
    assert not check_copy_model(blind)
    out = capsys.readouterr().out
    assert "without positions" in out and "by content" in out and "positions='learned'" in out


# --------------------------------------------------------------------------- exercises 2, 3, 4 and 6

from lm_course.attention import sinusoidal_positional_encoding  # noqa: E402
from lm_course.exercises import ch04  # noqa: E402
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import accepts_right_flags_wrong, stub  # noqa: E402


def attention(q, k, v, mask=None):
    """The notebook's solution of exercise 2."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # False = may not attend
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row with no allowed key: zeros
    return weights @ v, weights


def test_masked_attention(capsys):
    assert ch04.check_masked_attention(attention)
    assert ch04.check_masked_attention(scaled_dot_product_attention)
    assert "✅" in capsys.readouterr().out
    for switches, words in ((dict(scale="none"), "not scaled"), (dict(scale="d_v"), "not of the values"),
                            (dict(flip=True), "convention is flipped"), (dict(dim=-2), "wrong axis"),
                            (dict(nan_rows=True), "NaNs")):
        accepts_right_flags_wrong(capsys, ch04.check_masked_attention, attention,
                                  lambda q, k, v, mask=None, s=switches: ch04.attention_reference(q, k, v, mask, **s),
                                  words)
    accepts_right_flags_wrong(capsys, ch04.check_masked_attention, attention,
                              lambda q, k, v, mask=None: (attention(q, k, v, mask)[1] @ v * 2,
                                                          attention(q, k, v, mask)[1]), "weights @ v")
    accepts_right_flags_wrong(capsys, ch04.check_masked_attention, attention,
                              lambda q, k, v, mask=None: attention(q, k, v, mask)[0], "pair")
    assert not ch04.check_masked_attention(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch04.check_masked_attention(lambda q, k, v, mask=None: q.view(3, -1, 7))
    assert "raised" in capsys.readouterr().out
    assert not ch04.check_masked_attention(None)


def causal(T, S):
    """The notebook's solution of exercise 3."""
    return torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)


def test_causal_mask(capsys):
    assert ch04.check_causal_mask(causal)
    assert ch04.check_causal_mask(causal_mask)
    cases = {
        "misses itself": lambda T, S: torch.ones(T, S, dtype=torch.bool).tril(S - T - 1),
        "transposed": lambda T, S: torch.ones(T, S, dtype=torch.bool).triu(S - T),
        "top left": lambda T, S: torch.ones(T, S, dtype=torch.bool).tril(0),
        "should be": lambda T, S: torch.ones(T, S, dtype=torch.bool),
        "boolean": lambda T, S: causal(T, S).int(),
        "shape": lambda T, S: causal(T, T),
    }
    for words, wrong in cases.items():
        accepts_right_flags_wrong(capsys, ch04.check_causal_mask, causal, wrong, words)
    assert not ch04.check_causal_mask(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch04.check_causal_mask(None)


def split_heads(x, n_heads):
    """The notebook's solution of exercise 4."""
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, H, T, dh)


def merge_heads(y):
    B, H, T, dh = y.shape
    return y.transpose(1, 2).reshape(B, T, H * dh)  # (B, T, C)


def test_split_merge_heads(capsys):
    assert ch04.check_split_merge_heads(split_heads, merge_heads)
    assert "✅" in capsys.readouterr().out

    def split_no_t(x, n):
        B, T, C = x.shape
        return x.reshape(B, n, T, C // n)

    def merge_no_t(y):
        B, H, T, dh = y.shape
        return y.reshape(B, T, H * dh)

    def split_strided(x, n):
        B, T, C = x.shape
        return x.view(B, T, C // n, n).permute(0, 3, 1, 2)

    assert not ch04.check_split_merge_heads(split_no_t, merge_no_t)  # composes to the identity, still wrong
    assert "mixes time steps" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(split_heads, merge_no_t)
    assert "transpose back" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(split_strided, merge_heads)
    assert "contiguous slice" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(lambda x, n: x, merge_heads)
    assert "shape" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(stub, merge_heads)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(split_heads, stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(None, merge_heads)


def test_split_merge_heads_names_the_table_mistakes(capsys):
    def split_sizes_swapped(x, n):  # (B, d_head, T, n_heads)
        B, T, C = x.shape
        return x.view(B, T, C // n, n).transpose(1, 2)

    def merge_view(y):  # .view on the transposed tensor raises
        B, H, T, dh = y.shape
        return y.transpose(1, 2).view(B, T, H * dh)

    assert not ch04.check_split_merge_heads(split_sizes_swapped, merge_heads)
    assert "head size are swapped" in capsys.readouterr().out
    assert not ch04.check_split_merge_heads(split_heads, merge_view)
    out = capsys.readouterr().out
    assert "raised RuntimeError" in out and "not contiguous in memory" in out


def test_split_merge_heads_takes_the_pair_as_one_answer(capsys):
    # the table's wrong versions are (split_heads, merge_heads) pairs, passed as one answer
    assert ch04.check_split_merge_heads((split_heads, merge_heads))
    capsys.readouterr()
    assert not ch04.check_split_merge_heads(split_heads)  # merge_heads forgotten
    assert "no answer yet" in capsys.readouterr().out
    assert all(isinstance(w.version, tuple) and len(w.version) == 2
               for w in ch04.check_split_merge_heads.wrong_versions)


def positional_encoding(T, d):
    """The notebook's solution of exercise 6."""
    pos = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float32)  # (ceil(d/2),): 0, 2, 4, ...
    angles = pos / 10000 ** (two_i / d)  # (T, ceil(d/2))
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(angles)  # even columns
    pe[:, 1::2] = torch.cos(angles[:, : d // 2])  # odd columns (one fewer when d is odd)
    return pe


def test_positional_encoding(capsys):
    assert ch04.check_positional_encoding(positional_encoding)
    assert ch04.check_positional_encoding(sinusoidal_positional_encoding)
    for switches, words in ((dict(swap=True), "swapped"), (dict(exponent="i"), "2i/d"),
                            (dict(exponent="column"), "own index"), (dict(layout="halves"), "two halves")):
        accepts_right_flags_wrong(capsys, ch04.check_positional_encoding, positional_encoding,
                                  lambda T, d, s=switches: ch04.positional_encoding_reference(T, d, **s).float(),
                                  words)

    def even_only(T, d):
        pe = positional_encoding(T, d)
        if d % 2:
            pe[:, -1] = 0
        return pe

    accepts_right_flags_wrong(capsys, ch04.check_positional_encoding, positional_encoding, even_only, "odd d")
    accepts_right_flags_wrong(capsys, ch04.check_positional_encoding, positional_encoding,
                              lambda T, d: positional_encoding(T, d).long(), "float")
    assert not ch04.check_positional_encoding(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch04.check_positional_encoding(None)


def test_positional_encoding_reference_is_the_package_encoding():
    for T, d in ((10, 16), (7, 5), (3, 1)):
        assert torch.allclose(ch04.positional_encoding_reference(T, d).float(), sinusoidal_positional_encoding(T, d),
                              atol=1e-5)
