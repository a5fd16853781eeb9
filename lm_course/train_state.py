"""The resumable training state of :func:`lm_course.train.train`: one file
that holds the weights, the optimiser's moments, the step, both random
generators and the loop's bookkeeping, written atomically every
``state_interval`` steps and read back by the next sitting.

Explained with the training loop in ``02_tokens_and_embeddings.ipynb``
("7. Training"); used by ``python -m lm_course make-reference gpt --state FILE``.
The file is read with ``torch.load(weights_only=True)``: tensors and plain
data only, never a pickle of arbitrary objects.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

from lm_course.fileio import atomic_write, check_writable_dir

__all__ = ["STATE_FORMAT", "state_config", "save_state", "load_state", "check_state_path"]

STATE_FORMAT = "lm_course training state 1"
#: TrainConfig fields that may differ between the sittings of one resumable run
RESUMABLE_FREELY = ("progress", "state_path", "state_interval")


def state_config(cfg) -> dict:
    """The fields of a ``TrainConfig`` that a resumed sitting must share with the saved one."""
    return {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE_FREELY}


def save_state(path: str | Path, step: int, cfg, model: nn.Module, optimizer: torch.optim.Optimizer,
               gen: torch.Generator, loop: dict) -> None:
    """Write the whole training state at the start of ``step`` to ``path``
    (atomically: a run stopped while writing keeps the previous file).
    ``loop``: the loop's bookkeeping (``history`` as a dict, ``best``,
    ``evals_since_best``, ``running``)."""
    state = {"format": STATE_FORMAT, "step": step, "config": state_config(cfg),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "batch_generator": gen.get_state(), "torch_rng": torch.get_rng_state(), **loop}
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


def load_state(path: str | Path, cfg, model: nn.Module,
                optimizer: torch.optim.Optimizer, gen: torch.Generator) -> dict:
    """Restore a state written by :func:`save_state` into ``model``,
    ``optimizer``, ``gen`` and torch's global generator (dropout draws from
    it); returns the state. Refuses a state of another configuration."""
    fix = "delete it to start afresh (or give another state path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ValueError(f"the training state {path} is damaged or not a training state "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else 'empty'}); "
                         f"{fix}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a training state written by lm_course.train; {fix}")
    if state["config"] != state_config(cfg):
        diff = {k: (state["config"].get(k), v) for k, v in state_config(cfg).items() if state["config"].get(k) != v}
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
