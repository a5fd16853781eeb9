"""What each decoding strategy does to a next-token distribution, and the
KV cache's speed, as pictures (``06_gpt2_sampling.ipynb``: "Temperature",
"Top-k", "Top-p (nucleus) sampling", "The repetition penalty", "Beam
search", "The KV cache").

Every function takes the model's raw ``logits`` ``(V,)`` for one position and
a ``tokenizer`` (anything with ``decode``) or ``labels`` (one string per id)
to name the bars; the filtering itself is :func:`lm_course.sampling.filter_logits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from lm_course.sampling import filter_logits
from lm_course.viz._axes import label_axes
from lm_course.tokenizers.visible import visible
from lm_course.validation import require_positive

__all__ = ["plot_temperature", "plot_filtered_probs", "plot_top_p_cut", "plot_kept_counts",
           "plot_cumulative_log_prob", "plot_generation_speed"]


def _logits(logits) -> torch.Tensor:
    logits = torch.as_tensor(logits, dtype=torch.float64).detach().cpu()
    if logits.dim() != 1 or logits.numel() < 2:
        raise ValueError(f"logits must be a 1-D tensor (V,) for one position, got shape {tuple(logits.shape)}")
    return logits


def _labels(ids: Sequence[int], tokenizer=None, labels: Sequence[str] | None = None) -> list[str]:
    if labels is not None:
        return [visible(str(labels[i])) for i in ids]
    if tokenizer is not None:
        return [visible(tokenizer.decode([i])) for i in ids]
    return [f"#{i}" for i in ids]


def _top_ids(probs: torch.Tensor, top_n: int) -> list[int]:
    top_n = require_positive(top_n, "top_n")
    return torch.argsort(probs, descending=True, stable=True)[:top_n].tolist()


def _axes(ax, n_bars: int, width: float = 7.5):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(width, 0.42 * n_bars + 1.5), 3.6))
    return ax


def _token_axis(ax, labels: list[str]) -> None:
    ax.set_xticks(np.arange(len(labels)), labels, fontfamily="DejaVu Sans Mono")
    ax.set_xlabel("next token, most probable first (␣ = space, ↵ = newline)")
    ax.grid(axis="y", alpha=0.3)


def plot_temperature(logits, temperatures: Sequence[float] = (0.5, 1.0, 2.0), tokenizer=None,
                     labels: Sequence[str] | None = None, top_n: int = 15, ax=None, title: str | None = None):
    """Probabilities of the ``top_n`` most likely tokens (ranked at T = 1)
    after dividing the logits by each temperature: grouped bars.

    Below 1 the distribution sharpens towards the top token; above 1 it
    flattens towards uniform. The order of the tokens never changes.
    """
    z = _logits(logits)
    if not temperatures:
        raise ValueError("give at least one temperature")
    ids = _top_ids(torch.softmax(z, -1), top_n)
    ax = _axes(ax, len(ids))
    width = 0.8 / len(temperatures)
    colours = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green", "tab:brown"]
    for j, t in enumerate(temperatures):
        p = torch.softmax(filter_logits(z, temperature=t), -1)[ids].numpy()  # (top_n,)
        xs = np.arange(len(ids)) + (j - (len(temperatures) - 1) / 2) * width
        ax.bar(xs, p, width=width, color=colours[j % len(colours)], label=f"T = {t:g}")
    _token_axis(ax, _labels(ids, tokenizer, labels))
    ax.set_ylabel("probability")
    ax.set_title(title or "Temperature reshapes the distribution: softmax(z / T)")
    ax.legend()
    return ax


def plot_filtered_probs(logits, tokenizer=None, labels: Sequence[str] | None = None, top_n: int = 20,
                        ax=None, title: str | None = None, prev_tokens: Sequence[int] | None = None,
                        **settings):
    """The ``top_n`` most likely tokens before (grey) and after (colour)
    :func:`~lm_course.sampling.filter_logits` with ``settings``
    (``temperature``, ``top_k``, ``top_p``, ``repetition_penalty``), both as
    probabilities. Removed tokens are marked ✕; with a repetition penalty the
    tokens already in ``prev_tokens`` are hatched.
    """
    z = _logits(logits)
    before = torch.softmax(z, -1)  # (V,)
    filtered = filter_logits(z, prev_tokens=prev_tokens, **settings)  # (V,)
    after = torch.softmax(filtered, -1)  # (V,)
    ids = _top_ids(before, top_n)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax = _axes(ax, len(ids))
    xs = np.arange(len(ids))
    ax.bar(xs - 0.2, before[ids].numpy(), width=0.4, color="0.75")
    seen = set(int(i) for i in prev_tokens) if prev_tokens is not None else set()
    hatches = ["//" if i in seen and settings.get("repetition_penalty", 1.0) != 1.0 else "" for i in ids]
    bars = ax.bar(xs + 0.2, after[ids].numpy(), width=0.4, color="tab:blue")
    for bar, hatch in zip(bars, hatches):
        bar.set_hatch(hatch)
    handles = [Patch(color="0.75", label="before"), Patch(color="tab:blue", label="after (renormalised)")]
    removed = [x for x, i in zip(xs, ids) if not torch.isfinite(filtered[i])]
    if removed:
        ax.plot(np.array(removed) + 0.2, np.zeros(len(removed)), "x", color="tab:red", ms=8, mew=2)
        handles.append(Line2D([], [], ls="", marker="x", color="tab:red", ms=8, mew=2, label="removed (-inf)"))
    if any(hatches):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="already in the text (penalised)"))
    _token_axis(ax, _labels(ids, tokenizer, labels))
    ax.set_ylabel("probability")
    described = ", ".join(f"{k}={v}" for k, v in settings.items())
    kept = int(torch.isfinite(filtered).sum())
    ax.set_title(title or f"filter_logits({described}): {kept} of {len(z)} tokens left")
    ax.legend(handles=handles, fontsize=8)
    return ax


def plot_top_p_cut(logits, top_p: float = 0.9, tokenizer=None, labels: Sequence[str] | None = None,
                   top_n: int = 25, ax=None, title: str | None = None, temperature: float = 1.0):
    """Nucleus sampling's cut: the probabilities sorted from the largest
    (bars) and their running total (line). The nucleus is the shortest prefix
    whose total reaches ``top_p``; its bars are coloured, the rest grey."""
    z = _logits(logits)
    probs = torch.softmax(filter_logits(z, temperature=temperature), -1)  # (V,)
    kept = torch.isfinite(filter_logits(z, temperature=temperature, top_p=top_p))  # (V,)
    ids = _top_ids(probs, top_n)
    ax = _axes(ax, len(ids))
    xs = np.arange(len(ids))
    p = probs[ids].numpy()
    colours = ["tab:blue" if kept[i] else "0.75" for i in ids]
    ax.bar(xs, p, color=colours)
    ax.plot(xs, np.cumsum(p), "o-", color="tab:green", ms=3, label="running total of the probability")
    ax.axhline(top_p, color="tab:red", ls="--", lw=1, label=f"p = {top_p:g}")
    n_kept = int(kept.sum())
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(color="tab:blue", label=f"the nucleus: {n_kept} token{'s' if n_kept != 1 else ''}"),
                Patch(color="0.75", label="removed")]
    _token_axis(ax, _labels(ids, tokenizer, labels))
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or f"Top-p = {top_p:g}: keep the most probable tokens until their total reaches p")
    ax.legend(handles=handles, fontsize=8, loc="center right")
    return ax


def _log_ticks(ax, top: float) -> None:
    """Plain-number ticks 1, 2, 5, 10, 20, 50, ... on a log y axis up to ``top``."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    ticks = [m * 10 ** e for e in range(7) for m in (1, 2, 5) if m * 10 ** e <= max(top, 1) * 1.05]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_kept_counts(counts: Mapping[str, Sequence[int]], text: str | Sequence[str] | None = None, ax=None,
                     title: str | None = None):
    """How many tokens each rule keeps at every position of a text
    (``{label: counts}``): top-k is flat, top-p follows the model's certainty.

    ``text`` names the positions on the x axis when there are at most 80: a
    string (one character per position, for a character model) or one string
    per position (the tokens of a BPE model, drawn rotated).
    """
    import matplotlib.pyplot as plt

    if not counts:
        raise ValueError("nothing to plot: counts is empty")
    n = max(len(v) for v in counts.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(max(10, 0.2 * n + 1.5), 3.4))
    for label, values in counts.items():
        ax.step(np.arange(len(values)), list(values), where="mid", label=label)
    if text is not None and len(text) <= 80:
        ticks = [visible(str(t)) for t in text]
        rotation = 90 if any(len(t) > 1 for t in ticks) else 0
        ax.set_xticks(np.arange(len(ticks)), ticks, fontfamily="DejaVu Sans Mono", fontsize=9, rotation=rotation)
        ax.set_xlabel("position in the text (the token the model has just read; ␣ = space, ↵ = newline)")
    else:
        ax.set_xlabel("position in the text")
    ax.set_ylabel("tokens kept (log scale)")
    ax.set_yscale("log")
    _log_ticks(ax, max(max(v) for v in counts.values() if len(v)))
    ax.grid(alpha=0.3)
    ax.set_title(title or "How many candidate tokens each rule keeps")
    ax.legend(fontsize=8)
    return ax


