"""Learned embeddings in two dimensions (``02_tokens_and_embeddings.ipynb``,
"What the embeddings learned").

Principal component analysis: centre the rows of the embedding matrix and
project them on the two directions of largest variance (the first two right
singular vectors of the centred matrix). Each token is drawn as its label,
coloured by its group (vowels, consonants, punctuation, whitespace...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["pca_2d", "char_group", "plot_embeddings_2d", "CHAR_GROUPS"]

#: The groups :func:`char_group` sorts characters into, in legend order.
CHAR_GROUPS = ("vowel", "consonant", "punctuation", "whitespace", "digit", "other")
_GROUP_COLOURS = {"vowel": "tab:red", "consonant": "tab:blue", "punctuation": "tab:green",
                  "whitespace": "tab:purple", "digit": "tab:orange", "other": "tab:gray"}


def char_group(c: str) -> str:
    """The group of one character: ``"vowel"`` (a e i o u, either case),
    ``"consonant"`` (other letters), ``"punctuation"``, ``"whitespace"``,
    ``"digit"`` or ``"other"``."""
    if len(c) != 1:
        return "other"
    if c.lower() in "aeiou":
        return "vowel"
    if c.isalpha():
        return "consonant"
    if c.isspace():
        return "whitespace"
    if c.isdigit():
        return "digit"
    if c.isprintable():
        return "punctuation"
    return "other"


def _as_matrix(embedding_matrix) -> np.ndarray:
    if hasattr(embedding_matrix, "detach"):  # a torch tensor
        embedding_matrix = embedding_matrix.detach().cpu().numpy()
    m = np.asarray(embedding_matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"the embedding matrix must be 2-D (tokens, dims), got shape {m.shape}")
    if m.shape[0] < 2 or m.shape[1] < 2:
        raise ValueError(f"need at least 2 tokens and 2 dimensions for a 2-D PCA, got shape {m.shape}")
    return m


def pca_2d(embedding_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows on their first two principal components.

    Returns ``(points, explained)``: ``(N, 2)`` coordinates and the fraction
    of the total variance each of the two components explains.
    """
    m = _as_matrix(embedding_matrix)  # (N, d)
    centred = m - m.mean(axis=0, keepdims=True)  # (N, d)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)  # s: (min(N, d),), vt: (min, d)
    points = centred @ vt[:2].T  # (N, 2)
    var = s**2
    return points, var[:2] / var.sum()


def _shown(label: str) -> str:
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(label, label)


def plot_embeddings_2d(embedding_matrix, labels: Sequence[str],
                       groups: Sequence[str] | Callable[[str], str] | None = None,
                       ax=None, title: str | None = None):
    """Scatter of a 2-D PCA of the embeddings, each point labelled.

    Args:
        embedding_matrix: ``(N, d)`` tensor or array, one row per token.
        labels: ``N`` strings drawn at the points (a space shows as ``␣``,
            a newline as ``↵``).
        groups: a group name per token, or a function from label to group;
            by default :func:`char_group` (vowels, consonants, punctuation,
            whitespace). Each group gets a colour and a legend entry.
    """
    import matplotlib.pyplot as plt

    points, explained = pca_2d(embedding_matrix)
    labels = [str(x) for x in labels]
    if len(labels) != len(points):
        raise ValueError(f"got {len(labels)} labels for {len(points)} embedding rows")
    if groups is None:
        groups = char_group
    names = [groups(x) for x in labels] if callable(groups) else [str(g) for g in groups]
    if len(names) != len(points):
        raise ValueError(f"got {len(names)} groups for {len(points)} embedding rows")
    order = [g for g in CHAR_GROUPS if g in names] + sorted(set(names) - set(CHAR_GROUPS))
    extra = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {g: _GROUP_COLOURS.get(g, extra[i % len(extra)]) for i, g in enumerate(order)}
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 7))
    for g in order:
        idx = [i for i, name in enumerate(names) if name == g]
        ax.scatter(points[idx, 0], points[idx, 1], s=160, color=colours[g], alpha=0.25,
                   label=f"{g} ({len(idx)})")
        for i in idx:
            ax.annotate(_shown(labels[i]), points[i], ha="center", va="center", fontsize=10,
                        color=colours[g], fontweight="bold")
    ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of the variance)")
    ax.set_title(title or "Embeddings projected on their first two principal components")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return ax
