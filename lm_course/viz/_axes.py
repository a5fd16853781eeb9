"""Small helpers shared by the plotting modules of ``lm_course.viz``."""

from __future__ import annotations


def label_axes(ax, xlabel: str, ylabel: str, title: str, *, yscale: str | None = None,
               legend_fontsize: float | str | None = None):
    """Axis labels, a title, a light grid and the legend: what every course plot has."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if yscale is not None:
        ax.set_yscale(yscale)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_fontsize)
    return ax
