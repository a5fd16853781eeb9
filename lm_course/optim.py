"""The course's one learning-rate schedule and one AdamW parameter grouping,
shared by its two training loops (:func:`lm_course.train.train` and
:func:`lm_course.finetune.fine_tune`).

Explained in ``02_tokens_and_embeddings.ipynb`` ("Training"), where the
notebook writes both by hand; ``07_finetuning.ipynb`` reuses them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch.nn as nn

from lm_course.validation import check_count

__all__ = ["cosine_lr", "adamw_param_groups"]


def cosine_lr(step: int, *, lr: float, steps: int, warmup_steps: int, min_lr_ratio: float) -> float:
    """The course's one learning-rate schedule, at ``step`` (0-based): a
    linear warm-up from ``lr / warmup_steps`` to ``lr`` over the first
    ``warmup_steps`` steps, then half a cosine from ``lr`` down to
    ``lr * min_lr_ratio`` at step ``steps`` (nanoGPT's ``get_lr``). Steps
    past ``steps`` stay at ``lr * min_lr_ratio``.

    >>> [round(cosine_lr(s, lr=1.0, steps=10, warmup_steps=2, min_lr_ratio=0.1), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.55, 0.1]

    Used by every training loop of the package: :func:`lm_course.train.train`
    (through :func:`lm_course.train.lr_at`) and :func:`lm_course.finetune.fine_tune`. Notebook
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


def adamw_param_groups(params: Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    """The course's one AdamW parameter grouping: the trainable parameters
    with 2 or more dimensions (weight matrices, embeddings) get
    ``weight_decay``; the others (biases, LayerNorm gains) get none. Frozen
    parameters (``requires_grad=False``) are left out, and so is a group that
    would be empty. Pass the result to ``torch.optim.AdamW``.

    Used by :func:`lm_course.train.make_optimizer` (so by :func:`lm_course.train.train`) and by
    :func:`lm_course.finetune.fine_tune`. Notebook section:
    ``02_tokens_and_embeddings.ipynb``, "Training".
    """
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    trainable = [p for p in params if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
