"""lm_course.attention: the hand-written attention agrees with PyTorch's, masks
are causal, attention without positions is permutation-equivariant, and bad
input is refused clearly."""

import math

import pytest
import torch
import torch.nn.functional as F

from lm_course.attention import (MultiHeadAttention, causal_mask, scaled_dot_product_attention,
                                 sinusoidal_positional_encoding)


def _qkv(shape_q, shape_k, dv, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(*shape_q, generator=g)
    k = torch.randn(*shape_k, generator=g)
    v = torch.randn(*shape_k[:-1], dv, generator=g)
    return q, k, v


# ------------------------------------------------------------------ agreement with PyTorch

@pytest.mark.parametrize("shape_q, shape_k, dv", [
    ((5, 8), (5, 8), 8),  # one sequence, one head
    ((3, 7, 16), (3, 7, 16), 4),  # batched
    ((2, 4, 6, 8), (2, 4, 6, 8), 8),  # batch and heads
    ((2, 4, 3, 8), (2, 4, 9, 8), 5),  # fewer queries than keys
])
def test_matches_torch_without_mask(shape_q, shape_k, dv):
    q, k, v = _qkv(shape_q, shape_k, dv)
    out, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    assert w.shape == (*shape_q[:-1], shape_k[-2])


@pytest.mark.parametrize("T, S", [(6, 6), (3, 9), (1, 4)])
def test_matches_torch_with_causal_mask_batched_multi_head(T, S):
    q, k, v = _qkv((2, 3, T, 8), (2, 3, S, 8), 8, seed=1)
    mask = causal_mask(T, S)  # (T, S)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)
    if T == S:
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5, rtol=1e-5)
    assert (w[..., ~mask] == 0).all()  # no weight on a forbidden key


def test_matches_torch_with_a_per_example_padding_mask():
    q, k, v = _qkv((2, 2, 5, 4), (2, 2, 5, 4), 4, seed=2)
    lengths = torch.tensor([5, 3])
    mask = (torch.arange(5)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, S): keys beyond the length
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)


def test_weights_are_the_softmax_of_scaled_scores():
    q, k, v = _qkv((4, 8), (6, 8), 3, seed=3)
    _, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(w, torch.softmax(q @ k.T / math.sqrt(8), dim=-1))


@pytest.mark.parametrize("masked", [False, True])
def test_rows_of_weights_sum_to_one_and_are_non_negative(masked):
    q, k, v = _qkv((3, 2, 7, 8), (3, 2, 7, 8), 8, seed=4)
    _, w = scaled_dot_product_attention(q, k, v, causal_mask(7) if masked else None)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 7))


def test_a_fully_masked_row_gives_zeros_not_nans():
    q, k, v = _qkv((3, 4), (3, 4), 2, seed=5)
    mask = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    out, w = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert (w[1] == 0).all() and (out[1] == 0).all()
    torch.testing.assert_close(w[0], torch.tensor([1.0, 0.0, 0.0]))


# ------------------------------------------------------------------ causal masks

def test_causal_mask_is_the_lower_triangle():
    assert causal_mask(4).tolist() == [[True, False, False, False], [True, True, False, False],
                                       [True, True, True, False], [True, True, True, True]]
    assert causal_mask(4).dtype == torch.bool


def test_causal_mask_with_a_cache_lets_the_last_queries_see_the_past():
    m = causal_mask(2, 5)  # queries are positions 3 and 4 of 5
    assert m.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert torch.equal(causal_mask(5)[-2:], m)


