"""Fine-tuning: a pre-trained GPT with a classification head, trained and scored.

Explained in ``07_finetuning.ipynb``: "Two ways to pre-train" (the
objectives, :func:`causal_lm_targets` and :func:`masked_lm_targets`), "A head
on a pre-trained body" (:class:`GPTClassifier`), "Three ways to use the same
architecture" (:func:`make_classifier`, :func:`fine_tune`, the learning rates
chosen by ``tools/finetune_sweep.py`` and read by :func:`load_sweep`) and
"GPT-2 on the same task" (:meth:`GPTClassifier.train_last_blocks`,
:func:`prefix_states`).

Any GPT of the course's class works, of any vocabulary and width: the
reference GPT (characters, width 128) or GPT-2 (``GPT.from_pretrained``,
50,257 BPE tokens, width 768), with the matching tokenizer. **A frozen
prefix runs once.** When the embeddings and the first blocks are frozen
(a linear probe; or :meth:`GPTClassifier.train_last_blocks`, which trains
only the last blocks and the head), their output never changes, so
:func:`fine_tune` computes the residual stream entering the first trained
block once per passage (:func:`prefix_states`, in eval mode) and every step
runs only the blocks after it: for GPT-2 with its last block trained, one
block of twelve per step instead of all of them.

The data, comedy or tragedy passages split by play, is
:mod:`lm_course.genre_data`; the scores (accuracy, the paired comparison of
two classifiers) and the n-gram baseline are :mod:`lm_course.genre_eval`.
The training loop uses the course's one learning-rate schedule
and AdamW parameter grouping, :func:`lm_course.train.cosine_lr` and
:func:`lm_course.train.adamw_param_groups`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.data import data_dir
from lm_course.seeds import seed_everything
from lm_course.genre_data import CLASSES, check_labelled, encode_passage, pad_batch
from lm_course.gpt import GPT
from lm_course.interface import inference
from lm_course.train import adamw_param_groups, cosine_lr
from lm_course.validation import is_int, require_int, require_positive

__all__ = [
    "IGNORE_INDEX",
    "causal_lm_targets",
    "masked_lm_targets",
    "GPTClassifier",
    "make_classifier",
    "FineTuneConfig",
    "FineTuneHistory",
    "fine_tune",
    "pooled_features",
    "PrefixStates",
    "prefix_states",
    "predict_proba",
    "LogisticProbe",
    "fit_logistic_probe",
    "select_logistic_probe",
    "classify_text",
    "load_sweep",
    "format_lr",
    "sweep_table",
]

# --------------------------------------------------------------------------
# Two pre-training objectives
# --------------------------------------------------------------------------
IGNORE_INDEX = -100  # targets with this value add nothing to F.cross_entropy (its default ignore_index)


def causal_lm_targets(ids: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The autoregressive (GPT) training pair of one sequence: inputs
    ``ids[:-1]`` and targets ``ids[1:]``, both ``(N-1,)``: every position is a
    target, predicted from the positions before it."""
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) < 2:
        raise ValueError(f"need at least 2 tokens (one input, one target), got {len(t)}")
    return t[:-1], t[1:]


