"""Pictures of chapter 7 (``07_finetuning.ipynb``): what a causal and a
masked language model may attend to ("Two ways to pre-train"), accuracy
curves of the fine-tuning variants, the test accuracy of every variant over
the sweep's training seeds with the reader's own run marked ("Three ways to
use the same architecture"), a confusion matrix ("Where the errors are") and the class
probabilities of one passage (the classifier widget)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from lm_course.attention import causal_mask
from lm_course.attention_view import visible_tokens
from lm_course.finetune import FineTuneHistory
from lm_course.genre_data import CLASSES

__all__ = ["plot_lm_masks", "plot_accuracy_curves", "plot_seed_spread", "plot_confusion_matrix", "plot_class_probs"]


def plot_lm_masks(tokens: Sequence[str], masked: Sequence[int] = (), axes=None):
    """Side by side: the causal mask of an autoregressive LM (GPT) and the
    full mask of a masked LM (BERT) over ``tokens``.

    Cell (row t, column s) is filled when position t may attend to position
    s. ``masked``: positions a masked LM replaces by ``[MASK]`` (their labels
    are shown as such, and their rows marked as prediction targets).
    Returns the Figure.
    """
    tokens = [str(t) for t in tokens]
    T = len(tokens)
    if T == 0:
        raise ValueError("need at least one token to draw a mask")
    masked = sorted(set(int(i) for i in masked))
    if any(not 0 <= i < T for i in masked):
        raise ValueError(f"masked positions must be in 0..{T - 1}")

    shown = visible_tokens(tokens)
    mlm_shown = ["[M]" if i in masked else t for i, t in enumerate(shown)]
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    else:
        fig = axes[0].figure
    panels = [
        (axes[0], causal_mask(T).numpy(), shown, "Autoregressive (GPT): causal mask",
         "row t predicts position t+1 from keys (columns) s <= t"),
        (axes[1], np.ones((T, T), dtype=bool), mlm_shown, "Masked (BERT): bidirectional",
         f"predicts the {len(masked)} [M] positions"),
    ]
    cmap = plt.matplotlib.colors.ListedColormap(["#f2f2f2", "#3b6ea8"])
    for ax, mask, labels, title, note in panels:
        im = ax.imshow(mask, cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks(range(T), labels, fontsize=8)
        ax.set_yticks(range(T), labels, fontsize=8)
        ax.set_xlabel("key position s (attended to)")
        ax.set_ylabel("query position t (attending)")
        ax.set_title(f"{title}\n({note})", fontsize=10)
    for i in masked:  # the masked LM's prediction targets
        axes[1].add_patch(plt.Rectangle((-0.5, i - 0.5), T, 1, fill=False, ec="#d62728", lw=1.5))
    cbar = fig.colorbar(im, ax=list(axes), ticks=[0.25, 0.75], shrink=0.8)
    cbar.ax.set_yticklabels(["blocked", "may attend"])
    return fig


def plot_accuracy_curves(histories: Mapping[str, FineTuneHistory], ax=None, chance: float | None = 0.5,
                         title: str | None = None, show_train: bool = True, smooth: int = 15):
    """Validation accuracy (points) and smoothed training-batch accuracy
    (faint lines) against optimiser steps, one colour per variant."""
    if not histories:
        raise ValueError("nothing to plot: no histories given")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shown: list[float] = [] if chance is None else [chance]
    for i, (label, h) in enumerate(histories.items()):
        if not isinstance(h, FineTuneHistory):
            raise TypeError(f"{label!r}: expected a FineTuneHistory, got {type(h).__name__}")
        colour = colours[i % len(colours)]
        if show_train and h.train_acc:
            acc = np.asarray(h.train_acc, dtype=float)
            k = max(1, min(smooth, len(acc)))
            running = np.convolve(acc, np.ones(k) / k, mode="valid")
            ax.plot(np.asarray(h.steps)[k - 1:], running, color=colour, alpha=0.35, lw=1,
                    label=f"{label}: train batches (running mean of {k})")
            shown += running.tolist()
        if h.val_acc:
            ax.plot(h.eval_steps, h.val_acc, "o-", color=colour, lw=2, ms=4, label=f"{label}: validation")
            shown += list(h.val_acc)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.0%})")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("accuracy")
    lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
    ax.set_ylim(max(0.0, np.floor(20 * lo - 1) / 20), min(1.0, np.ceil(20 * hi + 1) / 20))  # 5% margins
    ax.set_title(title or "Comedy or tragedy? Accuracy during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def plot_seed_spread(accuracies: Mapping[str, Sequence[float]], live: Mapping[str, float] | None = None,
                     baselines: Mapping[str, float] | None = None, chance: float | None = 0.5, ax=None,
                     title: str | None = None):
    """One row per variant: the test accuracy of each training seed (dots),
    their mean (a vertical bar), the reader's own run (``live``, a star),
    and seedless ``baselines`` as dashed vertical lines."""
    if not accuracies:
        raise ValueError("nothing to plot: no accuracies given")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.9 + 0.55 * len(accuracies)), layout="constrained")
    names = list(accuracies)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        accs = np.asarray(accuracies[name], dtype=float)
        if accs.size == 0:
            raise ValueError(f"{name!r}: no accuracies")
        ax.plot(accs, np.full(accs.shape, i), "o", color=colours[0], alpha=0.6, ms=6,
                label="one training seed (sweep)" if i == 0 else None)
        ax.plot([accs.mean()] * 2, [i - 0.3, i + 0.3], color=colours[0], lw=2.5,
                label="mean over the seeds" if i == 0 else None)
        if live is not None and name in live:
            ax.plot(live[name], i, "*", color=colours[3], ms=14, mec="black", mew=0.6,
                    label="your run (this notebook)" if name == next(n for n in names if n in live) else None)
    styles = ["--", "-.", (0, (5, 1, 1, 1))]
    for k, (label, value) in enumerate((baselines or {}).items()):
        ax.axvline(value, color=colours[(k + 1) % len(colours)], ls=styles[k % len(styles)], lw=1.5,
                   label=f"{label} (no seed): {value:.1%}")
    if chance is not None:
        ax.axvline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.0%})")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (2 comedies + 2 tragedies the language model never read)")
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_title(title or "Test accuracy over training seeds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def plot_confusion_matrix(confusion: torch.Tensor | np.ndarray, classes: Sequence[str] = CLASSES, ax=None,
                          title: str | None = None):
    """A confusion matrix: rows are true classes, columns predictions; cells
    show the count and the fraction of the row."""
    m = np.asarray(confusion, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(classes):
        raise ValueError(f"confusion must be ({len(classes)}, {len(classes)}), got {m.shape}")
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.4, 4.2))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}\n({frac[i, j]:.0%})", ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black", fontsize=10)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "Confusion matrix")
    ax.figure.colorbar(im, ax=ax, label="fraction of the true class")
    return ax


def plot_class_probs(probs: Mapping[str, float], ax=None, title: str | None = None):
    """Horizontal bars of ``{class: probability}``."""
    if not probs:
        raise ValueError("no probabilities to plot")
    names, values = list(probs), [float(v) for v in probs.values()]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 0.5 + 0.45 * len(names)))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    bars = ax.barh(names, values, color=[colours[i % len(colours)] for i in range(len(names))])
    for bar, v in zip(bars, values):
        ax.text(min(v + 0.01, 0.9), bar.get_y() + bar.get_height() / 2, f"{v:.1%}", va="center")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    ax.set_ylabel("class")
    ax.invert_yaxis()
    ax.set_title(title or "P(class | passage)")
    return ax
