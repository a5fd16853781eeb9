"""Fast decoding with the course's GPT: where the time of a one-token step
goes, the opt-in bfloat16 copy, and the keystroke cache of the widgets.

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

The model itself is :mod:`lm_course.gpt`; the batched decoder that uses its
KV cache is :mod:`lm_course.sampling`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from lm_course.gpt import GPT, GPTConfig, KVCache
from lm_course.interface import inference
from lm_course.validation import check_finite_logits

__all__ = ["bfloat16_copy", "PrefixCache"]


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
