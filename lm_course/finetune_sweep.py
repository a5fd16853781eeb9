"""The learning-rate sweeps of chapter 7, read: the table that
``python tools/finetune_sweep.py`` writes to ``lm_course/shipped_data/finetune_sweep.json``.

Explained in ``07_finetuning.ipynb``, "Three ways to use the same
architecture" (:func:`sweep_table`) and "The held-out test" (the seeds of
every chosen variant, :func:`load_sweep`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from lm_course.data import data_dir

__all__ = ["VARIANT_NAMES", "SWEEP_FORMAT", "load_sweep", "format_lr", "sweep_table"]

VARIANT_NAMES = {"probe": "linear probe", "full": "full fine-tuning", "scratch": "from scratch",
                 "lpft": "probe, then all", "random_probe": "converged probe, random body"}


#: The format :func:`load_sweep` reads (2: ten seeds of every variant, the two-stage recipe, the control).
SWEEP_FORMAT = "lm_course.finetune_sweep/2"


def load_sweep(path: str | None = None) -> dict:
    """The table written by ``python tools/finetune_sweep.py`` (default
    ``lm_course/shipped_data/finetune_sweep.json``): for every variant and normalisation, the
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