@pytest.mark.parametrize("t", [0, 3, 6])
def test_changing_a_future_token_never_changes_an_earlier_output(t):
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    x = torch.randn(2, 7, 16)
    changed = x.clone()
    changed[:, t + 1:] = torch.randn(2, 7 - t - 1, 16) * 10  # rewrite everything after position t
    out1, w1 = mha(x, causal=True)
    out2, w2 = mha(changed, causal=True)
    torch.testing.assert_close(out1[:, : t + 1], out2[:, : t + 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(w1[:, :, : t + 1], w2[:, :, : t + 1], atol=1e-6, rtol=0)
    if t < 6:  # and without the mask the earlier outputs do change (the test can fail)
        assert not torch.allclose(mha(x)[0][:, : t + 1], mha(changed)[0][:, : t + 1])


def test_causal_and_explicit_masks_combine():
    torch.manual_seed(1)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(1, 4, 8)
    keep = torch.tensor([True, False, True, True])  # never attend to key 1
    _, w = mha(x, mask=keep, causal=True)
    assert (w[..., 1] == 0).all() and (w.triu(1) == 0).all()


# ------------------------------------------------------------------ multi-head attention

def test_multi_head_shapes():
    mha = MultiHeadAttention(d_model=32, n_heads=4)
    out, w = mha(torch.randn(3, 10, 32))
    assert out.shape == (3, 10, 32) and w.shape == (3, 4, 10, 10)
    assert mha.d_head == 8
    assert sum(p.numel() for p in mha.parameters()) == 4 * (32 * 32 + 32)


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_matches_torch_multihead_attention(causal):
    torch.manual_seed(2)
    d, h = 24, 3
    ours = MultiHeadAttention(d, h)
    ref = torch.nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(2, 6, d)
    out, w = ours(x, causal=causal)
    ref_mask = ~causal_mask(6) if causal else None  # torch's bool attn_mask: True = NOT allowed
    ref_out, ref_w = ref(x, x, x, attn_mask=ref_mask, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-5, rtol=1e-5)


def test_one_head_of_mha_is_scaled_dot_product_attention_of_its_slice():
    torch.manual_seed(3)
    mha = MultiHeadAttention(12, 3)
    x = torch.randn(1, 5, 12)
    _, w = mha(x)
    q = mha.q_proj(x)[..., 4:8]  # head 1's slice of the projections
    k = mha.k_proj(x)[..., 4:8]
    v = mha.v_proj(x)[..., 4:8]
    _, w1 = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(w[:, 1], w1)


# ------------------------------------------------------------------ positions

def test_attention_without_positions_is_permutation_equivariant():
    torch.manual_seed(4)
    mha = MultiHeadAttention(16, 2)
    x = torch.randn(2, 8, 16)
    perm = torch.randperm(8)
    out, w = mha(x)
    out_p, w_p = mha(x[:, perm])
    torch.testing.assert_close(out_p, out[:, perm], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w_p, w[:, :, perm][:, :, :, perm], atol=1e-6, rtol=1e-5)


def test_positions_break_permutation_equivariance():
    torch.manual_seed(5)
    mha = MultiHeadAttention(16, 2)
    x = torch.randn(1, 8, 16)
    pe = sinusoidal_positional_encoding(8, 16)
    perm = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0])
    out, _ = mha(x + pe)
    out_p, _ = mha(x[:, perm] + pe)
    assert not torch.allclose(out_p, out[:, perm], atol=1e-3)


def test_sinusoidal_encoding_values():
    pe = sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 8))
    torch.testing.assert_close(pe[:, 0], torch.sin(torch.arange(50.0)))
    torch.testing.assert_close(pe[:, 1], torch.cos(torch.arange(50.0)))
    torch.testing.assert_close(pe[10, 14], torch.sin(torch.tensor(10 / 10000 ** (14 / 16))))
    assert sinusoidal_positional_encoding(5, 7).shape == (5, 7)  # odd widths work too


def test_sinusoidal_shift_is_a_rotation():
    """PE(pos + k) is a fixed linear map (a rotation per frequency) of PE(pos):
    the property Vaswani et al. (2017) chose the sinusoids for."""
    d, k = 8, 3
    pe = sinusoidal_positional_encoding(40, d)
    for i in range(d // 2):
        w = 1 / 10000 ** (2 * i / d)
        c, s = math.cos(k * w), math.sin(k * w)
        rot = torch.tensor([[c, -s], [s, c]])  # (sin, cos) row vector -> shifted by k
        torch.testing.assert_close(pe[:-k, 2 * i: 2 * i + 2] @ rot, pe[k:, 2 * i: 2 * i + 2], atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("q, k, v, match", [
    (torch.randn(4, 8), torch.randn(4, 6), torch.randn(4, 8), "same width d_k"),
    (torch.randn(4, 8), torch.randn(5, 8), torch.randn(4, 8), "same number of tokens"),
    (torch.randn(8), torch.randn(4, 8), torch.randn(4, 8), "at least 2 dimensions"),
    (torch.randn(2, 4, 8), torch.randn(3, 4, 8), torch.randn(3, 4, 8), "leading"),
])
def test_mismatched_shapes_are_refused(q, k, v, match):
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v)


def test_bad_dtypes_and_masks_are_refused():
    q = torch.randn(3, 4)
    with pytest.raises(TypeError, match="floating-point"):
        scaled_dot_product_attention(q.long(), q.long(), q.long())
    with pytest.raises(TypeError, match="one dtype"):
        scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(TypeError, match="torch.Tensor"):
        scaled_dot_product_attention(q.tolist(), q, q)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, q, q, torch.ones(3, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, q, q, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean"):
        MultiHeadAttention(4, 2)(torch.randn(1, 3, 4), mask=torch.ones(3, 3), causal=True)


def test_bad_module_arguments_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="positive"):
        MultiHeadAttention(8, 0)
    with pytest.raises(TypeError, match="integer"):
        MultiHeadAttention(8.0, 2)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.randn(3, 8))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        MultiHeadAttention(8, 2)(torch.randn(1, 3, 6))
    with pytest.raises(ValueError, match="1 <= T <= S"):
        causal_mask(5, 3)
    with pytest.raises(ValueError, match="1 <= T <= S"):
        causal_mask(0)
    with pytest.raises(TypeError, match="integer"):
        causal_mask(4.0)
    with pytest.raises(ValueError, match="positive"):
        sinusoidal_positional_encoding(0, 8)
    with pytest.raises(TypeError, match="integer"):
        sinusoidal_positional_encoding(4, 8.5)
