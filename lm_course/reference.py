"""The course's reference GPT: a character-level model trained on the
Shakespeare training split for longer than a notebook can, shipped in
``data/`` so that later chapters can use a good model without training one.

Explained in ``05_transformer.ipynb`` ("The reference checkpoint"); chapters
6 and 7 load it with :func:`load_reference_model` when GPT-2's weights cannot
be had.

Make it (deterministic for a given seed, PyTorch version and thread count;
about 20-30 minutes on a 2-core laptop CPU)::

    python -m lm_course.reference            # writes data/reference_gpt.{safetensors,json}

The two files:

* ``reference_gpt.safetensors``: the weights (safetensors: no pickle, safe to
  load), stored as float16 to keep the file small, loaded back as float32.
  The language-model head is tied to the token embedding, so it is stored
  once (as ``transformer.wte.weight``).
* ``reference_gpt.json``: the :class:`~lm_course.gpt.GPTConfig`, the
  tokenizer's characters, the training recipe, the training time and the
  validation/test bits per character *of the model as loaded from the file*.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lm_course.data import data_dir
from lm_course.gpt import GPT, GPTConfig
from lm_course.tokenizers import CharTokenizer

__all__ = ["ReferenceRecipe", "RECIPE", "SCOREBOARD_NAME", "reference_paths", "train_reference",
           "save_reference", "load_reference_model", "load_reference_info", "ReferenceCheckpointError"]

SCOREBOARD_NAME = "GPT reference checkpoint"  # its row on the course scoreboard
_FORMAT = "lm_course.reference_gpt/1"
_TIED = "lm_head.weight"  # the same tensor as transformer.wte.weight: stored once


class ReferenceCheckpointError(ValueError):
    """The reference checkpoint is missing, or its files do not fit together."""


@dataclass(frozen=True)
class ReferenceRecipe:
    """How the reference GPT is made (a comment per field)."""

    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # width of the residual stream
    block_size: int = 128  # context length (characters)
    dropout: float = 0.0  # no dropout: the validation loss is checked for overfitting instead
    steps: int = 6000  # optimiser steps (fixed: no wall-clock budget, so runs are reproducible)
    batch_size: int = 32  # windows per batch
    lr: float = 5e-3  # peak learning rate (AdamW, warm-up then cosine decay)
    warmup_steps: int = 100  # linear warm-up steps
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    eval_interval: int = 250  # steps between validation-loss measurements
    seed: int = 1337  # seeds the initial weights and the batches
    threads: int = 1  # torch threads: fixed, because results depend (slightly) on it

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout)


RECIPE = ReferenceRecipe()


def reference_paths(directory: str | Path | None = None) -> tuple[Path, Path]:
    """``(weights, metadata)`` paths: ``data/reference_gpt.safetensors`` and ``.json``."""
    directory = Path(directory) if directory is not None else data_dir()
    return directory / "reference_gpt.safetensors", directory / "reference_gpt.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_reference(recipe: ReferenceRecipe = RECIPE, progress: bool = True):
    """Train the reference GPT on the training split; returns
    ``(model, tokenizer, history)``. Seeds everything from ``recipe.seed``."""
    from lm_course.data import load_shakespeare
    from lm_course.device import seed_everything
    from lm_course.tokenizers import corpus_tokenizer
    from lm_course.train import TrainConfig, train

    torch.set_num_threads(recipe.threads)
    tok = corpus_tokenizer()
    train_ids = torch.tensor(tok.encode(load_shakespeare("train")))  # (N_train,)
    val_ids = torch.tensor(tok.encode(load_shakespeare("val")))  # (N_val,)
    seed_everything(recipe.seed)
    model = GPT(recipe.gpt_config(tok.vocab_size))
    cfg = TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, block_size=recipe.block_size,
                      lr=recipe.lr, weight_decay=recipe.weight_decay, warmup_steps=recipe.warmup_steps,
                      min_lr_ratio=recipe.min_lr_ratio, eval_interval=recipe.eval_interval,
                      seed=recipe.seed, progress=progress, device="cpu")
    history = train(model, train_ids, val_ids, cfg)
    return model, tok, history


def save_reference(model: GPT, tokenizer: CharTokenizer, info: dict,
                   directory: str | Path | None = None) -> tuple[Path, Path]:
    """Write the weights (float16 safetensors) and the JSON description.
    ``info`` holds the recipe, timings and scores to record."""
    from safetensors.torch import save_file

    weights, meta = reference_paths(directory)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous()
               for k, v in model.state_dict().items() if k != _TIED}
    save_file(tensors, str(weights), metadata={"format": _FORMAT})
    blob = {
        "format": _FORMAT,
        "config": model.config.to_dict(),
        "tokenizer": {"type": "char", "chars": "".join(tokenizer.chars)},
        "parameters": model.num_parameters(),
        "weights_sha256": _sha256(weights),
        **info,
    }
    meta.write_text(json.dumps(blob, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return weights, meta


def load_reference_info(directory: str | Path | None = None) -> dict:
    """The checkpoint's JSON description (config, tokenizer, recipe, scores)."""
    weights, meta = reference_paths(directory)
    if not meta.exists() or not weights.exists():
        raise ReferenceCheckpointError(
            f"the reference checkpoint is missing ({weights.name} and {meta.name} in {weights.parent}); "
            "make it with `python -m lm_course.reference`"
        )
    info = json.loads(meta.read_text(encoding="utf-8"))
    if info.get("format") != _FORMAT:
        raise ReferenceCheckpointError(f"{meta} is not a reference-GPT description (format {info.get('format')!r})")
    return info


