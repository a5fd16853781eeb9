"""The course's one set of argument checks.

Every model, config, sampler, widget and tool checks its arguments with
these functions, so the same mistake gets the same message everywhere:

* :func:`require_int` / :func:`require_positive`: an integer (never a bool,
  never ``2.5``), optionally within bounds;
* :func:`require_number`: a real number (never a bool or a string), finite
  unless told otherwise, optionally within bounds;
* :func:`as_id_tensor`: a 1-D sequence of token ids in the vocabulary;
* :func:`check_batch`: a ``(B, T)`` tensor of token ids, the input of every
  neural model's ``forward``;
* :func:`check_finite_logits`: refuse NaN/inf logits where they appear,
  naming the non-finite weight that caused them;
* :func:`check_token_ids`, :func:`check_count`, :func:`check_eos_token_id`,
  :func:`check_distribution`: a list of ids, a count, an end-of-text id, a
  probability vector (the contract's checks, :mod:`lm_course.interface`).

Integers are Python ``int`` or NumPy integers (``np.int64(3)`` passes; the
value returned is a plain ``int``); ``True``/``False`` are refused although
Python counts them as ints, because ``top_k=True`` is always a mistake.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["is_int", "require_int", "require_positive", "require_number", "as_id_tensor", "check_batch",
           "check_finite_logits", "nonfinite_parameters", "NonFiniteError", "check_token_ids", "check_distribution",
           "check_count", "check_eos_token_id"]


class NonFiniteError(FloatingPointError, ValueError):
    """A model's logits (or weights) hold NaN or inf: a ``ValueError`` too,
    so code that catches bad values catches it."""


def is_int(value: object) -> bool:
    """True for an ``int`` or NumPy integer, False for a bool and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _bounds(minimum: float | None, maximum: float | None, kind: str) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} in {minimum}..{maximum}" if kind.endswith("integer") else \
            f"{kind} in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def require_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None,
                type_error: bool = False) -> int:
    """``value`` as an ``int`` if it is an integer within ``[minimum,
    maximum]``, else ``ValueError("{name} must be an integer >= 1, got 2.5")``.

    ``type_error=True`` raises ``TypeError`` (same message) for a value that
    is not an integer at all, for the functions whose documented error for a
    wrong type is ``TypeError``; a value out of bounds is always a ``ValueError``.

    >>> require_int(3, "top_k", minimum=1)
    3
    >>> require_int(2.5, "steps", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an integer >= 1, got 2.5
    """
    message = f"{name} must be {_bounds(minimum, maximum, 'an integer')}, got {value!r}"
    if not is_int(value):
        raise (TypeError if type_error else ValueError)(message)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(message)
    return value


def require_positive(value: object, name: str, *, type_error: bool = False) -> int:
    """``require_int(value, name, minimum=1)``: a count of something (steps, layers, tokens)."""
    return require_int(value, name, minimum=1, type_error=type_error)


def require_number(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
                   positive: bool = False, finite: bool = True, type_error: bool = False) -> float:
    """``value`` as a ``float`` if it is a real number (not a bool, not a
    string), finite (unless ``finite=False``; NaN is never accepted), within
    ``[minimum, maximum]`` and ``> 0`` with ``positive=True``; else a
    ``ValueError`` naming ``name`` (a ``TypeError`` for a non-number with
    ``type_error=True``).

    >>> require_number(float("nan"), "k", minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: k must be a finite number >= 0, got nan
    """
    kind = "a finite number" if finite else "a number"
    if positive:
        kind = "a positive finite number" if finite else "a positive number"
    message = f"{name} must be {_bounds(minimum, maximum, kind)}, got {value!r}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise (TypeError if type_error else ValueError)(message)
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)) or (positive and value <= 0) \
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(message)
    return value


