"""The course's shipped models, made and loaded one way, and the recipe of
the reference GPT.

Four models are trained for longer than a notebook can and shipped in
``data/``, so that a chapter can use a good model without training one:

* ``gpt``: ``reference_gpt.safetensors``, :data:`RECIPE` (chapters 5 and 6; the
  best model of the course);
* ``gpt-small``: ``reference_gpt_small.safetensors``, :data:`SMALL_RECIPE`
  (chapter 7 fine-tunes it);
* ``mlp``: ``mlp_reference.safetensors``, :data:`lm_course.mlp.REFERENCE_MLP_RECIPE`
  (chapter 2);
* ``lstm``: ``rnn_lstm_reference.safetensors``, :data:`lm_course.rnn.REFERENCE_RECIPE`
  (chapter 3).

Each recipe is a :class:`lm_course.recipes.Recipe`. One command makes any of
them (deterministic for a given recipe, PyTorch version, thread count and
CPU; the reference GPT takes 105-140 minutes on 2 cores with bfloat16
units)::

    python -m lm_course make-reference gpt     # writes data/reference_gpt.safetensors

:func:`make_reference` checks that every path it will write can be written,
trains the recipe (:func:`lm_course.recipes.train_recipe`), saves the model
to a side file beside the target, scores the model *as loaded from that
file* on the validation and test splits, saves it again with its record (the
recipe, the command, the training history, time and curve, and the scores),
and only then moves it over the shipped file: a run stopped at any point
leaves the shipped file as it was (and the side file is removed). Every
file is a checkpoint of :mod:`lm_course.checkpoints` (the model's config and
the record in the safetensors metadata); :func:`load_reference` reads any of
them as ``(model, record)``.

The reference GPT is explained in ``05_transformer.ipynb`` ("The reference
checkpoint", with the scaling study that chose its size); chapters 6 and 7
load it with :func:`lm_course.gpt.load_reference_model` when GPT-2's weights
cannot be had.
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

from lm_course.corpus import corpus_ids, corpus_tokenizer
from lm_course.data import cache_dir, data_dir
from lm_course.fileio import check_writable_dir
from lm_course.evaluate import bits_per_token
from lm_course.gpt import GPT, GPTConfig, load_gpt, reference_model_path, save_gpt
from lm_course.mlp import REFERENCE_MLP_RECIPE
from lm_course.recipes import Recipe, train_recipe
from lm_course.rnn import REFERENCE_RECIPE as REFERENCE_LSTM_RECIPE
from lm_course.scoreboard import record as record_score
from lm_course.tokenizers.char import CharTokenizer
from lm_course.train import TrainHistory, check_state_path

__all__ = ["ReferenceRecipe", "RECIPE", "SMALL_RECIPE", "RECIPES", "SCOREBOARD_NAME", "reference_path",
           "train_reference", "make_reference", "load_reference", "load_reference_info"]

SCOREBOARD_NAME = "GPT reference checkpoint"  # its row on the course scoreboard


@dataclass(frozen=True)
class ReferenceRecipe(Recipe):
    """How the reference GPT is made (a comment per field; the names are
    :class:`~lm_course.gpt.GPTConfig`'s and :class:`~lm_course.train.TrainConfig`'s);
    chosen by the scaling study in ``data/README.md``."""

    n_layer: int = 6  # Transformer blocks
    n_head: int = 6  # attention heads per block (head size 32)
    n_embd: int = 192  # width of the residual stream
    block_size: int = 128  # context length (characters)
    dropout: float = 0.15  # on embeddings and residual branches: 0.1 over-fitted, 0.2 under-fitted (data/README.md)
    attn_dropout: float | None = 0.0  # none on attention weights: it would forbid the fused attention kernel
    #                                   (1.4x slower per step)
    steps: int = 12_000  # optimiser steps (fixed: no wall-clock budget, so runs are reproducible)
    batch_size: int = 32  # windows per batch: 4,096 characters per step
    lr: float = 2e-3  # peak learning rate (AdamW, warm-up then cosine decay)
    warmup_steps: int = 200  # linear warm-up steps
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.1  # AdamW's decoupled weight decay (matrices only)
    eval_interval: int = 500  # steps between validation-loss measurements
    autocast: str | None = "bfloat16"  # mixed precision: 1.2-1.4x faster on CPUs with bf16 units
    seed: int = 1337  # seeds the initial weights and the batches
    threads: int = 2  # torch threads: fixed, because results depend (slightly) on it

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return self.by_name(GPTConfig, vocab_size=vocab_size)

    def build_model(self, vocab_size: int) -> GPT:
        return GPT(self.gpt_config(vocab_size))

    def save(self, model: GPT, path: str | Path, record: dict) -> Path:
        return save_gpt(model, path, corpus_tokenizer(), record)  # float16; the tied head stored once

    def load(self, path: str | Path) -> tuple[GPT, dict]:
        model, _, record = load_gpt(path)  # the tokenizer is the corpus's (and in the record)
        return model, record


RECIPE = ReferenceRecipe()

#: The earlier, smaller reference (``data/reference_gpt_small.safetensors``), which
#: chapter 7 fine-tunes: six fine-tuning runs of the 3x larger one would take
#: chapter 7 far past its two-minute budget.
SMALL_RECIPE = ReferenceRecipe(n_layer=4, n_head=4, n_embd=128, dropout=0.0, attn_dropout=None, steps=6000,
                               lr=5e-3, warmup_steps=100, weight_decay=0.01, eval_interval=250, autocast=None,
                               threads=1)

#: Every shipped model: ``python -m lm_course make-reference <name>`` makes ``RECIPES[name]``.
RECIPES: dict[str, Recipe] = {"gpt": RECIPE, "gpt-small": SMALL_RECIPE, "mlp": REFERENCE_MLP_RECIPE,
                              "lstm": REFERENCE_LSTM_RECIPE}


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"no shipped model is called {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def reference_path(name: str) -> Path:
    """Where the shipped model ``name`` (a key of :data:`RECIPES`) lives in ``data/``."""
    _recipe(name)
    return {"gpt": reference_model_path(), "gpt-small": reference_model_path(small=True),
            "mlp": data_dir() / "mlp_reference.safetensors",
            "lstm": data_dir() / "rnn_lstm_reference.safetensors"}[name]


def train_reference(recipe: ReferenceRecipe = RECIPE, progress: bool = True
                    ) -> tuple[GPT, CharTokenizer, TrainHistory]:
    """Train a reference GPT on the training split; returns ``(model,
    tokenizer, history)`` (:func:`lm_course.recipes.train_recipe`)."""
    model, history = train_recipe(recipe, progress)
    return model, corpus_tokenizer(), history


def load_reference(name: str = "gpt") -> tuple[nn.Module, dict]:
    """The shipped model ``name`` (a key of :data:`RECIPES`; eval mode,
    float32, CPU) and the record saved with it by :func:`make_reference`."""
    path = reference_path(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `python -m lm_course make-reference {name}`")
    return _recipe(name).load(path)


def load_reference_info(path: str | Path | None = None, *, small: bool = False) -> dict:
    """The reference checkpoint's record: ``config``, ``parameters``,
    ``tokenizer``, ``recipe``, timings, the validation curve and the scores
    (``small=True``: of chapter 7's smaller reference)."""
    path = Path(path) if path is not None else reference_model_path(small)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `python -m lm_course make-reference gpt`")
    model, _, extra = load_gpt(path)
    return {"config": model.config.to_dict(), "parameters": model.num_parameters(), **extra}


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


def make_reference(name: str = "gpt", path: str | Path | None = None, progress: bool = True,
                   state_path: str | Path | None = None, **overrides) -> tuple[Path, dict]:
    """Train the shipped model ``name`` (``RECIPES[name]``, with ``overrides``
    replacing recipe fields, e.g. ``steps=2``) from scratch, save it, then
    score the model *as loaded from the file* and save the record with it;
    returns ``(path, record)``. ``path`` defaults to the shipped file
    (:func:`reference_path`). The main reference (``"gpt"``) also writes its
    scoreboard row, to the committed board when saved to the repository's
    ``data/``. With ``state_path`` the training can be stopped and started
    again (:func:`lm_course.recipes.train_recipe`); the times recorded are
    the sittings' sums, and the state file is removed once the model is saved.

    Every path is checked before training (the output's folder, the state
    file's, the scoreboard's); the new model is written to a side file
    (``.<name>.new`` beside ``path``) and replaces ``path`` only once it is
    scored and its record written, so an interrupted run never leaves an
    unscored or half-written file under the shipped name."""
    recipe = replace(_recipe(name), **overrides)
    path = Path(path) if path is not None else reference_path(name)
    if path.is_dir():
        raise IsADirectoryError(f"--out {path} is a folder; give the file to write, "
                                f"e.g. {path / reference_path(name).name}")
    check_writable_dir(path.parent, "output folder")
    if state_path is not None:
        check_state_path(state_path)
    to_reference_board = name == "gpt" and path.resolve() == reference_model_path().resolve()
    if name == "gpt":
        check_writable_dir(data_dir() if to_reference_board else cache_dir(), "scoreboard's folder")
    model, history = train_recipe(recipe, progress, state_path)
    wall, cpu = history.seconds, history.cpu_seconds
    command = f"python -m lm_course make-reference {name}"
    record = {
        "recipe": asdict(recipe),
        "command": command if not overrides else f"lm_course.reference.make_reference({name!r}, **{overrides!r})",
        "training_seconds": round(wall, 1),
        "training_cpu_seconds": round(cpu, 1),
        "resumed_at_steps": history.resumed_at,
        "final_window_val_loss_bits": round(history.val_loss[-1] / math.log(2), 4),
        "val_loss_bits_curve": {str(step): round(v / math.log(2), 4)
                                for step, v in zip(history.eval_steps, history.val_loss)},
        "history": asdict(history),
        "made_with": {"torch": torch.__version__, "python": platform.python_version(),
                      "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")},
    }
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
    if name == "gpt":
        c, r = loaded.config, record["recipe"]
        record_score(SCOREBOARD_NAME, record["val_bpc"], record["test_bpc"], chapter=5,
                     reference=to_reference_board,
                     notes=f"{loaded.num_parameters():,} params, {c.n_layer} layers x {c.n_head} heads x {c.n_embd}, "
                           f"context {c.block_size}, {r['steps']} steps x {r['batch_size']} windows ({command})")
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)  # the run is complete
    return path, record
