"""A small, reusable training loop for the course's neural language models.

Explained in ``02_tokens_and_embeddings.ipynb`` ("Training"; the notebook
writes the loop by hand and checks it against :func:`train`) and reused
by chapters 3 (RNNs), 5 (the Transformer) and 7 (fine-tuning).

The recipe:

* batches of ``batch_size`` random contiguous windows of ``block_size + 1``
  tokens from one long token stream; the model sees ``x = w[:-1]`` and is
  trained to predict ``y = w[1:]`` at every position (cross-entropy);
* AdamW with linear warm-up and cosine decay of the learning rate, and
  gradient-norm clipping: the schedule and the parameter groups
  (:mod:`lm_course.optim`) are the course's only ones,
  shared with chapter 7's :func:`lm_course.finetune.fine_tune`;
* the validation loss measured every ``eval_interval`` steps on a fixed set
  of validation windows (the same windows each time, so the curve is smooth);
* a ``tqdm.auto`` progress bar with the running loss;
* optional early stopping (``patience``);
* an optional resumable state file (``state_path``, :mod:`lm_course.train_state`):
  every ``state_interval`` steps the weights, the optimiser's moments, the
  step, both random generators and the history so far are written there, and
  a run started with an existing file carries on from it, giving the weights
  the uninterrupted run would have given (``python -m lm_course
  make-reference gpt --state FILE``);
* the device of :func:`lm_course.device.get_device` (CUDA, then MPS, then the
  CPU) unless ``device`` names one: the model and the batches move there, the
  token streams stay on the CPU, and the model is handed back on the device it
  came from when the run ends (also on an error or Ctrl-C), so the cells after
  training use it as before. One code path on every device; only the CPU is
  tested here.

A flat loop in nanoGPT's style: batching, evaluation and the state file are
named functions; the bookkeeping is one :class:`_Run`.
The run is fully deterministic for a given seed: same batches, same initial
weights (if the caller seeds before building the model), same numbers. A
budget is a number of steps, never of seconds (a wall-clock budget would
make the result depend on the machine and on what else it runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.device import model_device, resolve_device
from lm_course.interface import inference
from lm_course.optim import adamw_param_groups, cosine_lr
from lm_course.train_state import check_state_path, load_state, save_state
from lm_course.validation import require_int, require_number, require_positive

__all__ = ["TrainConfig", "TrainHistory", "train", "random_windows", "lm_loss", "lr_at",
           "make_optimizer", "training_step"]


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
    device: str | None = None  # None: lm_course.device.get_device() (CUDA, then MPS, then the CPU)
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


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate :func:`train` uses at ``step`` (0-based):
    :func:`cosine_lr` with the ``lr``, ``steps``, ``warmup_steps`` and
    ``min_lr_ratio`` of ``config``.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "Training".
    """
    return cosine_lr(step, lr=config.lr, steps=config.steps, warmup_steps=config.warmup_steps,
                     min_lr_ratio=config.min_lr_ratio)


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


@dataclass
class _Run:
    """The loop's bookkeeping: what :func:`train` returns (``history``) and
    what a resumed sitting needs besides the weights, optimiser and generators."""

    history: TrainHistory = field(default_factory=TrainHistory)
    best: float = math.inf  # best validation loss so far (early stopping)
    evals_since_best: int = 0  # evaluations without an improvement of 1e-4
    running: float | None = None  # exponential average of the batch losses (progress bar)
    first_step: int = 0  # the step this sitting starts at (0, or where the state file stopped)
    wall0: float = 0.0  # perf_counter() at the start of the run, earlier sittings included
    cpu0: float = 0.0  # process_time() likewise

    def start_clocks(self) -> None:  # wall and CPU time carry over from earlier sittings
        self.wall0 = time.perf_counter() - self.history.seconds
        self.cpu0 = time.process_time() - self.history.cpu_seconds

    def stop_clocks(self) -> None:
        self.history.seconds = time.perf_counter() - self.wall0
        self.history.cpu_seconds = time.process_time() - self.cpu0

    def record(self, step: int, loss: float, lr: float) -> None:
        """One optimiser step's loss and learning rate."""
        self.history.steps.append(step)
        self.history.train_loss.append(loss)
        self.history.lr.append(lr)
        self.running = loss if self.running is None else 0.95 * self.running + 0.05 * loss

    def postfix(self) -> dict[str, str]:
        val = self.history.val_loss  # the progress bar's running loss and last validation loss
        return {"loss": f"{self.running:.3f}", "val": f"{val[-1]:.3f}" if val else "-"}


def _save_state(path: str | Path, step: int, cfg: TrainConfig, model: nn.Module,
                optimizer: torch.optim.Optimizer, gen: torch.Generator, run: _Run) -> None:
    """:func:`lm_course.train_state.save_state` with the loop's bookkeeping of ``run``."""
    run.stop_clocks()
    loop = {"history": asdict(run.history), "best": run.best, "evals_since_best": run.evals_since_best,
            "running": run.running}
    save_state(path, step, cfg, model, optimizer, gen, loop)


