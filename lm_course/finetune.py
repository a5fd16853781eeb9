"""Fine-tuning a :class:`~lm_course.classifier.GPTClassifier`: the training loop.

Explained in ``07_finetuning.ipynb``, "Three ways to use the same
architecture" (the linear probe, full fine-tuning and training from
scratch, each with :func:`fine_tune`) and "GPT-2 on the same task" (its last
blocks trained on a frozen prefix).

The loop is :func:`lm_course.train.train`'s, for classes instead of next
tokens: the same optimiser step (:func:`lm_course.train.training_step`, with
a classification ``loss_fn``), learning-rate schedule
(:func:`lm_course.optim.cosine_lr`) and AdamW grouping
(:func:`lm_course.optim.adamw_param_groups`); batches of passages drawn in
shuffled epochs (seeded); the validation accuracy every ``eval_interval``
steps and at the end; the device of :func:`lm_course.device.get_device`
unless ``device`` names one, the model handed back on the device it came
from (one code path; only the CPU is tested here).

**What is frozen is computed once.** When the body is frozen (a linear
probe, :meth:`~lm_course.classifier.GPTClassifier.freeze_body`) its pooled
features never change, so they are computed once
(:func:`~lm_course.classifier.pooled_features`, or passed in as
``train_features`` / ``val_features``, e.g. shared by two probes) and the
loop trains only the head on them: the same result as running the body at
every step. When the embeddings and the first blocks are frozen
(:meth:`~lm_course.classifier.GPTClassifier.train_last_blocks`), the residual
stream entering the first trained block is computed once per passage
(:func:`~lm_course.classifier.prefix_states`, or passed in as
``train_prefix`` / ``val_prefix``) and each step runs only the blocks from
there on; the frozen blocks run in eval mode (no dropout), as the probe's
features do.

**Early stopping.** With ``restore_best=True`` the model ends with the
parameters of the evaluation with the lowest validation cross-entropy (the
earliest of ties). The loss, not the accuracy: on a few hundred passages the
accuracy of successive evaluations jumps by a few points by chance, and
keeping its maximum would pick a lucky checkpoint.

The rest of chapter 7 is in :mod:`lm_course.objectives` (the pre-training
objectives), :mod:`lm_course.classifier` (the model and what its frozen parts
compute), :mod:`lm_course.logistic_probe` (the converged probe),
:mod:`lm_course.finetune_sweep` (the learning-rate sweeps, read),
:mod:`lm_course.genre_data` (the passages) and :mod:`lm_course.genre_eval`
(the scores).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from lm_course.classifier import GPTClassifier, PrefixStates, check_prefix, pad_states, pooled_features, \
    predict_proba, prefix_states
from lm_course.device import model_device, resolve_device
from lm_course.genre_data import check_labelled, pad_batch
from lm_course.optim import adamw_param_groups, cosine_lr
from lm_course.train import training_step
from lm_course.validation import require_positive

__all__ = ["FineTuneConfig", "FineTuneHistory", "fine_tune"]



@dataclass
class FineTuneConfig:
    """Hyper-parameters of :func:`fine_tune` (a comment per field)."""

    steps: int = 150  # optimiser steps: the same budget for every variant
    batch_size: int = 16  # passages per batch
    lr: float = 3e-4  # peak learning rate of AdamW (every trainable parameter)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (matrices only)
    warmup_steps: int = 15  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    grad_clip: float | None = 1.0  # clip the global gradient norm (None: off)
    eval_interval: int = 25  # steps between validation measurements
    eval_batch_size: int = 64  # passages per forward pass when evaluating
    seed: int = 0  # seeds the batch order (and dropout)
    restore_best: bool = False  # early stopping: end with the parameters of the lowest validation loss
    progress: bool = True  # show a tqdm progress bar
    desc: str = "fine-tuning"  # the progress bar's label
    device: str | None = None  # None: lm_course.device.get_device() (CUDA, then MPS, then the CPU)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_interval", "eval_batch_size"):
            value = getattr(self, name)
            require_positive(value, f"FineTuneConfig.{name}")
        if not self.lr > 0:
            raise ValueError(f"FineTuneConfig.lr must be > 0, got {self.lr!r}")
        if self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("FineTuneConfig needs warmup_steps >= 0 and 0 <= min_lr_ratio <= 1")


@dataclass
class FineTuneHistory:
    """What happened during :func:`fine_tune`; :func:`lm_course.viz.plot_accuracy_curves` draws it."""

    steps: list[int] = field(default_factory=list)  # step of each training batch
    train_loss: list[float] = field(default_factory=list)  # cross-entropy of each batch (nats)
    train_acc: list[float] = field(default_factory=list)  # accuracy on each batch
    eval_steps: list[int] = field(default_factory=list)  # steps of the evaluations
    val_loss: list[float] = field(default_factory=list)  # validation cross-entropy (nats)
    val_acc: list[float] = field(default_factory=list)  # validation accuracy
    trainable_parameters: int = 0  # parameters the optimiser changed
    best_step: int | None = None  # with restore_best: the step whose parameters the model ends with
    seconds: float = 0.0  # wall-clock time
    cpu_seconds: float = 0.0  # CPU time of this process (all threads)

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else math.nan


@dataclass
class _Batch:
    """One batch as the classifier reads it: pooled features, prefix states or ids."""

    feats: torch.Tensor | None = None  # (B, C) pooled features of a frozen body
    states: torch.Tensor | None = None  # (B, T, C) residual stream entering block `block`
    idx: torch.Tensor | None = None  # (B, T) right-padded token ids
    lengths: torch.Tensor | None = None  # (B,) real lengths (states and ids)
    block: int = 0  # the first block the states enter


def _logits(model: GPTClassifier, b: _Batch) -> torch.Tensor:
    """``(B, K)`` class logits, running only what is not computed yet."""
    if b.feats is not None:
        return model.classify_features(b.feats)  # (B, K): the head only
    if b.states is not None:  # only the trained blocks run
        return model.classify_features(model.features_from(b.states, b.lengths, b.block))  # (B, K)
    return model(b.idx, b.lengths)  # (B, K)


class _ClassifierLoss:
    """The ``loss_fn`` of :func:`lm_course.train.training_step` for a classifier:
    the cross-entropy of the class logits; keeps the batch's logits for its accuracy."""

    logits: torch.Tensor | None = None  # (B, K) of the last call

    def __call__(self, model: GPTClassifier, batch: _Batch, target: torch.Tensor) -> torch.Tensor:
        self.logits = _logits(model, batch)  # (B, K)
        return F.cross_entropy(self.logits, target)


