"""The one interface every model of the course implements.

Explained in ``00_welcome.ipynb``, section "One question, many models":
given a context of token ids, what is the distribution of the next token?

n-gram, MLP, RNN/LSTM/GRU, GPT and GPT-2 all answer it through
``next_token_probs``; :func:`lm_course.evaluate.bits_per_token` turns the
answers into bits per token, and :mod:`lm_course.widgets` shows them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from lm_course.logit_filters import check_sampling_args, filter_logits
from lm_course.validation import as_id_tensor, check_finite_logits, require_int

__all__ = ["LanguageModel", "Generates", "as_id_tensor", "check_token_ids", "check_distribution",
           "inference", "inference_method", "sampling_generator", "draw_tokens", "check_eos_token_id",
           "check_count", "target_log_probs"]

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
            unbounded); evaluation crops contexts to it.
        token_log_probs(ids): a fast, batched path returning the ``(len(ids)-1,)``
            natural-log probabilities ``ln p(ids[t] | ids[:t])`` for
            ``t = 1 .. len(ids)-1``.
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


def check_token_ids(ids: Sequence[int] | torch.Tensor, vocab_size: int, what: str = "ids") -> list[int]:
    """Like :func:`as_id_tensor`, but returns a list of Python ints."""
    return as_id_tensor(ids, vocab_size, what).tolist()


def check_distribution(probs: torch.Tensor, vocab_size: int, atol: float = 1e-4) -> torch.Tensor:
    """Assert that ``probs`` is a ``(vocab_size,)`` probability vector."""
    if probs.shape != (vocab_size,):
        raise ValueError(f"expected a ({vocab_size},) distribution, got shape {tuple(probs.shape)}")
    if (probs < 0).any() or not torch.isfinite(probs).all():
        raise ValueError("a distribution must be finite and non-negative")
    total = float(probs.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"a distribution must sum to 1, this one sums to {total:.6f}")
    return probs


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``ln p(target)`` of every position: ``logits`` ``(..., V)`` and the
    target ids ``(...)`` give ``(...)`` float64 on the CPU. The log-softmax
    runs in float32 (a half-precision model loses nothing more), then the
    target's entry is picked; the batched scoring of every model's
    ``token_log_probs`` ends here.

    >>> target_log_probs(torch.zeros(2, 4), torch.tensor([0, 3]))  # uniform over 4: ln 1/4
    tensor([-1.3863, -1.3863], dtype=torch.float64)
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (..., V)
    return logp.gather(-1, targets[..., None])[..., 0].double().cpu()  # (...)


def check_count(value: int, what: str) -> int:
    """``value`` if it is an ``int >= 0`` (not a bool), else a clear ``ValueError``."""
    return require_int(value, what, minimum=0)


def sampling_generator(seed: int | None = None, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> torch.Generator | None:
    """The course's one seeding rule for sampling.

    ``seed=n``: a fresh ``torch.Generator`` seeded with ``n`` (the same sample
    every time), made on ``device`` (default the CPU; pass ``model.device``
    to draw where a GPU model's logits are); ``generator=g``: draw from ``g``
    (successive calls continue its stream); neither: ``None``, i.e. torch's
    global generator (so ``seed_everything`` makes a whole notebook
    repeatable). Both: an error. Wherever the generator lives,
    :func:`draw_tokens` draws on its device. Notebook sections:
    ``00_welcome.ipynb``, "One question, many models", and
    ``06_gpt2_sampling.ipynb``, "Temperature".
    """
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if seed is not None:
        seed = require_int(seed, "seed", type_error=True)
        return torch.Generator(device=torch.device("cpu" if device is None else device)).manual_seed(seed)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def draw_tokens(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``probs`` (``(V,)`` -> ``(1,)``, ``(B, V)`` ->
    ``(B, 1)``), on ``probs``' device.

    ``torch.multinomial`` needs its generator on the device of the
    probabilities, so the draw happens where ``generator`` is: a CPU generator
    (the playground's, ``torch.Generator().manual_seed(s)``) with a model on
    ``cuda`` moves the ``(B, V)`` probabilities to the CPU for the draw and the
    ids back, and gives the same ids as a CPU model with the same
    probabilities. Without a generator torch's global one on ``probs``' device
    draws. Notebook section: ``06_gpt2_sampling.ipynb``, "Temperature".
    """
    if generator is None or generator.device == probs.device:
        return torch.multinomial(probs, 1, generator=generator)  # (B, 1) or (1,)
    drawn = torch.multinomial(probs.to(generator.device), 1, generator=generator)  # on the generator's device
    return drawn.to(probs.device)  # (B, 1) or (1,)


def check_eos_token_id(eos_token_id: int | None, vocab_size: int) -> int | None:
    """``eos_token_id`` if it is ``None`` or a token id ``0 .. vocab_size - 1``
    (an ``int``, not a bool), else a clear error (``06_gpt2_sampling.ipynb``,
    "Beam search")."""
    if eos_token_id is None:
        return None
    eos_token_id = require_int(eos_token_id, "eos_token_id", type_error=True)
    if not 0 <= eos_token_id < vocab_size:
        raise ValueError(f"eos_token_id {eos_token_id} is outside the vocabulary 0..{vocab_size - 1}")
    return eos_token_id


class Generates:
    """The contract's one ``generate``, shared by every model of the course.

    A mix-in for any :class:`LanguageModel`: it samples one token at a time
    from ``next_token_probs`` (cropped to ``context_length``), reshaped by
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
        n = getattr(self, "context_length", None)
        context = ids if n is None else (ids[len(ids) - n:] if n else [])
        return torch.log(self.next_token_probs(context))  # (V,)
