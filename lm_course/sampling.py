"""Decoding: how a language model's next-token distribution becomes text.

Explained in ``06_gpt2_sampling.ipynb``: "Greedy decoding and its loops",
"Temperature", "Top-k", "Top-p (nucleus) sampling", "The repetition
penalty", "Beam search" and "The KV cache".

* :func:`filter_logits` reshapes one step's logits (the named steps
  ``apply_repetition_penalty``, ``apply_temperature``, ``top_k_filter``,
  ``top_p_filter``; defined in :mod:`lm_course.logit_filters`, importable
  from here).
* :func:`generate` is the whole decoding loop: greedy or sampling, batched,
  with a seeded ``torch.Generator`` and GPT's KV cache; it stops at an
  end-of-text token when given one.
* :func:`beam_search` keeps the ``num_beams`` most probable continuations;
  with an end-of-text token, beams that emit it are finished hypotheses
  ranked with ``transformers``' length penalty.
* :func:`generation_timings` times :func:`generate`, token by token (the
  KV-cache benchmark).

The model is the course's :class:`lm_course.gpt.GPT` (or anything with the
same ``forward(idx, past_key_values=None, use_cache=False, logits_to_keep=0)``
returning an object with ``.logits`` and ``.past_key_values``, and a
``config.block_size`` and ``config.vocab_size``). A model in bfloat16
(:func:`lm_course.gpt_decoding.bfloat16_copy`, fast-decoding step 3 of :mod:`lm_course.gpt_decoding`)
works too: its logits are upcast to float32 before any filter or softmax.

Devices: the prompt is moved to the model's device and every tensor made here
is made on it; a ``torch.Generator`` may live on another device (the CPU one
of ``torch.Generator().manual_seed(s)``): the draw then happens on the
generator's device (:func:`lm_course.draws.draw_tokens`).

Shapes: ``B`` batch, ``T`` tokens so far, ``V`` vocabulary, ``K`` beams.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from lm_course.device import model_device
from lm_course.draws import draw_tokens, sampling_generator
from lm_course.interface import inference
from lm_course.logit_filters import (apply_repetition_penalty, apply_temperature, check_sampling_args,
                                     filter_logits, top_k_filter, top_p_filter)
from lm_course.validation import check_eos_token_id, check_finite_logits, require_int, require_number, require_positive

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
    require_int(max_new_tokens, "max_new_tokens", minimum=0)
    block_size = model.config.block_size
    if use_cache and idx.size(1) > block_size:
        raise ValueError(
            f"the prompt has {idx.size(1)} tokens but the model's context (block_size) is {block_size}; "
            f"crop it (idx[:, -{block_size}:]) or pass use_cache=False, which crops it for you")
    return idx.long().to(model_device(model))


def _next_logits(model: nn.Module, idx: torch.Tensor, past, use_cache: bool):
    """Float32 logits ``(B, V)`` of the token after ``idx`` ``(B, T)``, and the new cache.

    With the cache only the newest token goes through the model (the keys and
    values of the others are in ``past``). Without it, or once the text is
    longer than ``block_size`` (there are no positions beyond it), the whole
    context, cropped to its last ``block_size`` tokens, is run again. Either
    way the LM head runs at the last position only (``logits_to_keep=1``,
    fast-decoding step 2 of :mod:`lm_course.gpt`): the others' logits are
    never used.
    """
    block_size = model.config.block_size
    if use_cache and past is not None and idx.size(1) <= block_size:
        out = model(idx[:, -1:], past_key_values=past, use_cache=True, logits_to_keep=1)  # one new token
    else:
        out = model(idx[:, -block_size:], use_cache=use_cache, logits_to_keep=1)  # the (cropped) context
    # (B, V); .float() is a no-op for a float32 model and upcasts a bfloat16 one (step 3)
    logits = check_finite_logits(out.logits[:, -1, :].float(), model)  # a NaN weight: an error naming it
    return logits, out.past_key_values


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, do_sample: bool = False,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float = 1.0, use_cache: bool = True,
             generator: torch.Generator | None = None, eos_token_id: int | None = None) -> torch.Tensor:
    """Continue each prompt row of ``idx`` ``(B, T)`` by ``max_new_tokens`` tokens.

    Greedy (``do_sample=False``: the most probable token) or sampling from the
    distribution reshaped by :func:`filter_logits` (seed ``generator`` for
    repeatable samples). ``repetition_penalty`` applies in both modes, as in
    ``transformers``. With ``use_cache`` (the default) each step feeds only
    the newest token and reuses the cached keys and values; without it each
    step reruns the context cropped to ``block_size``. Both give the same
    tokens. Returns ``(B, T + max_new_tokens)``.

    ``eos_token_id`` (GPT-2's ``<|endoftext|>`` is 50256): a row that
    emits it is finished, the token kept; as in ``transformers``, a finished
    row is padded with more of it while the others go on, and the loop stops
    once every row is finished, so the result may be shorter, ``(B, T + n)``
    with ``n <= max_new_tokens``. ``None`` (the default): no token stops it.
    A ``generator`` on another device than the model draws on its own device
    (see :func:`lm_course.draws.draw_tokens`).
    Notebook sections: ``06_gpt2_sampling.ipynb``, "Greedy decoding and its
    loops" to "The KV cache".

    Not to be confused with every model's own ``model.generate(context, n)``
    (:meth:`lm_course.interface.Generates.generate`: a list of ids in and
    out, always sampling, for any model of the course); this one is the GPT's
    batched decoder, greedy unless ``do_sample=True``.
    """
    check_sampling_args(temperature, top_k, top_p, repetition_penalty)
    generator = sampling_generator(generator=generator)  # a torch.Generator or None, else a clear error
    idx = _check_prompt(model, idx, max_new_tokens, use_cache)
    eos = check_eos_token_id(eos_token_id, model.config.vocab_size)
    running = torch.ones(idx.size(0), 1, dtype=torch.bool, device=idx.device)  # (B, 1): not finished yet
    past = None
    with inference(model):
        for _ in range(max_new_tokens):
            logits, past = _next_logits(model, idx, past, use_cache)  # (B, V)
            logits = filter_logits(logits, temperature, top_k, top_p, repetition_penalty, idx)  # (B, V)
            if do_sample:
                idx_next = draw_tokens(torch.softmax(logits, dim=-1), generator)  # (B, 1)
            else:
                idx_next = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            if eos is not None:
                idx_next = idx_next.masked_fill(~running, eos)  # (B, 1): finished rows get padding
                running = running & (idx_next != eos)  # (B, 1)
            idx = torch.cat([idx, idx_next], dim=1)  # (B, T + 1)
            if eos is not None and not bool(running.any()):
                break  # every row has emitted the end-of-text token
    return idx


def beam_search(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, num_beams: int,
                use_cache: bool = True, eos_token_id: int | None = None,
                length_penalty: float = 1.0) -> torch.Tensor:
    """The most probable continuation of each prompt that beam search finds.

    Keeps, at every step, the ``num_beams`` continuations with the highest
    total log-probability ``sum_t ln p(x_t | x_<t)`` among all one-token
    extensions of the current beams; returns the best one, ``(B, T +
    max_new_tokens)``. ``num_beams=1`` is greedy decoding (:func:`generate`).
    Past ``block_size`` the context is cropped, as in :func:`generate`.

    Without ``eos_token_id`` (the default) every beam has exactly
    ``max_new_tokens`` new tokens, so their summed log-probabilities compare
    fairly and ``length_penalty`` changes nothing.

    With ``eos_token_id`` this is ``transformers``' beam search (its defaults,
    ``early_stopping=False``): an extension that ends becomes a *finished
    hypothesis* scored ``sum of log-probs / n ** length_penalty``, ``n`` its
    new tokens (the end-of-text one included), while the best extensions that
    do not end go on (:func:`_eos_step`); a prompt is done once it has
    ``num_beams`` hypotheses that its best running beam cannot beat, and at
    ``max_new_tokens`` its running beams count as hypotheses too.
    ``length_penalty > 0`` favours longer hypotheses, ``0`` compares raw
    sums, ``< 0`` favours shorter ones. The result is each prompt's best
    hypothesis, padded with the end-of-text id, ``(B, T + n)`` with
    ``n <= max_new_tokens``; ``num_beams=1`` stops at the end-of-text token
    like greedy :func:`generate`. Notebook section:
    ``06_gpt2_sampling.ipynb``, "Beam search".
    """
    idx, eos = _check_beam_args(model, idx, max_new_tokens, num_beams, use_cache, eos_token_id, length_penalty)
    if max_new_tokens == 0:
        return idx  # (B, T): nothing to search
    if eos is not None and num_beams == 1:
        return generate(model, idx, max_new_tokens, use_cache=use_cache, eos_token_id=eos)
    B, K = idx.size(0), num_beams
    beams, scores, offsets = _start_beams(idx, K)  # (B*K, T), (B, K), (B, 1)
    hypotheses: list[list[tuple[float, torch.Tensor]]] = [[] for _ in range(B)]  # best first, at most K
    done, past = [False] * B, None
    with inference(model):
        for step in range(max_new_tokens):
            logits, past = _next_logits(model, beams, past, use_cache)  # (B*K, V)
            logp, V = torch.log_softmax(logits.float(), dim=-1), logits.size(-1)  # (B*K, V)
            candidates = (scores.reshape(B * K, 1) + logp).reshape(B, K * V)  # (B, K*V)
            if eos is None:
                scores, flat = candidates.topk(K, dim=-1)  # (B, K) best extensions, sorted
            else:  # K spares for the beams that end; the horizon finishes every beam
                scores, flat = _eos_step(candidates, hypotheses, done, beams, offsets, eos, K,
                                         (step + 1) ** length_penalty, step == max_new_tokens - 1)
            rows = (offsets + flat // V).reshape(-1)  # (B*K,) parents
            beams = torch.cat([beams[rows], (flat % V).reshape(-1, 1)], dim=1)  # (B*K, T + 1)
            if past is not None:  # each beam keeps its parent's keys and values
                past = tuple((k[rows], v[rows]) for k, v in past)
            if eos is not None:  # done: K hypotheses, none of them beaten by the best beam at this length
                best_now = (scores[:, 0] / (step + 1) ** length_penalty).tolist()  # (B,)
                done = [d or (len(h) == K and s <= h[-1][0]) for d, h, s in zip(done, hypotheses, best_now)]
                if all(done):
                    break
    if eos is None:
        return beams.reshape(B, K, -1)[:, 0]  # (B, T + max_new_tokens): the best beam
    return _padded([h[0][1] for h in hypotheses], eos)  # (B, T + n): each prompt's best hypothesis


def _check_beam_args(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, num_beams: int, use_cache: bool,
                     eos_token_id: int | None, length_penalty: float) -> tuple[torch.Tensor, int | None]:
    """:func:`beam_search`'s arguments checked: the prompt ``idx`` and the end-of-text id."""
    require_positive(num_beams, "num_beams")
    require_number(length_penalty, "length_penalty")
    idx = _check_prompt(model, idx, max_new_tokens, use_cache)
    return idx, check_eos_token_id(eos_token_id, model.config.vocab_size)


