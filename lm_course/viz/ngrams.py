"""Plots of chapter 1, ``01_ngrams.ipynb``: the bigram count matrix
("Counting bigrams"), validation bits per character against the order
("How long a context? Order against sparsity") and against Kneser-Ney's
discount D ("Choosing the model on validation data")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from lm_course.tokenizers.visible import visible

__all__ = ["plot_bigram_counts", "plot_bpc_vs_order", "plot_bpc_vs_discount"]


def plot_bigram_counts(counts, labels: Sequence[str], ax=None, annotate: bool = True,
                       title: str | None = None):
    """Heatmap of a bigram count matrix: row = first character, column = the
    character that follows it (e.g. from :func:`lm_course.ngram.bigram_count_matrix`).

    With ``annotate`` every non-zero cell shows its count (the empty cells are
    the bigrams never seen). Returns the axes.
    """
    import matplotlib.pyplot as plt

    arr = np.asarray(counts.cpu() if isinstance(counts, torch.Tensor) else counts)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"counts must be a square (V, V) matrix, got shape {arr.shape}")
    if len(labels) != arr.shape[0]:
        raise ValueError(f"got {len(labels)} labels for a {arr.shape[0]}x{arr.shape[0]} matrix")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 9))
    from matplotlib.colors import PowerNorm

    image = ax.imshow(arr, cmap="Blues", norm=PowerNorm(gamma=0.5, vmin=0, vmax=max(arr.max(), 1)))
    shown = [visible(str(c)) for c in labels]
    ticks = range(len(labels))
    ax.set_xticks(ticks, shown)
    ax.set_yticks(ticks, shown)
    ax.tick_params(top=True, labeltop=True, bottom=True, labelbottom=True)
    if annotate:
        threshold = arr.max() / 4  # where the square-root scale turns dark
        for i, j in zip(*np.nonzero(arr)):
            ax.text(j, i, str(int(arr[i, j])), ha="center", va="center", fontsize=6.5,
                    color="white" if arr[i, j] > threshold else "dimgray")
    ax.set_xlabel("next character")
    ax.set_ylabel("current character")
    ax.set_title(title or f"Bigram counts ({int(arr.sum()):,} bigrams)")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="count (square-root colour scale)")
    return ax


def _unseen_bars(ax, unseen_fraction: Mapping[int, float]):
    """Grey bars on a second axis behind ``ax``: the fraction of validation
    n-grams unseen in training, per order; returns them (for the legend)."""
    twin = ax.twinx()
    orders = sorted(unseen_fraction)
    bars = twin.bar(orders, [unseen_fraction[o] for o in orders], width=0.5, color="lightgray", alpha=0.6,
                    zorder=0, label="validation n-grams unseen in training (right axis)")
    twin.set_ylim(0, 1)
    twin.set_ylabel("fraction of validation n-grams unseen in training")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    return bars


def plot_bpc_vs_order(results: Mapping[str, Mapping[int, float]], ax=None,
                      vocab_size: int | None = None,
                      unseen_fraction: Mapping[int, float] | None = None,
                      title: str | None = None):
    """Validation bits per character against the n-gram order, one line per
    smoothing (``results[label][order] = bits``).

    Infinite values (an MLE that met an unseen n-gram) are drawn as a cross at
    the top of the axes. ``unseen_fraction[order]`` (optional) adds grey bars
    on a second axis: the fraction of validation n-grams never seen in
    training, the sparsity that grows with the order. ``vocab_size`` draws the
    uniform model's ``log2 V`` as a dashed line. The best point of each line
    is circled (one legend entry explains the circles). Returns the main axes.
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("nothing to plot: results is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.8))
    handles = []
    circled = False
    finite = [b for r in results.values() for b in r.values() if math.isfinite(b)]
    if not finite:
        raise ValueError("every result is infinite; nothing to draw")
    top = max(max(finite), math.log2(vocab_size) if vocab_size else 0) * 1.08
    if unseen_fraction:
        handles.append(_unseen_bars(ax, unseen_fraction))
    for label, by_order in results.items():
        orders = sorted(by_order)
        bits = np.array([by_order[o] for o in orders], dtype=float)
        ok = np.isfinite(bits)
        (line,) = ax.plot(np.array(orders)[ok], bits[ok], "o-", label=label)
        handles.append(line)
        if (~ok).any():
            handles.append(ax.scatter(np.array(orders)[~ok], np.full((~ok).sum(), top * 0.98),
                                      marker="x", s=60, color=line.get_color(),
                                      label=f"{label}: infinite (zero probability)"))
        if ok.any():
            best = int(np.argmin(np.where(ok, bits, np.inf)))
            ax.scatter([orders[best]], [bits[best]], s=180, facecolors="none",
                       edgecolors=line.get_color(), linewidths=2)
            circled = True
    if circled:  # a grey stand-in for the coloured circles: one entry, not one per method
        handles.append(ax.scatter([], [], s=180, facecolors="none", edgecolors="gray", linewidths=2,
                                  label="circled: each method's best order"))
    if vocab_size:
        handles.append(ax.axhline(math.log2(vocab_size), ls="--", color="gray",
                                  label=f"uniform guess (log2 {vocab_size} = {math.log2(vocab_size):.2f})"))
    ax.set_ylim(0, top)
    ax.set_xlabel("order n of the n-gram model (context = n - 1 characters)")
    ax.set_ylabel("validation bits per character")
    ax.set_title(title or "Longer contexts help until the counts get sparse")
    # below the axes, so it hides neither the lines nor the grey bars
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.grid(alpha=0.3)
    return ax


def plot_bpc_vs_discount(bits_by_discount: Mapping[float, float], ax=None,
                         chosen: float | None = None, estimate: float | None = None,
                         title: str | None = None):
    """Validation bits per character of one Kneser-Ney model against its
    discount ``D`` (``bits_by_discount[D] = bits``), the best point circled.

    ``chosen`` marks the discount the model was picked with; ``estimate``
    draws a vertical line at a closed-form estimate of D (e.g. Ney et al.'s
    ``n1 / (n1 + 2 n2)``). Returns the axes.
    """
    import matplotlib.pyplot as plt

    if not bits_by_discount:
        raise ValueError("nothing to plot: bits_by_discount is empty")
    ds = np.array(sorted(bits_by_discount), dtype=float)
    bits = np.array([bits_by_discount[d] for d in sorted(bits_by_discount)], dtype=float)
    if not np.isfinite(bits).all():
        raise ValueError("every score must be finite (Kneser-Ney never gives probability 0)")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(ds, bits, "o-", color="tab:green", label="Kneser-Ney, validation")
    best = int(np.argmin(bits))
    ax.scatter([ds[best]], [bits[best]], s=180, facecolors="none", edgecolors="black", linewidths=2,
               label=f"lowest: D = {ds[best]:g}, {bits[best]:.4f} bits", zorder=3)
    if chosen is not None and chosen in bits_by_discount:
        ax.scatter([chosen], [bits_by_discount[chosen]], marker="*", s=160, color="tab:red", zorder=4,
                   label=f"chosen on the coarse grid: D = {chosen:g}")
    if estimate is not None:
        ax.axvline(estimate, ls="--", color="gray", label=f"Ney et al.'s estimate n1 / (n1 + 2 n2) = {estimate:.3f}")
    ax.set_xlabel("discount D")
    ax.set_ylabel("validation bits per character")
    ax.set_title(title or "Kneser-Ney's discount D, tuned on validation")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax
