"""One recipe type for the course's shipped models, and the one function
that trains any of them.

The shipped models are chapter 2's wide MLP (:class:`lm_course.mlp.MLPRecipe`,
section "A wider MLP, trained for two hours, with dropout"), chapter 3's LSTM
(:class:`lm_course.rnn.CharRNNRecipe`, "A character-level LSTM") and the
reference GPTs of chapters 5 and 7 (:class:`lm_course.reference.ReferenceRecipe`,
"The reference checkpoint"). Each recipe is a frozen dataclass of
:class:`Recipe` that lists, with a comment per field, everything that
determines its model: the model's fields, named as in the model's config, and
the training fields, named as in :class:`~lm_course.train.TrainConfig`.
Nothing is copied field by field: :meth:`Recipe.by_name` fills a config from
the recipe's attributes of the same names, and a field the recipe does not
name keeps the config's default.

:func:`train_recipe` trains a recipe on the corpus;
:func:`lm_course.reference.make_reference` turns it into a file in ``data/``
(``python -m lm_course make-reference {gpt,gpt-small,mlp,lstm}``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn as nn

from lm_course.corpus import corpus_ids, corpus_tokenizer
from lm_course.seeds import seed_everything
from lm_course.train import TrainConfig, TrainHistory, train

__all__ = ["Recipe", "train_recipe"]

Config = TypeVar("Config")


@dataclass(frozen=True)
class Recipe(ABC):
    """The base of the shipped models' recipes. A subclass declares its
    fields (it must have a ``seed``; a ``threads`` field fixes torch's thread
    count while training) and says how to build, save and load its model."""

    def by_name(self, config_class: type[Config], **given: Any) -> Config:
        """A ``config_class`` (a dataclass) whose every field takes the value of
        this recipe's attribute of the same name, field or property, if it has
        one; ``given`` supplies the others (e.g. ``vocab_size``).

        >>> from lm_course.rnn import CharRNNRecipe
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

    @abstractmethod
    def save(self, model: nn.Module, path: str | Path, record: dict) -> Path:
        """Write ``model`` and the JSON-able ``record`` to one safetensors file
        (:mod:`lm_course.checkpoints`)."""

    @abstractmethod
    def load(self, path: str | Path) -> tuple[nn.Module, dict]:
        """``(model, record)`` of a file written by :meth:`save` (eval mode, float32)."""


def train_recipe(recipe: Recipe, progress: bool = True, state_path: str | Path | None = None
                 ) -> tuple[nn.Module, TrainHistory]:
    """Train ``recipe``'s model from scratch on the corpus's training split
    (the validation split gives the curve) with :func:`lm_course.train.train`:
    fix the thread count if the recipe does, seed everything from
    ``recipe.seed``, build, train. Returns ``(model, history)``; the same
    recipe, thread count and library versions give the same weights. With
    ``state_path`` the run saves its state there as it goes and, if the file
    exists, carries on from it (same weights as one uninterrupted run)."""
    threads = getattr(recipe, "threads", None)  # the LSTM's recipe fixes none
    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(recipe.seed)
    model = recipe.build_model(corpus_tokenizer().vocab_size)
    history = train(model, corpus_ids("train"), corpus_ids("val"), recipe.train_config(progress, state_path))
    return model, history
