"""Plots for the corpus tour of ``00_welcome.ipynb`` ("A tour of the corpus")."""

from __future__ import annotations

import re
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from lm_course.tokenizers.visible import visible

__all__ = ["plot_play_lengths", "plot_char_frequencies", "plot_zipf"]

_SPLIT_COLOURS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}


def plot_play_lengths(plays: dict[str, str], split_of: dict[str, str], ax=None):
    """One bar per play (characters), coloured by the split it belongs to."""
    names = sorted(plays, key=lambda n: len(plays[n]))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 7))
    colours = [_SPLIT_COLOURS[split_of[n]] for n in names]
    ax.barh(names, [len(plays[n]) / 1000 for n in names], color=colours)
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=split) for split, colour in _SPLIT_COLOURS.items()]
    ax.set_xlabel("thousands of characters")
    ax.set_ylabel("play")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("Length of each play, coloured by split")
    ax.legend(handles=handles, title="split", loc="lower right")
    return ax


def plot_char_frequencies(text: str, ax=None):
    """Bar chart of every character's relative frequency, most common first."""
    counts = Counter(text).most_common()
    labels = [visible(c) for c, _ in counts]
    freqs = np.array([n for _, n in counts]) / len(text)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.5))
    ax.bar(range(len(freqs)), freqs, color="tab:blue", label="relative frequency")
    ax.set_xticks(range(len(freqs)), labels, fontsize=8)
    ax.set_xlabel("character (␣ = space, ↵ = line break)")
    ax.set_ylabel("relative frequency")
    ax.set_title(f"Character frequencies ({len(counts)} distinct characters)")
    ax.legend()
    return ax


def word_counts(text: str) -> Counter:
    """Lower-cased word counts (letters and apostrophes)."""
    return Counter(re.findall(r"[a-z']+", text.lower()))


def zipf_exponent(counts: np.ndarray, lo: int = 1, hi: int = 10_000) -> tuple[float, float]:
    """Least-squares fit of ``log f = log C - a log r`` on 50 log-spaced ranks
    in ``lo..hi`` (so each decade weighs the same, rather than the thousands
    of rare words dominating); returns ``(a, C)``. Zipf's law says ``a`` is
    close to 1."""
    ranks = np.unique(np.geomspace(lo, min(hi, len(counts)), 50).astype(int))
    slope, intercept = np.polyfit(np.log(ranks), np.log(counts[ranks - 1]), 1)
    return float(-slope), float(np.exp(intercept))


def plot_zipf(text: str, ax=None):
    """Rank-frequency plot of words on log-log axes, with a fitted power law
    ``f(r) = C / r^a`` (Zipf 1935 predicts ``a`` close to 1)."""
    counts = np.array(sorted(word_counts(text).values(), reverse=True), dtype=float)
    ranks = np.arange(1, len(counts) + 1)
    a, c = zipf_exponent(counts)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    ax.loglog(ranks, counts, ".", ms=3, label="words of the corpus")
    ax.loglog(ranks, c / ranks ** a, "--", color="tab:red",
              label=rf"power law fitted on ranks 1-10$^4$: $f(r) = {c:,.0f} / r^{{{a:.2f}}}$")
    ax.set_xlabel("rank of the word (1 = most frequent)")
    ax.set_ylabel("count")
    ax.set_title("Zipf's law in Shakespeare")
    ax.legend()
    return ax
