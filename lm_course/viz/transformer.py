"""Pictures of a Transformer's heads (``05_transformer.ipynb``, "Looking
inside: what do the heads attend to?")."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["plot_head_scores"]


def plot_head_scores(scores: Mapping[str, object], title: str | None = None, axes=None,
                     cmap: str = "Blues"):
    """One heatmap per measured behaviour: a score per (layer, head).

    Args:
        scores: ``{label: (n_layer, n_head) tensor or array}``, e.g. the mean
            attention weight on the previous position for every head.
        title: the figure's title.
        axes: a sequence of ``len(scores)`` Axes to draw into (default: a new row).

    Every cell is annotated with its value; the colour scale is shared
    (0 to the largest score) so the maps compare. Returns the Figure.
    """
    if not scores:
        raise ValueError("nothing to plot: give at least one {label: (n_layer, n_head) scores}")
    mats = {}
    for label, s in scores.items():
        m = np.asarray(s.detach().cpu() if hasattr(s, "detach") else s, dtype=float)
        if m.ndim != 2:
            raise ValueError(f"scores[{label!r}] must be (n_layer, n_head), got shape {m.shape}")
        mats[label] = m
    shapes = {m.shape for m in mats.values()}
    if len(shapes) != 1:
        raise ValueError(f"all score maps must have the same (n_layer, n_head) shape, got {sorted(shapes)}")
    L, H = shapes.pop()
    vmax = max(max(float(m.max()) for m in mats.values()), 1e-9)
    if axes is None:
        fig, axes = plt.subplots(1, len(mats), figsize=(1.5 + 1.2 * H * len(mats), max(2.6, 1.2 + 0.7 * L)),
                                 squeeze=False, constrained_layout=True)
        axes = axes[0]
    else:
        if len(axes) != len(mats):
            raise ValueError(f"need {len(mats)} axes, got {len(axes)}")
        fig = axes[0].figure
    image = None
    for ax, (label, m) in zip(axes, mats.items()):
        image = ax.imshow(m, cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
        for layer in range(L):
            for head in range(H):
                value = m[layer, head]
                ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if value > 0.6 * vmax else "black")
        ax.set_xticks(range(H))
        ax.set_yticks(range(L))
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(label)
    fig.colorbar(image, ax=list(axes), label="mean attention weight", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig
