"""The course's reference GPT: a character-level model trained on the
Shakespeare training split for longer than a notebook can, shipped in
``data/`` so that later chapters can use a good model without training one.

Explained in ``05_transformer.ipynb`` ("The reference checkpoint", with the
scaling study that chose its size); chapters 6 and 7 load it with
:func:`lm_course.gpt.load_reference_model` when GPT-2's weights cannot be had.

Make it (deterministic for a given seed, PyTorch version, thread count and
CPU; about 85 minutes on 2 cores with bfloat16 units)::

    python -m lm_course make-reference gpt     # writes data/reference_gpt.safetensors

The file is a checkpoint of :mod:`lm_course.checkpoints`, like the shipped MLP
and LSTM: the weights as float16 (the language-model head is tied to the token
embedding and stored once), and in its metadata the
:class:`~lm_course.gpt.GPTConfig`, the tokenizer's characters, the recipe, the
training time and curve, and the validation/test bits per character *of the
model as loaded from the file*.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lm_course.data import load_shakespeare
from lm_course.device import seed_everything
from lm_course.evaluate import bits_per_token
from lm_course.gpt import GPT, GPTConfig, load_gpt, reference_model_path, save_gpt
from lm_course.corpus import corpus_tokenizer
from lm_course.tokenizers import CharTokenizer
from lm_course.train import TrainConfig, TrainHistory, train

__all__ = ["ReferenceRecipe", "RECIPE", "SMALL_RECIPE", "RECIPES", "SCOREBOARD_NAME", "train_reference",
           "make_reference", "load_reference_info"]

SCOREBOARD_NAME = "GPT reference checkpoint"  # its row on the course scoreboard


@dataclass(frozen=True)
class ReferenceRecipe:
    """How the reference GPT is made (a comment per field); chosen by the
    scaling study in ``data/README.md``."""

    n_layer: int = 6  # Transformer blocks
    n_head: int = 6  # attention heads per block (head size 32)
    n_embd: int = 192  # width of the residual stream
    block_size: int = 128  # context length (characters)
    dropout: float = 0.0  # none: ~9 passes over the data do not over-fit at this size, and dropout in
    #                       attention would forbid the fused attention kernel (1.4x slower per step)
    steps: int = 10_000  # optimiser steps (fixed: no wall-clock budget, so runs are reproducible)
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
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)

    def train_config(self, progress: bool = True) -> TrainConfig:
        """The :class:`~lm_course.train.TrainConfig` of this recipe: every
        field of the recipe that the training loop knows, by name."""
        known = TrainConfig.__dataclass_fields__
        return TrainConfig(**{k: v for k, v in asdict(self).items() if k in known},
                           progress=progress, device="cpu")


RECIPE = ReferenceRecipe()

#: The earlier, smaller reference (``data/reference_gpt_small.safetensors``), which
#: chapter 7 fine-tunes: six fine-tuning runs of the 3x larger one would take
#: chapter 7 far past its two-minute budget.
SMALL_RECIPE = ReferenceRecipe(n_layer=4, n_head=4, n_embd=128, steps=6000, lr=5e-3, warmup_steps=100,
                               weight_decay=0.01, eval_interval=250, autocast=None, threads=1)

RECIPES = {"gpt": RECIPE, "gpt-small": SMALL_RECIPE}  # python -m lm_course make-reference <name>


def train_reference(recipe: ReferenceRecipe = RECIPE, progress: bool = True
                    ) -> tuple[GPT, CharTokenizer, TrainHistory]:
    """Train the reference GPT on the training split; returns
    ``(model, tokenizer, history)``. Seeds everything from ``recipe.seed``."""
    torch.set_num_threads(recipe.threads)
    tok = corpus_tokenizer()
    train_ids = torch.tensor(tok.encode(load_shakespeare("train")))  # (N_train,)
    val_ids = torch.tensor(tok.encode(load_shakespeare("val")))  # (N_val,)
    seed_everything(recipe.seed)
    model = GPT(recipe.gpt_config(tok.vocab_size))
    history = train(model, train_ids, val_ids, recipe.train_config(progress))
    return model, tok, history


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


def _evaluate(model: GPT, tokenizer: CharTokenizer) -> dict:
    val = tokenizer.encode(load_shakespeare("val"))
    scores = {"val_prefix_chars": PREFIX_CHARS,
              "val_prefix_bpc": round(bits_per_token(model, val[:PREFIX_CHARS]), 6)}
    for split in ("val", "test"):
        start = time.perf_counter()
        scores[f"{split}_bpc"] = round(bits_per_token(model, tokenizer.encode(load_shakespeare(split))), 6)
        scores[f"{split}_eval_seconds"] = round(time.perf_counter() - start, 1)
    return scores


def make_reference(name: str = "gpt", path: str | Path | None = None, progress: bool = True) -> tuple[Path, dict]:
    """Train ``RECIPES[name]`` from scratch, save it (float16), then score the
    model *as loaded from the file* and save the record with it; returns
    ``(path, record)``. The main reference (``"gpt"``) also writes its
    scoreboard row when saved to the repository's ``data/``."""
    recipe = RECIPES[name]
    path = Path(path) if path is not None else reference_model_path(small=name == "gpt-small")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, tok, history = train_reference(recipe, progress)
    train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    record = _record(name, recipe, history, train_wall, train_cpu)
    return _save_scored(model, tok, path, record, record_score=name == "gpt")


def _record(name: str, recipe: ReferenceRecipe, history: TrainHistory, wall: float, cpu: float) -> dict:
    return {
        "recipe": asdict(recipe),
        "command": f"python -m lm_course make-reference {name}",
        "training_seconds": round(wall, 1),
        "training_cpu_seconds": round(cpu, 1),
        "final_window_val_loss_bits": round(history.val_loss[-1] / math.log(2), 4),
        "val_loss_bits_curve": {str(s): round(v / math.log(2), 4) for s, v in zip(history.eval_steps, history.val_loss)},
        "made_with": {"torch": torch.__version__, "python": platform.python_version(),
                      "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")},
    }


def _save_scored(model: GPT, tok: CharTokenizer, path: Path, record: dict, record_score: bool) -> tuple[Path, dict]:
    save_gpt(model, path, tok, record)
    loaded, tok, _ = load_gpt(path)  # the float16 weights a reader gets
    record = {**record, **_evaluate(loaded, tok)}
    save_gpt(loaded, path, tok, record)  # float16 -> float32 -> float16 is exact: same weights
    if record_score:
        from lm_course.scoreboard import record as record_row

        c, r = loaded.config, record["recipe"]
        record_row(SCOREBOARD_NAME, record["val_bpc"], record["test_bpc"], chapter=5,
                   reference=path.resolve() == reference_model_path().resolve(),
                   notes=f"{loaded.num_parameters():,} params, {c.n_layer} layers x {c.n_head} heads x {c.n_embd}, "
                         f"context {c.block_size}, {r['steps']} steps x {r['batch_size']} windows "
                         f"(python -m lm_course make-reference gpt)")
    return path, record
