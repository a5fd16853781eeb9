"""Saving and loading the course's models as safetensors files: the one
checkpoint format of every shipped model.

Used by :mod:`lm_course.mlp` (the shipped MLP, chapter 2, section "A wider
MLP, trained for two hours, with dropout"), :mod:`lm_course.rnn` (the
shipped LSTM, chapter 3) and :mod:`lm_course.gpt` (the reference GPTs,
chapters 5-7), all made by :func:`lm_course.reference.make_reference`. A
checkpoint is one ``.safetensors`` file: the tensors, plus string metadata
holding

* ``format``: which kind of model it is (e.g. ``"lm_course.mlp"``), checked on
  loading so that an LSTM file is never read as an MLP;
* ``config``: the JSON of the model's constructor arguments;
* ``extra``: any JSON-able record (recipe, training history, scores).

safetensors holds raw arrays and a JSON header only: unlike ``torch.load`` of a
pickle, loading a file cannot run code, so a downloaded checkpoint is safe to
open. Loading checks that the file's tensors are exactly the ones the declared
config implies, with the same shapes, and says which one differs otherwise; a
tensor holding NaN or inf is refused, naming it. Saving writes a private
temporary file beside the target and moves it into place
(:func:`lm_course.fileio.atomic_write`), so an interrupted save leaves the old
file whole.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn as nn

from lm_course.fileio import atomic_write

__all__ = ["CheckpointError", "save_checkpoint", "read_checkpoint", "load_checked_state"]


class CheckpointError(ValueError):
    """The file is not a checkpoint of the expected kind, or does not fit its config."""


def save_checkpoint(model: nn.Module, path: str | Path, fmt: str, config: dict,
                    extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``model``'s weights to ``path`` with ``fmt``, ``config`` and
    ``extra`` in the metadata; ``dtype`` (e.g. ``torch.float16``) stores the
    floating-point tensors at a lower precision to halve the file. Tied
    weights (a GPT's head and token embedding) are stored once, by
    ``safetensors.torch.save_model``."""
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": fmt, "config": json.dumps(config)}
    if extra:
        meta["extra"] = json.dumps(extra)
    stored = copy.deepcopy(model).cpu()
    if dtype is not None:
        stored = stored.to(dtype)  # floating-point parameters and buffers only
    with atomic_write(path) as tmp:
        save_model(stored, str(tmp), metadata=meta)
    return path


def read_checkpoint(path: str | Path, fmt: str, what: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """``(config, tensors, extra)`` of a file written by :func:`save_checkpoint`
    with format ``fmt``; ``what`` names the kind in error messages."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the path of the checkpoint file (*.safetensors) in it")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a safetensors file, or a damaged one (truncated?); "
                              f"restore or re-make it: {err}") from None
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{path} holds NaN or inf in {len(bad)} tensor(s) ({', '.join(sorted(bad)[:5])}): "
                              "the file is damaged or the training diverged; restore or re-make it")
    if meta.get("format") != fmt:
        raise CheckpointError(f"{path} is not an {what} checkpoint (metadata format={meta.get('format')!r})")
    try:
        config = json.loads(meta["config"])
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has unreadable metadata: {err!r}") from None
    return config, tensors, extra


def load_checked_state(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load the checkpoint at ``path`` (whose tensors are ``tensors``) into
    ``model`` after checking that every stored tensor is one of the model's,
    with its shape; ``safetensors.torch.load_model`` then restores tied
    weights and reports anything missing. Half-precision tensors come back in
    the model's dtype; the model is left in eval mode."""
    from safetensors.torch import load_model

    expected = model.state_dict()
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise CheckpointError(f"checkpoint tensors {unexpected[:5]} are not in the model (another architecture?)")
    wrong = [f"{name}: file {tuple(t.shape)}, model {tuple(expected[name].shape)}"
             for name, t in tensors.items() if t.shape != expected[name].shape]
    if wrong:
        raise CheckpointError("checkpoint shape mismatch for " + "; ".join(wrong[:5]))
    try:
        load_model(model, str(path), strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{Path(path).name} does not fit the model: {err}") from None
    model.eval()
