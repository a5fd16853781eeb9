"""Decoding: how a language model's next-token distribution becomes text.

Explained in ``06_gpt2_sampling.ipynb``: "Greedy decoding and its loops",
"Temperature", "Top-k", "Top-p (nucleus) sampling", "The repetition
penalty", "Beam search" and "The KV cache".

* :func:`filter_logits` reshapes one step's logits (the named steps
  ``apply_repetition_penalty``, ``apply_temperature``, ``top_k_filter``,
  ``top_p_filter``; defined in :mod:`lm_course.logit_filters`, importable
  from here).
* :func:`generate` is the whole decoding loop: greedy or sampling, batched,
  with a seeded ``torch.Generator`` and GPT's KV cache.
* :func:`beam_search` keeps the ``num_beams`` most probable continuations.
* :func:`generation_timings` times :func:`generate`, token by token (the
  KV-cache benchmark).

The model is the course's :class:`lm_course.gpt.GPT` (or anything with the
same ``forward(idx, past_key_values=None, use_cache=False)`` returning an
object with ``.logits`` and ``.past_key_values``, and a
``config.block_size``).

Shapes: ``B`` batch, ``T`` tokens so far, ``V`` vocabulary, ``K`` beams.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from lm_course.interface import inference
from lm_course.logit_filters import (apply_repetition_penalty, apply_temperature, check_sampling_args,
                                     filter_logits, top_k_filter, top_p_filter)

__all__ = ["filter_logits", "apply_repetition_penalty", "apply_temperature", "top_k_filter", "top_p_filter",
           "generate", "beam_search", "generation_timings", "check_sampling_args"]


# ---- the decoding loop -----------------------------------------------------

def _check_prompt(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, use_cache: bool) -> torch.Tensor:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
        got = f"shape {tuple(idx.shape)}" if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"idx must be a (B, T) tensor of token ids (use idx[None] for one prompt), got {got}")
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise TypeError(f"idx must hold integer token ids (torch.long), got dtype {idx.dtype}")
    if idx.size(1) == 0:
        raise ValueError("the prompt is empty: give at least one token (a newline for the character models)")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    block_size = model.config.block_size
    if use_cache and idx.size(1) > block_size:
        raise ValueError(
            f"the prompt has {idx.size(1)} tokens but the model's context (block_size) is {block_size}; "
            f"crop it (idx[:, -{block_size}:]) or pass use_cache=False, which crops it for you")
    return idx.long().to(next(model.parameters()).device)


def _next_logits(model: nn.Module, idx: torch.Tensor, past, use_cache: bool):
    """Logits ``(B, V)`` of the token after ``idx`` ``(B, T)``, and the new cache.

    With the cache only the newest token goes through the model (the keys and
    values of the others are in ``past``). Without it, or once the text is
    longer than ``block_size`` (there are no positions beyond it), the whole
    context, cropped to its last ``block_size`` tokens, is run again.
    """
    block_size = model.config.block_size
    if use_cache and past is not None and idx.size(1) <= block_size:
        out = model(idx[:, -1:], past_key_values=past, use_cache=True)  # one new token, P = T - 1 cached
    else:
        out = model(idx[:, -block_size:], use_cache=use_cache)  # the (cropped) context from scratch
    return out.logits[:, -1, :], out.past_key_values  # (B, V), cache of every layer


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, do_sample: bool = False,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float = 1.0, use_cache: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue each prompt row of ``idx`` ``(B, T)`` by ``max_new_tokens`` tokens.

    Greedy (``do_sample=False``: the most probable token) or sampling from the
    distribution reshaped by :func:`filter_logits` (seed ``generator`` for
    repeatable samples). ``repetition_penalty`` applies in both modes, as in
    ``transformers``. With ``use_cache`` (the default) each step feeds only
    the newest token and reuses the cached keys and values; without it each
    step reruns the context cropped to ``block_size``. Both give the same
    tokens. Returns ``(B, T + max_new_tokens)``.
    """
    check_sampling_args(temperature, top_k, top_p, repetition_penalty)
    idx = _check_prompt(model, idx, max_new_tokens, use_cache)
    past = None
    with inference(model):
        for _ in range(max_new_tokens):
            logits, past = _next_logits(model, idx, past, use_cache)  # (B, V)
            logits = filter_logits(logits, temperature, top_k, top_p, repetition_penalty, idx)  # (B, V)
            if do_sample:
                idx_next = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
            else:
                idx_next = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            idx = torch.cat([idx, idx_next], dim=1)  # (B, T + 1)
    return idx


def beam_search(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, num_beams: int,
                use_cache: bool = True) -> torch.Tensor:
    """The most probable continuation of each prompt that beam search finds.

    Keeps, at every step, the ``num_beams`` continuations with the highest
    total log-probability ``sum_t ln p(x_t | x_<t)`` among all one-token
    extensions of the current beams; returns the best one, ``(B, T +
    max_new_tokens)``. ``num_beams=1`` is greedy decoding.

    Length handling: an end-of-text token is treated as an ordinary token
    (``transformers``' beam search would finish a beam there), so every beam has
    exactly ``max_new_tokens`` new tokens and their summed log-probabilities
    compare fairly; no length penalty is needed (``transformers``'
    ``length_penalty`` only matters when beams stop at different lengths).
    Past ``block_size`` the context is cropped, as in :func:`generate`.
    """
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1, got {num_beams!r}")
    idx = _check_prompt(model, idx, max_new_tokens, use_cache)
    B, K = idx.size(0), num_beams
    beams = idx.repeat_interleave(K, dim=0)  # (B*K, T): K copies of each prompt
    scores = torch.full((B, K), float("-inf"), device=idx.device)  # (B, K) total log-probability
    scores[:, 0] = 0.0  # the copies are identical: only the first is live at the start
    past = None
    with inference(model):
        for _ in range(max_new_tokens):
            logits, past = _next_logits(model, beams, past, use_cache)  # (B*K, V)
            logp = torch.log_softmax(logits.float(), dim=-1)  # (B*K, V)
            V = logp.size(-1)
            candidates = (scores.reshape(B * K, 1) + logp).reshape(B, K * V)  # (B, K*V)
            scores, flat = candidates.topk(K, dim=-1)  # (B, K) best extensions, sorted
            rows = (torch.arange(B, device=idx.device)[:, None] * K + flat // V).reshape(-1)  # (B*K,) parents
            beams = torch.cat([beams[rows], (flat % V).reshape(-1, 1)], dim=1)  # (B*K, T + 1)
            if past is not None:  # each beam keeps its parent's keys and values
                past = tuple((k[rows], v[rows]) for k, v in past)
    return beams.reshape(B, K, -1)[:, 0]  # (B, T + max_new_tokens): the best beam


# ---- the KV-cache benchmark ------------------------------------------------

def generation_timings(model: nn.Module, idx: torch.Tensor, max_new_tokens: int,
                       use_cache: bool = True) -> torch.Tensor:
    """Seconds from the start of a greedy :func:`generate` call until each new
    token was produced: ``(max_new_tokens,)``, cumulative.

    A forward hook stamps the time after every model call, so what is timed
    is the real ``generate`` (one model call per token). Tokens per second
    after ``n`` tokens is ``n / timings[n - 1]`` (see "The KV cache").
    """
    stamps: list[float] = []
    handle = model.register_forward_hook(lambda *_: stamps.append(time.perf_counter()))
    try:
        start = time.perf_counter()
        generate(model, idx, max_new_tokens, use_cache=use_cache)
    finally:
        handle.remove()
    return torch.tensor(stamps, dtype=torch.float64) - start  # (max_new_tokens,)
