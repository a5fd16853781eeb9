"""One decoding step: how a sampler reshapes a model's next-token scores.

Explained in ``06_gpt2_sampling.ipynb``: "Temperature", "Top-k", "Top-p
(nucleus) sampling" and "The repetition penalty". Each step is a function of
its own, with the semantics of ``transformers``'
``RepetitionPenaltyLogitsProcessor``, ``TemperatureLogitsWarper``,
``TopKLogitsWarper`` and ``TopPLogitsWarper``; :func:`filter_logits` composes
them in that order (as ``transformers.generate`` does). Removed tokens get
``-inf``. Every model's ``generate`` (:class:`lm_course.interface.Generates`)
and chapter 6's decoder (:func:`lm_course.sampling.generate`) use them.

Shapes: ``B`` batch, ``T`` tokens so far, ``V`` vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lm_course.validation import check_finite_logits, require_int, require_number

__all__ = ["filter_logits", "apply_repetition_penalty", "apply_temperature", "top_k_filter", "top_p_filter",
           "check_sampling_args"]


# ---- one step: reshape the distribution ------------------------------------

def check_sampling_args(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                        repetition_penalty: float = 1.0) -> None:
    """Raise a clear ``ValueError``/``TypeError`` for an impossible setting."""
    for name, value in (("temperature", temperature), ("repetition_penalty", repetition_penalty)):
        value = require_number(value, name, type_error=True)
        if value <= 0:
            hint = " (for the most probable token every time, use greedy decoding: do_sample=False)" \
                if name == "temperature" else " (1.0 means no penalty; > 1 discourages repeats)"
            raise ValueError(f"{name} must be > 0, got {value}{hint}")
    if top_k is not None:
        if require_int(top_k, "top_k", type_error=True) < 1:
            raise ValueError(f"top_k must be >= 1 (or None for no cut), got {top_k}")
    if top_p is not None:
        if not 0 < require_number(top_p, "top_p", type_error=True, finite=False) <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p}")


def _as_rows(logits: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(V,)`` or ``(B, V)`` float logits as ``(B, V)``, and whether it was one row."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() not in (1, 2):
        what = f"shape {tuple(logits.shape)}, dtype {logits.dtype}" if isinstance(logits, torch.Tensor) \
            else type(logits).__name__
        raise ValueError(f"logits must be a float tensor of shape (V,) or (B, V), got {what}")
    check_finite_logits(logits, what="the logits")  # NaN or +inf: refused here, never passed on
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
