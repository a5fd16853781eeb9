"""Attention maps as heatmaps (``04_attention.ipynb``, "Causal masks" and "A toy
task"; reused for the GPT of chapters 5 and 6).

Rows are queries (the token that attends), columns are keys (the tokens it
attends to); each row of a map sums to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lm_course.attention_view import stack_attention, visible_tokens
from lm_course.viz._axes import literal
from lm_course.validation import require_int, require_positive

__all__ = ["plot_attention"]


def _labels(tokens: Sequence[str] | str | None, n: int, what: str, show_whitespace: bool) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(n)]
    tokens = list(tokens)
    if len(tokens) != n:
        raise ValueError(f"the weights have {n} {what} positions but {len(tokens)} {what} tokens were given")
    tokens = [str(t) for t in tokens]
    return visible_tokens(tokens) if show_whitespace else tokens


def _tick_step(n: int, room: int) -> int:
    """Label every position while they fit, else every ``step``-th."""
    return max(1, math.ceil(n / room))


def _select(A, layer, head) -> tuple[Any, list[int], list[str]]:
    """``A`` (L, H, T, S) cut to the chosen layer and head (or the heads'
    mean), with the layer numbers and head names of what is left."""
    L, H = A.shape[:2]
    if layer is not None:
        layer = require_int(layer, "layer", minimum=-L, maximum=L - 1)
        A = A[[layer]]  # (1, H, T, S)
    layer_ids = [layer % L] if layer is not None else list(range(L))
    if isinstance(head, str):
        if head != "mean":
            raise ValueError(f"head must be an integer, None or 'mean', got {head!r}")
        return A.mean(dim=1, keepdim=True), layer_ids, ["mean of heads"]  # (L', 1, T, S)
    if head is not None:
        head = require_int(head, "head", minimum=-H, maximum=H - 1)
        return A[:, [head]], layer_ids, [f"head {head % H}"]  # (L', 1, T, S)
    return A, layer_ids, [f"head {h}" for h in range(H)]


def _label_map(a, q_labels, k_labels, qs: int, ks: int, x_title: bool, y_title: bool, title: str | None) -> None:
    """One map's ticks (every ``qs``-th query, ``ks``-th key), axis titles and title."""
    T, S = len(q_labels), len(k_labels)
    a.set_xticks(range(0, S, ks), [literal(k_labels[i]) for i in range(0, S, ks)],
                 rotation=90 if max(map(len, k_labels)) > 2 else 0, fontsize=8)
    a.set_yticks(range(0, T, qs), [literal(q_labels[i]) for i in range(0, T, qs)], fontsize=8)
    if x_title:  # axis titles on the outer maps of a grid
        a.set_xlabel("key (attended to)", fontsize=9)
    if y_title:
        a.set_ylabel("query (attending)", fontsize=9)
    if title is not None:
        a.set_title(literal(title), fontsize=9)


def _annotate(a, m, top: float) -> None:
    """Write each weight of the map ``m`` (T, S) in its cell."""
    T, S = m.shape
    for t in range(T):
        for s in range(S):
            w = float(m[t, s])
            a.text(s, t, f"{w:.2f}", ha="center", va="center", fontsize=7,
                   color="black" if w > 0.6 * top else "white")


def _maps(A, layer_ids: list[int], head_names: list[str], alone: bool, max_cols: int):
    """``([(map (T, S), name)], rows, cols)``: one map per layer and head of
    ``A`` (L', H', T, S); one layer's heads wrap after ``max_cols``. A map
    that is the whole input (``alone``) needs no name."""
    n_layers, n_heads = A.shape[:2]
    maps = [(A[i, j], f"layer {layer_ids[i]}, {head_names[j]}") for i in range(n_layers) for j in range(n_heads)]
    if len(maps) == 1 and alone:
        maps = [(maps[0][0], "")]  # nothing to tell apart
    if n_layers == 1:
        cols = min(max_cols, len(maps))
        return maps, math.ceil(len(maps) / cols), cols
    return maps, n_layers, n_heads


