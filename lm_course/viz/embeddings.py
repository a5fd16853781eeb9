"""Learned embeddings in two dimensions (``02_tokens_and_embeddings.ipynb``,
"What the embeddings learned"), and the diagram of the network that learns
them (:func:`plot_mlp_architecture`, section "A neural language model").

Principal component analysis: centre the rows of the embedding matrix and
project them on the two directions of largest variance (the first two right
singular vectors of the centred matrix). Each token is drawn as its label,
coloured by its group (vowels, consonants, punctuation, whitespace...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lm_course.tokenizers.visible import visible
from lm_course.validation import require_positive
from lm_course.viz._axes import literal

__all__ = ["pca_2d", "char_group", "plot_embeddings_2d", "plot_mlp_architecture", "CHAR_GROUPS"]

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
                   label=f"{literal(g)} ({len(idx)})")
        for i in idx:
            ax.annotate(literal(visible(labels[i])), points[i], ha="center", va="center", fontsize=10,
                        color=colours[g], fontweight="bold")
    ax.set_xlabel(f"principal component 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({explained[1]:.0%} of the variance)")
    ax.set_title(literal(title) if title else "Embeddings projected on their first two principal components")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return ax


_MLP_COLOURS = {"C": "tab:blue", "W_h": "tab:red", "W_o": "tab:green"}


def _node(ax, x: float, y: float, w: float, h: float, text: str, colour: str, fontsize: float = 10) -> None:
    """A rounded box of width ``w`` and height ``h`` centred on ``(x, y)``, with ``text`` inside."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03,rounding_size=0.08",
                                fc=colour, ec="black", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _link(ax, start: tuple[float, float], end: tuple[float, float], colour: str, lw: float = 1.5) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, shrinkA=0, shrinkB=0))


def _check_mlp_diagram(context: str, context_length: int, n_embd: int, n_hidden: int, vocab_size: int) -> None:
    """:func:`plot_mlp_architecture`'s argument checks."""
    if not isinstance(context, str):
        raise ValueError(f"context must be a string, got {type(context).__name__}")
    for name, value in (("context_length", context_length), ("n_embd", n_embd), ("n_hidden", n_hidden),
                        ("vocab_size", vocab_size)):
        require_positive(value, name)
    if context_length > 12:
        raise ValueError(f"context_length must be at most 12 to fit on the page, got {context_length}")


def plot_mlp_architecture(context: str = "To be, o", context_length: int = 8, n_embd: int = 16,
                          n_hidden: int = 512, vocab_size: int = 63, ax=None, title: str | None = None):
    """The MLP language model of Bengio et al. (2003) as a diagram, drawn for
    one concrete context: each of the last ``context_length`` characters
    looks up its row of the one embedding table ``C``, the rows are put side
    by side (``e``), one ``tanh`` layer makes ``h``, and a softmax over the
    ``vocab_size`` characters gives the next character's distribution. A
    context shorter than ``context_length`` is padded on the left with the
    padding token, as the model does.

    Notebook section: ``02_tokens_and_embeddings.ipynb``, "A neural language model".
    """
    import matplotlib.pyplot as plt

    _check_mlp_diagram(context, context_length, n_embd, n_hidden, vocab_size)
    n = context_length
    shown = [None] * max(0, n - len(context)) + list(context[-n:])  # None: the padding token
    if ax is None:
        _, ax = plt.subplots(figsize=(max(8.0, 1.05 * n + 2.5), 6.6))
    centre = (n - 1) / 2
    y_char, y_emb, y_hid, y_out, y_next = 0.0, 1.55, 3.55, 4.85, 5.95
    for i, c in enumerate(shown):
        offset = n - 1 - i
        label = "pad" if c is None else visible(c)
        _node(ax, i, y_char, 0.62, 0.48, label, "whitesmoke" if c is None else "lavender", fontsize=12)
        ax.text(i, y_char - 0.48, f"$x_{{t-{offset}}}$" if offset else "$x_t$", ha="center", va="top", fontsize=9)
        _link(ax, (i, y_char + 0.26), (i, y_emb - 0.5), _MLP_COLOURS["C"])
        for k in range(4):  # a column vector: d numbers, drawn as four cells
            _node(ax, i, y_emb - 0.33 + 0.22 * k, 0.34, 0.2, "", "lightsteelblue")
        _link(ax, (i, y_emb + 0.5), (centre + (i - centre) * 0.45, y_hid - 0.33), _MLP_COLOURS["W_h"], lw=1.1)
    ax.add_patch(plt.Rectangle((-0.45, y_emb - 0.62), n - 0.1, 1.2, fill=False, ls="--", ec="gray", lw=1))
    ax.text(n - 0.45, y_emb, f"  $\\mathbf{{e}}$: {n} rows of $C$ side by side,\n  {n} x {n_embd} = {n * n_embd} numbers",
            ha="left", va="center", fontsize=9)
    ax.text(n - 0.45, (y_char + y_emb) / 2 - 0.1, f"  look up row $x$ of the same table $C$\n  ({vocab_size + 1} rows"
            f" incl. padding, {n_embd} columns)", ha="left", va="center", fontsize=9, color=_MLP_COLOURS["C"])
    _node(ax, centre, y_hid, min(n, 6.0), 0.62,
          f"$\\mathbf{{h}} = \\tanh(W_h \\mathbf{{e}} + \\mathbf{{b}}_h)$: H = {n_hidden} units", "mistyrose")
    _link(ax, (centre, y_hid + 0.31), (centre, y_out - 0.31), _MLP_COLOURS["W_o"])
    _node(ax, centre, y_out, min(n, 6.0), 0.62,
          f"$p = \\mathrm{{softmax}}(W_o \\mathbf{{h}} + \\mathbf{{b}}_o)$: V = {vocab_size} probabilities",
          "honeydew")
    _link(ax, (centre, y_out + 0.31), (centre, y_next - 0.2), "black")
    ax.text(centre, y_next, "$p(x_{t+1} \\mid x_{t-%d}, \\dots, x_t)$: the next character" % (n - 1),
            ha="center", va="bottom", fontsize=11)
    for name, what in (("C", "embedding table $C$ (shared by every position)"),
                       ("W_h", "hidden layer $W_h, \\mathbf{b}_h$"), ("W_o", "output layer $W_o, \\mathbf{b}_o$")):
        ax.plot([], [], color=_MLP_COLOURS[name], lw=2, label=what)
    ax.set_xlim(-0.8, n + 3.4)
    ax.set_ylim(y_char - 0.95, y_next + 0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title or f"The MLP language model (Bengio et al., 2003), reading {n} characters")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=9, frameon=False)
    return ax
