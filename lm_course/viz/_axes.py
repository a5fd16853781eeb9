"""Small helpers shared by the plotting modules of ``lm_course.viz``."""

from __future__ import annotations


def literal(text: object) -> str:
    r"""``text`` drawn as typed: every ``$`` escaped, so matplotlib never
    typesets a typed ``costs $5 and $6`` as mathematics (nor fails on an
    unbalanced ``$\frac{ $``). Titles, tick labels and annotations that hold
    text a user typed (or a token) go through it.

    >>> literal("costs $5 and $6")
    'costs \\$5 and \\$6'
    """
    return str(text).replace("$", r"\$")


def label_axes(ax, xlabel: str, ylabel: str, title: str, *, yscale: str | None = None,
               legend_fontsize: float | str | None = None):
    """Axis labels, a title, a light grid and the legend: what every course plot has."""
    ax.set_xlabel(literal(xlabel))
    ax.set_ylabel(literal(ylabel))
    ax.set_title(literal(title))
    if yscale is not None:
        ax.set_yscale(yscale)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_fontsize)
    return ax