@dataclass
class _Set:
    """One labelled set as the loop reads it, with what its frozen part computes, once."""

    seqs: Sequence[torch.Tensor]  # the encoded passages
    y: torch.Tensor  # (N,) their labels
    features: torch.Tensor | None = None  # (N, C) pooled features (a frozen body)
    prefix: PrefixStates | None = None  # the states entering the first trained block (a frozen prefix)

    def batch(self, pick: torch.Tensor, device: torch.device) -> tuple[_Batch, torch.Tensor]:
        """The passages ``pick`` (B,) on ``device``, and their labels (B,)."""
        if self.features is not None:
            b = _Batch(feats=self.features[pick])  # (B, C)
        elif self.prefix is not None:
            x, lengths = pad_states([self.prefix.states[i] for i in pick.tolist()])  # (B, T, C), (B,)
            b = _Batch(states=x.to(device), lengths=lengths.to(device), block=self.prefix.block)
        else:
            idx, lengths = pad_batch([self.seqs[i] for i in pick.tolist()])  # (B, T), (B,)
            b = _Batch(idx=idx.to(device), lengths=lengths.to(device))
        return b, self.y[pick].to(device)


def _check_inputs(model: GPTClassifier, cfg: FineTuneConfig, has_val: bool, val_labels, features: tuple,
                  prefixes: tuple) -> None:
    """Refuse what :func:`fine_tune` cannot use, before any work."""
    if not isinstance(model, GPTClassifier):
        raise TypeError(f"model must be a GPTClassifier, got {type(model).__name__}")
    if has_val and val_labels is None:
        raise ValueError("val_labels are needed with val_seqs")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameters")
    if not model.body_frozen and any(f is not None for f in features):
        raise ValueError("train_features / val_features are only for a frozen body (a linear probe)")
    if any(f is not None and p is not None for f, p in zip(features, prefixes)):
        raise ValueError("pass the features or the prefix states of a set, not both")
    if prefixes[1] is not None and not has_val:
        raise ValueError("val_prefix needs val_seqs")
    if cfg.restore_best and not has_val:
        raise ValueError("restore_best needs a validation set")


def _prepare(model: GPTClassifier, cfg: FineTuneConfig, seqs: Sequence[torch.Tensor], labels: Sequence[int],
             name: str, features: torch.Tensor | None, prefix: PrefixStates | None, device: torch.device) -> _Set:
    """One set (``name``: "train" or "val"): its labels checked, and its frozen
    part's output computed once (pooled features for a frozen body, prefix
    states for a frozen prefix)."""
    y = check_labelled(seqs, labels, model.n_classes, model.block_size,
                       "the training set" if name == "train" else "the validation set")
    if prefix is not None:
        check_prefix(model, prefix, seqs, f"{name}_prefix")
    if model.body_frozen:
        feats = pooled_features(model, seqs, cfg.eval_batch_size, prefix) if features is None else features  # (N, C)
        if tuple(feats.shape) != (len(seqs), model.gpt.config.n_embd):
            raise ValueError(f"{name}_features must be ({len(seqs)}, {model.gpt.config.n_embd}), "
                             f"got {tuple(feats.shape)}")
        return _Set(seqs, y, features=feats.to(device) if name == "train" else feats)
    if model.frozen_prefix >= 1:  # a frozen prefix (not the whole body): its output once per passage
        return _Set(seqs, y, prefix=prefix or prefix_states(model, seqs, batch_size=cfg.eval_batch_size))
    return _Set(seqs, y)


