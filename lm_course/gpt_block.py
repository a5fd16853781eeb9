"""The parts of the course's GPT (:mod:`lm_course.gpt`): its config, causal
self-attention, the feed-forward MLP and the Transformer block.

Explained in ``05_transformer.ipynb``, section "From attention to a block"::

    x = x + attn(ln_1(x))       causal multi-head self-attention
    x = x + mlp(ln_2(x))        Linear(C, 4C) -> GELU -> Linear(4C, C)

LayerNorm comes *before* each sub-layer ("pre-LN", GPT-2's choice); the GELU
is GPT-2's tanh approximation ("gelu_new") and LayerNorm's epsilon 1e-5, so
GPT-2's weights give the same outputs as ``transformers``. Parameter names
follow Hugging Face's ``GPT2LMHeadModel`` (``attn.c_attn``, ``mlp.c_fc``, ...).

Shapes: ``B`` batch, ``T`` new tokens, ``P`` cached (past) tokens,
``S = P + T`` keys, ``C`` = n_embd, ``nh`` = n_head, ``hs`` = C // nh,
``V`` = vocab_size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.validation import require_positive

__all__ = ["GPTConfig", "KVCache", "attention_mask", "CausalSelfAttention", "MLP", "Block"]

# one (key, value) pair per layer, each (B, nh, S, hs)
KVCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


@dataclass
class GPTConfig:
    """The shape of a GPT (a comment per field). GPT-2 small is
    ``GPTConfig(50257, 1024, 12, 12, 768)``."""

    vocab_size: int  # number of token ids (63 characters for the course's char models)
    block_size: int  # longest context: the number of learned positions
    n_layer: int  # number of Transformer blocks
    n_head: int  # attention heads per block
    n_embd: int  # width of the residual stream (C); must be divisible by n_head
    dropout: float = 0.0  # dropout on embeddings and residual branches (training only)
    attn_dropout: float | None = None  # dropout on attention weights; None: the same as dropout. Any
    #                                    value > 0 rules out the fused attention kernel (slower steps)
    bias: bool = True  # biases in Linear layers and LayerNorms (GPT-2 has them)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, require_positive(getattr(self, name), f"GPTConfig.{name}"))
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head gets n_embd // n_head features"
            )
        for name in ("dropout", "attn_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= float(value) < 1.0:
                raise ValueError(f"GPTConfig.{name} must be in [0, 1), got {value!r}")

    @property
    def attention_dropout(self) -> float:
        """The dropout on attention weights (``attn_dropout``, else ``dropout``)."""
        return self.dropout if self.attn_dropout is None else self.attn_dropout

    def to_dict(self) -> dict:
        return asdict(self)



def attention_mask(T: int, S: int, device: torch.device | str | None = None,
                   fused: bool = True) -> torch.Tensor | None:
    """The attention mask ``(T, S)`` that ``T`` queries over ``S`` keys need
    (the queries are the last ``T`` of the ``S`` positions), or ``None`` when
    no tensor is needed.

    Fast-decoding step 1 (:mod:`lm_course.gpt_decoding`): a single query (``T == 1``,
    every step of cached decoding) may attend to all ``S`` keys, so it is not
    masked at all; with ``S == T`` the fused kernel's ``is_causal=True``
    masks without a tensor (``fused=False``, chapter 4's attention, needs the
    tensor). Otherwise :func:`lm_course.attention.causal_mask`.
    """
    if T == 1 or (S == T and fused):
        return None
    return causal_mask(T, S, device=device)  # (T, S), True = may attend


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused ``c_attn`` projection
    for queries, keys and values (GPT-2's layout) and an output ``c_proj``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v together
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # mixes the heads
        self.dropout = config.attention_dropout
        self.attn_dropout = nn.Dropout(config.attention_dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, layer_past: tuple[torch.Tensor, torch.Tensor] | None = None,
                output_attentions: bool = False, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor | None]:
        """Returns ``(y, (k, v), weights)``: the output (B, T, C), the keys and
        values of all ``S = P + T`` positions (the cache for the next call) and
        the attention weights (B, nh, T, S) when ``output_attentions``.
        ``mask``: the ``(T, S)`` mask of :func:`attention_mask` if the caller
        built it (:meth:`GPT.forward` does, once for every layer); ``None``
        makes it here when one is needed."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if layer_past is not None:
            past_k, past_v = layer_past  # (B, nh, P, hs) each
            k = torch.cat([past_k, k], dim=2)  # (B, nh, S, hs)
            v = torch.cat([past_v, v], dim=2)  # (B, nh, S, hs)
        S = k.size(2)
        if mask is None:  # (T, S) or None: nothing to mask (fast-decoding step 1)
            mask = attention_mask(T, S, device=x.device, fused=not output_attentions)
        weights = None
        if output_attentions:
            # chapter 4's attention, which returns its weights
            _, weights = scaled_dot_product_attention(q, k, v, mask)  # weights (B, nh, T, S)
            y = self.attn_dropout(weights) @ v  # (B, nh, T, hs)
        else:
            # the fused kernel: same numbers, much faster, no weights
            drop = self.dropout if self.training else 0.0
            if mask is None:  # S == T: the causal triangle; T == 1: one query sees every key, no mask
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=T > 1)  # (B, nh, T, hs)
            else:  # queries are the last T of S positions
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side
        y = self.resid_dropout(self.c_proj(y))  # (B, T, C)
        return y, (k, v), weights


class MLP(nn.Module):
    """The position-wise feed-forward network: ``C -> 4C -> GELU -> C``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.c_fc(x), approximate="tanh")  # (B, T, 4C); GPT-2's "gelu_new"
        return self.dropout(self.c_proj(h))  # (B, T, C)


class Block(nn.Module):
    """One Transformer block: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, layer_past: tuple[torch.Tensor, torch.Tensor] | None = None,
                output_attentions: bool = False, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor | None]:
        a, present, weights = self.attn(self.ln_1(x), layer_past, output_attentions, mask)  # (B, T, C)
        x = x + a  # (B, T, C): the residual stream
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x, present, weights