def as_id_tensor(ids: Sequence[int] | torch.Tensor, vocab_size: int, what: str = "ids") -> torch.Tensor:
    """``ids`` as a 1-D ``torch.long`` tensor, or raise a clear error.

    Raises:
        TypeError: ``ids`` is a string or holds non-integers.
        ValueError: ``ids`` is not 1-D, or an id is outside ``0 .. vocab_size - 1``.
    """
    if isinstance(ids, str):
        raise TypeError(
            f"{what} must be a sequence of token ids, not a string; "
            "encode the text first (e.g. tokenizer.encode(text))."
        )
    try:
        if isinstance(ids, torch.Tensor):
            t = ids
        elif len(ids) == 0:
            t = torch.zeros(0, dtype=torch.long)
        else:  # through NumPy: several times faster than torch.as_tensor on long lists
            t = torch.from_numpy(np.asarray(ids))
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{what} must be a sequence of integer token ids") from None
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{what} must hold integer token ids, got dtype {t.dtype}")
    if t.dim() != 1:
        raise ValueError(f"{what} must be 1-D, got shape {tuple(t.shape)}")
    t = t.long()
    if len(t) and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        bad = t[(t < 0) | (t >= vocab_size)].unique()[:5].tolist()
        raise ValueError(
            f"{what} holds token id(s) {bad} outside the vocabulary 0..{vocab_size - 1}"
        )
    return t


def check_batch(idx: object, vocab_size: int, what: str = "idx", device: torch.device | None = None
                ) -> torch.Tensor:
    """The input of every neural model's ``forward``: ``idx`` must be a
    ``(B, T)`` tensor of integer token ids in ``0 .. vocab_size - 1`` (on
    ``device`` when given); returns it as ``torch.long``.

    Raises:
        TypeError: ``idx`` is not a tensor, or holds floats or bools.
        ValueError: ``idx`` is not 2-D, is on another device, or holds an id
            outside the vocabulary.
    """
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{what} must be a (B, T) tensor of token ids, got {type(idx).__name__}")
    if idx.dim() != 2:
        raise ValueError(f"{what} must be a (B, T) tensor of token ids, got shape {tuple(idx.shape)}")
    if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
        raise TypeError(f"{what} must hold integer token ids, got dtype {idx.dtype}")
    if device is not None and idx.device != device:  # e.g. a CPU prompt for a model on cuda
        raise ValueError(f"{what} is on {idx.device} but the model is on {device}; "
                         f"move it first: {what}.to(model.device)")
    if idx.numel():  # (a batch of 0 rows has no ids to check)
        lowest, highest = torch.aminmax(idx)  # one pass
        if int(lowest) < 0 or int(highest) >= vocab_size:
            raise ValueError(f"{what} holds token ids outside the vocabulary 0..{vocab_size - 1}")
    return idx.long()


def nonfinite_parameters(model: torch.nn.Module | None, limit: int = 3) -> list[str]:
    """The names of (at most ``limit``) parameters or buffers of ``model``
    holding NaN or inf."""
    if not isinstance(model, torch.nn.Module):
        return []
    found = []
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            found.append(name)
            if len(found) >= limit:
                break
    return found


def check_finite_logits(logits: torch.Tensor, model: object = None, what: str = "the model's logits"
                        ) -> torch.Tensor:
    """``logits`` if every entry is finite or ``-inf`` (a masked-out token),
    else :class:`NonFiniteError` naming the cause: a non-finite weight of
    ``model`` (by name), or the input. Sampling, beam search and the filters
    call it on the logits they receive, so NaN never turns silently into
    "token 0 every time"."""
    bad = torch.isnan(logits) | (logits == float("inf"))
    if not bool(bad.any()):
        return logits
    kind = "NaN" if bool(torch.isnan(logits).any()) else "+inf"
    weights = nonfinite_parameters(model) if isinstance(model, torch.nn.Module) else []
    if weights:
        cause = f"a weight is NaN or inf ({', '.join(weights)}); reload or retrain the model"
    elif isinstance(model, torch.nn.Module):
        cause = "the weights are finite, so an activation overflowed (a huge weight or input?)"
    else:
        cause = "check the model's weights (torch.isfinite(p).all() for each parameter)"
    raise NonFiniteError(f"{what} contain {kind}: {cause}")


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


def check_count(value: int, what: str) -> int:
    """``value`` if it is an ``int >= 0`` (not a bool), else a clear ``ValueError``."""
    return require_int(value, what, minimum=0)


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
