"""The one interface every model of the course implements.

Explained in ``00_welcome.ipynb``, section "One question, many models":
given a context of token ids, what is the distribution of the next token?

n-gram, MLP, RNN/LSTM/GRU, GPT and GPT-2 all answer it through
``next_token_probs``; :func:`lm_course.evaluate.bits_per_token` turns the
answers into bits per token, and :mod:`lm_course.widgets` shows them.

The three neural models' configs name the same ideas differently (each
follows its chapter's source):

==================  =========================  =========================  ========================
idea                MLP (``MLPConfig``)        RNN (``RNNConfig``)        GPT (``GPTConfig``)
==================  =========================  =========================  ========================
embedding width     ``n_embd``                 ``embed_size``             ``n_embd``
hidden width        ``n_hidden``               ``hidden_size``            ``n_embd`` (and 4x in the MLP)
depth               (one hidden layer)         ``num_layers``             ``n_layer``
window              ``context_length``         (none: the whole context)  ``block_size``
==================  =========================  =========================  ========================

Every model exposes its window as ``context_length`` (the protocol's name).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from lm_course.draws import draw_tokens, sampling_generator
from lm_course.logit_filters import check_sampling_args, filter_logits
from lm_course.validation import check_count, check_eos_token_id, check_finite_logits, check_token_ids

__all__ = ["LanguageModel", "Generates", "inference", "inference_method"]

_F = TypeVar("_F", bound=Callable[..., Any])


@runtime_checkable
class LanguageModel(Protocol):
    """A model of p(next token | context).

    Required:
        vocab_size: the number of token ids, ``0 .. vocab_size - 1``.
        next_token_probs(context): a ``(vocab_size,)`` float tensor that is
            non-negative and sums to 1. ``context`` may be empty (the model
            then predicts the first token) unless the model documents it needs
            at least one token.

    Optional (used when present, see :mod:`lm_course.evaluate`):
        context_length: the longest context the model looks at (``None`` for
            unbounded).
        token_log_probs(ids): a fast, batched path returning the ``(len(ids)-1,)``
            natural-log probabilities ``ln p(ids[t] | ids[:t])`` for
            ``t = 1 .. len(ids)-1``.

    The rules every model of the course follows (``tests/test_model_contract.py``):

    * ``next_token_probs`` returns float32 on the CPU (scores, the
      ``token_log_probs``, are float64); one exception is left, the n-gram
      model's float64 (chapter 1 compares it with a hand-computed bigram to
      1e-12, and its samples would change);
    * a context longer than ``context_length`` is *cropped* to its last
      ``context_length`` tokens, never refused, so a caller never crops (a
      GPT's ``forward``, which takes raw ``(B, T)`` batches, refuses a batch
      longer than its ``block_size``: there are no positions beyond it);
    * a count model gets its vocabulary with its data:
      ``UnigramLM().fit(ids, vocab_size)``, ``NGramLM(order).fit(ids, vocab_size)``;
      a neural model gets it in its config.
    """

    vocab_size: int

    def next_token_probs(self, context: Sequence[int]) -> torch.Tensor: ...


@contextlib.contextmanager
def inference(model: Any) -> Iterator[None]:
    """The one inference rule of every model: eval mode and no gradients.

    Inside the block a ``torch.nn.Module`` is in eval mode (dropout off,
    normalisation layers use their running statistics) and autograd records
    nothing; afterwards the caller's mode is restored, even after an error.
    So a model left in training mode by a student's own loop still gives the
    same distribution twice. Objects that are not modules (the n-gram and
    unigram models) only get ``torch.no_grad()``. Notebook section:
    ``00_welcome.ipynb``, "One question, many models".
    """
    module = model if isinstance(model, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if module is not None:
            module.train(was_training)


def inference_method(method: _F) -> _F:
    """Decorate a model's method so that it runs inside :func:`inference`
    (``next_token_probs``, ``token_log_probs``, ``generate``, ...)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with inference(self):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Generates:
    """The contract's one ``generate``, shared by every model of the course.

    A mix-in for any :class:`LanguageModel`: it samples one token at a time
    from ``next_token_probs`` (which crops to ``context_length``), reshaped by
    :func:`lm_course.logit_filters.filter_logits`. A model that can do a step
    more cheaply (the RNN carries its hidden state) overrides
    :meth:`_first_step` and :meth:`_next_step`, never ``generate`` itself.
    Notebook section: ``00_welcome.ipynb``, "One question, many models";
    chapter 6 explains the filters.
    """

    def generate(self, context: Sequence[int] | torch.Tensor, max_new_tokens: int, *,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 seed: int | None = None, generator: torch.Generator | None = None,
                 eos_token_id: int | None = None) -> list[int]:
        """``context`` followed by ``max_new_tokens`` sampled token ids, as a list.

        Each token is drawn from ``softmax(filter_logits(log p, temperature,
        top_k, top_p))``; the defaults sample from the model's distribution
        unchanged. Seeding follows :func:`sampling_generator` (``seed=`` for a
        repeatable sample, ``generator=`` to continue a stream, neither for the
        global generator); the seeded generator is a CPU one because
        ``next_token_probs`` answers on the CPU, so a seed names the same
        random stream whichever device the model is on. With ``eos_token_id``
        sampling stops after that token (it is kept), as ``transformers``
        does, so the list may be shorter.

        Not to be confused with :func:`lm_course.sampling.generate`, chapter
        6's batched decoder for a GPT: a ``(B, T)`` tensor in and out, greedy
        unless ``do_sample=True``, with a KV cache. This one is every model's:
        a list in and out, always sampling (greedy is ``top_k=1``).
        """
        ids = check_token_ids(context, self.vocab_size, "context")
        check_count(max_new_tokens, "max_new_tokens")
        check_sampling_args(temperature, top_k, top_p)
        eos = check_eos_token_id(eos_token_id, self.vocab_size)
        gen = sampling_generator(seed, generator)
        reshape = temperature != 1.0 or top_k is not None or top_p is not None
        with inference(self):
            scores, state = self._first_step(ids)  # (V,) log-probabilities or logits
            for i in range(max_new_tokens):
                check_finite_logits(scores, self)  # NaN would otherwise draw token 0 every time
                if reshape:
                    scores = filter_logits(scores, temperature, top_k, top_p)  # (V,)
                probs = torch.softmax(scores, dim=-1)  # (V,), in the model's dtype
                ids.append(int(draw_tokens(probs, gen)))
                if ids[-1] == eos:  # never true without an eos_token_id (eos is None)
                    break
                if i + 1 < max_new_tokens:
                    scores, state = self._next_step(ids, state)
        return ids

    def _first_step(self, ids: list[int]) -> tuple[torch.Tensor, object]:
        """``(scores (V,), state)`` for the first new token after ``ids``."""
        return self._scores_after(ids), None

    def _next_step(self, ids: list[int], state: object) -> tuple[torch.Tensor, object]:
        """``(scores (V,), state)`` after ``ids``, whose last token was just drawn."""
        return self._scores_after(ids), state

    def _scores_after(self, ids: list[int]) -> torch.Tensor:
        return torch.log(self.next_token_probs(ids))  # (V,): the model crops a long context itself