def plot_cumulative_log_prob(log_probs: Mapping[str, Sequence[float]], ax=None, title: str | None = None):
    """Beam search's picture: the running total ``sum_{s <= t} ln p(x_s | x_<s)``
    of each continuation (``{label: per-token ln p}``) against the number of
    tokens generated. The highest curve at the right end is the most probable
    continuation; a curve that falls early and ends high is a beam that gave
    up probability at first to gain it later, which greedy never does."""
    import matplotlib.pyplot as plt

    if not log_probs:
        raise ValueError("nothing to plot: log_probs is empty")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    for label, values in log_probs.items():
        total = np.cumsum(np.asarray(values, dtype=float))
        if total.size == 0:
            raise ValueError(f"{label!r} has no tokens")
        ax.plot(np.arange(1, total.size + 1), total, lw=1.8, label=f"{label} (total {total[-1]:.1f})")
    label_axes(ax, "tokens generated", "running total of ln p (higher = more probable)",
               title or "Beam search: total log-probability of each continuation", legend_fontsize=8)
    return ax


def plot_generation_speed(timings: Mapping[str, torch.Tensor | Sequence[float]], title: str | None = None):
    """Two panels from :func:`~lm_course.sampling.generation_timings` runs
    ``{label: cumulative seconds per token}``: the time to generate ``n``
    tokens, and the time each token took (milliseconds for step ``n``; step 1
    includes running the prompt)."""
    import matplotlib.pyplot as plt

    if not timings:
        raise ValueError("nothing to plot: timings is empty")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, seconds in timings.items():
        seconds = np.asarray(seconds, dtype=float)
        n = np.arange(1, len(seconds) + 1)
        per_step = 1000 * np.diff(seconds, prepend=0.0)  # ms for each token
        left.plot(n, seconds, "o-", ms=2, label=label)
        right.plot(n, per_step, "o-", ms=2, label=label)
    label_axes(left, "tokens generated", "seconds since the start", "Time to generate n tokens")
    label_axes(right, "token n", "milliseconds for token n", "Time per token (token 1 also runs the prompt)")
    right.set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
