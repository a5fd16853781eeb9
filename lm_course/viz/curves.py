"""Training curves (``02_tokens_and_embeddings.ipynb``, "7. Training";
reused by chapters 3, 5 and 7)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from lm_course.train import TrainHistory
from lm_course.viz._axes import label_axes, literal

__all__ = ["plot_loss_curves", "plot_scaling_study"]


def _smooth(values: list[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)  # no shrinking at the start
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


_TRAIN_CURVES = ("batches", "fixed", "both")


def plot_loss_curves(histories: TrainHistory | dict[str, TrainHistory], ax=None,
                     bits: bool = True, smooth: int = 20, title: str | None = None,
                     train_curve: str = "batches"):
    """Training and validation loss against steps.

    ``histories`` is one :class:`~lm_course.train.TrainHistory` or a dict
    ``{label: history}`` to compare runs on the same axes. With ``bits=True``
    the loss is shown in bits per token (nats / ln 2), the unit of the
    scoreboard.

    ``train_curve`` says which training loss is drawn: ``"batches"`` (the
    loss of each training batch, smoothed over ``smooth`` steps, measured
    while training, so with dropout on if the model has it), ``"fixed"``
    (``history.eval_train_loss``: fixed training windows measured at each
    evaluation in evaluation mode, exactly like the validation loss, so the
    gap between the two curves is the over-fitting gap) or ``"both"``.

    Notebook sections: ``02_tokens_and_embeddings.ipynb``, "Training" and
    "Over-fitting, and dropout".
    """
    if isinstance(histories, TrainHistory):
        histories = {"": histories}
    if not histories:
        raise ValueError("nothing to plot: no training histories given")
    if train_curve not in _TRAIN_CURVES:
        raise ValueError(f"train_curve must be one of {_TRAIN_CURVES}, got {train_curve!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    scale = 1 / math.log(2) if bits else 1.0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, h) in enumerate(histories.items()):
        colour = colours[i % len(colours)]
        prefix = f"{label}: " if label else ""
        if h.train_loss and train_curve in ("batches", "both"):
            ax.plot(h.steps, _smooth(h.train_loss, smooth) * scale, color=colour, alpha=0.45,
                    lw=1, label=f"{literal(prefix)}train (batches, smoothed)")
        if h.eval_train_loss and train_curve in ("fixed", "both"):
            ax.plot(h.eval_steps[: len(h.eval_train_loss)], np.array(h.eval_train_loss) * scale, "s--",
                    color=colour, ms=3, lw=1.4, label=f"{literal(prefix)}train (fixed windows, evaluation mode)")
        if h.val_loss:
            ax.plot(h.eval_steps[: len(h.val_loss)], np.array(h.val_loss) * scale, "o-",
                    color=colour, ms=3, lw=1.8, label=f"{literal(prefix)}validation")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("bits per token" if bits else "cross-entropy (nats per token)")
    ax.set_title(literal(title or "Training and validation loss"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_scaling_study(study: dict, ax=None, title: str | None = None):
    """Validation bits per character against training compute, one line per
    run of the reference GPT's scaling study (``lm_course/shipped_data/reference_scaling.json``,
    made by ``tools/reference_scaling.py``; the long runs' curves come from the
    shipped checkpoints' records). Compute is the usual ``6 x parameters x
    characters`` FLOPs (Kaplan et al. 2020, section 2.1). Notebook section:
    ``05_transformer.ipynb``, "The reference checkpoint"."""
    runs = study.get("runs", [])
    if not runs:
        raise ValueError("the study holds no runs")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        pts = [(c["flops"], c["val_bits"]) for c in run["curve"] if c["flops"] > 0]
        long = run.get("long", False)
        ax.plot(*zip(*pts), marker="o" if long else ".", ms=3, lw=2 if long else 1.2,
                label=f"{literal(run['name'])} ({run['parameters'] / 1e6:.2f} M parameters)")
        if long:
            ax.annotate(f"{pts[-1][1]:.3f}", pts[-1], textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    label_axes(ax, "training compute (FLOPs = 6 x parameters x characters read)",
               "validation bits per character", title or "Bigger models need more compute before they pay off",
               legend_fontsize=8)
    ax.legend(fontsize=8, loc="upper right")  # the empty corner: the curves fall to the lower right
    return ax