def _begin(cfg: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> _Run:
    """A fresh :class:`_Run`, or the one a state file holds (restoring the
    weights, optimiser and generators from it) when ``cfg.state_path`` exists."""
    run = _Run()
    if cfg.state_path is not None:
        check_state_path(cfg.state_path)  # before the first step, not at the first save
        if Path(cfg.state_path).exists():  # carry on where the last sitting stopped
            state = load_state(cfg.state_path, cfg, model, optimizer, gen)
            run = _Run(TrainHistory(**state["history"]), state["best"], state["evals_since_best"],
                       state["running"], state["step"])
            run.history.resumed_at.append(run.first_step)
    run.start_clocks()
    return run


def _batch(stream: torch.Tensor, cfg: TrainConfig, generator: torch.Generator,
           device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of :func:`random_windows` of ``stream``, moved to ``device``."""
    x, y = random_windows(stream, cfg.batch_size, cfg.block_size, generator)  # (B, T), (B, T)
    return x.to(device), y.to(device)


def _autocast_loss(loss_fn: Callable, device_type: str, dtype: torch.dtype,
                   model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` under autocast: forward (and so backward) in ``dtype``, the loss in float32."""
    with torch.autocast(device_type, dtype=dtype):
        return loss_fn(model, x, y).float()


@torch.no_grad()
def _mean_loss(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
               loss_fn: Callable) -> float:
    with inference(model):
        losses = [float(loss_fn(model, x, y)) for x, y in batches]
    return sum(losses) / len(losses)


def _evaluate(run: _Run, model: nn.Module, step: int, fixed_train: list, fixed_val: list,
              loss_fn: Callable) -> None:
    """Measure the loss on the fixed train and validation windows at ``step``;
    count the evaluations since the validation loss last improved by 1e-4."""
    run.history.eval_steps.append(step)
    run.history.eval_train_loss.append(_mean_loss(model, fixed_train, loss_fn))
    if fixed_val:
        v = _mean_loss(model, fixed_val, loss_fn)
        run.history.val_loss.append(v)
        if v < run.best - 1e-4:
            run.best, run.evals_since_best = v, 0
        else:
            run.evals_since_best += 1


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def train(model: nn.Module, train_ids: Sequence[int] | torch.Tensor,
          val_ids: Sequence[int] | torch.Tensor | None = None,
          config: TrainConfig | None = None,
          loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] = lm_loss,
          **overrides) -> TrainHistory:
    """Train ``model`` on a token stream; return a :class:`TrainHistory`.

    ``model`` maps ``(B, T)`` ids to ``(B, T, V)`` logits (see :func:`lm_loss`);
    it is trained on ``config.device`` (``None``: :func:`lm_course.device.get_device`,
    CUDA, then MPS, then the CPU; the GPU path is untested here), with the
    batches moved there, and handed back on the device it came from.
    ``train_ids``, ``val_ids``: 1-D token streams (lists or tensors, kept on
    the CPU). Keyword ``overrides`` replace fields of ``config``, e.g.
    ``train(model, ids, val, steps=500, lr=1e-3)``. ``loss_fn(model, x, y) ->
    scalar``; the default is next-token cross-entropy.
    """
    cfg = replace(config or TrainConfig(), **overrides)
    device, home = resolve_device(cfg.device), model_device(model)
    model.to(device)
    try:
        data = _as_stream(train_ids, "train_ids", cfg.block_size + 1)  # stays on the CPU
        val = _as_stream(val_ids, "val_ids", cfg.block_size + 1) if val_ids is not None else None
        gen = torch.Generator().manual_seed(cfg.seed)  # the training batches
        eval_gen = torch.Generator().manual_seed(cfg.seed + 1)  # the fixed evaluation windows
        fixed_train = [_batch(data, cfg, eval_gen, device) for _ in range(cfg.eval_batches)]
        fixed_val = [_batch(val, cfg, eval_gen, device) for _ in range(cfg.eval_batches)] if val is not None else []
        if cfg.autocast is not None:
            loss_fn = partial(_autocast_loss, loss_fn, device.type, getattr(torch, cfg.autocast))
        optimizer = make_optimizer(model, cfg)
        run = _begin(cfg, model, optimizer, gen)
        model.train()
        from tqdm.auto import tqdm

        bar = tqdm(range(run.first_step, cfg.steps), desc="training", disable=not cfg.progress, leave=True,
                   initial=run.first_step, total=cfg.steps)
        for step in bar:
            resumed_here = step == run.first_step > 0  # this step's evaluation and save are in the state
            if step % cfg.eval_interval == 0 and not resumed_here:
                _evaluate(run, model, step, fixed_train, fixed_val, loss_fn)
                if cfg.patience is not None and run.evals_since_best > cfg.patience:
                    run.history.stopped_early = f"validation loss has not improved for {cfg.patience} evaluations"
                    break
            if cfg.state_path is not None and step % cfg.state_interval == 0 and step > 0 and not resumed_here:
                _save_state(cfg.state_path, step, cfg, model, optimizer, gen, run)
            lr = _set_lr(optimizer, lr_at(step, cfg))
            x, y = _batch(data, cfg, gen, device)  # (B, T), (B, T)
            try:
                run.record(step, training_step(model, optimizer, x, y, cfg.grad_clip, loss_fn), lr)
            except FloatingPointError as err:
                raise FloatingPointError(f"at step {step}: {err}") from None
            if step % 10 == 0:
                bar.set_postfix(run.postfix())
        if run.history.stopped_early is None:  # the run reached its last step: a final evaluation
            _evaluate(run, model, cfg.steps, fixed_train, fixed_val, loss_fn)
        bar.close()
        model.eval()
        run.stop_clocks()
    finally:  # back where it came from, also after an error or Ctrl-C (see the module docstring)
        model.to(home)
    return run.history
