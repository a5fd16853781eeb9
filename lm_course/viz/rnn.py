"""Plots of ``03_rnns.ipynb``: the unrolled recurrence, the inside of an LSTM
cell, gradient norms through time, LSTM gate values and hidden-state heatmaps
over text."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from lm_course.viz._axes import label_axes
from lm_course.tokenizers.visible import visible

__all__ = ["plot_unrolled_rnn", "plot_lstm_cell", "plot_gradient_norms", "plot_gate_histograms", "plot_hidden_heatmap",
           "plot_clipping_runs", "plot_context_resets"]

_COLOURS = {"W_xh": "tab:blue", "W_hh": "tab:red", "W_hy": "tab:green"}


def _box(ax, x: float, y: float, text: str, colour: str) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=12,
            bbox=dict(boxstyle="round,pad=0.45", fc=colour, ec="black", lw=1))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], colour: str,
           rad: float = 0.0, shrink: float = 14) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=2, connectionstyle=f"arc3,rad={rad}",
                                shrinkA=shrink, shrinkB=shrink))


def _diagram_frame(ax, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    """Limits for a drawing, and no ticks or frame: a diagram, not a plot."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def plot_unrolled_rnn(steps: int = 4, ax=None):
    """The RNN folded (one cell with a loop) and unrolled over ``steps`` time
    steps: the same weights W_xh, W_hh, W_hy are used at every step.

    Notebook section: "The recurrence".
    """
    if not 1 <= steps <= 8:
        raise ValueError(f"steps must be between 1 and 8, got {steps}")
    first, gap = 2.9, 1.5  # x of the first unrolled step, distance between steps
    if ax is None:
        _, ax = plt.subplots(figsize=(1.9 * steps + 4.5, 3.6))
    # folded view: h_t feeds itself at the next step
    _box(ax, 0, 0, "$x_t$", "lavender")
    _box(ax, 0, 1, "$h_t$", "mistyrose")
    _box(ax, 0, 2, "$y_t$", "honeydew")
    _arrow(ax, (0, 0), (0, 1), _COLOURS["W_xh"])
    _arrow(ax, (0, 1), (0, 2), _COLOURS["W_hy"])
    _arrow(ax, (0.2, 1.22), (0.2, 0.78), _COLOURS["W_hh"], rad=-1.6, shrink=2)
    ax.text(0.62, 1.42, "next step", fontsize=8, color=_COLOURS["W_hh"], ha="center")
    ax.text(1.25, 1, "=", fontsize=22, ha="center", va="center")
    # unrolled view
    ax.text(first - gap + 0.35, 1, "$h_0 = 0$", ha="center", va="center", fontsize=12)
    for t in range(steps):
        x = first + gap * t
        _box(ax, x, 0, f"$x_{{{t + 1}}}$", "lavender")
        _box(ax, x, 1, f"$h_{{{t + 1}}}$", "mistyrose")
        _box(ax, x, 2, f"$y_{{{t + 1}}}$", "honeydew")
        _arrow(ax, (x, 0), (x, 1), _COLOURS["W_xh"])
        _arrow(ax, (x, 1), (x, 2), _COLOURS["W_hy"])
        _arrow(ax, (x - gap + (0.45 if t == 0 else 0), 1), (x, 1), _COLOURS["W_hh"])
    for name, colour in _COLOURS.items():
        ax.plot([], [], color=colour, lw=2, label=f"${name[0]}_{{{name[2:]}}}$ (shared by every step)")
    _diagram_frame(ax, (-0.7, first + gap * (steps - 1) + 0.7), (-0.6, 2.6))
    ax.set_xlabel("time step →")
    ax.set_title("An RNN folded (left) and unrolled through time (right)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    return ax


_GATE_COLOURS = {"f": "#f4b183", "i": "#a9d18e", "g": "#ffe699", "o": "#9dc3e6"}


def _op(ax, x: float, y: float, text: str) -> None:
    """A pointwise operation (a circle), as in Olah's LSTM diagrams."""
    ax.text(x, y, text, ha="center", va="center", fontsize=13,
            bbox=dict(boxstyle="circle,pad=0.18", fc="white", ec="black", lw=1.2))


def _lstm_legend(ax, layers, cell_colour: str, h_colour: str) -> None:
    """The LSTM diagram's legend: what each kind of mark means."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(fc=_GATE_COLOURS[k], ec="black", label=f"{label}: {fn}($W_x x_t + W_h h_{{t-1}} + b$)")
               for k, _, fn, label in layers]
    handles += [Line2D([], [], marker="o", ls="", mfc="white", mec="black", ms=12,
                       label="pointwise operation (× is ⊙)"),
                Line2D([], [], color=cell_colour, lw=2, label="memory cell $c$"),
                Line2D([], [], color=h_colour, lw=2, label="hidden state $h$")]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.04, 0.5), fontsize=9)


def plot_lstm_cell(ax=None):
    """One LSTM step drawn as a circuit (after Olah 2015): the memory cell
    ``c`` runs along the top and is changed only by ``x f_t`` and
    ``+ i_t * g_t``; four layers (three sigmoid gates and the tanh candidate)
    read ``[h_{t-1}, x_t]``; ``h_t = o_t * tanh(c_t)`` leaves on the right.

    Notebook section: "LSTM and GRU".
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10.5, 5.4))
    top, mid, gate, bus = 5.0, 3.7, 2.0, 0.6  # heights: cell line, products, gate layers, input bus
    cell_colour, h_colour = "tab:red", "tab:blue"
    ax.add_patch(plt.Rectangle((0.3, -0.1), 9.4, 5.8, fc="whitesmoke", ec="grey", lw=1, zorder=0))
    # the memory cell: c_{t-1} -> x f_t -> + i_t g_t -> c_t
    ax.text(-0.9, top, "$c_{t-1}$", ha="center", va="center", fontsize=13, color=cell_colour)
    ax.text(10.9, top, "$c_t$", ha="center", va="center", fontsize=13, color=cell_colour)
    _arrow(ax, (-0.5, top), (2.5, top), cell_colour, shrink=13)
    _arrow(ax, (2.5, top), (5.0, top), cell_colour, shrink=13)
    _arrow(ax, (5.0, top), (10.5, top), cell_colour, shrink=13)
    _op(ax, 2.5, top, "×")
    _op(ax, 5.0, top, "+")
    ax.text(3.75, top + 0.35, "memory cell: no weight matrix, no squashing on this path",
            ha="center", fontsize=9, color=cell_colour)
    # the input bus: h_{t-1} from the left, x_t from below, joined
    ax.text(-0.9, bus, "$h_{t-1}$", ha="center", va="center", fontsize=13, color=h_colour)
    ax.text(1.2, -0.9, "$x_t$", ha="center", va="center", fontsize=13, color="tab:purple")
    ax.plot([-0.5, 7.5], [bus, bus], color="dimgrey", lw=2, zorder=1)
    _arrow(ax, (1.2, -0.7), (1.2, bus), "tab:purple", shrink=2)
    ax.text(1.35, bus - 0.35, "$[h_{t-1}, x_t]$", fontsize=9, va="top")
    # the four layers, each W_x x_t + W_h h_{t-1} + b, then a nonlinearity
    layers = [("f", 2.5, "σ", "forget gate $f_t$"), ("i", 4.2, "σ", "input gate $i_t$"),
              ("g", 5.8, "tanh", "candidate $g_t$"), ("o", 7.5, "σ", "output gate $o_t$")]
    for key, x, fn, _ in layers:
        _arrow(ax, (x, bus), (x, gate), "dimgrey", shrink=12)
        _box(ax, x, gate, fn, _GATE_COLOURS[key])
    ax.text(2.5 + 0.2, 3.5, "$f_t$", fontsize=11)
    _arrow(ax, (2.5, gate), (2.5, top), "dimgrey", shrink=15)
    _op(ax, 5.0, mid, "×")
    _arrow(ax, (4.2, gate), (5.0, mid), "dimgrey", shrink=15)
    _arrow(ax, (5.8, gate), (5.0, mid), "dimgrey", shrink=15)
    ax.text(4.05, 2.75, "$i_t$", fontsize=11)
    ax.text(5.75, 2.75, "$g_t$", fontsize=11)
    _arrow(ax, (5.0, mid), (5.0, top), "dimgrey", shrink=13)
    ax.text(5.15, 4.3, "$i_t \\odot g_t$", fontsize=10)
    # the output: h_t = o_t * tanh(c_t)
    ax.plot([8.8, 8.8], [top, mid + 0.3], color=cell_colour, lw=2, zorder=1)
    _op(ax, 8.8, mid, "tanh")
    _op(ax, 8.8, gate, "×")
    _arrow(ax, (8.8, mid), (8.8, gate), "dimgrey", shrink=17)
    _arrow(ax, (7.5, gate), (8.8, gate), "dimgrey", shrink=15)
    ax.text(7.9, gate + 0.15, "$o_t$", fontsize=11)
    ax.plot([8.8, 8.8], [gate - 0.3, bus], color=h_colour, lw=2, zorder=1)
    _arrow(ax, (8.8, bus), (10.5, bus), h_colour, shrink=2)
    ax.text(10.9, bus, "$h_t$", ha="center", va="center", fontsize=13, color=h_colour)
    ax.text(9.9, bus + 0.2, "to $y_t$ and\nthe next step", fontsize=8, ha="center", va="bottom")
    _lstm_legend(ax, layers, cell_colour, h_colour)
    _diagram_frame(ax, (-1.4, 11.4), (-1.3, 6.0))
    ax.set_aspect("equal")
    ax.set_title("One LSTM step: $c_t = f_t \\odot c_{t-1} + i_t \\odot g_t$, $h_t = o_t \\odot \\tanh(c_t)$")
    return ax


def plot_gradient_norms(curves: dict[str, Sequence[float]], ax=None, title: str | None = None,
                        normalise: bool = True):
    """``||d loss_T / d h_t||`` against the distance ``T - t``, log scale.

    ``curves`` maps a label to the ``(T,)`` norms returned by
    :func:`lm_course.rnn_analysis.hidden_gradient_norms`. With ``normalise``
    each curve is divided by its value at distance 0, so curves of different
    models start at 1. Notebook section: "Vanishing and exploding gradients".
    """
    if not curves:
        raise ValueError("nothing to plot: no gradient curves given")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, norms in curves.items():
        norms = np.asarray(norms, dtype=float)[::-1]  # index = distance from the loss
        if normalise:
            norms = norms / norms[0]
        distance = np.arange(len(norms))
        keep = norms > 0  # log scale: underflowed zeros cannot be drawn
        ax.plot(distance[keep], norms[keep], lw=2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance T − t (steps back from the loss)")
    ax.set_ylabel("‖∂ loss_T / ∂ h_t‖" + (" (relative to t = T)" if normalise else ""))
    ax.set_title(title or "How far back does the gradient reach?")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


def plot_gate_histograms(gates: dict[str, "np.ndarray"], names: Sequence[str] = ("i", "f", "o"),
                         ax=None, title: str | None = None):
    """Histograms of LSTM gate values (all units, all steps), e.g. from
    :func:`lm_course.rnn_analysis.lstm_gates`. Notebook section: "LSTM and GRU"."""
    full = {"i": "input gate i", "f": "forget gate f", "o": "output gate o", "g": "candidate g"}
    missing = [n for n in names if n not in gates]
    if missing:
        raise ValueError(f"no values for gate(s) {missing}; available: {sorted(gates)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.linspace(0, 1, 41)
    for n in names:
        values = np.asarray(gates[n], dtype=float).ravel()
        ax.hist(values, bins=bins, histtype="step", lw=2, density=True, label=full.get(n, n))
    ax.set_xlabel("gate value")
    ax.set_ylabel("density")
    ax.set_title(title or "LSTM gate values over a passage")
    ax.legend(fontsize=9)
    return ax




def plot_hidden_heatmap(text: str, states, units: Sequence[int], labels: Sequence[str] | None = None,
                        width: int = 70, title: str | None = None):
    """A heatmap of a few hidden units (rows) over the characters of ``text``
    (columns), wrapped every ``width`` characters; each column is the unit's
    value just after reading that character.

    ``states`` is ``(len(text), H)``. Notebook section: "Inside the hidden state".
    """
    S = np.asarray(states, dtype=float)  # (T, H)
    if S.ndim != 2 or S.shape[0] != len(text):
        raise ValueError(f"states must be (len(text)={len(text)}, units), got shape {S.shape}")
    units = list(units)
    if not units or any(not 0 <= u < S.shape[1] for u in units):
        raise ValueError(f"units must be a non-empty list of indices in 0..{S.shape[1] - 1}")
    labels = list(labels) if labels is not None else [f"unit {u}" for u in units]
    if len(labels) != len(units):
        raise ValueError("give one label per unit")
    values = S[:, units].T  # (U, T)
    limit = float(np.abs(values).max()) or 1.0
    rows = [(s, min(s + width, len(text))) for s in range(0, len(text), width)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.17 * width + 2.5, (0.28 * len(units) + 0.55) * len(rows)),
                             squeeze=False)
    for ax, (a, b) in zip(axes[:, 0], rows):
        im = ax.imshow(values[:, a:b], aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                       interpolation="nearest")
        ax.set_xticks(range(b - a), [visible(c) for c in text[a:b]], fontsize=8, family="monospace")
        ax.set_yticks(range(len(units)), labels, fontsize=8)
        ax.tick_params(length=0)
        ax.set_xlim(-0.5, width - 0.5)
    axes[-1, 0].set_xlabel("character of the passage (↵ = line break, ␣ = space)")
    axes[0, 0].set_title(title or "Hidden-unit activity over a passage")
    fig.colorbar(im, ax=axes[:, 0].tolist(), fraction=0.025, pad=0.01, label="unit value")
    return fig


def plot_clipping_runs(runs: dict[str, tuple[Sequence[float], Sequence[float]] | list],
                       uniform_bits: float | None = None):
    """Two panels against the optimiser step: the training loss and the
    gradient norm before clipping. ``runs[label]`` is one run, the tuple
    ``(losses, norms)``, or a list of such tuples (several seeds of the same set-up), drawn
    as thin lines of one colour with one legend entry, so that what every run
    shares stands out from what one run happened to do. ``uniform_bits`` draws
    the uniform guess on the loss panel. Notebook section: "Gradient clipping"."""
    if not runs:
        raise ValueError("nothing to plot: no runs given")
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (label, group) in enumerate(runs.items()):
        group = [group] if isinstance(group, tuple) else list(group)  # one run, or several seeds
        many = len(group) > 1
        for j, (losses, norms) in enumerate(group):
            style = dict(color=f"C{i}", lw=1.0 if many else 1.5, alpha=0.7 if many else 1.0,
                         label=(f"{label} ({len(group)} seeds)" if many else label) if j == 0 else None)
            ax_loss.plot(np.asarray(losses) / np.log(2), **style)
            ax_norm.plot(norms, **style)
    if uniform_bits is not None:
        ax_loss.axhline(uniform_bits, ls="--", color="gray", lw=1, label=f"uniform guess ({uniform_bits:.2f})")
    label_axes(ax_loss, "optimiser step", "training loss (bits per character)", "Loss", legend_fontsize=9)
    label_axes(ax_norm, "optimiser step", "gradient norm before clipping", "Gradient norm", yscale="log",
               legend_fontsize=9)
    fig.suptitle("Plain SGD on a vanilla RNN, with and without gradient clipping")
    fig.tight_layout()
    return fig


def plot_context_resets(every: Sequence[int], bits: Sequence[float], carried: float | None = None,
                        references: dict[str, float] | None = None, ax=None,
                        label: str = "state reset every k characters", colour: str | None = None,
                        title: str | None = None):
    """Bits per character when the recurrent state is reset every k characters,
    against k (log scale); a line for the state carried through the whole
    text and optional reference lines (e.g. other models on the scoreboard).

    Call it again with the same ``ax`` (and another ``label`` and ``colour``)
    to compare models: the carried-state line takes the curve's colour when
    ``colour`` is given (black otherwise). Notebook sections: "How much
    context does the LSTM use?" and "Random windows or a carried state?"."""
    if len(every) != len(bits) or not len(every):
        raise ValueError("give one bits value per reset interval")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.plot(every, bits, "o-", lw=2, color=colour, label=label)
    if carried is not None:
        name = "state carried through" if colour is None else f"{label.split(':')[0]}, state carried"
        ax.axhline(carried, color=colour or "black", ls="--", lw=1.5, label=f"{name} ({carried:.3f})")
    for i, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{i + 1}", ls=":", lw=1.5, label=f"{name} ({value:.3f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(every), [str(k) for k in every])
    ax.set_xlabel("k: longest context the model may use (characters)")
    ax.set_ylabel("validation bits per character")
    ax.set_title(title or "How much context does the LSTM use?")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax
