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

The config and the block are in :mod:`lm_course.gpt_block` (shapes named
there: ``B`` batch, ``T`` new tokens, ``P`` cached, ``C`` width, ``V`` vocabulary).

Fast decoding (``06_gpt2_sampling.ipynb``, "The KV cache"): a decoding step
runs one new token against the cache, and :meth:`GPT.forward` keeps other
work out of it: no mask for one query (:func:`attention_mask`), and the LM
head only at the positions whose logits are needed (``logits_to_keep``). The
opt-in bfloat16 copy and the keystroke cache of the widgets are in
:mod:`lm_course.gpt_decoding`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from lm_course.gpt_block import Block, CausalSelfAttention, GPTConfig, KVCache, MLP, attention_mask  # noqa: F401
from lm_course.interface import Generates, inference_method
from lm_course.scoring import window_log_probs
from lm_course.validation import as_id_tensor, check_batch, check_finite_logits, require_int

__all__ = ["GPTConfig", "GPTOutput", "GPT", "KVCache", "attention_mask", "Block", "CausalSelfAttention", "MLP"]

@dataclass
class GPTOutput:
    """What :meth:`GPT.forward` returns."""

    logits: torch.Tensor  # (B, T', V): next-token scores at the last T' new positions (T' = T unless
    #                       forward's logits_to_keep asks for fewer)
    past_key_values: KVCache | None = None  # with use_cache: per layer (k, v), each (B, nh, S, hs)
    attentions: tuple[torch.Tensor, ...] | None = None  # with output_attentions: per layer (B, nh, T, S)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # with output_hidden_states: n_layer + 1 of (B, T, C)


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
        """GPT-2's weights in this class (OpenAI's model, not the course's: the
        course's own trained GPTs load with :func:`lm_course.reference.load_reference`):
        a hub name (``"gpt2"`` ... ``"gpt2-xl"``,
        cached) or a local Hugging Face GPT-2 directory (``config.json`` +
        ``model.safetensors``), in eval mode, on the CPU, in float32
        (``06_gpt2_sampling.ipynb``, "Loading GPT-2 into our own GPT"). The
        files are read by :mod:`lm_course.gpt2_weights`, imported here only:
        this is the one place the model depends on GPT-2's file format.

        Raises ``GPT2WeightsUnavailable`` (a hub name not cached, offline),
        ``FileNotFoundError`` or ``ValueError`` (see
        :func:`~lm_course.gpt2_weights.read_gpt2_config`)."""
        from lm_course import gpt2_weights  # deferred on purpose: the hub client loads only for GPT-2

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
        logits_to_keep = require_int(logits_to_keep, "logits_to_keep (0 = every position, n = the last n)",
                                     minimum=0, type_error=True)
        P = self._cached_length(past_key_values, B, T)  # refuses T = 0 and P + T > block_size
        pos = torch.arange(P, P + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
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
        return GPTOutput(logits, tuple(presents) if use_cache else None,
                         tuple(attentions) if output_attentions else None,
                         tuple(hidden) if output_hidden_states else None)

    def _cached_length(self, past_key_values: KVCache | None, B: int, T: int) -> int:
        """``P``, the positions held by ``past_key_values`` (0 without one),
        after checking that the cache fits the model and the batch and that
        ``1 <= P + T <= block_size``."""
        if T == 0:
            raise ValueError("idx holds no tokens (T = 0); a GPT needs at least one token of context")
        P = 0
        if past_key_values is not None:
            if len(past_key_values) != self.config.n_layer:
                raise ValueError(f"past_key_values has {len(past_key_values)} layers, the model {self.config.n_layer}")
            P = past_key_values[0][0].size(2)
            if past_key_values[0][0].size(0) != B:
                raise ValueError(f"past_key_values holds the keys of a batch of {past_key_values[0][0].size(0)} "
                                 f"but idx has {B} row(s); pass the cache returned for this batch (or None)")
        if P + T > self.config.block_size:
            raise ValueError(f"context of {P + T} tokens ({P} cached + {T} new) is longer than the model's "
                             f"block_size of {self.config.block_size}; crop it to the last "
                             f"{self.config.block_size} tokens")
        return P

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
        character models). A context longer than ``context_length`` is
        cropped to its last ``context_length`` tokens, as by every model of
        the course (:meth:`forward`, which takes raw batches, refuses one).
        """
        idx = self._context_ids(context)[None].to(self.device)  # (1, T)
        logits = self(idx, logits_to_keep=1).logits[0, -1]  # (V,): the head at the last position only
        check_finite_logits(logits, self)  # a NaN weight: a clear error, never a NaN "distribution"
        return torch.softmax(logits.float(), dim=-1).cpu()  # (V,), float32 also for a bfloat16 model

    def _context_ids(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``context`` as a checked ``(T,)`` id tensor, cropped to its last
        ``context_length`` tokens (the rule of :class:`~lm_course.interface.LanguageModel`)."""
        ids = as_id_tensor(context, self.vocab_size, "context")  # (T,)
        if len(ids) == 0:
            raise ValueError(
                "a GPT needs at least one token of context (it has no start-of-text token); "
                "for the character models start from a newline"
            )
        return ids[-self.context_length:]  # the contract's rule: a longer context is cropped

    @inference_method
    def token_log_probs(self, ids: Sequence[int] | torch.Tensor, stride: int | None = None,
                        batch_size: int = 32) -> torch.Tensor:
        """``(N-1,)`` float64 natural-log probabilities ``ln p(ids[t] | ids[:t])``,
        ``t = 1..N-1``: the fast path of :func:`lm_course.evaluate.bits_per_token`,
        in overlapping windows of ``block_size`` tokens that start every
        ``stride`` tokens (default half a window; :func:`lm_course.scoring.window_log_probs`)."""
        return window_log_probs(lambda x: self(x).logits, as_id_tensor(ids, self.vocab_size).cpu(),
                                self.context_length, stride, batch_size, self.device)

    def extra_repr(self) -> str:
        c = self.config
        return (f"n_layer={c.n_layer}, n_head={c.n_head}, n_embd={c.n_embd}, block_size={c.block_size}, "
                f"vocab_size={c.vocab_size}, parameters={self.num_parameters():,}")