def masked_lm_targets(ids: Sequence[int] | torch.Tensor, mask_id: int, vocab_size: int, mask_prob: float = 0.15,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The masked-LM (BERT, Devlin et al. 2019) training pair of one sequence.

    Each position is chosen with probability ``mask_prob``; a chosen token is
    replaced by ``mask_id`` 80% of the time, by a random token 10%, and kept
    10%. Returns ``(inputs, targets)``, both ``(N,)``: targets hold the original
    token at chosen positions and :data:`IGNORE_INDEX` elsewhere, so only the
    chosen positions are predicted (from the whole corrupted sequence).
    """
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) == 0:
        raise ValueError("need at least one token")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob!r}")
    chosen = torch.rand(len(t), generator=generator) < mask_prob  # (N,)
    roll = torch.rand(len(t), generator=generator)  # (N,): 80% [MASK], 10% random, 10% kept
    random_ids = torch.randint(vocab_size, (len(t),), generator=generator)  # (N,)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(t, mask_id), t)  # (N,)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)  # (N,)
    targets = torch.where(chosen, t, torch.full_like(t, IGNORE_INDEX))  # (N,)
    return inputs, targets


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
class GPTClassifier(nn.Module):
    """A GPT body with a linear classification head on its final hidden state.

    ``z = pool(ln_f(h_L))``, ``logits = W norm(z) + b`` (Radford et al.
    2018 put the head on the last token). The final hidden states are the
    ``ln_f`` output, ``gpt(idx, output_hidden_states=True).hidden_states[-1]``
    (B, T, C). ``norm`` is the identity by default; with ``normalize=True``
    it is ``nn.BatchNorm1d(C, affine=False)``, which standardises each
    feature, ``(z - mu) / sqrt(var + 1e-5)``, with the batch's mean and
    (biased) variance in training and with running averages of them
    (momentum 0.1) in eval mode. Pooling:

    * ``"last"``: the state at each sequence's last real token, the only one
      whose causal attention has seen the whole passage;
    * ``"mean"``: the mean over the real (unpadded) positions; each position
      has seen a prefix, and the mean uses all of them.

    The GPT's own language-model head is still there (unused here).
    """

    def __init__(self, gpt: GPT, n_classes: int = len(CLASSES), pooling: str = "mean", dropout: float = 0.0,
                 normalize: bool = False):
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"gpt must be a lm_course.gpt.GPT, got {type(gpt).__name__}")
        n_classes = require_int(n_classes, "n_classes", minimum=2)
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.gpt, self.pooling, self.n_classes = gpt, pooling, n_classes
        # standardise each feature (batch statistics in training, running ones in eval)
        self.norm = nn.BatchNorm1d(gpt.config.n_embd, affine=False) if normalize else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(gpt.config.n_embd, n_classes)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def block_size(self) -> int:
        return self.gpt.config.block_size

    def freeze_body(self, frozen: bool = True) -> "GPTClassifier":
        """Freeze (or unfreeze) the GPT: only the head trains (a linear probe)."""
        for p in self.gpt.parameters():
            p.requires_grad_(not frozen)
        return self

    @property
    def body_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.gpt.parameters())

    def num_trainable(self) -> int:
        """Number of parameters that training will change."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def train_last_blocks(self, n_blocks: int) -> "GPTClassifier":
        """Train only the last ``n_blocks`` Transformer blocks, the final
        LayerNorm and the head; freeze the embeddings and every earlier block.
        ``0`` is the linear probe (:meth:`freeze_body`); the GPT-2 section of
        ``07_finetuning.ipynb`` trains GPT-2's last block(s) this way. The
        frozen prefix then runs once per passage (:func:`prefix_states`)."""
        n_layer = self.gpt.config.n_layer
        n_blocks = require_int(n_blocks, "n_blocks (the GPT's blocks to unfreeze)", minimum=0, maximum=n_layer)
        self.freeze_body(True)
        if n_blocks:
            for module in (*self.gpt.transformer.h[n_layer - n_blocks:], self.gpt.transformer.ln_f):
                module.requires_grad_(True)
        for p in self.head.parameters():
            p.requires_grad_(True)
        return self

    @property
    def frozen_prefix(self) -> int:
        """How many leading blocks are frozen together with the embeddings
        (0 when the embeddings or the first block train; ``n_layer`` when no
        block trains): their output is the same at every training step."""
        t = self.gpt.transformer
        if t.wte.weight.requires_grad or t.wpe.weight.requires_grad:
            return 0
        n = 0
        for block in t.h:
            if any(p.requires_grad for p in block.parameters()):
                break
            n += 1
        return n

    def _pool(self, h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Pool final hidden states ``h`` (B, T, C) of a right-padded batch to ``(B, C)``."""
        B, T, _ = h.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=h.device)  # (B,)
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"lengths must be a (B,) tensor of values in 1..{T}")
        lengths = lengths.to(h.device)
        if self.pooling == "last":
            return h[torch.arange(B, device=h.device), lengths - 1]  # (B, C)
        real = (torch.arange(T, device=h.device)[None, :] < lengths[:, None]).to(h.dtype)  # (B, T)
        return (h * real[..., None]).sum(1) / lengths[:, None].to(h.dtype)  # (B, C)

    def features(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled final hidden states ``(B, C)`` of a right-padded batch ``idx`` (B, T)."""
        # logits_to_keep=1: the LM head (50,257 x 768 for GPT-2) runs on one position, and is unused
        h = self.gpt(idx, output_hidden_states=True, logits_to_keep=1).hidden_states[-1]  # (B, T, C)
        return self._pool(h, lengths)  # (B, C)

    def hidden_before(self, idx: torch.Tensor, block: int) -> torch.Tensor:
        """The residual stream entering block ``block`` (B, T, C): the token and
        position embeddings, then blocks ``0 .. block-1`` (``block = n_layer``:
        after the last block, before ``ln_f``). The same numbers as
        ``gpt(idx, output_hidden_states=True).hidden_states[block]`` for
        ``block < n_layer``, without running the rest."""
        t, cfg = self.gpt.transformer, self.gpt.config
        self._check_block(block)
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.is_floating_point():
            raise ValueError("idx must be a (B, T) tensor of token ids")
        if not 1 <= idx.size(1) <= cfg.block_size:
            raise ValueError(f"idx has {idx.size(1)} positions; the GPT's block_size is {cfg.block_size}")
        pos = torch.arange(idx.size(1), device=idx.device)  # (T,)
        x = t.drop(t.wte(idx) + t.wpe(pos))  # (B, T, C)
        for b in t.h[:block]:
            x = b(x)[0]  # (B, T, C)
        return x

    def features_from(self, x: torch.Tensor, lengths: torch.Tensor | None, block: int) -> torch.Tensor:
        """Pooled features ``(B, C)`` from the residual stream ``x`` (B, T, C)
        entering block ``block`` (:meth:`hidden_before`, or the cached states
        of :func:`prefix_states`, right-padded): blocks ``block ..
        n_layer-1``, ``ln_f``, then the pooling. ``features_from(
        hidden_before(idx, k), lengths, k)`` equals ``features(idx, lengths)``
        for every ``k``."""
        self._check_block(block)
        if x.dim() != 3 or x.size(-1) != self.gpt.config.n_embd:
            raise ValueError(f"x must be (B, T, {self.gpt.config.n_embd}), got {tuple(x.shape)}")
        for b in self.gpt.transformer.h[block:]:
            x = b(x)[0]  # (B, T, C)
        return self._pool(self.gpt.transformer.ln_f(x), lengths)  # (B, C)

    def _check_block(self, block: int) -> None:
        n_layer = self.gpt.config.n_layer
        block = require_int(block, "block", minimum=0, maximum=n_layer)  # one of the GPT's blocks

    def classify_features(self, feats: torch.Tensor) -> torch.Tensor:
        """The head: ``(B, C)`` features to ``(B, n_classes)`` logits."""
        return self.head(self.dropout(self.norm(feats)))  # (B, K)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` for ids ``(B, T)``, right-padded to the ``lengths``."""
        return self.classify_features(self.features(idx, lengths))  # (B, K)


def make_classifier(variant: str, pretrained: GPT, n_classes: int = len(CLASSES), pooling: str = "mean",
                    seed: int = 0, dropout: float = 0.0, normalize: bool = False) -> GPTClassifier:
    """A :class:`GPTClassifier` for one of the three variants of the notebook:

    * ``"probe"``: a copy of the pre-trained GPT, frozen; only the head trains;
    * ``"full"``: a copy of the pre-trained GPT; everything trains;
    * ``"scratch"``: the same architecture with random weights (seeded); everything trains.

    ``pretrained`` itself is never modified. The head is initialised from ``seed``.
    """
    if variant not in ("probe", "full", "scratch"):
        raise ValueError(f"variant must be 'probe', 'full' or 'scratch', got {variant!r}")
    seed_everything(seed)
    body = GPT(pretrained.config) if variant == "scratch" else copy.deepcopy(pretrained)
    model = GPTClassifier(body, n_classes, pooling, dropout, normalize)
    model.freeze_body(variant == "probe")
    return model


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
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
class PrefixStates:
    """What a frozen prefix of a GPT computes for encoded passages, once
    (:func:`prefix_states`): the residual stream entering block ``block``."""

    block: int  # the first block NOT run: the states enter transformer.h[block]
    states: list[torch.Tensor]  # one (T_i, C) float32 tensor per passage, on the CPU

    def __len__(self) -> int:
        return len(self.states)


@torch.no_grad()
def prefix_states(model: GPTClassifier, seqs: Sequence[torch.Tensor], block: int | None = None,
                  batch_size: int = 64) -> PrefixStates:
    """The residual stream entering block ``block`` (default: the model's
    :attr:`~GPTClassifier.frozen_prefix`, the first block that trains) of
    each encoded passage, computed once in eval mode, kept on the CPU.
    Batched in order of length (little padding); in the order of ``seqs``.
    With a causal model a passage's states do not depend on the padding after
    it, so each is cut to its own length. :func:`fine_tune`,
    :func:`pooled_features`, :func:`predict_proba` and :func:`lm_course.genre_eval.evaluate` take
    them (``prefix=``) and run only the blocks from ``block`` on.
    ``07_finetuning.ipynb``, "GPT-2 on the same task".

    Raises ``ValueError`` when ``block`` is 0 or not a block of the GPT, or
    when there are no passages.
    """
    if not isinstance(model, GPTClassifier):
        raise TypeError(f"model must be a GPTClassifier, got {type(model).__name__}")
    block = model.frozen_prefix if block is None else block
    n_layer = model.gpt.config.n_layer
    if not is_int(block) or not 1 <= block <= n_layer:
        raise ValueError(f"block must be an integer in 1..{n_layer} (states after at least one block; "
                         f"the model's frozen prefix is {model.frozen_prefix}), got {block!r}")
    if len(seqs) == 0:
        raise ValueError("no passages to compute prefix states of")
    device = next(model.parameters()).device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    states: list[torch.Tensor | None] = [None] * len(seqs)
    with inference(model):
        for b in range(0, len(seqs), batch_size):
            pick = order[b:b + batch_size]
            idx, lengths = pad_batch([seqs[i] for i in pick])  # (B, T), (B,)
            x = model.hidden_before(idx.to(device), block).float()  # (B, T, C)
            for j, i in enumerate(pick):
                states[i] = x[j, :int(lengths[j])].to("cpu", copy=True)  # (T_i, C), its own memory
    return PrefixStates(block, states)


def _check_prefix(model: GPTClassifier, prefix: PrefixStates, seqs: Sequence[torch.Tensor], what: str) -> None:
    """``prefix`` must belong to ``seqs`` and end where the model's frozen prefix allows."""
    if not isinstance(prefix, PrefixStates):
        raise TypeError(f"{what} must be the PrefixStates of prefix_states(), got {type(prefix).__name__}")
    if len(prefix) != len(seqs) or any(len(h) != len(s) for h, s in zip(prefix.states, seqs)):
        raise ValueError(f"{what} do not match the passages (another set, or other tokens?)")
    if not 1 <= prefix.block <= model.frozen_prefix:
        raise ValueError(f"{what} enter block {prefix.block}, but the model trains block(s) before it "
                         f"(its frozen prefix is {model.frozen_prefix} blocks): recompute them")


def _pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(T_i, C)`` states with zeros into ``(B, T_max, C)``, with the lengths ``(B,)``."""
    lengths = torch.tensor([len(h) for h in states], dtype=torch.long)  # (B,)
    return nn.utils.rnn.pad_sequence(list(states), batch_first=True), lengths  # (B, T_max, C), (B,)


@torch.no_grad()
def pooled_features(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int = 64,
                    prefix: PrefixStates | None = None) -> torch.Tensor:
    """The pooled features ``(N, C)`` of encoded passages (the body in eval
    mode). Passages are batched in order of length, so little is padded; the
    result is in the order of ``seqs``. A frozen body gives the same features
    every time: compute them once and pass them to :func:`fine_tune`,
    :func:`predict_proba` or :func:`lm_course.genre_eval.evaluate`. ``prefix``: the passages'
    :func:`prefix_states`; then only the blocks after the prefix run."""
    if len(seqs) == 0:
        raise ValueError("no passages to compute features of")
    if prefix is not None:
        _check_prefix(model, prefix, seqs, "the prefix states")
    device = next(model.parameters()).device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.empty(len(seqs), model.gpt.config.n_embd)  # (N, C)
    with inference(model):
        for b in range(0, len(seqs), batch_size):
            pick = order[b:b + batch_size]
            if prefix is None:
                idx, lengths = pad_batch([seqs[i] for i in pick])  # (B, T), (B,)
                feats = model.features(idx.to(device), lengths.to(device))  # (B, C)
            else:
                x, lengths = _pad_states([prefix.states[i] for i in pick])  # (B, T, C), (B,)
                feats = model.features_from(x.to(device), lengths.to(device), prefix.block)  # (B, C)
            out[pick] = feats.float().cpu()  # (B, C)
    return out



@torch.no_grad()
def predict_proba(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int = 64,
                  features: torch.Tensor | None = None, prefix: PrefixStates | None = None) -> torch.Tensor:
    """Class probabilities ``(N, n_classes)`` for encoded passages (eval mode).

    ``features``: the pooled features of ``seqs`` if already computed
    (a frozen body gives the same features every time); ``prefix``: their
    :func:`prefix_states` (only the blocks after the prefix run)."""
    device = next(model.parameters()).device
    if features is not None and prefix is not None:
        raise ValueError("pass features or prefix, not both")
    with inference(model):
        feats = pooled_features(model, seqs, batch_size, prefix) if features is None else features  # (N, C)
        probs = torch.softmax(model.classify_features(feats.to(device)).float(), dim=-1).cpu()  # (N, K)
    return probs


def fine_tune(model: GPTClassifier, train_seqs: Sequence[torch.Tensor], train_labels: Sequence[int],
              val_seqs: Sequence[torch.Tensor] | None = None, val_labels: Sequence[int] | None = None,
              config: FineTuneConfig | None = None, train_features: torch.Tensor | None = None,
              val_features: torch.Tensor | None = None, train_prefix: PrefixStates | None = None,
              val_prefix: PrefixStates | None = None, **overrides) -> FineTuneHistory:
    """Train ``model`` (its trainable parameters) to classify encoded passages.

    Batches of ``batch_size`` passages are drawn in shuffled epochs (seeded);
    the loss is cross-entropy; AdamW with warm-up and cosine decay; validation
    accuracy every ``eval_interval`` steps and at the end. ``overrides``
    replace fields of ``config`` (``fine_tune(m, x, y, steps=50)``).

    When the body is frozen (a linear probe, :meth:`GPTClassifier.freeze_body`)
    its features never change, so they are computed once and the loop trains
    only the head on them: the same result as running the body at every step,
    at a fraction of the cost. ``train_features`` / ``val_features``: those
    features, already computed by :func:`pooled_features` (e.g. shared by two
    probes); only for a frozen body.

    The same holds for a frozen *prefix*: when the embeddings and the first
    blocks are frozen (:meth:`GPTClassifier.train_last_blocks`), the residual
    stream entering the first trained block is computed once per passage
    (:func:`prefix_states`) and each step runs only the blocks from there on;
    ``train_prefix`` / ``val_prefix``: those states, already computed (e.g.
    shared by a probe and the model that then trains its last block). The
    frozen blocks run in eval mode (no dropout), as the probe's features do.

    With ``restore_best=True`` the model ends with the parameters of the
    evaluation with the lowest validation cross-entropy (the earliest of
    ties): early stopping on the validation set. (The loss, not the
    accuracy: on a few hundred passages the accuracy of successive
    evaluations jumps by a few points by chance, and keeping its maximum
    would pick a lucky checkpoint.)
    """
    cfg = config or FineTuneConfig()
    if overrides:
        cfg = FineTuneConfig(**{**cfg.__dict__, **overrides})
    if not isinstance(model, GPTClassifier):
        raise TypeError(f"model must be a GPTClassifier, got {type(model).__name__}")
    y_train = check_labelled(train_seqs, train_labels, model.n_classes, model.block_size, "the training set")
    has_val = val_seqs is not None
    if has_val:
        if val_labels is None:
            raise ValueError("val_labels are needed with val_seqs")
        y_val = check_labelled(val_seqs, val_labels, model.n_classes, model.block_size, "the validation set")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    device = next(model.parameters()).device
    frozen = model.body_frozen
    if not frozen and (train_features is not None or val_features is not None):
        raise ValueError("train_features / val_features are only for a frozen body (a linear probe)")
    if (train_features is not None and train_prefix is not None) or (val_features is not None
                                                                     and val_prefix is not None):
        raise ValueError("pass the features or the prefix states of a set, not both")
    if val_prefix is not None and not has_val:
        raise ValueError("val_prefix needs val_seqs")
    if cfg.restore_best and not has_val:
        raise ValueError("restore_best needs a validation set")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for what, prefix, seqs in (("train_prefix", train_prefix, train_seqs), ("val_prefix", val_prefix, val_seqs)):
        if prefix is not None:
            _check_prefix(model, prefix, seqs, what)
    # a frozen prefix (not the whole body): its output once per passage, then only the blocks after it
    cached = not frozen and model.frozen_prefix >= 1
    if cached:
        if train_prefix is None:
            train_prefix = prefix_states(model, train_seqs, batch_size=cfg.eval_batch_size)
        if has_val and val_prefix is None:
            val_prefix = prefix_states(model, val_seqs, batch_size=cfg.eval_batch_size)
    train_feats = val_feats = None
    if frozen:
        train_feats = (pooled_features(model, train_seqs, cfg.eval_batch_size, train_prefix)
                       if train_features is None else train_features).to(device)  # (N, C)
        if has_val:
            val_feats = (pooled_features(model, val_seqs, cfg.eval_batch_size, val_prefix)
                         if val_features is None else val_features)  # (N_val, C)
        for what, feats, n in (("train_features", train_feats, len(train_seqs)),
                               ("val_features", val_feats, len(val_seqs) if has_val else 0)):
            if feats is not None and tuple(feats.shape) != (n, model.gpt.config.n_embd):
                raise ValueError(f"{what} must be ({n}, {model.gpt.config.n_embd}), got {tuple(feats.shape)}")

    # the course's parameter groups; torch's default betas (0.9, 0.999), as chapter 7 always used
    optimizer = torch.optim.AdamW(adamw_param_groups(params, cfg.weight_decay), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout
    history = FineTuneHistory(trainable_parameters=sum(p.numel() for p in params))
    best_state: dict[str, torch.Tensor] | None = None

    def evaluate_now(step: int) -> None:
        nonlocal best_state
        probs = predict_proba(model, val_seqs, cfg.eval_batch_size, val_feats,
                              val_prefix if cached else None)  # (N_val, K)
        history.eval_steps.append(step)
        history.val_loss.append(float(F.nll_loss(probs.clamp_min(1e-12).log(), y_val)))
        history.val_acc.append(float((probs.argmax(-1) == y_val).float().mean()))
        if cfg.restore_best and history.val_loss[-1] < min(history.val_loss[:-1], default=math.inf):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.best_step = step

    from tqdm.auto import tqdm

    order = torch.randperm(len(train_seqs), generator=gen)  # (N,)
    cursor = 0
    bar = tqdm(range(cfg.steps), desc=cfg.desc, disable=not cfg.progress, leave=True)
    for step in bar:
        if has_val and step % cfg.eval_interval == 0:
            evaluate_now(step)
        if cursor + cfg.batch_size > len(order):  # a new epoch
            order, cursor = torch.randperm(len(train_seqs), generator=gen), 0
        pick = order[cursor:cursor + cfg.batch_size]  # (B,)
        cursor += cfg.batch_size
        model.train()
        if frozen:
            logits = model.classify_features(train_feats[pick])  # (B, K)
        elif cached:  # only the trained blocks run
            x, lengths = _pad_states([train_prefix.states[i] for i in pick.tolist()])  # (B, T, C), (B,)
            feats = model.features_from(x.to(device), lengths.to(device), train_prefix.block)  # (B, C)
            logits = model.classify_features(feats)  # (B, K)
        else:
            idx, lengths = pad_batch([train_seqs[i] for i in pick.tolist()])  # (B, T), (B,)
            logits = model(idx.to(device), lengths.to(device))  # (B, K)
        target = y_train[pick].to(device)  # (B,)
        loss = F.cross_entropy(logits, target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {float(loss)} at step {step}; lower the learning rate")
        lr = cosine_lr(step, lr=cfg.lr, steps=cfg.steps, warmup_steps=cfg.warmup_steps,
                       min_lr_ratio=cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        history.steps.append(step)
        history.train_loss.append(loss.item())
        history.train_acc.append(float((logits.argmax(-1) == target).float().mean()))
        if step % 10 == 0 and history.val_acc:
            bar.set_postfix(loss=f"{loss.item():.3f}", val_acc=f"{history.val_acc[-1]:.3f}")
    if has_val:
        evaluate_now(cfg.steps)
    if best_state is not None:
        model.load_state_dict(best_state)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - wall0
    history.cpu_seconds = time.process_time() - cpu0
    return history


# --------------------------------------------------------------------------
# A probe fitted to convergence (the control of "Three ways to use the same architecture")
# --------------------------------------------------------------------------
@dataclass
class LogisticProbe:
    """An L2-regularised logistic regression on standardised features, fitted
    to convergence by :func:`fit_logistic_probe` (no seed, no schedule)."""

    mean: torch.Tensor  # (C,) the training features' mean
    std: torch.Tensor  # (C,) their standard deviation (1 where a feature is constant)
    weight: torch.Tensor  # (K, C)
    bias: torch.Tensor  # (K,)
    l2: float  # the penalty's strength
    converged: bool  # L-BFGS stopped on its tolerance, not on its iteration limit

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` class logits (float64) for ``(N, C)`` features."""
        z = (feats.double() - self.mean) / self.std  # (N, C)
        return z @ self.weight.T + self.bias  # (N, K)

    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N,)`` the most probable class."""
        return self.logits(feats).argmax(-1)


def fit_logistic_probe(feats: torch.Tensor, labels: Sequence[int] | torch.Tensor, l2: float,
                       n_classes: int = len(CLASSES), max_iter: int = 2000) -> LogisticProbe:
    """A linear probe fitted to convergence: multinomial logistic regression on
    the features ``(N, C)`` standardised with their own mean and standard
    deviation, minimising ``mean cross-entropy + l2/2 * ||W||^2`` (the bias is
    not penalised) with L-BFGS in float64. The objective is convex, so the
    result does not depend on a seed or a learning rate, unlike a probe
    trained by a few SGD steps. ``07_finetuning.ipynb``, "Three ways to use
    the same architecture" (the control on a randomly initialised body)."""
    x = torch.as_tensor(feats).double()  # (N, C)
    y = torch.as_tensor(labels, dtype=torch.long).flatten()  # (N,)
    if x.dim() != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need (N, C) features and N labels, got {tuple(x.shape)} and {len(y)}")
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0, got {l2!r}")
    mean, std = x.mean(0), x.std(0)  # (C,), (C,)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z = (x - mean) / std  # (N, C)
    w = torch.zeros(n_classes, x.size(1), dtype=torch.float64, requires_grad=True)  # (K, C)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)  # (K,)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = opt.state[opt._params[0]].get("n_iter", 0)
    return LogisticProbe(mean, std, w.detach(), b.detach(), float(l2), n_iter < max_iter)


#: The L2 strengths :func:`select_logistic_probe` starts from (powers of ten).
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def select_logistic_probe(train_feats: torch.Tensor, train_labels: Sequence[int], val_feats: torch.Tensor,
                          val_labels: Sequence[int], grid: Sequence[float] = L2_GRID,
                          max_widen: int = 4) -> tuple[LogisticProbe, dict[float, dict[str, float]]]:
    """:func:`fit_logistic_probe` with its L2 strength chosen on validation,
    as ``tools/finetune_sweep.py`` chooses a learning rate: the highest
    validation accuracy, ties to the lower validation cross-entropy, and the
    grid (powers of ten) widened one power at a time, at most ``max_widen``
    on either side, until the best strength is strictly inside it. Returns
    the chosen probe and ``{l2: {"val_acc", "val_loss"}}`` for every strength
    tried."""
    y_val = torch.as_tensor(val_labels, dtype=torch.long)
    fits: dict[float, LogisticProbe] = {}
    runs: dict[float, dict[str, float]] = {}
    todo, lo, hi = [float(x) for x in grid], 0, 0
    while True:
        for l2 in todo:
            fits[l2] = fit_logistic_probe(train_feats, train_labels, l2)
            logits = fits[l2].logits(val_feats)  # (N_val, K)
            runs[l2] = {"val_acc": (logits.argmax(-1) == y_val).double().mean().item(),
                        "val_loss": F.cross_entropy(logits, y_val).item()}
        ordered = sorted(runs)
        best = max(runs, key=lambda x: (runs[x]["val_acc"], -runs[x]["val_loss"]))
        if best == ordered[0] and lo < max_widen:
            todo, lo = [float(f"{ordered[0] / 10:g}")], lo + 1
        elif best == ordered[-1] and hi < max_widen:
            todo, hi = [float(f"{ordered[-1] * 10:g}")], hi + 1
        else:
            return fits[best], {x: runs[x] for x in sorted(runs)}


def classify_text(model: GPTClassifier, tokenizer, text: str, crop: bool = True,
                  classes: Sequence[str] = CLASSES) -> dict[str, float]:
    """``{class: probability}`` for one text (see :func:`encode_passage` for
    what happens to empty, unknown or too long input)."""
    if len(classes) != model.n_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.n_classes} classes")
    ids = encode_passage(tokenizer, text, model.block_size, crop)  # (T,)
    probs = predict_proba(model, [ids])[0]  # (K,)
    return {c: float(p) for c, p in zip(classes, probs)}


