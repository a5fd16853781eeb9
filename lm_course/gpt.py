"""A GPT: the decoder-only Transformer of GPT-2, written to be read.

Explained in ``05_transformer.ipynb`` (sections "From attention to a block"
and "The full model"); ``06_gpt2_sampling.ipynb`` loads OpenAI's GPT-2
weights into the very same class and adds the KV cache to generation.

The architecture is GPT-2's (Radford et al. 2019), in the style of Andrej
Karpathy's nanoGPT ``model.py``::

    x = wte[idx] + wpe[positions]                      token + learned position embeddings
    for each of n_layer blocks:
        x = x + attn(ln_1(x))                          causal multi-head self-attention
        x = x + mlp(ln_2(x))                           Linear(C, 4C) -> GELU -> Linear(4C, C)
    logits = ln_f(x) @ wte^T                           LM head tied to the token embedding

LayerNorm comes *before* each sub-layer ("pre-LN", GPT-2's choice) and the
residual stream ``x`` is never normalised in place. The GELU is GPT-2's tanh
approximation ("gelu_new" in Hugging Face) and LayerNorm's epsilon is 1e-5,
so GPT-2's weights give the same logits as ``transformers``.

Parameter names follow Hugging Face's ``GPT2LMHeadModel`` (``transformer.wte``,
``transformer.h.0.attn.c_attn``, ..., ``lm_head``) so its checkpoints map onto
this model by name; Hugging Face stores the ``c_attn``/``c_proj``/``c_fc``
weights as ``Conv1D`` (``(in, out)``), i.e. transposed with respect to our
``nn.Linear`` (``(out, in)``).

Shapes: ``B`` batch, ``T`` new tokens, ``P`` cached (past) tokens,
``S = P + T`` keys, ``C`` = n_embd, ``nh`` = n_head, ``hs`` = C // nh,
``V`` = vocab_size.

Fast decoding (``06_gpt2_sampling.ipynb``, "The KV cache": where the time of
a one-token step goes). A decoding step runs one new token (``T == 1``)
against the cache; its time is mostly the time of reading every weight
once, and four named steps keep other work out of it:

1. *No mask for one query* (:func:`attention_mask`): the newest token may
   attend to all ``S`` cached positions, so there is nothing to mask; when a
   mask is needed (several new tokens after a cache, or chapter 4's attention
   with ``output_attentions``) it is built once per forward, not per layer.
2. *The head only where logits are needed* (``forward(logits_to_keep=...)``):
   the LM head (V x C, the largest matrix of GPT-2) runs over the last
   positions only; decoding needs the last one (the prefill of a 16-token
   prompt otherwise multiplies 16 rows by it).
3. *bfloat16 is opt-in*: :func:`bfloat16_copy` (a bfloat16 copy of the
   model) halves the bytes each step reads; the decoders upcast the logits
   to float32 before filtering.
4. *GPT-2's weights stay in their own layout*: GPT-2 stores each block's
   matrices as ``(in, out)`` (its ``Conv1D``); the loader
   (``GPT.from_pretrained``) keeps that storage and hands
   ``nn.Linear`` a transposed view of it (shape ``(out, in)``, the same
   numbers), so ``x @ W.T`` reads each matrix along its rows. For one token
   in float32 that matrix-vector product is faster on this course's CPU than
   over a copy in ``nn.Linear``'s own layout (and loading skips the copy); in
   bfloat16 the opposite holds, so :func:`bfloat16_copy` stores its matrices
   in ``nn.Linear``'s layout (``bench/RESULTS.md``).

Keystrokes (:class:`PrefixCache`): a widget asks for the next-token
distribution after every keystroke, and typing mostly appends to the text,
so the keys and values of the unchanged prefix are kept from the previous
call and only the changed tail runs through the model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.checkpoints import CheckpointError, load_checked_state, read_checkpoint, save_checkpoint
from lm_course.data import data_dir
from lm_course.interface import Generates, as_id_tensor, inference, inference_method, target_log_probs
from lm_course.tokenizers.char import CharTokenizer
from lm_course.validation import check_batch, check_finite_logits, require_int, require_positive

__all__ = ["GPTConfig", "GPTOutput", "GPT", "KVCache", "PrefixCache", "attention_mask", "bfloat16_copy", "save_gpt",
           "load_gpt", "reference_model_path", "load_reference_model"]

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


@dataclass
class GPTOutput:
    """What :meth:`GPT.forward` returns."""

    logits: torch.Tensor  # (B, T', V): next-token scores at the last T' new positions (T' = T unless
    #                       forward's logits_to_keep asks for fewer)
    past_key_values: KVCache | None = None  # with use_cache: per layer (k, v), each (B, nh, S, hs)
    attentions: tuple[torch.Tensor, ...] | None = None  # with output_attentions: per layer (B, nh, T, S)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # with output_hidden_states: n_layer + 1 of (B, T, C)


def attention_mask(T: int, S: int, device: torch.device | str | None = None,
                   fused: bool = True) -> torch.Tensor | None:
    """The attention mask ``(T, S)`` that ``T`` queries over ``S`` keys need
    (the queries are the last ``T`` of the ``S`` positions), or ``None`` when
    no tensor is needed.

    Fast-decoding step 1 (module docstring): a single query (``T == 1``,
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


class GPT(Generates, nn.Module):
    """GPT-2's architecture; implements :class:`lm_course.interface.LanguageModel`.

    >>> model = GPT(GPTConfig(vocab_size=63, block_size=32, n_layer=2, n_head=2, n_embd=32))
    >>> model(torch.zeros(1, 5, dtype=torch.long)).logits.shape
    torch.Size([1, 5, 63])
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),  # learned position embeddings
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    @classmethod
    def from_pretrained(cls, name_or_path: str = "gpt2", local_files_only: bool | None = None) -> "GPT":
        """GPT-2's weights in this class: a hub name (``"gpt2"`` ... ``"gpt2-xl"``,
        cached) or a local Hugging Face GPT-2 directory (``config.json`` +
        ``model.safetensors``), in eval mode, on the CPU, in float32
        (``06_gpt2_sampling.ipynb``, "Loading GPT-2 into our own GPT"). The
        files are read by :mod:`lm_course.gpt2_weights`, imported here only:
        this is the one place the model depends on GPT-2's file format.

        Raises ``GPT2WeightsUnavailable`` (a hub name not cached, offline),
        ``FileNotFoundError`` or ``ValueError`` (see
        :func:`~lm_course.gpt2_weights.read_gpt2_config`)."""
        from lm_course import gpt2_weights

        checkpoint = gpt2_weights.read_gpt2_config(name_or_path, local_files_only)
        with torch.device("meta"):  # no time or memory spent on a random initialisation
            model = cls(GPTConfig(**checkpoint.config))
        return gpt2_weights.load_gpt2_weights(model, checkpoint)

    # ---- the LanguageModel interface ------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def context_length(self) -> int:
        """The longest context the model accepts: ``block_size``."""
        return self.config.block_size

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Number of parameters (the tied head counted once). With
        ``non_embedding`` the token and position embeddings are left out, as
        in the scaling-law papers (Kaplan et al. 2020)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel() + self.transformer.wte.weight.numel()
        return n

    # ---- the forward pass -------------------------------------------------
    def forward(self, idx: torch.Tensor, past_key_values: KVCache | None = None,
                use_cache: bool = False, output_attentions: bool = False,
                output_hidden_states: bool = False, logits_to_keep: int = 0) -> GPTOutput:
        """Next-token logits for every position of ``idx`` (B, T), or for its
        last ``logits_to_keep``.

        Args:
            idx: ``(B, T)`` long tensor of token ids.
            past_key_values: the ``past_key_values`` of an earlier call with
                ``use_cache=True``; ``idx`` then holds only the *new* tokens,
                whose positions continue after the ``P`` cached ones.
            use_cache: also return the keys/values of all ``P + T`` positions.
            output_attentions: also return each layer's attention weights
                (computed by chapter 4's ``scaled_dot_product_attention``).
            output_hidden_states: also return the residual stream entering
                each block and, last, the output of ``ln_f`` (as Hugging Face
                does), ``n_layer + 1`` tensors of shape (B, T, C).
            logits_to_keep: ``0`` (the default): logits at all ``T``
                positions, ``(B, T, V)``; ``n >= 1``: only at the last ``n``,
                ``(B, min(n, T), V)``, the same numbers as the last rows of
                the full logits (``transformers``' name and meaning). Decoding
                needs only the last position (fast-decoding step 2; the head
                is GPT-2's largest matrix); training and scoring need all.

        Raises:
            ValueError: ``idx`` is not a 2-D tensor of ids in the vocabulary,
                is on another device than the model, or ``P + T`` exceeds
                ``block_size`` (there is no position embedding beyond it;
                crop the context first).
            TypeError: ``idx`` holds no integer ids, or ``logits_to_keep``
                is not an int.
        """
        idx = check_batch(idx, self.config.vocab_size, "idx", device=self.device)  # (B, T) long, or a clear error
        B, T = idx.shape
        if T == 0:
            raise ValueError("idx holds no tokens (T = 0); a GPT needs at least one token of context")
        logits_to_keep = require_int(logits_to_keep, "logits_to_keep (0 = every position, n = the last n)",
                                     minimum=0, type_error=True)
        P = 0
        if past_key_values is not None:
            if len(past_key_values) != self.config.n_layer:
                raise ValueError(f"past_key_values has {len(past_key_values)} layers, the model {self.config.n_layer}")
            P = past_key_values[0][0].size(2)
            if past_key_values[0][0].size(0) != B:
                raise ValueError(f"past_key_values holds the keys of a batch of {past_key_values[0][0].size(0)} "
                                 f"but idx has {B} row(s); pass the cache returned for this batch (or None)")
        if P + T > self.config.block_size:
            raise ValueError(
                f"context of {P + T} tokens ({P} cached + {T} new) is longer than the model's "
                f"block_size of {self.config.block_size}; crop it to the last "
                f"{self.config.block_size} tokens"
            )
        pos = torch.arange(P, P + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        x = self.transformer.drop(x)  # (B, T, C)
        # fast-decoding step 1: one mask for every layer, none for a one-token step
        mask = attention_mask(T, P + T, device=idx.device, fused=not output_attentions)  # (T, S) or None
        presents, attentions, hidden = [], [], []
        for i, block in enumerate(self.transformer.h):
            if output_hidden_states:
                hidden.append(x)  # (B, T, C)
            layer_past = past_key_values[i] if past_key_values is not None else None
            x, present, weights = block(x, layer_past, output_attentions, mask)  # (B, T, C)
            presents.append(present)
            attentions.append(weights)
        x = self.transformer.ln_f(x)  # (B, T, C)
        if output_hidden_states:
            hidden.append(x)  # (B, T, C)
        if logits_to_keep:  # fast-decoding step 2: the head only where logits are needed
            x = x[:, -logits_to_keep:]  # (B, T', C), T' = min(logits_to_keep, T)
        logits = self.lm_head(x)  # (B, T', V)
        return GPTOutput(
            logits=logits,
            past_key_values=tuple(presents) if use_cache else None,
            attentions=tuple(attentions) if output_attentions else None,
            hidden_states=tuple(hidden) if output_hidden_states else None,
        )

    # ---- probabilities for the course's evaluation and widgets ------------
    @property
    def device(self) -> torch.device:
        """Where the model's weights are (``cpu``, ``cuda``, ``mps``)."""
        return self.transformer.wte.weight.device

    @inference_method
    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)`` distribution of the token after ``context``.

        A GPT has no "start of text" token, so an empty context raises
        ``ValueError`` (give it at least one token, e.g. a newline for the
        character models). A context longer than ``context_length`` raises
        too: crop it with ``context[-model.context_length:]``.
        """
        idx = self._context_ids(context)[None].to(self.device)  # (1, T)
        logits = self(idx, logits_to_keep=1).logits[0, -1]  # (V,): the head at the last position only
        check_finite_logits(logits, self)  # a NaN weight: a clear error, never a NaN "distribution"
        return torch.softmax(logits.float(), dim=-1).cpu()  # (V,), float32 also for a bfloat16 model

    def _context_ids(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``context`` as a checked ``(T,)`` id tensor with 1 <= T <= context_length."""
        ids = as_id_tensor(context, self.vocab_size, "context")  # (T,)
        if len(ids) == 0:
            raise ValueError(
                "a GPT needs at least one token of context (it has no start-of-text token); "
                "for the character models start from a newline"
            )
        if len(ids) > self.context_length:
            raise ValueError(
                f"context of {len(ids)} tokens is longer than the model's context_length "
                f"{self.context_length}; pass context[-{self.context_length}:]"
            )
        return ids

    @inference_method
    def token_log_probs(self, ids: Sequence[int] | torch.Tensor, stride: int | None = None,
                        batch_size: int = 32) -> torch.Tensor:
        """``(N-1,)`` float64 natural-log probabilities ``ln p(ids[t] | ids[:t])``, ``t = 1..N-1``.

        The fast path of :func:`lm_course.evaluate.bits_per_token` for long
        texts. A GPT sees at most ``block_size`` tokens, so the text is cut
        into overlapping windows of ``W = block_size`` tokens that start
        every ``stride`` tokens (default ``W // 2``), scored in batches.
        The first window scores all its tokens (they have all the context
        there is); every later window scores only its last ``stride`` tokens,
        each of which therefore sees at least ``W - stride`` tokens of context
        (``W // 2`` by default). Every token is scored exactly once.
        ``stride=1`` gives every token the full window (slow; the exact
        sliding-window score); a larger stride is faster and slightly worse.
        """
        data = as_id_tensor(ids, self.vocab_size).cpu()  # (N,)
        N = len(data)
        if N < 2:
            raise ValueError(f"need at least 2 tokens to score (the first is only context), got {N}")
        W = self.context_length
        stride = W // 2 if stride is None else int(stride)
        if not 1 <= stride <= W:
            raise ValueError(f"stride must be in 1..block_size ({W}), got {stride}")
        if N - 1 <= W:  # one window holds everything
            starts, W = [0], N - 1
        else:
            starts = list(range(0, N - 1 - W, stride)) + [N - 1 - W]  # the last window ends the text
        out = torch.empty(N - 1, dtype=torch.float64)  # (N-1,): out[t-1] = ln p(ids[t] | ...)
        scored_to = 0  # targets 1..scored_to are done
        offsets = torch.arange(W + 1)  # (W+1,)
        device = self.device
        for b in range(0, len(starts), batch_size):
            chunk = torch.tensor(starts[b:b + batch_size])  # (K,)
            windows = data[chunk[:, None] + offsets]  # (K, W+1)
            x = windows[:, :-1].to(device)  # (K, W)
            y = windows[:, 1:].to(device)  # (K, W)
            logp = target_log_probs(self(x).logits, y)  # (K, W): ln p of each target
            for k, a in enumerate(chunk.tolist()):
                first = max(scored_to + 1, a + 1)  # first target not yet scored
                last = a + W  # the window's last target
                out[first - 1:last] = logp[k, first - a - 1:]  # targets first..last
                scored_to = last
        return out

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_layer={c.n_layer}, n_head={c.n_head}, n_embd={c.n_embd}, block_size={c.block_size}, "
                f"vocab_size={c.vocab_size}, parameters={self.num_parameters():,}")


# --------------------------------------------------------------------- checkpoints
_FORMAT = "lm_course.gpt"  # the metadata "format" of a GPT checkpoint


def bfloat16_copy(model: GPT) -> GPT:
    """A bfloat16 copy of ``model`` for decoding (fast-decoding step 3, module
    docstring): half the bytes per step, every matrix stored contiguous in
    ``nn.Linear``'s ``(out, in)`` layout (a GPT-2 loaded in float32 keeps
    GPT-2's ``(in, out)`` storage, step 4, which bfloat16 reads more slowly).
    Tied weights stay tied; ``model`` is left as it is.

    Notebook section: ``06_gpt2_sampling.ipynb``, "The KV cache".
    """
    half = copy.deepcopy(model).to(torch.bfloat16)
    for module in half.modules():
        if isinstance(module, nn.Linear) and not module.weight.is_contiguous():
            module.weight = nn.Parameter(module.weight.detach().contiguous(), module.weight.requires_grad)
    return half


def save_gpt(model: GPT, path: str | Path, tokenizer: CharTokenizer, extra: dict | None = None,
             dtype: torch.dtype | None = torch.float16) -> Path:
    """Save a character-level GPT as safetensors (float16 by default; the tied
    head is stored once) with its config, its tokenizer's characters and any
    JSON-able ``extra`` (recipe, timings, scores) in the file's metadata."""
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} characters but the model's "
                         f"vocab_size is {model.config.vocab_size}")
    record = {"tokenizer": {"type": "char", "chars": "".join(tokenizer.chars)}, **(extra or {})}
    return save_checkpoint(model, path, _FORMAT, model.config.to_dict(), record, dtype)


