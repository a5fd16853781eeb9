"""A small, reusable training loop for the course's neural language models.

Explained in ``02_tokens_and_embeddings.ipynb`` ("Training"; the notebook
writes the loop by hand and checks it against :func:`train`) and reused
by chapters 3 (RNNs), 5 (the Transformer) and 7 (fine-tuning).

The recipe:

* batches of ``batch_size`` random contiguous windows of ``block_size + 1``
  tokens from one long token stream; the model sees ``x = w[:-1]`` and is
  trained to predict ``y = w[1:]`` at every position (cross-entropy);
* AdamW with linear warm-up and cosine decay of the learning rate, and
  gradient-norm clipping: the schedule (:func:`cosine_lr`) and the
  parameter groups (:func:`adamw_param_groups`) are the course's only ones,
  shared with chapter 7's :func:`lm_course.finetune.fine_tune`;
* the validation loss measured every ``eval_interval`` steps on a fixed set
  of validation windows (the same windows each time, so the curve is smooth);
* a ``tqdm.auto`` progress bar with the running loss;
* optional early stopping (``patience``);
* an optional resumable state file (``state_path``): every
  ``state_interval`` steps the weights, the optimiser's moments, the step,
  both random generators and the history so far are written there, and a
  run started with an existing file carries on from it, giving the weights
  the uninterrupted run would have given (a long run can span several
  sittings; ``python -m lm_course make-reference gpt --state FILE``).

The run is fully deterministic for a given seed: same batches, same initial
weights (if the caller seeds before building the model), same numbers. A
budget is a number of steps, never of seconds (a wall-clock budget would
make the result depend on the machine and on what else it runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.fileio import atomic_write, check_writable_dir
from lm_course.interface import check_count, inference
from lm_course.validation import require_int, require_number, require_positive

__all__ = ["TrainConfig", "TrainHistory", "train", "random_windows", "lm_loss", "cosine_lr", "lr_at",
           "adamw_param_groups", "make_optimizer", "training_step"]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train` (a comment per field)."""

    steps: int = 1000  # optimiser steps: the training budget
    batch_size: int = 32  # windows per batch
    block_size: int = 64  # tokens per window (the model's input length)
    lr: float = 3e-3  # peak learning rate of AdamW
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW's moment coefficients
    warmup_steps: int = 50  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    grad_clip: float | None = 1.0  # clip the global gradient norm (None: off)
    eval_interval: int = 100  # steps between validation measurements
    eval_batches: int = 10  # batches of validation windows per measurement
    patience: int | None = None  # stop after this many evals without improvement
    seed: int = 0  # seeds the batch sampler
    progress: bool = True  # show a tqdm progress bar
    device: str | None = None  # None: the model's device
    autocast: str | None = None  # "bfloat16": mixed precision (matmuls in bf16, weights and optimiser in float32)
    state_path: str | None = None  # resumable run: the training state is saved here; an existing file resumes
    state_interval: int = 500  # steps between two saves of the training state (with state_path)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "block_size", "eval_interval", "eval_batches", "state_interval"):
            setattr(self, name, require_positive(getattr(self, name), f"TrainConfig.{name}"))
        self.warmup_steps = require_int(self.warmup_steps, "TrainConfig.warmup_steps", minimum=0)
        self.seed = require_int(self.seed, "TrainConfig.seed")
        if self.patience is not None:
            self.patience = require_positive(self.patience, "TrainConfig.patience")
        require_number(self.lr, "TrainConfig.lr", positive=True)
        require_number(self.weight_decay, "TrainConfig.weight_decay", minimum=0)
        require_number(self.min_lr_ratio, "TrainConfig.min_lr_ratio", minimum=0, maximum=1)
        if self.grad_clip is not None:
            require_number(self.grad_clip, "TrainConfig.grad_clip", positive=True)
        if self.autocast not in (None, "bfloat16", "float16"):
            raise ValueError(f"TrainConfig.autocast must be None, 'bfloat16' or 'float16', got {self.autocast!r}")


