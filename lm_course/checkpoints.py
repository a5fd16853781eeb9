"""Saving and loading the course's small models as safetensors files.

Used by :mod:`lm_course.rnn` (the shipped LSTM, chapter 3) and
:mod:`lm_course.mlp` (the shipped MLP, chapter 2, section "A wider MLP,
trained for two hours, with dropout"). A checkpoint is one ``.safetensors`` file: the tensors, plus string
metadata holding

* ``format``: which kind of model it is (e.g. ``"lm_course.mlp"``), checked on
  loading so that an LSTM file is never read as an MLP;
* ``config``: the JSON of the model's constructor arguments;
* ``extra``: any JSON-able record (recipe, training history, scores).

safetensors holds raw arrays and a JSON header only: unlike ``torch.load`` of a
pickle, loading a file cannot run code, so a downloaded checkpoint is safe to
open. Loading checks that the file's tensors are exactly the ones the declared
config implies, with the same shapes, and says which one differs otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

__all__ = ["CheckpointError", "save_checkpoint", "read_checkpoint", "load_checked_state"]


class CheckpointError(ValueError):
    """The file is not a checkpoint of the expected kind, or does not fit its config."""


def save_checkpoint(model: nn.Module, path: str | Path, fmt: str, config: dict,
                    extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``model``'s state dict to ``path`` with ``fmt``, ``config`` and
    ``extra`` in the metadata; ``dtype`` (e.g. ``torch.float16``) stores the
    floating-point tensors at a lower precision to halve the file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": fmt, "config": json.dumps(config)}
    if extra:
        meta["extra"] = json.dumps(extra)
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous()
    save_file(tensors, str(path), metadata=meta)
    return path


def read_checkpoint(path: str | Path, fmt: str, what: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """``(config, tensors, extra)`` of a file written by :func:`save_checkpoint`
    with format ``fmt``; ``what`` names the kind in error messages."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as err:
        raise CheckpointError(f"{path} is not a safetensors file: {err}") from None
    if meta.get("format") != fmt:
        raise CheckpointError(f"{path} is not an {what} checkpoint (metadata format={meta.get('format')!r})")
    try:
        config = json.loads(meta["config"])
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has unreadable metadata: {err!r}") from None
    return config, tensors, extra


def load_checked_state(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load ``tensors`` into ``model`` after checking that the names and shapes
    are exactly the model's; stored half-precision tensors come back in the
    model's dtype."""
    expected = model.state_dict()
    if set(tensors) != set(expected):
        raise CheckpointError(f"checkpoint tensors {sorted(set(tensors) ^ set(expected))} do not match the model")
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint shape mismatch for {name}: file {tuple(t.shape)}, model {tuple(expected[name].shape)}"
            )
    model.load_state_dict({k: t.to(expected[k].dtype) for k, t in tensors.items()})
    model.eval()
