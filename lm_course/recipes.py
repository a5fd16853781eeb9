"""The recipes of the course's four shipped models, and the one function
that trains any of them.

The shipped models are chapter 2's wide MLP (:data:`MLP_RECIPE`, section "A
wider MLP, trained for two hours, with dropout"), chapter 3's LSTM
(:data:`LSTM_RECIPE`, "A character-level LSTM on the scoreboard") and the reference GPTs of
chapters 5 and 7 (:data:`GPT_RECIPE`, :data:`GPT_SMALL_RECIPE`,
``05_transformer.ipynb``, "The reference checkpoint"). Each recipe is a
frozen dataclass of :class:`Recipe` that lists, with a comment per field,
everything that determines its model: the model's fields, named as in the
model's config, and the training fields, named as in
:class:`~lm_course.train.TrainConfig`. Nothing is copied field by field:
:meth:`Recipe.by_name` fills a config from the recipe's attributes of the
same names, and a field the recipe does not name keeps the config's default.

:func:`train_recipe` trains a recipe on the corpus (``overrides`` replace
fields: ``train_recipe(LSTM_RECIPE, kind="gru", steps=200)``); every recipe
saves and loads through :mod:`lm_course.checkpoints`. The table of shipped
models, their files and the command that makes them
(``python -m lm_course make-reference {gpt,gpt-small,mlp,lstm}``) is
:data:`lm_course.reference.SHIPPED`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn as nn

from lm_course.checkpoints import load_model, save_model
from lm_course.corpus import corpus_ids, corpus_tokenizer
from lm_course.gpt import GPT, GPTConfig
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.seeds import seed_everything
from lm_course.train import TrainConfig, TrainHistory, train

__all__ = ["Recipe", "GPTRecipe", "MLPRecipe", "CharRNNRecipe", "GPT_RECIPE", "GPT_SMALL_RECIPE", "MLP_RECIPE",
           "LSTM_RECIPE", "train_recipe"]

Config = TypeVar("Config")


@dataclass(frozen=True)
class Recipe(ABC):
    """The base of the shipped models' recipes. A subclass declares its
    fields (it must have a ``seed``; a ``threads`` field fixes torch's thread
    count while training), says how to build its model and at which
    precision its file stores it (:attr:`stored_dtype`)."""

    model_format: ClassVar[str]  # the checkpoint format of its model: a key of lm_course.checkpoints.KINDS
    stored_dtype: ClassVar[torch.dtype | None] = torch.float16  # the file's float tensors (None: float32)
    keeps_tokenizer: ClassVar[bool] = False  # record the corpus's characters in the file (the GPTs)

    def by_name(self, config_class: type[Config], **given: Any) -> Config:
        """A ``config_class`` (a dataclass) whose every field takes the value of
        this recipe's attribute of the same name, field or property, if it has
        one; ``given`` supplies the others (e.g. ``vocab_size``).

        >>> CharRNNRecipe(steps=400).train_config(progress=False).warmup_steps  # a property of the recipe
        40
        """
        names = [f.name for f in fields(config_class) if f.name not in given and hasattr(self, f.name)]
        return config_class(**{name: getattr(self, name) for name in names}, **given)

    def train_config(self, progress: bool = True, state_path: str | Path | None = None) -> TrainConfig:
        """The :class:`~lm_course.train.TrainConfig` of this recipe, by name
        (``state_path``: a resumable run's state file, see :func:`~lm_course.train.train`)."""
        return self.by_name(TrainConfig, progress=progress,
                            state_path=None if state_path is None else str(state_path))

    @abstractmethod
    def build_model(self, vocab_size: int) -> nn.Module:
        """A freshly initialised model of this recipe (uses torch's global generator)."""

    def save(self, model: nn.Module, path: str | Path, record: dict) -> Path:
        """Write ``model`` and the JSON-able ``record`` to one safetensors file
        (:func:`lm_course.checkpoints.save_model`, at :attr:`stored_dtype`)."""
        return save_model(model, path, record, dtype=self.stored_dtype,
                          tokenizer=corpus_tokenizer() if self.keeps_tokenizer else None)

    def load(self, path: str | Path) -> tuple[nn.Module, dict]:
        """``(model, record)`` of a file written by :meth:`save` (eval mode,
        float32; a file of another kind of model is refused)."""
        return load_model(path, self.model_format)


def train_recipe(recipe: Recipe, progress: bool = True, state_path: str | Path | None = None,
                 **overrides: Any) -> tuple[nn.Module, TrainHistory]:
    """Train ``recipe``'s model from scratch on the corpus's training split
    (the validation split gives the curve) with :func:`lm_course.train.train`:
    fix the thread count if the recipe does, seed everything from
    ``recipe.seed``, build, train. Returns ``(model, history)``; the same
    recipe, thread count and library versions give the same weights. With
    ``state_path`` the run saves its state there as it goes and, if the file
    exists, carries on from it (same weights as one uninterrupted run).
    ``overrides`` replace recipe fields, e.g. ``train_recipe(MLP_RECIPE,
    n_hidden=512, steps=200)``."""
    recipe = replace(recipe, **overrides)
    threads = getattr(recipe, "threads", None)  # the LSTM's recipe fixes none
    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(recipe.seed)
    model = recipe.build_model(corpus_tokenizer().vocab_size)
    history = train(model, corpus_ids("train"), corpus_ids("val"), recipe.train_config(progress, state_path))
    return model, history


@dataclass(frozen=True)
class MLPRecipe(Recipe):
    """Everything that determines an MLP trained on the corpus (chapter 2; a
    comment per field, the names are :class:`~lm_course.mlp.MLPConfig`'s and
    :class:`~lm_course.train.TrainConfig`'s). Same recipe, same thread count,
    same library versions: same weights."""

    context_length: int = 8  # n: characters of context (a 9-gram's)
    n_embd: int = 64  # d: 64 >= V + 1 rows, so each position's lookup table can be any (V+1) x H table
    n_hidden: int = 2048  # H: tanh units
    dropout: float = 0.3  # dropout on the hidden units: the validation loss stalled without it
    steps: int = 12000  # optimiser steps
    batch_size: int = 32  # windows per batch
    block_size: int = 128  # characters per window: 4,096 predictions per step
    lr: float = 3e-3  # peak learning rate (AdamW, warm-up then cosine decay)
    warmup_steps: int = 200  # linear warm-up steps
    min_lr_ratio: float = 0.02  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (matrices only)
    eval_interval: int = 500  # steps between validation measurements
    seed: int = 0  # seeds the initial weights and the batches
    threads: int = 1  # torch threads: fixed, because results depend (slightly) on it

    model_format = "lm_course.mlp"

    def build_model(self, vocab_size: int) -> MLPLanguageModel:
        return MLPLanguageModel(self.by_name(MLPConfig, vocab_size=vocab_size), lookup_training=True)


@dataclass(frozen=True)
class CharRNNRecipe(Recipe):
    """Everything that determines a character RNN, LSTM or GRU trained on the
    corpus (chapter 3; a comment per field, the names are
    :class:`~lm_course.rnn.RNNConfig`'s and :class:`~lm_course.train.TrainConfig`'s).
    Every window starts from a zero state: truncated BPTT of length
    ``block_size``. Same recipe and same library versions: same weights."""

    kind: str = "lstm"  # "rnn", "lstm" or "gru"
    hidden_size: int = 256  # width of the hidden state
    embed_size: int = 64  # width of the character embedding
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # dropout on embeddings, between layers and before the read-out
    steps: int = 4000  # optimiser steps
    batch_size: int = 32  # windows per batch
    block_size: int = 128  # window length = truncated-BPTT length
    lr: float = 3e-3  # peak learning rate (AdamW, warm-up then cosine decay)
    grad_clip: float = 1.0  # global gradient-norm clipping
    eval_interval: int = 250  # steps between validation measurements
    seed: int = 0  # seeds the weights and the batches
    # weight decay 0.01 and a cosine down to lr * 0.1: TrainConfig's defaults

    model_format = "lm_course.rnn"
    stored_dtype = None  # float32: 1.6 MB

    @property
    def warmup_steps(self) -> int:
        """Linear warm-up steps: a tenth of the run, at most 100 (not a field:
        the shipped LSTM's recorded recipe predates it)."""
        return min(100, self.steps // 10)

    def build_model(self, vocab_size: int) -> RNNLanguageModel:
        return RNNLanguageModel(self.by_name(RNNConfig, vocab_size=vocab_size))


@dataclass(frozen=True)
class GPTRecipe(Recipe):
    """How a reference GPT is made (chapters 5 and 7; a comment per field, the
    names are :class:`~lm_course.gpt.GPTConfig`'s and
    :class:`~lm_course.train.TrainConfig`'s); chosen by the scaling study in
    ``lm_course/shipped_data/README.md``."""

    n_layer: int = 6  # Transformer blocks
    n_head: int = 6  # attention heads per block (head size 32)
    n_embd: int = 192  # width of the residual stream
    block_size: int = 128  # context length (characters)
    dropout: float = 0.15  # on embeddings and residual branches: 0.1 over-fitted, 0.2 under-fitted (lm_course/shipped_data/README.md)
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

    model_format = "lm_course.gpt"
    keeps_tokenizer = True  # the file names its characters (the tied head is stored once)

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return self.by_name(GPTConfig, vocab_size=vocab_size)

    def build_model(self, vocab_size: int) -> GPT:
        return GPT(self.gpt_config(vocab_size))


#: ``lm_course/shipped_data/mlp_reference.safetensors`` (chapter 2).
MLP_RECIPE = MLPRecipe()
#: ``lm_course/shipped_data/rnn_lstm_reference.safetensors`` (chapter 3).
LSTM_RECIPE = CharRNNRecipe()
#: ``lm_course/shipped_data/reference_gpt.safetensors`` (chapters 5 and 6; the best model of the course).
GPT_RECIPE = GPTRecipe()
#: ``lm_course/shipped_data/reference_gpt_small.safetensors``, the earlier, smaller reference that
#: chapter 7 fine-tunes: six fine-tuning runs of the 3x larger one would take
#: chapter 7 far past its two-minute budget.
GPT_SMALL_RECIPE = GPTRecipe(n_layer=4, n_head=4, n_embd=128, dropout=0.0, attn_dropout=None, steps=6000,
                             lr=5e-3, warmup_steps=100, weight_decay=0.01, eval_interval=250, autocast=None,
                             threads=1)