def load_gpt(path: str | Path) -> tuple[GPT, CharTokenizer, dict]:
    """Load a GPT saved by :func:`save_gpt` (float32, eval mode); returns
    ``(model, tokenizer, extra)``. A file of another kind, an invalid config, a
    tokenizer that does not fit, or tensors whose shapes differ from the
    config's raise :class:`lm_course.checkpoints.CheckpointError`."""
    config, tensors, extra = read_checkpoint(path, _FORMAT, "lm_course GPT")
    try:
        model = GPT(GPTConfig(**config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{Path(path).name} declares an invalid GPT config: {err}") from None
    tokenizer = CharTokenizer(extra.get("tokenizer", {}).get("chars", ""))
    if tokenizer.vocab_size != model.config.vocab_size:
        raise CheckpointError(f"{Path(path).name}: the tokenizer has {tokenizer.vocab_size} characters but the "
                              f"model's vocab_size is {model.config.vocab_size}")
    load_checked_state(model, tensors, path)
    return model, tokenizer, extra


_REFERENCE_FILES = {
    False: "reference_gpt.safetensors",  # chapter 5's reference GPT: the best model of the course
    True: "reference_gpt_small.safetensors",  # the earlier, 3x smaller one that chapter 7 fine-tunes
}


def reference_model_path(small: bool = False) -> Path:
    """Where the course's reference GPT lives: ``data/reference_gpt.safetensors``
    (``small=True``: ``data/reference_gpt_small.safetensors``)."""
    return data_dir() / _REFERENCE_FILES[bool(small)]


def load_reference_model(path: str | Path | None = None, *, small: bool = False) -> tuple[GPT, CharTokenizer]:
    """The course's reference GPT (eval mode, float32, CPU) and its character
    tokenizer, from ``data/reference_gpt.safetensors`` (made by
    ``python -m lm_course make-reference gpt``; recipe and record in
    :mod:`lm_course.reference`). ``small=True`` loads the smaller reference
    that chapter 7 fine-tunes within its time budget (``make-reference
    gpt-small``). Notebook section: ``05_transformer.ipynb``, "The reference
    checkpoint"."""
    path = Path(path) if path is not None else reference_model_path(small)
    if not path.exists():
        kind = "gpt-small" if small else "gpt"
        raise FileNotFoundError(f"{path} is missing; make it with `python -m lm_course make-reference {kind}`")
    model, tokenizer, _ = load_gpt(path)
    return model, tokenizer


class PrefixCache:
    """Next-token logits for a context that changes a little at a time (a
    text being typed): the keys and values of the previous call's context are
    kept, and a new call runs through the model only the tokens after the
    longest prefix it shares with the previous one (at least the last token).
    Typing one character at the end of a 64-token text then costs one
    decoding step instead of a 64-position forward pass. Used by the widgets
    (``06_gpt2_sampling.ipynb``, "The sampling playground"); the numbers are
    those of ``model.next_token_probs`` up to float32 rounding.

    The cache is dropped whenever the model's weights change: trained by an
    optimiser, loaded, moved or cast (every parameter's version counter,
    storage, dtype and device are compared), or written through ``p.data``,
    which bypasses the version counter (a float64 checksum of a strided
    sample of each parameter is compared too: about 4,000 values, every value
    of a smaller parameter; a manual SGD step or a copied-in matrix changes
    them all). After a change that a sample cannot see (a few values of a
    large matrix written through ``.data``), call :meth:`clear`.

    >>> model = GPT(GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=8))
    >>> cache = PrefixCache(model)
    >>> cache.next_token_probs([1, 2, 3]).shape, cache.reused
    (torch.Size([10]), 0)
    >>> _ = cache.next_token_probs([1, 2, 3, 4]); cache.reused  # one new token ran
    3
    """

    def __init__(self, model: GPT):
        if not isinstance(model, GPT):
            raise TypeError(f"PrefixCache needs a course GPT (it reuses its KV cache), got {type(model).__name__}")
        self.model = model
        self.reused = 0  # positions the last call took from the cache
        self._ids: torch.Tensor | None = None  # (S,) the previous context
        self._past: KVCache | None = None  # its keys and values, per layer (1, nh, S, hs)
        self._weights: tuple | None = None  # the weights they were computed with

    _SAMPLE = 1 << 12  # values per parameter in the checksum (all of them below this size)

    def _weights_key(self) -> tuple:
        params = list(self.model.parameters())
        sums = []
        for p in params:
            w = p.detach()
            if w.dim():  # a strided view (no copy, also of a transposed weight): ~_SAMPLE values
                per_dim = self._SAMPLE ** (1 / w.dim())
                w = w[tuple(slice(None, None, max(1, math.ceil(n / per_dim))) for n in w.shape)]
            sums.append(w.sum(dtype=torch.float64).cpu())
        checksums = torch.stack(sums).tolist() if sums else []  # one transfer, not one per parameter
        return tuple((p.data_ptr(), p.dtype, p.device, p._version, c) for p, c in zip(params, checksums))

    def clear(self) -> None:
        """Forget the cached context: the next call runs the whole context."""
        self._ids = self._past = self._weights = None

    def next_logits(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)`` float32 logits of the token after ``context``
        (checked as :meth:`GPT.next_token_probs` checks it)."""
        model = self.model
        ids = model._context_ids(context).to(model.device)  # (T,)
        key = self._weights_key()
        keep = 0
        if self._ids is not None and key == self._weights:
            n = min(len(ids) - 1, len(self._ids))  # the last token always runs: its logits are the answer
            same = ids[:n] == self._ids[:n]  # (n,)
            keep = n if bool(same.all()) else int(same.long().argmin())  # the first difference
        with inference(model):
            past = tuple((k[:, :, :keep], v[:, :, :keep]) for k, v in self._past) if keep else None
            out = model(ids[None, keep:], past_key_values=past, use_cache=True, logits_to_keep=1)
        logits = check_finite_logits(out.logits[0, -1].float(), model)  # (V,)
        self._ids, self._past, self._weights, self.reused = ids, out.past_key_values, key, keep
        return logits

    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)`` distribution of the token after ``context``, on the CPU."""
        return torch.softmax(self.next_logits(context), dim=-1).cpu()  # (V,)
