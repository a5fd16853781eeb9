"""Choosing the weight of a two-model mixture (``02_tokens_and_embeddings.ipynb``,
"Mixing the network with the n-gram")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lm_course.viz._axes import literal

__all__ = ["plot_mixture_weight"]


def plot_mixture_weight(weights: Sequence[float], bits: Mapping[str, Sequence[float]],
                        first: str = "model A", second: str = "model B", ax=None,
                        title: str | None = None, choose_on: str | None = None,
                        held_out: Mapping[str, float] | None = None):
    """Bits per character of ``w * first + (1 - w) * second`` against ``w``.

    Args:
        weights: the weights ``w`` of the first model, in [0, 1].
        bits: ``{curve label: bits per character at each weight}``, e.g. the
            validation split's curve.
        first, second: names of the two models (for the axis label).
        choose_on: the label of the curve the weight is chosen on (default:
            the first curve). Only its minimum is marked, with a star; other
            curves get a marker at that same weight, never at their own minimum.
        held_out: ``{label: bits per character at the chosen weight}`` for
            splits scored only once, at the chosen weight (e.g. the test
            split): each is drawn as a single point, with no curve, so the
            figure cannot suggest choosing ``w`` on them.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "Mixing the network
    with the n-gram".
    """
    import matplotlib.pyplot as plt

    if not isinstance(bits, Mapping):
        raise TypeError(f"bits must be a mapping {{label: bits per character at each weight}}, "
                        f"got {type(bits).__name__}")
    if not bits:
        raise ValueError("nothing to plot: no curves given")
    if any(not 0 <= w <= 1 for w in weights):
        raise ValueError("mixture weights must lie in [0, 1]")
    choose_on = next(iter(bits)) if choose_on is None else choose_on
    if choose_on not in bits:
        raise ValueError(f"choose_on={choose_on!r} is not one of the curves {list(bits)}")
    for label, ys in bits.items():
        if len(ys) != len(weights):
            raise ValueError(f"curve {label!r} has {len(ys)} values for {len(weights)} weights")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    chosen_ys = bits[choose_on]
    best = min(range(len(chosen_ys)), key=chosen_ys.__getitem__)
    w_best = weights[best]
    for label, ys in bits.items():
        (line,) = ax.plot(weights, ys, "o-", ms=3, label=literal(label))
        if label == choose_on:
            ax.plot([w_best], [ys[best]], "*", ms=14, color=line.get_color(),
                    label=f"{literal(label)}: lowest at w = {w_best:.2f} ({ys[best]:.3f}), the weight chosen")
        else:
            ax.plot([w_best], [ys[best]], "D", ms=7, color=line.get_color(),
                    label=f"{literal(label)} at the chosen w = {w_best:.2f} ({ys[best]:.3f})")
    for label, value in (held_out or {}).items():
        ax.plot([w_best], [value], "D", ms=8, color="black", linestyle="none",
                label=f"{literal(label)}, scored once at the chosen w = {w_best:.2f} ({value:.3f})")
    ax.axvline(w_best, color="gray", lw=0.8, ls=":")
    ax.set_xlabel(literal(f"weight w of {first} (1 - w goes to {second})"))
    ax.set_ylabel("bits per character")
    ax.set_title(literal(title or f"Mixing {first} with {second}"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
