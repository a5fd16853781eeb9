"""Attention: scaled dot-product, causal masks, multi-head attention and
sinusoidal positions, written out so that every step can be inspected.

Explained in ``04_attention.ipynb``; the GPT of ``05_transformer.ipynb`` uses
:func:`scaled_dot_product_attention` whenever attention weights are asked for.

Shapes: ``B`` batch, ``H`` heads, ``T`` queries, ``S`` keys, ``d`` the
width of a query/key (``d_k``) and ``dv`` of a value.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from lm_course.validation import require_int

__all__ = [
    "scaled_dot_product_attention",
    "causal_mask",
    "MultiHeadAttention",
    "sinusoidal_positional_encoding",
]


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T / sqrt(d_k)) v``, returning ``(output, weights)``.

    Args:
        q: ``(..., T, d)`` queries.
        k: ``(..., S, d)`` keys.
        v: ``(..., S, dv)`` values.
        mask: optional boolean tensor broadcastable to ``(..., T, S)``,
            ``True`` where a query may attend to a key (the convention of
            ``torch.nn.functional.scaled_dot_product_attention``).

    Returns:
        output ``(..., T, dv)`` and weights ``(..., T, S)`` whose rows sum to 1.
        A query whose mask row is all ``False`` gets all-zero weights (and a
        zero output) instead of NaNs.
    """
    _check_qkv(q, k, v)
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T, S)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        try:
            torch.broadcast_shapes(mask.shape, scores.shape)
        except RuntimeError:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape {tuple(scores.shape)}"
            ) from None
        scores = scores.masked_fill(~mask, float("-inf"))  # (..., T, S)
    weights = torch.softmax(scores, dim=-1)  # (..., T, S)
    weights = torch.nan_to_num(weights, nan=0.0)  # fully masked rows -> zeros
    return weights @ v, weights  # (..., T, dv), (..., T, S)


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Clear errors for the shapes and dtypes that ``q @ k^T`` and ``w @ v``
    would otherwise reject with a cryptic message (or silently broadcast)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} needs at least 2 dimensions (..., tokens, features), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if q.size(-1) != k.size(-1):
        raise ValueError(f"queries and keys must have the same width d_k, got {q.size(-1)} and {k.size(-1)}")
    if k.size(-2) != v.size(-2):
        raise ValueError(f"keys and values must have the same number of tokens, got {k.size(-2)} and {v.size(-2)}")
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading (batch, head) dimensions of q {tuple(q.shape)}, k {tuple(k.shape)} and "
            f"v {tuple(v.shape)} do not match"
        ) from None


def causal_mask(T: int, S: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``(T, S)`` mask, ``True`` where attention is allowed.

    Query ``t`` may attend to keys ``0 .. t + (S - T)``: with ``S == T`` (the
    default) that is the lower triangle; with ``S > T`` the queries are the
    last ``T`` positions of a longer sequence (generation with a KV cache).
    """
    S = T if S is None else S
    for name, n in (("T", T), ("S", S)):
        require_int(n, f"causal_mask's {name}", type_error=True)
    if T < 1 or S < T:
        raise ValueError(f"causal_mask needs 1 <= T <= S, got T={T}, S={S}")
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)  # (T, S)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017, section 3.2.2).

    ``n_heads`` heads of width ``d_model // n_heads`` attend in parallel; their
    outputs are concatenated and mixed by an output projection. ``forward``
    returns ``(output, weights)`` with weights of shape ``(B, H, T, T)``.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        for name, n in (("d_model", d_model), ("n_heads", n_heads)):
            require_int(n, name, type_error=True)
        if d_model < 1 or n_heads < 1:
            raise ValueError(f"d_model and n_heads must be positive, got {d_model} and {n_heads}")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, T, dh)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` is ``(B, T, d_model)``; ``mask`` broadcastable to ``(B, H, T, T)``;
        ``causal=True`` adds the causal mask."""
        if x.dim() != 3 or x.size(-1) != self.d_model:
            raise ValueError(f"expected input of shape (B, T, {self.d_model}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        q = self._split_heads(self.q_proj(x))  # (B, H, T, dh)
        k = self._split_heads(self.k_proj(x))  # (B, H, T, dh)
        v = self._split_heads(self.v_proj(x))  # (B, H, T, dh)
        if mask is not None and mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        if causal:
            cm = causal_mask(T, device=x.device)  # (T, T)
            mask = cm if mask is None else mask & cm
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, dh), (B, H, T, T)
        out = out.transpose(1, 2).reshape(B, T, self.d_model)  # (B, T, d_model)
        return self.out_proj(out), weights  # (B, T, d_model), (B, H, T, T)


def sinusoidal_positional_encoding(T: int, d: int) -> torch.Tensor:
    """The fixed positional encoding of Vaswani et al. (2017), section 3.5.

    ``PE[pos, 2i] = sin(pos / 10000^(2i/d))`` and
    ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d))``; returns ``(T, d)``.
    """
    for name, n in (("T", T), ("d", d)):
        require_int(n, f"sinusoidal_positional_encoding's {name}", type_error=True)
    if T < 1 or d < 1:
        raise ValueError(f"T and d must be positive, got T={T}, d={d}")
    pos = torch.arange(T, dtype=torch.float32)[:, None]  # (T, 1)
    i2 = torch.arange(0, d, 2, dtype=torch.float32)  # (ceil(d/2),)
    angles = pos / torch.pow(10000.0, i2 / d)  # (T, ceil(d/2))
    pe = torch.zeros(T, d)  # (T, d)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d // 2])
    return pe
