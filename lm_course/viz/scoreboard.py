"""The course scoreboard as a picture (every chapter ends with it; explained
in ``00_welcome.ipynb``, "The scoreboard"). The numbers are
:mod:`lm_course.scoreboard`'s."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from lm_course.scoreboard import Scoreboard, load_scoreboard
from lm_course.viz._axes import literal

__all__ = ["plot_scoreboard"]


def plot_scoreboard(board: Scoreboard | None = None, vocab_size: int | None = 63, ax=None,
                    highlight: str | None = None, span: float = 0.8):
    """A dot plot of validation and test bits-per-char, one row per model,
    zoomed on the models that matter.

    Rows go in chapter order, top to bottom. The x-axis runs from just below
    the best score to ``span`` bits above the best validation score, so that
    differences of a few hundredths of a bit are visible; a model further
    right (the uniform and unigram models) is drawn as an arrow at the edge
    with its numbers beside it. The grey step line is the best validation
    score so far, in chapter order. Rows measured on this machine (this copy's
    cache, see :func:`lm_course.scoreboard.record`) are marked ``*``; the others are the course's
    reference numbers. ``highlight`` (e.g. the model just trained) is bold.
    Notebook section: ``00_welcome.ipynb``, "The scoreboard".
    """
    board = board or load_scoreboard()
    rows = board.rows()
    if not rows:
        raise ValueError("the scoreboard is empty")
    if span <= 0:
        raise ValueError(f"span must be > 0 bits, got {span!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.9))
    best = min(e.val for e in rows)
    lo = min(min(e.val, e.test) for e in rows) - 0.06
    hi = best + span
    ys = list(range(len(rows)))[::-1]  # first row at the top
    for y, e in zip(ys, rows):
        for value, marker, color, dy in ((e.val, "o", "tab:blue", 0.12), (e.test, "s", "tab:orange", -0.12)):
            if value <= hi:
                ax.plot(value, y + dy, marker, color=color, ms=7, zorder=3)
            else:  # off the zoomed scale: an arrow at the edge
                ax.plot(hi, y + dy, ">", color=color, ms=7, zorder=3, clip_on=False)
        ax.annotate(f"{e.val:.3f} / {e.test:.3f}", (1.01, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=9)
    running = [min(e.val for e in rows[: i + 1]) for i in range(len(rows))]
    step_x = [min(r, hi) for r in running for _ in (0, 1)]  # each row's best so far, held over the row
    step_y = [y + d for y in ys for d in (0.5, -0.5)]
    ax.plot(step_x, step_y, color="gray", lw=1.2, alpha=0.7, zorder=1, label="best validation so far")
    labels = [f"ch{e.chapter}  {literal(e.name)}" + ("" if e.source == "reference" else " *") for e in rows]
    ax.set_yticks(ys, labels, fontsize=9)
    for tick, e in zip(ax.get_yticklabels(), rows):
        if e.name == highlight:
            tick.set_fontweight("bold")
    ax.plot([], [], "o", color="tab:blue", label="validation")
    ax.plot([], [], "s", color="tab:orange", label="test")
    ax.plot([], [], ">", color="gray", label=f"beyond {hi:.2f} (numbers on the right)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("bits per character (lower is better)")
    note = ("* = measured on this machine; the others are the course's reference numbers"
            if any(e.source != "reference" for e in rows) else "all rows: the course's reference numbers")
    if vocab_size:
        note += f"; uniform over {vocab_size} characters = {math.log2(vocab_size):.2f}"
    ax.set_title(f"Course scoreboard, validation / test\n{note}", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.9 / (0.42 * len(rows) + 1.9)), ncol=4, fontsize=8,
              frameon=False)
    return ax