def _start_beams(idx: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``K`` copies of each prompt row ``(B*K, T)``, their total log-probabilities
    ``(B, K)`` (only the first copy live) and each prompt's first beam row ``(B, 1)``."""
    B = idx.size(0)
    scores = torch.full((B, K), float("-inf"), device=idx.device)  # (B, K) total log-probability
    scores[:, 0] = 0.0  # the copies are identical: only the first is live at the start
    return idx.repeat_interleave(K, dim=0), scores, torch.arange(B, device=idx.device)[:, None] * K


def _eos_step(candidates: torch.Tensor, hypotheses: list[list[tuple[float, torch.Tensor]]], done: list[bool],
              beams: torch.Tensor, offsets: torch.Tensor, eos: int, K: int, length_norm: float,
              last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of :func:`beam_search` with an end-of-text id. The ``2K`` best
    extensions of ``candidates`` ``(B, K*V)`` are ranked (``K`` spares for the
    beams that end); an end-of-text extension among the first ``K`` (every one
    of the first ``K`` at the ``last`` step) becomes a finished hypothesis
    scored ``sum / length_norm``, and each prompt keeps its ``K`` best
    (:func:`_collect_hypotheses`). Returns the scores and flat indices
    ``(B, K)`` of the ``K`` best extensions that are not end-of-text: they go on."""
    V = candidates.size(1) // K
    top, flat2 = candidates.topk(2 * K, dim=-1)  # (B, 2K)
    ends = flat2 % V == eos  # (B, 2K)
    _collect_hypotheses(hypotheses, done, beams, flat2, ends | last, offsets, V, K, top / length_norm)
    scores, keep = top.masked_fill(ends, float("-inf")).topk(K, dim=-1)  # (B, K) go on
    return scores, flat2.gather(1, keep)  # (B, K), (B, K)


def _padded(rows: list[torch.Tensor], pad: int) -> torch.Tensor:
    """``rows`` of different lengths as one ``(len(rows), longest)`` tensor, padded with ``pad``."""
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long, device=rows[0].device)
    for b, r in enumerate(rows):
        out[b, :len(r)] = r
    return out


def _collect_hypotheses(hypotheses: list[list[tuple[float, torch.Tensor]]], done: list[bool],
                        beams: torch.Tensor, flat: torch.Tensor, finished: torch.Tensor,
                        offsets: torch.Tensor, V: int, K: int, penalised: torch.Tensor) -> None:
    """Add this step's finished extensions to each prompt's best ``K`` hypotheses.

    ``flat`` ``(B, 2K)``: the best extensions, best first, as indices into
    ``K * V`` (beam, token) of ``beams`` ``(B*K, T)``; ``finished``
    ``(B, 2K)`` marks the ones that end here and ``penalised`` ``(B, 2K)``
    holds their length-penalised scores. Only
    the first ``K`` ranks may finish (the rest are spares), and a prompt that
    is done takes no more (``transformers``' rules).
    """
    rank_ok = torch.arange(flat.size(1), device=flat.device) < K  # (2K,)
    take = (finished & rank_ok).nonzero().tolist()  # [(b, j), ...]
    if not take:
        return
    rows = (offsets + flat // V).tolist()  # (B, 2K) parent rows
    values = penalised.tolist()  # (B, 2K)
    for b, j in take:
        if done[b]:
            continue
        ids = torch.cat([beams[rows[b][j]], (flat[b, j] % V).reshape(1)])  # (T + step + 1,)
        hyps = hypotheses[b]
        hyps.append((values[b][j], ids))
        hyps.sort(key=lambda h: h[0], reverse=True)  # stable: an earlier one wins a tie
        del hyps[K:]


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