def _validate(model: GPTClassifier, val: _Set, cfg: FineTuneConfig, history: FineTuneHistory, step: int,
              best: dict | None) -> dict | None:
    """Score the validation set at ``step``. Returns the parameters to end
    with (``restore_best``): a copy of them now if this loss is the lowest so
    far, else ``best``."""
    probs = predict_proba(model, val.seqs, cfg.eval_batch_size, val.features, val.prefix)  # (N_val, K)
    history.eval_steps.append(step)
    history.val_loss.append(float(F.nll_loss(probs.clamp_min(1e-12).log(), val.y)))
    history.val_acc.append(float((probs.argmax(-1) == val.y).float().mean()))
    if cfg.restore_best and history.val_loss[-1] < min(history.val_loss[:-1], default=math.inf):
        history.best_step = step
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    return best


def _next_pick(order: torch.Tensor, cursor: int, batch_size: int,
               gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The next ``batch_size`` passages of a shuffled epoch (a new epoch when too few are left):
    ``(pick, order, cursor)``."""
    if cursor + batch_size > len(order):  # a new epoch
        order, cursor = torch.randperm(len(order), generator=gen), 0
    return order[cursor:cursor + batch_size], order, cursor + batch_size


def _set_lr(optimizer: torch.optim.Optimizer, step: int, cfg: FineTuneConfig) -> None:
    lr = cosine_lr(step, lr=cfg.lr, steps=cfg.steps, warmup_steps=cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr


def fine_tune(model: GPTClassifier, train_seqs: Sequence[torch.Tensor], train_labels: Sequence[int],
              val_seqs: Sequence[torch.Tensor] | None = None, val_labels: Sequence[int] | None = None,
              config: FineTuneConfig | None = None, train_features: torch.Tensor | None = None,
              val_features: torch.Tensor | None = None, train_prefix: PrefixStates | None = None,
              val_prefix: PrefixStates | None = None, **overrides) -> FineTuneHistory:
    """Train ``model`` (its trainable parameters) to classify encoded passages;
    return a :class:`FineTuneHistory`. ``overrides`` replace fields of
    ``config`` (``fine_tune(m, x, y, steps=50)``); ``train_features`` ...
    ``val_prefix``: what a frozen body or prefix computes, already computed
    (see the module docstring, which also explains ``restore_best``)."""
    cfg = replace(config or FineTuneConfig(), **overrides)
    _check_inputs(model, cfg, val_seqs is not None, val_labels, (train_features, val_features),
                  (train_prefix, val_prefix))
    device, home = resolve_device(cfg.device), model_device(model)
    model.to(device)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        train = _prepare(model, cfg, train_seqs, train_labels, "train", train_features, train_prefix, device)
        val = None if val_seqs is None else _prepare(model, cfg, val_seqs, val_labels, "val", val_features, val_prefix,
                                                     device)
        params = [p for p in model.parameters() if p.requires_grad]
        # the course's parameter groups; torch's default betas (0.9, 0.999), as chapter 7 always used
        optimizer = torch.optim.AdamW(adamw_param_groups(params, cfg.weight_decay), lr=cfg.lr)
        gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed)  # dropout
        history = FineTuneHistory(trainable_parameters=sum(p.numel() for p in params))
        best_state, loss_fn = None, _ClassifierLoss()
        from tqdm.auto import tqdm

        order, cursor = torch.randperm(len(train_seqs), generator=gen), 0  # (N,)
        bar = tqdm(range(cfg.steps), desc=cfg.desc, disable=not cfg.progress, leave=True)
        for step in bar:
            if val is not None and step % cfg.eval_interval == 0:
                best_state = _validate(model, val, cfg, history, step, best_state)
            pick, order, cursor = _next_pick(order, cursor, cfg.batch_size, gen)  # (B,)
            model.train()
            _set_lr(optimizer, step, cfg)
            batch, target = train.batch(pick, device)  # target: (B,)
            try:
                loss = training_step(model, optimizer, batch, target, cfg.grad_clip, loss_fn)
            except FloatingPointError as err:
                raise FloatingPointError(f"at step {step}: {err}") from None
            history.steps.append(step)
            history.train_loss.append(loss)
            history.train_acc.append(float((loss_fn.logits.argmax(-1) == target).float().mean()))
            if step % 10 == 0 and history.val_acc:
                bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{history.val_acc[-1]:.3f}")
        if val is not None:
            best_state = _validate(model, val, cfg, history, cfg.steps, best_state)
        if best_state is not None:
            model.load_state_dict(best_state)
        bar.close()
        model.eval()
        history.seconds, history.cpu_seconds = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:  # back where it came from, also after an error or Ctrl-C, as train() does
        model.to(home)
    return history