def _grid(ax, rows: int, cols: int, T: int, S: int, single: bool) -> tuple[Any, list, int, int]:
    """The figure and its axes (``ax`` alone when given) for ``rows`` x
    ``cols`` maps of (T, S), and the query and key tick steps that fit."""
    import matplotlib.pyplot as plt

    room = 40 if single else 24  # most labels that fit along one side
    ks, qs = _tick_step(S, room), _tick_step(T, room)
    if ax is not None:
        return ax.figure, [ax], qs, ks
    cell = 0.32 if single else max(0.08, min(0.25, 2.6 / max(T, S)))  # inches per row/column
    width = max(4.0, cols * (S * cell + 1.0) + 1.2)
    height = max(3.0, rows * (T * cell + 1.0) + 0.6)
    fig, grid = plt.subplots(rows, cols, figsize=(min(width, 16), min(height, 16)), squeeze=False,
                             constrained_layout=True)
    # 8-pt labels need about 0.12 inch each: label every k-th position if the cells are smaller
    ks = max(ks, math.ceil(0.12 / (cell * min(1.0, 16 / width))))
    qs = max(qs, math.ceil(0.12 / (cell * min(1.0, 16 / height))))
    return fig, list(grid.flat), qs, ks


def plot_attention(weights: Any, query_tokens: Sequence[str] | str | None = None,
                   key_tokens: Sequence[str] | str | None = None, *, layer: int | None = None,
                   head: int | str | None = None, batch_index: int = 0, ax=None, title: str | None = None,
                   cmap: str = "viridis", vmax: float | None = None, annotate: bool | None = None,
                   max_cols: int = 4, show_whitespace: bool = True):
    """Heatmap(s) of attention weights with token labels and a colour bar.

    Args:
        weights: ``(T, S)`` for one head, ``(H, T, S)`` for the heads of one
            layer, ``(B, H, T, S)``, or a list with one ``(B, H, T, S)`` per
            layer (``GPT(..., output_attentions=True).attentions``, or the model
            output itself). Tensors or NumPy arrays.
        query_tokens: labels of the ``T`` rows; key_tokens: of the ``S``
            columns (default: the query tokens when ``S == T``, else positions).
        layer, head: show only this layer / head; ``head="mean"`` averages the heads.
        batch_index: the example of the batch to show.
        ax: draw a single map into this Axes (only when one map is shown).
        title: the figure's title (one map) or suptitle (a grid).
        vmax: top of the colour scale (default: the largest weight shown; 0 is the bottom).
        annotate: write the weights in the cells (default: when one small map is shown).
        max_cols: maps per row of the grid when one layer's heads are shown.

    Returns:
        The matplotlib Figure. A grid has one row per layer and one column
        per head (one layer: heads wrap after ``max_cols``).
    """
    A = stack_attention(weights, batch_index)  # (L, H, T, S)
    L, H, T, S = A.shape
    A, layer_ids, head_names = _select(A, layer, head)  # (L', H', T, S)
    max_cols = require_positive(max_cols, "max_cols")

    q_labels = _labels(query_tokens, T, "query", show_whitespace)
    if key_tokens is None and query_tokens is not None and S == T:
        key_tokens = query_tokens
    k_labels = _labels(key_tokens, S, "key", show_whitespace)

    maps, rows, cols = _maps(A, layer_ids, head_names, L * H == 1, max_cols)
    single = len(maps) == 1
    if ax is not None and not single:
        raise ValueError(f"ax can hold one map, but {len(maps)} are selected: pass layer= and head=, or no ax")
    annotate = single and T <= 12 and S <= 12 if annotate is None else annotate
    fig, axes, qs, ks = _grid(ax, rows, cols, T, S, single)
    top = float(A.max()) if vmax is None else float(vmax)
    image = None
    for n, (a, (m, name)) in enumerate(zip(axes, maps)):
        image = a.imshow(m.numpy(), cmap=cmap, vmin=0.0, vmax=top, aspect="auto", interpolation="nearest")
        _label_map(a, q_labels, k_labels, qs, ks, x_title=single or n >= len(maps) - cols,
                   y_title=single or n % cols == 0, title=None if single else name)
        if annotate:
            _annotate(a, m, top)
    for a in axes[len(maps):]:
        a.axis("off")
    fig.colorbar(image, ax=axes[: len(maps)], label="attention weight", shrink=0.8)
    if single:
        name = maps[0][1]
        axes[0].set_title(literal(title or ("Attention weights" + (f": {name}" if name else ""))))
    else:
        fig.suptitle(literal(title or "Attention weights by layer and head"))
    return fig
