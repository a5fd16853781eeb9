"""Decoding: how a language model's next-token distribution becomes text.

Explained in ``06_gpt2_sampling.ipynb``: "Greedy decoding and its loops",
"Temperature", "Top-k", "Top-p (nucleus) sampling", "The repetition
penalty", "Beam search" and "The KV cache".

* :func:`filter_logits` reshapes one step's logits, with the semantics of
  ``transformers``' ``RepetitionPenaltyLogitsProcessor``,
  ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper``
  (applied in that order, as ``transformers.generate`` does); removed tokens
  get ``-inf``.
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

import math
import time
from collections.abc import Sequence

import torch
import torch.nn as nn

from lm_course.interface import inference

__all__ = ["filter_logits", "apply_repetition_penalty", "apply_temperature", "top_k_filter", "top_p_filter",
           "generate", "beam_search", "generation_timings", "check_sampling_args"]


# ---- one step: reshape the distribution ------------------------------------

def check_sampling_args(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                        repetition_penalty: float = 1.0) -> None:
    """Raise a clear ``ValueError``/``TypeError`` for an impossible setting."""
    for name, value in (("temperature", temperature), ("repetition_penalty", repetition_penalty)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
        if value <= 0:
            hint = " (for the most probable token every time, use greedy decoding: do_sample=False)" \
                if name == "temperature" else " (1.0 means no penalty; > 1 discourages repeats)"
            raise ValueError(f"{name} must be > 0, got {value}{hint}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"top_k must be an int or None, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None for no cut), got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TypeError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p}")


def _as_rows(logits: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(V,)`` or ``(B, V)`` float logits as ``(B, V)``, and whether it was one row."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() not in (1, 2):
        what = f"shape {tuple(logits.shape)}, dtype {logits.dtype}" if isinstance(logits, torch.Tensor) \
            else type(logits).__name__
        raise ValueError(f"logits must be a float tensor of shape (V,) or (B, V), got {what}")
    one_row = logits.dim() == 1
    return (logits[None] if one_row else logits), one_row


def apply_repetition_penalty(logits: torch.Tensor, prev_tokens: torch.Tensor | Sequence[int],
                             penalty: float) -> torch.Tensor:
    """Repetition penalty (Keskar et al. 2019), as ``transformers``'
    ``RepetitionPenaltyLogitsProcessor``: every token that occurs in
    ``prev_tokens`` (``(T,)`` or ``(B, T)``) has its logit divided by
    ``penalty`` if positive, multiplied by it if negative (once, however often
    it occurs). ``(V,)`` or ``(B, V)`` in, the same shape out."""
    check_sampling_args(repetition_penalty=penalty)
    rows, one_row = _as_rows(logits)  # (B, V)
    V = rows.size(-1)
    prev = torch.as_tensor(prev_tokens, device=rows.device)  # (T,) or (B, T)
    if prev.is_floating_point() or prev.dim() not in (1, 2):
        raise ValueError(f"prev_tokens must hold integer ids, shape (T,) or (B, T), got {tuple(prev.shape)}")
    prev = prev.long().expand(rows.size(0), -1) if prev.dim() == 1 else prev.long()  # (B, T)
    if prev.size(0) != rows.size(0):
        raise ValueError(f"prev_tokens has {prev.size(0)} rows but logits has {rows.size(0)}")
    if prev.numel() and (int(prev.min()) < 0 or int(prev.max()) >= V):
        raise ValueError(f"prev_tokens holds ids outside the vocabulary 0..{V - 1}")
    seen = rows.gather(-1, prev)  # (B, T): the logits of tokens already in the text
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)  # (B, T)
    out = rows.scatter(-1, prev, seen)  # (B, V); a repeated id is penalised once
    return out[0] if one_row else out


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``: below 1 sharper, above 1 flatter
    (``TemperatureLogitsWarper``)."""
    check_sampling_args(temperature=temperature)
    _as_rows(logits)
    return logits / temperature if temperature != 1.0 else logits


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the ``top_k`` largest logits of each row (ties with the k-th are
    kept, as ``TopKLogitsWarper`` does); the others become ``-inf``."""
    check_sampling_args(top_k=top_k)
    rows, one_row = _as_rows(logits)  # (B, V)
    if top_k < rows.size(-1):
        kth = torch.topk(rows, top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest logit
        rows = rows.masked_fill(rows < kth, float("-inf"))  # (B, V)
    return rows[0] if one_row else rows


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020), as ``TopPLogitsWarper``: keep
    the smallest set of most probable tokens whose probability reaches
    ``top_p``, and always the most probable one; the others become ``-inf``."""
    check_sampling_args(top_p=top_p)
    rows, one_row = _as_rows(logits)  # (B, V)
    if top_p < 1.0:
        # stable: among equal probabilities the lowest id comes first, as in argmax
        probs, order = torch.sort(torch.softmax(rows, dim=-1), dim=-1, descending=True, stable=True)  # (B, V)
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V): mass of the strictly more probable tokens
        drop_sorted = mass_before >= top_p  # (B, V): the set had already reached p without it
        drop_sorted[:, 0] = False  # always keep the most probable token
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # (B, V) back in vocabulary order
        rows = rows.masked_fill(drop, float("-inf"))  # (B, V)
    return rows[0] if one_row else rows


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, repetition_penalty: float = 1.0,
                  prev_tokens: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
    """Reshape next-token logits ``(V,)`` or ``(B, V)``; removed tokens become ``-inf``.

    The four steps, in ``transformers``' order, each a function of its own:

    1. :func:`apply_repetition_penalty` with ``prev_tokens``;
    2. :func:`apply_temperature`;
    3. :func:`top_k_filter`;
    4. :func:`top_p_filter` (on the distribution after steps 1-3).

    The defaults change nothing. Greedy decoding is unaffected by 2-4 (the
    most probable token always survives them).
    """
    check_sampling_args(temperature, top_k, top_p, repetition_penalty)
    _as_rows(logits)
    if repetition_penalty != 1.0:
        if prev_tokens is None:
            raise ValueError("repetition_penalty needs prev_tokens, the token ids generated so far")
        logits = apply_repetition_penalty(logits, prev_tokens, repetition_penalty)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


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