@dataclass
class TrainHistory:
    """What happened during training; :func:`lm_course.viz.plot_loss_curves`
    draws it. Losses are mean cross-entropy in nats per token."""

    steps: list[int] = field(default_factory=list)  # step of each train_loss
    train_loss: list[float] = field(default_factory=list)  # loss of each batch
    eval_steps: list[int] = field(default_factory=list)  # steps of the evaluations
    eval_train_loss: list[float] = field(default_factory=list)  # on fixed train windows
    val_loss: list[float] = field(default_factory=list)  # on fixed validation windows
    lr: list[float] = field(default_factory=list)  # learning rate at each step
    seconds: float = 0.0  # wall-clock time of the whole run (summed over sittings if resumed)
    cpu_seconds: float = 0.0  # CPU time of the training process(es), all threads
    resumed_at: list[int] = field(default_factory=list)  # steps at which a resumed run carried on
    stopped_early: str | None = None  # why training stopped before `steps`

    @property
    def best_val_loss(self) -> float:
        return min(self.val_loss) if self.val_loss else math.nan

    @property
    def best_val_bits(self) -> float:
        """Best validation loss in bits per token (loss / ln 2)."""
        return self.best_val_loss / math.log(2)


def _as_stream(ids: Sequence[int] | torch.Tensor, name: str, min_len: int) -> torch.Tensor:
    data = torch.as_tensor(ids, dtype=torch.long)
    if data.dim() != 1:
        raise ValueError(f"{name} must be a 1-D stream of token ids, got shape {tuple(data.shape)}")
    if len(data) < min_len:
        raise ValueError(f"{name} has {len(data)} tokens; a window needs at least {min_len}")
    return data


