"""The query explorer of ``04_attention.ipynb``, section "Attention as a soft
dictionary lookup": drag a query vector and watch the weights over a handful
of keys, and the output they blend, change. By default it is exactly the
example of that section: the same keys, values (legs, wheels), query and
unscaled scores ``q . k``. Drive it without a browser (tests, scripts)::

    ex = query_explorer()
    ex.qx.value = 0.5
    ex.view().weights            # the weights the widget draws
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lm_course.viz._axes import literal
from lm_course.widgets.display import display_widget, show_figure

__all__ = ["QueryExplorer", "QueryView", "query_explorer", "DEFAULT_LOOKUP", "DEFAULT_VALUES",
           "DEFAULT_VALUE_NAMES"]

# Section 1 ("Attention as a soft dictionary lookup"): the four entries of the
# notebook's example. Keys are 2-D ("is a pet", "is big"), values count legs
# and wheels, and the scores are the unscaled dot products q . k, so the
# explorer's first picture is exactly what that section prints.
DEFAULT_LOOKUP: dict[str, tuple[float, float]] = {
    "cat": (1.0, 0.2), "dog": (0.8, 0.6), "car": (-0.9, 0.4), "bus": (-0.7, -0.8),
}
DEFAULT_VALUES: tuple[tuple[float, float], ...] = ((4.0, 0.0), (4.0, 0.0), (0.0, 4.0), (0.0, 6.0))
DEFAULT_VALUE_NAMES: tuple[str, ...] = ("legs", "wheels")


@dataclass
class QueryView:
    query: torch.Tensor  # (d,)
    scores: torch.Tensor  # (S,) sharpness * q . k (divided by sqrt(d) when scaled)
    weights: torch.Tensor  # (S,) softmax of the scores
    output: torch.Tensor  # (dv,) the weighted sum of the values


class QueryExplorer:
    """The widget behind :func:`query_explorer`. Attributes: ``qx``, ``qy``
    (the query's coordinates), ``sharpness`` (multiplies the scores, like
    scaling the query up), ``scaled`` (divide the scores by ``sqrt(d)``, as
    scaled dot-product attention does), ``output``, ``info``, ``widget``."""

    def __init__(self, keys: Mapping[str, Sequence[float]] | None = None, values: Any = None,
                 query: Sequence[float] = (1.0, 0.0), continuous_update: bool = True, *,
                 value_names: Sequence[str] | None = None, scaled: bool = False):
        import ipywidgets as widgets

        if keys is None and values is None:
            values = DEFAULT_VALUES
            value_names = DEFAULT_VALUE_NAMES if value_names is None else value_names
        keys = dict(DEFAULT_LOOKUP if keys is None else keys)
        if not keys:
            raise ValueError("keys must name at least one key: {label: (x, y)}")
        self.labels = [str(k) for k in keys]
        self.keys = torch.tensor([list(map(float, v)) for v in keys.values()])  # (S, 2)
        if self.keys.dim() != 2 or self.keys.size(1) != 2:
            raise ValueError("every key must be a 2-D point (x, y), so that it can be drawn")
        S = self.keys.size(0)
        one_hot = values is None
        self.values = torch.eye(S) if one_hot else torch.as_tensor(values, dtype=torch.float32)  # (S, dv)
        if self.values.dim() != 2 or self.values.size(0) != S:
            raise ValueError(f"values must be a ({S}, dv) matrix: one value per key")
        if value_names is None:
            value_names = self.labels if one_hot else [f"value {i}" for i in range(self.values.size(1))]
        self.value_names = [str(n) for n in value_names]
        if len(self.value_names) != self.values.size(1):
            raise ValueError(f"value_names must name the {self.values.size(1)} components of a value, "
                             f"got {len(self.value_names)}")
        if len(query) != 2:
            raise ValueError("the query must be a 2-D point (x, y)")
        slider = dict(min=-3.0, max=3.0, step=0.05, continuous_update=continuous_update)
        self.qx = widgets.FloatSlider(value=float(query[0]), description="query x", **slider)
        self.qy = widgets.FloatSlider(value=float(query[1]), description="query y", **slider)
        # powers of 2 from 1/8 to 32: 1, 4 and 16 are the "query x 1, 4, 16" of section 1
        self.sharpness = widgets.FloatLogSlider(value=1.0, base=2, min=-3, max=5, step=0.5,
                                                description="sharpness", continuous_update=continuous_update)
        self.scaled = widgets.Checkbox(value=bool(scaled), description="divide by √d", indent=False)
        self.output = widgets.Output()
        self.info = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.qx, self.qy, self.sharpness, self.scaled]),
                                    self.output, self.info])
        for control in (self.qx, self.qy, self.sharpness, self.scaled):
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    def view(self) -> QueryView:
        """What the widget shows now (computed, not drawn; what tests check)."""
        q = torch.tensor([self.qx.value, self.qy.value])  # (2,)
        scores = float(self.sharpness.value) * (self.keys @ q)  # (S,)
        if self.scaled.value:
            scores = scores / math.sqrt(q.numel())  # (S,)
        weights = torch.softmax(scores, dim=0)  # (S,)
        return QueryView(q, scores, weights, weights @ self.values)  # output: (dv,)

    def refresh(self) -> QueryView:
        """Recompute and redraw; returns the view."""
        v = self.view()
        show_figure(self.output, self.figure(v))
        self.info.value = (f"weights: {html.escape(self._weights_text(v))}<br>"
                           f"output = Σ weight × value = <code>{html.escape(self._output_text(v))}</code>")
        return v

    def _weights_text(self, v: QueryView) -> str:
        return ", ".join(f"{name} {w:.3f}" for name, w in zip(self.labels, v.weights.tolist()))

    def _output_text(self, v: QueryView) -> str:
        return ", ".join(f"{x:.2f} {name}" for x, name in zip(v.output.tolist(), self.value_names))

    def figure(self, v: QueryView):
        """The query, the keys and the weights of ``v`` (a closed matplotlib figure)."""
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
        ax1.scatter(self.keys[:, 0], self.keys[:, 1], s=40 + 400 * v.weights.numpy(), c="tab:blue",
                    alpha=0.7, label="keys (size = weight)")
        for (x, y), name in zip(self.keys.tolist(), self.labels):
            ax1.annotate(literal(name), (x, y), textcoords="offset points", xytext=(6, 6))
        ax1.annotate("", xy=v.query.tolist(), xytext=(0, 0),
                     arrowprops=dict(arrowstyle="->", color="tab:red", lw=2))
        ax1.plot([], [], color="tab:red", lw=2, label="query")
        ax1.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2), xlabel="dimension 1", ylabel="dimension 2",
                title="Query and keys")
        ax1.axhline(0, color="grey", lw=0.5)
        ax1.axvline(0, color="grey", lw=0.5)
        ax1.legend(loc="lower left", fontsize=8)
        formula = "softmax(q·k / √d)" if self.scaled.value else "softmax(q·k)"
        if self.sharpness.value != 1:
            formula = formula.replace("q·k", f"{self.sharpness.value:g} q·k")
        ax2.bar([literal(k) for k in self.labels], v.weights.numpy(), color="tab:blue", label=formula)
        ax2.set(ylim=(0, 1), xlabel="key", ylabel="attention weight", title="Weights (they sum to 1)")
        ax2.legend(fontsize=8)
        plt.close(fig)
        return fig

    def summary(self, v: QueryView | None = None) -> str:
        """What the widget shows (default: now) as plain text, the static
        fallback for readers without a kernel."""
        v = self.view() if v is None else v
        q = ", ".join(f"{x:.2f}" for x in v.query.tolist())
        return (f"Query explorer · query ({q}) · sharpness {self.sharpness.value:g}"
                f"{' · divided by √d' if self.scaled.value else ''}\n"
                f"weights: {self._weights_text(v)}\noutput = Σ weight × value = {self._output_text(v)}")

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def query_explorer(keys: Mapping[str, Sequence[float]] | None = None, values: Any = None,
                   query: Sequence[float] = (1.0, 0.0), continuous_update: bool = True, *,
                   value_names: Sequence[str] | None = None, scaled: bool = False) -> QueryExplorer:
    """Drag a 2-D query and watch the attention weights over a few keys change.

    Args:
        keys: ``{label: (x, y)}`` (default: :data:`DEFAULT_LOOKUP`, the
            cat/dog/car/bus keys of section 1).
        values: ``(S, dv)``, one value per key (default: with the default keys,
            section 1's legs and wheels, :data:`DEFAULT_VALUES`; with your own
            keys, one-hot, so the output equals the weights).
        query: the starting query (section 1's ``(1, 0)``).
        value_names: a name for each of the ``dv`` components of a value.
        scaled: start with the scores divided by ``sqrt(d)`` (``d = 2``), as in
            scaled dot-product attention; by default they are the plain dot
            products ``q . k`` of section 1.
    """
    return QueryExplorer(keys, values, query, continuous_update, value_names=value_names, scaled=scaled)
