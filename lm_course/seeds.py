"""Seeds: the course's one knob for the random numbers of every notebook.

Every seed a notebook sets goes through :func:`course_seed`, which adds the
environment variable ``LM_COURSE_SEED`` (an integer, default 0; the committed
notebooks use 0). So ``LM_COURSE_SEED=3 jupyter lab`` (or ``LM_COURSE_SEED=3
python tools/seed_sweep.py``) runs the whole course on another draw of every
random number: other initial weights, batches, samples. The claims a chapter
makes about a result of training or sampling must hold on every such run
(CONTRIBUTING.md, "Claims hold on every run"); chapter 0's "Check your setup"
cell prints the seed in use.

The package's own code (the recipes of the shipped checkpoints, the checkers,
the tools) passes plain integers to :func:`seed_everything`, so the shipped
files do not depend on the variable.
"""

from __future__ import annotations

import os
import random

import torch

from lm_course.validation import require_int

__all__ = ["SEED_ENV", "seed_offset", "course_seed", "seed_everything"]

#: The environment variable that shifts every seed a notebook sets.
SEED_ENV = "LM_COURSE_SEED"


def seed_offset() -> int:
    """The value of ``LM_COURSE_SEED`` (0 when unset); a clear error if it is not an integer."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be an integer (e.g. {SEED_ENV}=3), got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{SEED_ENV} must be 0 or more, got {value}")
    return value


def course_seed(seed: int = 0) -> int:
    """The seed a notebook uses for its ``seed``-th random stream: ``seed + LM_COURSE_SEED``.

    With the variable unset this is ``seed`` itself, so the committed outputs
    are those of seeds 0, 1, 2, ... as written in the cells. Different streams of
    one notebook keep different seeds on every shift (0 and 1 stay one apart).
    """
    return require_int(seed, "seed", minimum=0, type_error=True) + seed_offset()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch with ``seed`` as given; return a seeded generator.

    Notebooks call it as ``seed_everything(course_seed(0))``; the package's
    own code passes its recipes' seeds unshifted.
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
