"""Pick the compute device: CUDA, then Apple's MPS, then the CPU.

Every notebook runs on the CPU; a GPU is used when present, never required.
Seeds live in :mod:`lm_course.seeds`.
"""

from __future__ import annotations

import torch

__all__ = ["get_device"]


def get_device() -> torch.device:
    """``cuda`` if available, else ``mps``, else ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
