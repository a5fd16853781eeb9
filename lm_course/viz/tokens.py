"""Tokenization trade-offs (``02_tokens_and_embeddings.ipynb``, "Characters,
words or pieces?"): a bigger vocabulary makes the same text shorter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lm_course.viz._axes import literal

__all__ = ["plot_vocab_vs_length"]


def plot_vocab_vs_length(results: Mapping[str, Sequence[tuple[int, int]]], n_chars: int,
                         notes: Mapping[str, Sequence[str]] | None = None, ax=None,
                         title: str | None = None):
    """Sequence length against vocabulary size, one line per tokenizer family.

    Args:
        results: ``{family: [(vocab_size, n_tokens), ...]}``, the number of
            tokens each tokenizer turns the same text into.
        n_chars: the text's length in characters (a dotted line: one token
            per character).
        notes: optional ``{family: [text per point]}`` written next to the
            points (e.g. the share of unknown words).
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("nothing to plot: no tokenizer results given")
    if n_chars < 1:
        raise ValueError(f"n_chars must be >= 1, got {n_chars}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    markers = "osD^v"
    for i, (family, points) in enumerate(results.items()):
        points = sorted(points)
        if not points:
            raise ValueError(f"no points for {family!r}")
        xs = [v for v, _ in points]
        ys = [n / 1000 for _, n in points]
        ax.plot(xs, ys, marker=markers[i % len(markers)], lw=1.5, ms=6, label=literal(family))
        for j, text in enumerate((notes or {}).get(family, [])):
            ax.annotate(literal(text), (xs[j], ys[j]), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.axhline(n_chars / 1000, ls=":", color="gray", label="one token per character")
    ax.set_xscale("log")
    ax.set_xlabel("vocabulary size (tokens, log scale)")
    ax.set_ylabel("sequence length (thousands of tokens)")
    ax.set_title(literal(title) if title else f"The same {n_chars:,} characters, cut three ways")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax
