"""The course's four shipped models in one table: where each file lives,
its recipe, how it is made and how it is loaded.

Four models are trained for longer than a notebook can and shipped in
``lm_course/shipped_data/``, so that a chapter can use a good model without training one
(:data:`SHIPPED`; the recipes are in :mod:`lm_course.recipes`):

* ``gpt``: ``reference_gpt.safetensors``, :data:`~lm_course.recipes.GPT_RECIPE`
  (chapters 5, 6 and 8; the best model of the course);
* ``gpt-small``: ``reference_gpt_small.safetensors``,
  :data:`~lm_course.recipes.GPT_SMALL_RECIPE` (chapter 7 fine-tunes it);
* ``mlp``: ``mlp_reference.safetensors``, :data:`~lm_course.recipes.MLP_RECIPE` (chapter 2);
* ``lstm``: ``rnn_lstm_reference.safetensors``, :data:`~lm_course.recipes.LSTM_RECIPE` (chapter 3).

Every one loads the same way, ``model, record = load_reference(name)``
(eval mode, float32, CPU; the record is :func:`reference_info`'s: the config,
the parameter count, the recipe, the command, the training history and the
scores). :func:`reference_info` reads the record from the file's header
without building the model. GPT-2, OpenAI's model, is another thing: it loads
with :meth:`lm_course.gpt.GPT.from_pretrained`.

One command makes any of them (deterministic for a given recipe, PyTorch
version, thread count and CPU; the reference GPT takes 105-140 minutes on 2
cores with bfloat16 units)::

    python -m lm_course make-reference gpt     # writes lm_course/shipped_data/reference_gpt.safetensors

:func:`make_reference` checks that every path it will write can be written,
trains the recipe (:func:`lm_course.recipes.train_recipe`, which calls
:func:`lm_course.train.train`), saves the model to a side file beside the
target, scores the model *as loaded from that file* on the validation and
test splits, saves it again with its record, and only then moves it over
the shipped file: a run stopped at any point leaves the shipped file as it
was (and the side file is removed). Notebook section: ``05_transformer.ipynb``,
"The reference checkpoint".
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn

from lm_course.checkpoints import read_header
from lm_course.corpus import corpus_ids, corpus_tokenizer
from lm_course.data import cache_dir, data_dir
from lm_course.evaluate import bits_per_token
from lm_course.fileio import check_writable_dir
from lm_course.recipes import (GPT_RECIPE, GPT_SMALL_RECIPE, LSTM_RECIPE, MLP_RECIPE, CharRNNRecipe, GPTRecipe,
                               Recipe, train_recipe)
from lm_course.scoreboard import record as record_score
from lm_course.tokenizers.char import CharTokenizer
from lm_course.train import TrainHistory, check_state_path

__all__ = ["Shipped", "SHIPPED", "SCOREBOARD_NAME", "reference_path", "load_reference", "reference_info",
           "make_reference"]

SCOREBOARD_NAME = "GPT reference checkpoint"  # the main reference's row on the course scoreboard


@dataclass(frozen=True)
class Shipped:
    """One shipped model: its file in ``lm_course/shipped_data/`` and the recipe that makes it."""

    file_name: str
    recipe: Recipe


#: Every shipped model: ``python -m lm_course make-reference <name>`` makes ``SHIPPED[name]``.
SHIPPED: dict[str, Shipped] = {
    "gpt": Shipped("reference_gpt.safetensors", GPT_RECIPE),
    "gpt-small": Shipped("reference_gpt_small.safetensors", GPT_SMALL_RECIPE),
    "mlp": Shipped("mlp_reference.safetensors", MLP_RECIPE),
    "lstm": Shipped("rnn_lstm_reference.safetensors", LSTM_RECIPE),
}


def _shipped(name: str) -> Shipped:
    if name not in SHIPPED:
        raise ValueError(f"no shipped model is called {name!r}; choose one of {list(SHIPPED)}")
    return SHIPPED[name]


def reference_path(name: str) -> Path:
    """Where the shipped model ``name`` (a key of :data:`SHIPPED`) lives in ``lm_course/shipped_data/``."""
    return data_dir() / _shipped(name).file_name


def _existing(name: str) -> Path:
    path = reference_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `python -m lm_course make-reference {name}`")
    return path


def reference_info(name: str = "gpt") -> dict:
    """The record of the shipped model ``name``, read from its file's header
    alone (no model is built): ``config``, ``parameters``, ``recipe``,
    ``command``, timings, the validation curve and the scores."""
    info = read_header(_existing(name))
    info.pop("format")
    return info


def load_reference(name: str = "gpt") -> tuple[nn.Module, dict]:
    """``(model, record)``: the shipped model ``name`` (a key of :data:`SHIPPED`;
    eval mode, float32, CPU) and its record (:func:`reference_info`). The
    GPTs read characters: their tokenizer is :func:`lm_course.corpus.corpus_tokenizer`."""
    model, _ = _shipped(name).recipe.load(_existing(name))
    return model, reference_info(name)


PREFIX_CHARS = 20_000  # a quick check: the score on the first characters of the validation split


def _scores(model: nn.Module) -> dict:
    """The bits per character of ``model`` on the validation and test splits
    (and on the first :data:`PREFIX_CHARS` of validation), with the time each took."""
    scores = {"val_prefix_chars": PREFIX_CHARS,
              "val_prefix_bpc": round(bits_per_token(model, corpus_ids("val")[:PREFIX_CHARS]), 6)}
    for split in ("val", "test"):
        start = time.perf_counter()
        scores[f"{split}_bpc"] = round(bits_per_token(model, corpus_ids(split)), 6)
        scores[f"{split}_eval_seconds"] = round(time.perf_counter() - start, 1)
    return scores


def _record(name: str, recipe: Recipe, history: TrainHistory, overrides: dict) -> dict:
    """What a shipped file records of how it was made (before its scores)."""
    command = f"python -m lm_course make-reference {name}"
    return {
        "recipe": asdict(recipe),
        "command": command if not overrides else f"lm_course.reference.make_reference({name!r}, **{overrides!r})",
        "training_seconds": round(history.seconds, 1),
        "training_cpu_seconds": round(history.cpu_seconds, 1),
        "resumed_at_steps": history.resumed_at,
        "final_window_val_loss_bits": round(history.val_loss[-1] / math.log(2), 4),
        "val_loss_bits_curve": {str(step): round(v / math.log(2), 4)
                                for step, v in zip(history.eval_steps, history.val_loss)},
        "history": asdict(history),
        "made_with": {"torch": torch.__version__, "python": platform.python_version(),
                      "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")},
    }


def _save_scored(recipe: Recipe, model: nn.Module, path: Path, record: dict) -> tuple[nn.Module, dict]:
    """Save ``model`` to a side file, score it *as loaded from there*, save it
    again with the scores, and only then move it over ``path``; returns the
    loaded model and the full record."""
    side = path.with_name(f".{path.name}.new")  # the shipped file is replaced only when this one is complete
    try:
        recipe.save(model, side, record)
        loaded, _ = recipe.load(side)  # the weights a reader gets (float16 for the GPTs and the MLP)
        record = {**record, **_scores(loaded)}
        recipe.save(loaded, side, record)  # float16 -> float32 -> float16 is exact: the same weights
        os.replace(side, path)  # atomic: the old model or the new, scored one
    finally:
        with contextlib.suppress(OSError):
            side.unlink()  # after an interruption (the training state, if any, is kept)
    return loaded, record


def make_reference(name: str = "gpt", path: str | Path | None = None, progress: bool = True,
                   state_path: str | Path | None = None, **overrides) -> tuple[Path, dict]:
    """Train the shipped model ``name`` (``SHIPPED[name].recipe``, with
    ``overrides`` replacing recipe fields, e.g. ``steps=2``) from scratch,
    save it, then score the model *as loaded from the file* and save the
    record with it; returns ``(path, record)``. ``path`` defaults to the
    shipped file (:func:`reference_path`). The main reference (``"gpt"``)
    also writes its scoreboard row, to the committed board when saved to the
    repository's ``lm_course/shipped_data/``. With ``state_path`` the training can be stopped
    and started again (:func:`lm_course.recipes.train_recipe`); the times
    recorded are the sittings' sums, and the state file is removed once the
    model is saved.

    Every path is checked before training (the output's folder, the state
    file's, the scoreboard's); the new model is written to a side file
    (``.<name>.new`` beside ``path``) and replaces ``path`` only once it is
    scored and its record written, so an interrupted run never leaves an
    unscored or half-written file under the shipped name."""
    recipe = replace(_shipped(name).recipe, **overrides)
    path = Path(path) if path is not None else reference_path(name)
    if path.is_dir():
        raise IsADirectoryError(f"--out {path} is a folder; give the file to write, "
                                f"e.g. {path / reference_path(name).name}")
    check_writable_dir(path.parent, "output folder")
    if state_path is not None:
        check_state_path(state_path)
    to_reference_board = name == "gpt" and path.resolve() == (data_dir() / SHIPPED["gpt"].file_name).resolve()
    if name == "gpt":
        check_writable_dir(data_dir() if to_reference_board else cache_dir(), "scoreboard's folder")
    model, history = train_recipe(recipe, progress, state_path)
    loaded, record = _save_scored(recipe, model, path, _record(name, recipe, history, overrides))
    if name == "gpt":
        c, r = loaded.config, record["recipe"]
        record_score(SCOREBOARD_NAME, record["val_bpc"], record["test_bpc"], chapter=5,
                     reference=to_reference_board,
                     notes=f"{loaded.num_parameters():,} params, {c.n_layer} layers x {c.n_head} heads x {c.n_embd}, "
                           f"context {c.block_size}, {r['steps']} steps x {r['batch_size']} windows "
                           f"(python -m lm_course make-reference {name})")
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)  # the run is complete
    return path, record
