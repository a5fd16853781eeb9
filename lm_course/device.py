"""Pick the compute device: CUDA, then Apple's MPS, then the CPU.

Every notebook runs on the CPU; a GPU is used when present, never required:
every trainer of the package (:func:`lm_course.train.train`, so the
char-MLP, RNN and GPT recipes and chapter 3's stateful runs, and
:func:`lm_course.finetune.fine_tune`, and chapter 4's
:func:`lm_course.toy_attention.train_toy`) moves the model and its batches to
:func:`get_device` unless told otherwise, through one code path, and hands
the model back on the device it came from (the CPU for a fresh model), so
a chapter's cells after training run unchanged on any machine. The
environment variable ``LM_COURSE_DEVICE`` (``cpu``, ``cuda``, ``mps``, ...)
overrides the choice, e.g. ``LM_COURSE_DEVICE=cpu`` to stay on the CPU on a
machine with a GPU. Only the CPU path is run by the course's tests; the
GPU path is the same code with another ``torch.device``, untested here.
Explained in ``00_welcome.ipynb`` ("Check your setup"). Seeds live in
:mod:`lm_course.seeds`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["get_device", "resolve_device", "model_device", "DEVICE_ENV"]

#: The environment variable that forces a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
DEVICE_ENV = "LM_COURSE_DEVICE"


def get_device() -> torch.device:
    """``$LM_COURSE_DEVICE`` if set, else ``cuda`` if available, else ``mps``, else ``cpu``."""
    forced = os.environ.get(DEVICE_ENV, "").strip()
    if forced:
        try:
            return torch.device(forced)
        except RuntimeError as err:
            raise ValueError(f"{DEVICE_ENV}={forced!r} is not a torch device (cpu, cuda, mps, ...)") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device a trainer uses: ``device`` if given, else :func:`get_device`.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    return get_device() if device is None else torch.device(device)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters live (the CPU for a model without any).

    >>> model_device(nn.Linear(2, 2))
    device(type='cpu')
    """
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device