def random_windows(data: torch.Tensor, batch_size: int, block_size: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows: inputs ``x`` and next-token targets ``y``.

    Returns two ``(batch_size, block_size)`` long tensors with
    ``y[:, t] == x[:, t + 1]`` inside the stream.
    """
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size + 1)  # (T+1,)
    windows = data[starts[:, None] + offsets]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy. The model maps ``x`` (B, T) to logits
    (B, T, V), either directly or as an object with a ``.logits`` field."""
    out = model(x)
    logits = getattr(out, "logits", out)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


def cosine_lr(step: int, *, lr: float, steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The course's one learning-rate schedule, at ``step`` (0-based): a
    linear warm-up from ``lr / warmup_steps`` to ``lr`` over the first
    ``warmup_steps`` steps, then half a cosine from ``lr`` down to
    ``lr * min_lr_ratio`` at step ``steps`` (nanoGPT's ``get_lr``). Steps
    past ``steps`` stay at ``lr * min_lr_ratio``.

    >>> [round(cosine_lr(s, lr=1.0, steps=10, warmup_steps=2, min_lr_ratio=0.1), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.55, 0.1]

    Used by every training loop of the package: :func:`train` (through
    :func:`lr_at`) and :func:`lm_course.finetune.fine_tune`. Notebook
    section: ``02_tokens_and_embeddings.ipynb``, "Training" (written there
    by hand); ``07_finetuning.ipynb`` reuses it.
    """
    check_count(step, "step")
    check_count(warmup_steps, "warmup_steps")
    if check_count(steps, "steps") < 1:
        raise ValueError("steps must be an integer >= 1, got 0")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not 0 <= min_lr_ratio <= 1:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio!r}")
    if warmup_steps and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)  # 0 -> 1 over the decay
    cosine = 0.5 * (1 + math.cos(math.pi * progress))  # 1 -> 0
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * cosine)


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate :func:`train` uses at ``step`` (0-based):
    :func:`cosine_lr` with the ``lr``, ``steps``, ``warmup_steps`` and
    ``min_lr_ratio`` of ``config``.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "Training".
    """
    return cosine_lr(step, lr=config.lr, steps=config.steps, warmup_steps=config.warmup_steps,
                     min_lr_ratio=config.min_lr_ratio)


def adamw_param_groups(params: Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    """The course's one AdamW parameter grouping: the trainable parameters
    with 2 or more dimensions (weight matrices, embeddings) get
    ``weight_decay``; the others (biases, LayerNorm gains) get none. Frozen
    parameters (``requires_grad=False``) are left out, and so is a group that
    would be empty. Pass the result to ``torch.optim.AdamW``.

    Used by :func:`make_optimizer` (so by :func:`train`) and by
    :func:`lm_course.finetune.fine_tune`. Notebook section:
    ``02_tokens_and_embeddings.ipynb``, "Training".
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    trainable = [p for p in params if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """The AdamW optimiser of :func:`train`: the groups of
    :func:`adamw_param_groups` (weight decay on the matrices only), the
    ``lr`` and ``betas`` of ``config``.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "Training".
    """
    return torch.optim.AdamW(adamw_param_groups(model.parameters(), config.weight_decay),
                             lr=config.lr, betas=config.betas)


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                  grad_clip: float | None = 1.0,
                  loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] = lm_loss) -> float:
    """One optimiser step of :func:`train` on the batch ``x``, ``y`` (both
    ``(B, T)`` ids): forward, cross-entropy, clear the old gradients,
    back-propagate, clip the global gradient norm to ``grad_clip`` (``None``:
    no clipping), update. Returns the batch's loss (nats per token) as a float.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "Training" (the
    student writes it there as an exercise).
    """
    loss = loss_fn(model, x, y)  # scalar: mean cross-entropy of the batch
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {float(loss)}; lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


#: TrainConfig fields that may differ between the sittings of one resumable run
_RESUMABLE_FREELY = ("progress", "state_path", "state_interval")


def _state_config(cfg: TrainConfig) -> dict:
    return {k: v for k, v in asdict(cfg).items() if k not in _RESUMABLE_FREELY}


def _save_state(path: str | Path, step: int, cfg: TrainConfig, model: nn.Module,
                optimizer: torch.optim.Optimizer, gen: torch.Generator, history: TrainHistory,
                best: float, evals_since_best: int, running: float | None) -> None:
    """Write the whole training state at the start of ``step`` to ``path``
    (atomically: a run stopped while writing keeps the previous file)."""
    state = {"format": "lm_course training state 1", "step": step, "config": _state_config(cfg),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "batch_generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
             "history": asdict(history), "best": best, "evals_since_best": evals_since_best,
             "running": running}
    try:
        with atomic_write(path) as tmp:  # a private temporary name: two runs never share it
            torch.save(state, tmp)
    except (OSError, RuntimeError) as err:  # a full disk reaches torch.save as a RuntimeError
        raise OSError(f"could not save the training state to {path} ({err}); the previous state, if any, "
                      "is intact: free some space (or pick another --state) and run again to resume") from err


def check_state_path(path: str | Path) -> Path:
    """``path`` if a training state can be written there (its folder is
    created), else an ``OSError`` naming it: checked before training starts."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"the training state path {path} is a folder; give a file name in it, "
                                f"e.g. {path / 'state.pt'}")
    check_writable_dir(path.parent, "folder of the training state")
    return path


def _load_state(path: str | Path, cfg: TrainConfig, model: nn.Module,
                optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict:
    """Restore a state written by :func:`_save_state` into ``model``,
    ``optimizer``, ``gen`` and torch's global generator (dropout draws from
    it); returns the state. Refuses a state of another configuration."""
    import pickle

    fix = "delete it to start afresh (or give another state path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ValueError(f"the training state {path} is damaged or not a training state "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else 'empty'}); "
                         f"{fix}") from None
    if not isinstance(state, dict) or state.get("format") != "lm_course training state 1":
        raise ValueError(f"{path} is not a training state written by lm_course.train; {fix}")
    if state["config"] != _state_config(cfg):
        diff = {k: (state["config"].get(k), v) for k, v in _state_config(cfg).items() if state["config"].get(k) != v}
        raise ValueError(f"{path} holds a run of another configuration (saved, now): {diff}; "
                         "delete it to start afresh")
    try:
        model.load_state_dict(state["model"])  # raises on a shape mismatch
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise ValueError(f"the training state {path} is of another model (its weights do not fit: "
                         f"{str(err).splitlines()[-1].strip()[:160]}); {fix}") from None
    gen.set_state(state["batch_generator"])
    torch.set_rng_state(state["torch_rng"])
    return state


@torch.no_grad()
def _mean_loss(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
               loss_fn: Callable) -> float:
    with inference(model):
        losses = [float(loss_fn(model, x, y)) for x, y in batches]
    return sum(losses) / len(losses)


def train(model: nn.Module, train_ids: Sequence[int] | torch.Tensor,
          val_ids: Sequence[int] | torch.Tensor | None = None,
          config: TrainConfig | None = None,
          loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] = lm_loss,
          **overrides) -> TrainHistory:
    """Train ``model`` on a token stream; return a :class:`TrainHistory`.

    Args:
        model: maps ``(B, T)`` ids to ``(B, T, V)`` logits (see :func:`lm_loss`).
        train_ids, val_ids: 1-D token streams (lists or tensors).
        config: a :class:`TrainConfig`; keyword ``overrides`` replace its fields,
            e.g. ``train(model, ids, val, steps=500, lr=1e-3)``.
        loss_fn: ``loss_fn(model, x, y) -> scalar``; the default is next-token
            cross-entropy.
    """
    cfg = config or TrainConfig()
    if overrides:
        cfg = TrainConfig(**{**cfg.__dict__, **overrides})
    device = torch.device(cfg.device) if cfg.device else next(model.parameters()).device
    data = _as_stream(train_ids, "train_ids", cfg.block_size + 1)  # stays on the CPU
    val = _as_stream(val_ids, "val_ids", cfg.block_size + 1) if val_ids is not None else None

    gen = torch.Generator().manual_seed(cfg.seed)
    eval_gen = torch.Generator().manual_seed(cfg.seed + 1)
    def batch(stream: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = random_windows(stream, cfg.batch_size, cfg.block_size, generator)
        return x.to(device), y.to(device)

    fixed_train = [batch(data, eval_gen) for _ in range(cfg.eval_batches)]
    fixed_val = [batch(val, eval_gen) for _ in range(cfg.eval_batches)] if val is not None else []

    optimizer = make_optimizer(model, cfg)
    if cfg.autocast is not None:  # wrap the loss in autocast: forward (and so backward) in lower precision
        plain_loss_fn = loss_fn

        def loss_fn(model, x, y):  # noqa: F811 (the same loss, under autocast)
            with torch.autocast(device.type, dtype=getattr(torch, cfg.autocast)):
                return plain_loss_fn(model, x, y).float()

    history = TrainHistory()
    best, evals_since_best, running, first_step = math.inf, 0, None, 0
    if cfg.state_path is not None:
        check_state_path(cfg.state_path)  # before the first step, not at the first save
    if cfg.state_path is not None and Path(cfg.state_path).exists():  # carry on where the last sitting stopped
        state = _load_state(cfg.state_path, cfg, model, optimizer, gen)
        history = TrainHistory(**state["history"])
        best, evals_since_best, running, first_step = (state["best"], state["evals_since_best"],
                                                       state["running"], state["step"])
        history.resumed_at.append(first_step)
    start = time.perf_counter() - history.seconds  # wall and CPU time carry over from earlier sittings
    cpu_start = time.process_time() - history.cpu_seconds
    model.train()

    def evaluate(step: int) -> None:
        nonlocal best, evals_since_best
        history.eval_steps.append(step)
        history.eval_train_loss.append(_mean_loss(model, fixed_train, loss_fn))
        if fixed_val:
            v = _mean_loss(model, fixed_val, loss_fn)
            history.val_loss.append(v)
            if v < best - 1e-4:
                best, evals_since_best = v, 0
            else:
                evals_since_best += 1

    from tqdm.auto import tqdm

    bar = tqdm(range(first_step, cfg.steps), desc="training", disable=not cfg.progress, leave=True,
               initial=first_step, total=cfg.steps)
    for step in bar:
        resumed_here = step == first_step and first_step > 0  # this step's evaluation is in the saved history
        if step % cfg.eval_interval == 0 and not resumed_here:
            evaluate(step)
            if cfg.patience is not None and evals_since_best > cfg.patience:
                history.stopped_early = f"validation loss has not improved for {cfg.patience} evaluations"
                break
        if cfg.state_path is not None and step % cfg.state_interval == 0 and step > 0 and not resumed_here:
            history.seconds, history.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            _save_state(cfg.state_path, step, cfg, model, optimizer, gen, history, best, evals_since_best,
                        running)
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(data, gen)
        try:
            value = training_step(model, optimizer, x, y, cfg.grad_clip, loss_fn)
        except FloatingPointError as err:
            raise FloatingPointError(f"at step {step}: {err}") from None
        history.steps.append(step)
        history.train_loss.append(value)
        history.lr.append(lr)
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % 10 == 0:
            bar.set_postfix(loss=f"{running:.3f}", val=f"{history.val_loss[-1]:.3f}" if history.val_loss else "-")
    else:
        evaluate(cfg.steps)
    bar.close()
    model.eval()
    history.seconds, history.cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return history