# --------------------------------------------------------------------------
# The learning-rate sweeps (tools/finetune_sweep.py)
# --------------------------------------------------------------------------
VARIANT_NAMES = {"probe": "linear probe", "full": "full fine-tuning", "scratch": "from scratch",
                 "lpft": "probe, then all", "random_probe": "converged probe, random body"}


#: The format :func:`load_sweep` reads (2: ten seeds of every variant, the two-stage recipe, the control).
SWEEP_FORMAT = "lm_course.finetune_sweep/2"


def load_sweep(path: str | None = None) -> dict:
    """The table written by ``python tools/finetune_sweep.py`` (default
    ``data/finetune_sweep.json``): for every variant and normalisation, the
    validation accuracy at each learning rate of the widened grid and the
    chosen rate; the two-stage recipe's second-stage rate; the converged
    probe (the control); the n-gram baseline; and every chosen variant over
    the training seeds, each with its test accuracy, per play and per class,
    and its per-passage correctness. ``07_finetuning.ipynb``, "Three ways to
    use the same architecture" and "The held-out test"."""
    path = Path(path) if path is not None else data_dir() / "finetune_sweep.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with `python tools/finetune_sweep.py`")
    sweep = json.loads(path.read_text(encoding="utf-8"))
    if sweep.get("format") != SWEEP_FORMAT:
        raise ValueError(f"{path} is not a fine-tuning sweep (format {sweep.get('format')!r})")
    if sweep.get("quick"):
        raise ValueError(f"{path} holds a --quick smoke test, not the sweep; re-run tools/finetune_sweep.py")
    return sweep