def load_reference_model(directory: str | Path | None = None) -> tuple[GPT, CharTokenizer]:
    """Load the course's reference GPT and its tokenizer (eval mode, float32, CPU).

    Checks that the weights file is the one the JSON describes (sha256), that
    the tokenizer fits the model, and that every tensor has the shape the
    config implies; any mismatch raises :class:`ReferenceCheckpointError`
    saying what does not fit.
    """
    from safetensors import safe_open

    weights, meta = reference_paths(directory)
    info = load_reference_info(directory)
    if info.get("weights_sha256") != _sha256(weights):
        raise ReferenceCheckpointError(
            f"{weights.name} is not the file {meta.name} describes (sha256 differs): "
            "the two files come from different runs; re-make both with `python -m lm_course.reference`"
        )
    try:
        config = GPTConfig(**info["config"])
    except (TypeError, ValueError) as err:
        raise ReferenceCheckpointError(f"{meta.name} holds an invalid GPT config: {err}") from None
    tokenizer = CharTokenizer(info["tokenizer"]["chars"])
    if tokenizer.vocab_size != config.vocab_size:
        raise ReferenceCheckpointError(
            f"the tokenizer has {tokenizer.vocab_size} characters but the model's vocab_size is {config.vocab_size}"
        )
    model = GPT(config)
    expected = {k: v for k, v in model.state_dict().items() if k != _TIED}
    with safe_open(str(weights), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ReferenceCheckpointError(
            f"the checkpoint's tensors do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    wrong = [f"{k}: file {tuple(tensors[k].shape)}, config {tuple(v.shape)}"
             for k, v in expected.items() if tensors[k].shape != v.shape]
    if wrong:
        raise ReferenceCheckpointError("checkpoint shapes do not match the config: " + "; ".join(wrong[:5]))
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)  # lm_head is tied
    model.eval()
    return model, tokenizer


PREFIX_CHARS = 20_000  # a quick check: the score on the first characters of the validation split


def _evaluate(model: GPT, tokenizer: CharTokenizer) -> dict:
    from lm_course.data import load_shakespeare
    from lm_course.evaluate import bits_per_token

    val = tokenizer.encode(load_shakespeare("val"))
    scores = {"val_prefix_chars": PREFIX_CHARS,
              "val_prefix_bpc": round(bits_per_token(model, val[:PREFIX_CHARS]), 6)}
    for split in ("val", "test"):
        start = time.perf_counter()
        scores[f"{split}_bpc"] = round(bits_per_token(model, tokenizer.encode(load_shakespeare(split))), 6)
        scores[f"{split}_eval_seconds"] = round(time.perf_counter() - start, 1)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lm_course.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="directory for the two files (default: the repository's data/)")
    parser.add_argument("--steps", type=int, default=RECIPE.steps, help="optimiser steps (default: the recipe's)")
    parser.add_argument("--no-record", action="store_true", help="do not write the scoreboard")
    args = parser.parse_args(argv)
    recipe = ReferenceRecipe(**{**asdict(RECIPE), "steps": args.steps})

    cpu0, wall0 = time.process_time(), time.perf_counter()
    model, tok, history = train_reference(recipe)
    train_wall, train_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # save first, then score the model *as loaded* (float16 weights), so the
    # documented numbers are the ones a reader gets
    save_reference(model, tok, {}, args.out)
    loaded, tok = load_reference_model(args.out)
    scores = _evaluate(loaded, tok)
    info = {
        "recipe": asdict(recipe),
        "command": "python -m lm_course.reference" + ("" if args.steps == RECIPE.steps else f" --steps {args.steps}"),
        "training_seconds": round(train_wall, 1),
        "training_cpu_seconds": round(train_cpu, 1),
        "final_window_val_loss_bits": round(history.val_loss[-1] / math.log(2), 4),
        "val_loss_bits_curve": {s: round(v / math.log(2), 4) for s, v in zip(history.eval_steps, history.val_loss)},
        **scores,
        "made_with": {"torch": torch.__version__, "python": platform.python_version(),
                      "machine": platform.machine(), "date": time.strftime("%Y-%m-%d")},
    }
    weights, meta = save_reference(loaded, tok, info, args.out)
    # the float16 -> float32 -> float16 round trip is exact: same file, same scores
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {meta}")
    print(f"training: {train_wall:.0f} s; val {scores['val_bpc']:.4f} / test {scores['test_bpc']:.4f} bits per char")
    if not args.no_record:
        from lm_course.scoreboard import record

        c = loaded.config
        record(SCOREBOARD_NAME, scores["val_bpc"], scores["test_bpc"], chapter=5, reference=args.out is None,
               notes=f"{loaded.num_parameters():,} params, {c.n_layer} layers x {c.n_head} heads x {c.n_embd}, "
                     f"context {c.block_size}, {recipe.steps} steps x {recipe.batch_size} windows "
                     f"(python -m lm_course.reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
