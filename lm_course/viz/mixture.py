"""Choosing the weight of a two-model mixture (``02_tokens_and_embeddings.ipynb``,
"Mixing the network with the n-gram")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["plot_mixture_weight"]


def plot_mixture_weight(weights: Sequence[float], bits: Mapping[str, Sequence[float]],
                        first: str = "model A", second: str = "model B", ax=None,
                        title: str | None = None):
    """Bits per character of ``w * first + (1 - w) * second`` against ``w``.

    Args:
        weights: the weights ``w`` of the first model, in [0, 1].
        bits: ``{curve label: bits per character at each weight}``, e.g. one
            curve for the validation split and one for the test split. The
            minimum of each curve is marked.
        first, second: names of the two models (for the axis label).
    """
    import matplotlib.pyplot as plt

    if not bits:
        raise ValueError("nothing to plot: no curves given")
    if any(not 0 <= w <= 1 for w in weights):
        raise ValueError("mixture weights must lie in [0, 1]")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, ys in bits.items():
        if len(ys) != len(weights):
            raise ValueError(f"curve {label!r} has {len(ys)} values for {len(weights)} weights")
        (line,) = ax.plot(weights, ys, "o-", ms=3, label=label)
        best = min(range(len(ys)), key=ys.__getitem__)
        ax.plot([weights[best]], [ys[best]], "*", ms=14, color=line.get_color(),
                label=f"{label}: best w = {weights[best]:.2f} ({ys[best]:.3f})")
    ax.set_xlabel(f"weight w of {first} (1 - w goes to {second})")
    ax.set_ylabel("bits per character")
    ax.set_title(title or f"Mixing {first} with {second}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