def format_lr(lr: float) -> str:
    """A learning rate the short way: ``3e-4``, ``1e-2``."""
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def sweep_table(sweep: dict) -> str:
    """The sweep as text: one line per variant and normalisation, the final
    validation accuracy (%) at each peak learning rate it tried (one column
    per rate), the chosen one in brackets, and ``*`` on the normalisation
    each variant keeps; then, when the sweep has it, a line for the second
    stage of the two-stage recipe (its rate is the body's, after the chosen
    probe)."""
    rows = [(VARIANT_NAMES[v], norm, e[norm], e["chosen_normalization"] == norm)
            for v, e in sweep["variants"].items() for norm in ("none", "batchnorm")]
    if "lpft" in sweep:
        rows.append((VARIANT_NAMES["lpft"], sweep["lpft"]["probe_normalization"], sweep["lpft"], True))
    rates = sorted({float(lr) for _, _, row, _ in rows for lr in row["runs"]})
    lines = [f"{'':28}" + "".join(f"{format_lr(lr):>7} " for lr in rates).rstrip()]
    for name, norm, row, kept in rows:
        runs = {float(lr): run for lr, run in row["runs"].items()}
        cells = []
        for lr in rates:
            if lr not in runs:
                cells.append(" " * 8)
                continue
            acc = f"{100 * runs[lr]['val_acc']:.1f}"
            cells.append(f"{'[' + acc + ']':>8}" if math.isclose(lr, row["chosen_lr"]) else f"{acc:>7} ")
        inside = "" if row["optimum_inside_grid"] else "  (optimum at the edge!)"
        lines.append(f"{name:17} {norm:9}{'*' if kept else ' '}" + "".join(cells).rstrip() + inside)
    return "\n".join(lines)
