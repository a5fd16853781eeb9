"""Training curves (``02_tokens_and_embeddings.ipynb``, "Training loop";
reused by chapters 3, 5 and 7)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from lm_course.train import TrainHistory

__all__ = ["plot_loss_curves"]


def _smooth(values: list[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)  # no shrinking at the start
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_loss_curves(histories: TrainHistory | dict[str, TrainHistory], ax=None,
                     bits: bool = True, smooth: int = 20, title: str | None = None):
    """Training (per batch, smoothed) and validation loss against steps.

    ``histories`` is one :class:`~lm_course.train.TrainHistory` or a dict
    ``{label: history}`` to compare runs on the same axes. With ``bits=True``
    the loss is shown in bits per token (nats / ln 2), the unit of the
    scoreboard.
    """
    if isinstance(histories, TrainHistory):
        histories = {"": histories}
    if not histories:
        raise ValueError("nothing to plot: no training histories given")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    scale = 1 / math.log(2) if bits else 1.0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, h) in enumerate(histories.items()):
        colour = colours[i % len(colours)]
        prefix = f"{label}: " if label else ""
        if h.train_loss:
            ax.plot(h.steps, _smooth(h.train_loss, smooth) * scale, color=colour, alpha=0.45,
                    lw=1, label=f"{prefix}train (batches, smoothed)")
        if h.val_loss:
            ax.plot(h.eval_steps[: len(h.val_loss)], np.array(h.val_loss) * scale, "o-",
                    color=colour, ms=3, lw=1.8, label=f"{prefix}validation")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("bits per token" if bits else "cross-entropy (nats per token)")
    ax.set_title(title or "Training and validation loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
