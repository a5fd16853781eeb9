"""Saving and loading the course's models as safetensors files: the one
checkpoint format of every shipped model, and the one place that knows which
model class each file holds.

:func:`save_model` writes any of the three kinds of course model (chapter 2's
MLP, chapter 3's RNN/LSTM/GRU, the GPT of chapters 5-7: :data:`KINDS`);
:func:`load_model` reads any of them back as ``(model, record)``;
:func:`read_header` reads a file's config and record without building the
model (or reading its tensors). The shipped files are made by
:func:`lm_course.reference.make_reference` and loaded by
:func:`lm_course.reference.load_reference` (``05_transformer.ipynb``, "The
reference checkpoint"). A checkpoint is one ``.safetensors`` file: the
tensors, plus string metadata holding

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
import math
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model as _load_state, save_model as _save_state

from lm_course.fileio import atomic_write
from lm_course.gpt import GPT, GPTConfig
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.tokenizers.char import CharTokenizer

__all__ = ["CheckpointError", "KINDS", "save_model", "load_model", "read_header", "save_checkpoint",
           "read_checkpoint", "load_checked_state"]

#: Every kind of model a checkpoint holds: its metadata ``format`` -> (model class, config class).
KINDS: dict[str, tuple[type[nn.Module], type]] = {
    "lm_course.gpt": (GPT, GPTConfig),  # chapters 5-7
    "lm_course.mlp": (MLPLanguageModel, MLPConfig),  # chapter 2
    "lm_course.rnn": (RNNLanguageModel, RNNConfig),  # chapter 3
}


class CheckpointError(ValueError):
    """The file is not a checkpoint of the expected kind, or does not fit its config."""


def save_checkpoint(model: nn.Module, path: str | Path, fmt: str, config: dict,
                    extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write ``model``'s weights to ``path`` with ``fmt``, ``config`` and
    ``extra`` in the metadata; ``dtype`` (e.g. ``torch.float16``) stores the
    floating-point tensors at a lower precision to halve the file. Tied
    weights (a GPT's head and token embedding) are stored once, by
    ``safetensors.torch.save_model``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": fmt, "config": json.dumps(config)}
    if extra:
        meta["extra"] = json.dumps(extra)
    stored = copy.deepcopy(model).cpu()
    if dtype is not None:
        stored = stored.to(dtype)  # floating-point parameters and buffers only
    with atomic_write(path) as tmp:
        _save_state(stored, str(tmp), metadata=meta)
    return path


def _existing_file(path: str | Path) -> Path:
    """``path`` as a Path, or a clear error if it is missing or a folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the path of the checkpoint file (*.safetensors) in it")
    return path


def read_checkpoint(path: str | Path, fmt: str, what: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """``(config, tensors, extra)`` of a file written by :func:`save_checkpoint`
    with format ``fmt``; ``what`` names the kind in error messages."""
    path = _existing_file(path)
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
    expected = model.state_dict()
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise CheckpointError(f"checkpoint tensors {unexpected[:5]} are not in the model (another architecture?)")
    wrong = [f"{name}: file {tuple(t.shape)}, model {tuple(expected[name].shape)}"
             for name, t in tensors.items() if t.shape != expected[name].shape]
    if wrong:
        raise CheckpointError("checkpoint shape mismatch for " + "; ".join(wrong[:5]))
    try:
        _load_state(model, str(path), strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{Path(path).name} does not fit the model: {err}") from None
    model.eval()


def _format_of(model: nn.Module) -> str:
    for fmt, (model_class, _) in KINDS.items():
        if type(model) is model_class:
            return fmt
    raise TypeError(f"no checkpoint format for a {type(model).__name__}; "
                    f"the course saves {', '.join(m.__name__ for m, _ in KINDS.values())}")


def save_model(model: nn.Module, path: str | Path, record: dict | None = None, *,
               dtype: torch.dtype | None = None, tokenizer: CharTokenizer | None = None) -> Path:
    """Write any course model (:data:`KINDS`) to ``path`` with its config and
    the JSON-able ``record`` (recipe, history, scores) in the metadata;
    ``dtype=torch.float16`` halves the file. ``tokenizer``: the character
    tokenizer whose ids the model reads, kept in the record (the shipped GPTs
    have it)."""
    record = dict(record or {})
    if tokenizer is not None:
        if tokenizer.vocab_size != model.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} characters but the model's "
                             f"vocab_size is {model.vocab_size}")
        record = {"tokenizer": {"type": "char", "chars": "".join(tokenizer.chars)}, **record}
    return save_checkpoint(model, path, _format_of(model), asdict(model.config), record, dtype)


def load_model(path: str | Path, fmt: str | None = None) -> tuple[nn.Module, dict]:
    """``(model, record)`` of a file written by :func:`save_model` (float32, eval
    mode, CPU), of the kind its metadata names (``fmt``: insist on one kind of
    :data:`KINDS`). A file of another kind, an invalid config, a tokenizer that
    does not fit, or tensors that do not fit the config raise
    :class:`CheckpointError`."""
    fmt = fmt or _read_meta(path).get("format")
    if fmt not in KINDS:
        raise CheckpointError(f"{path} is not a checkpoint of a course model (metadata format={fmt!r})")
    model_class, config_class = KINDS[fmt]
    what = f"lm_course {model_class.__name__.removesuffix('LanguageModel')}"
    config, tensors, record = read_checkpoint(path, fmt, what)
    try:
        model = model_class(config_class(**config))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{Path(path).name} declares an invalid "
                              f"{what.split()[-1]} config: {err}") from None
    chars = record.get("tokenizer", {}).get("chars")
    if chars is not None and len(chars) != model.vocab_size:
        raise CheckpointError(f"{Path(path).name}: the tokenizer has {len(chars)} characters but the "
                              f"model's vocab_size is {model.vocab_size}")
    load_checked_state(model, tensors, path)
    return model, record


def _read_meta(path: str | Path) -> dict:
    """The metadata of the safetensors file at ``path`` (no tensor is read)."""
    path = _existing_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {**(f.metadata() or {}),
                    "_parameters": sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())}
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a safetensors file, or a damaged one (truncated?); "
                              f"restore or re-make it: {err}") from None


def read_header(path: str | Path) -> dict:
    """A checkpoint's ``format``, ``config``, ``parameters`` (the tensors'
    sizes, tied weights once) and record, read from the file's header alone:
    no model is built and no tensor read."""
    meta = _read_meta(path)
    try:
        config, record = json.loads(meta["config"]), json.loads(meta.get("extra", "{}"))
        if meta.get("format") in KINDS:  # every field, also one the file predates (its default)
            config = asdict(KINDS[meta["format"]][1](**config))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has unreadable metadata: {err!r}") from None
    return {"format": meta.get("format"), "config": config, "parameters": meta["_parameters"], **record}
