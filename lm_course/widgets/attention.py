"""Two attention widgets of ``04_attention.ipynb``.

* :func:`attention_explorer` ("Exploring attention interactively"): type a
  text, pick a layer and a head, see the model's attention map redrawn. Works
  with any model of the course that returns its attention weights (the toy
  model of :mod:`lm_course.toy_attention`, the GPT of chapters 5 and 6), or
  with weights computed beforehand.
* :func:`query_explorer` ("Attention as a soft dictionary lookup"): drag a
  query vector and watch the weights over a handful of keys, and the output
  they blend, change. By default it is exactly the example of section 1: the
  same keys, values (legs, wheels), query and unscaled scores ``q . k``.

Typed text is only ever *encoded* by the tokenizer, never evaluated. Text the
tokenizer or the model refuses shows a message in the widget instead of
raising. Drive them without a browser (tests, scripts)::

    ex = attention_explorer(model, text="abcdefgh")
    ex.text.value = "hgfedcba"; ex.head.value = 0
    ex.view().weights            # the (T, S) map the widget draws
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lm_course.interface import inference
from lm_course.validation import require_positive
from lm_course.viz._axes import literal
from lm_course.widgets.display import display_widget, error_html, shorten, show_figure

__all__ = ["AttentionExplorer", "AttentionExplorerView", "attention_explorer",
           "QueryExplorer", "QueryView", "query_explorer", "DEFAULT_LOOKUP", "DEFAULT_VALUES",
           "DEFAULT_VALUE_NAMES"]

_MEAN = "mean"
# The head dropdown's value for "every head". Not None: a Dropdown whose value
# is None has no selection, and the browser shows an empty box.
_EVERY = "every"


@dataclass
class AttentionExplorerView:
    """What the explorer shows."""

    text: str  # the text typed (empty for precomputed weights)
    tokens: list[str] = field(default_factory=list)  # the query/key tokens
    layer: int = 0
    head: int | str | None = None  # an index, "mean" or None (every head)
    weights: torch.Tensor | None = None  # (T, S) for one head/mean, (H, T, S) for every head
    layers: torch.Tensor | None = field(default=None, repr=False)  # (L, H, T, S): every layer's maps
    message: str = ""  # why there is no map, else ""

    @property
    def ok(self) -> bool:
        return not self.message


class AttentionExplorer:
    """The widget behind :func:`attention_explorer`.

    Attributes (ipywidgets, so tests can set ``.value``): ``text`` (absent
    for precomputed weights: ``None``), ``layer``, ``head``, ``info``,
    ``output``, and ``widget`` (the whole box).
    """

    def __init__(self, model: Any = None, tokenizer: Any = None, text: str = "", *,
                 attentions: Any = None, tokens: Sequence[str] | None = None, max_tokens: int = 64,
                 continuous_update: bool = False):
        import ipywidgets as widgets

        from lm_course.attention_view import stack_attention

        if (model is None) == (attentions is None):
            raise ValueError("give either a model (and a text) or precomputed attentions (and tokens)")
        max_tokens = require_positive(max_tokens, "max_tokens")
        self.model, self.max_tokens = model, max_tokens
        self.tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
        if model is not None:
            if not callable(model):
                raise TypeError("model must be callable as model(ids, output_attentions=True)")
            if not (hasattr(self.tokenizer, "encode") and hasattr(self.tokenizer, "decode")):
                raise TypeError("pass a tokenizer with encode(text) and decode(ids) (the model has none)")
            if not isinstance(text, str):
                raise TypeError(f"text must be a str, got {type(text).__name__}")
            self._fixed = None
        else:
            stacked = stack_attention(attentions)  # (L, H, T, S)
            if tokens is None:
                tokens = [str(i) for i in range(stacked.size(-1))]
            tokens = list(tokens)
            if len(tokens) != stacked.size(-1):
                raise ValueError(f"the attentions have {stacked.size(-1)} keys but {len(tokens)} tokens were given")
            self._fixed = (stacked, tokens)
        self._cache: tuple[str, Any] | None = None
        n_layers, n_heads = self._shape_hint()
        self.text = None if model is None else widgets.Text(
            value=text, description="text", continuous_update=continuous_update,
            layout=widgets.Layout(width="95%"))
        self.layer = widgets.IntSlider(value=0, min=0, max=max(n_layers - 1, 0), description="layer",
                                       disabled=n_layers == 1, continuous_update=False)
        self.head = widgets.Dropdown(
            options=[("every head", _EVERY), ("mean of heads", _MEAN)] + [(f"head {h}", h) for h in range(n_heads)],
            value=_EVERY if n_heads > 1 else 0, description="head")
        self.info = widgets.HTML()
        self.output = widgets.Output()
        controls = [c for c in (self.text,) if c is not None] + [widgets.HBox([self.layer, self.head])]
        self.widget = widgets.VBox(controls + [self.output, self.info])
        self.last_view: AttentionExplorerView | None = None
        for control in controls[:-1] + [self.layer, self.head]:
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    # ------------------------------------------------------------- the model side
    def _shape_hint(self) -> tuple[int, int]:
        """(layers, heads) from the fixed weights, or from running the model once."""
        if self._fixed is not None:
            return tuple(self._fixed[0].shape[:2])
        config = getattr(self.model, "config", None)
        n_layers = getattr(config, "n_layers", None) or getattr(config, "n_layer", None)
        n_heads = getattr(config, "n_heads", None) or getattr(config, "n_head", None)
        if n_layers and n_heads:
            return int(n_layers), int(n_heads)
        raise TypeError("cannot tell the model's layers and heads: it needs a config with n_layer(s) and n_head(s)")

    def _attentions(self, text: str) -> tuple[torch.Tensor, list[str]]:
        """``(L, H, T, S)`` weights and the tokens of ``text`` (cached per text)."""
        from lm_course.attention_view import stack_attention

        if self._cache is not None and self._cache[0] == text:
            return self._cache[1]
        ids = self.tokenizer.encode(text)  # ValueError on unknown characters
        if not ids:
            raise ValueError("type at least one token")
        if len(ids) > self.max_tokens:
            raise ValueError(f"{len(ids)} tokens is more than this explorer shows ({self.max_tokens})")
        param = next(iter(self.model.parameters()), None) if hasattr(self.model, "parameters") else None
        x = torch.tensor([ids], device=None if param is None else param.device)  # (1, T)
        with inference(self.model):
            out = self.model(x, output_attentions=True)
        tokens = [self.tokenizer.decode([i]) for i in ids]
        result = (stack_attention(out), tokens)  # (L, H, T, S)
        self._cache = (text, result)
        return result

    def view(self) -> AttentionExplorerView:
        """What the widget shows now (computed, not drawn; what tests check)."""
        text = "" if self.text is None else self.text.value
        head = None if self.head.value == _EVERY else self.head.value
        view = AttentionExplorerView(text, layer=self.layer.value, head=head)
        try:
            stacked, tokens = self._fixed if self._fixed is not None else self._attentions(text)
        except (ValueError, TypeError) as err:  # unknown character, too long, a model's refusal
            view.message = f"Cannot show this text: {err}"
            return view
        view.tokens, view.layers = tokens, stacked
        if not 0 <= view.layer < stacked.size(0):
            view.message = f"layer {view.layer} does not exist (the model has {stacked.size(0)})"
            return view
        maps = stacked[view.layer]  # (H, T, S)
        if view.head is None:
            view.weights = maps  # (H, T, S)
        elif view.head == _MEAN:
            view.weights = maps.mean(0)  # (T, S)
        else:
            view.weights = maps[view.head]  # (T, S)
        return view

    # -------------------------------------------------------------- the drawing
    @staticmethod
    def _head_name(head: int | str | None) -> str:
        return "every head" if head is None else "mean of heads" if head == _MEAN else f"head {head}"

    def figure(self, view: AttentionExplorerView):
        """The heatmap(s) of ``view`` as a closed matplotlib figure; every map
        is captioned with its layer and head."""
        import matplotlib.pyplot as plt

        from lm_course.viz.attention import plot_attention

        if not view.ok:
            raise ValueError(f"nothing to draw: {view.message}")
        T = view.weights.size(-2)
        queries = view.tokens[-T:]  # with a KV cache, queries are the last T tokens
        layers = list(view.layers[:, None])  # L x (1, H, T, S): one tensor per layer
        fig = plot_attention(layers, queries, view.tokens, layer=view.layer, head=view.head, max_cols=4,
                             title=f"Attention in layer {view.layer}, {self._head_name(view.head)}")
        plt.close(fig)
        return fig

    def refresh(self) -> AttentionExplorerView:
        """Recompute and redraw (the map is removed when there is a message
        instead); returns the view."""
        view = self.last_view = self.view()
        show_figure(self.output, self.figure(view) if view.ok else None)
        if view.ok:
            self.info.value = (f"{len(view.tokens)} tokens · each row (a query) sums to 1 · "
                               "brighter = more attention")
        else:
            self.info.value = error_html(view.message)
        return view

    def summary(self, view: AttentionExplorerView | None = None, max_queries: int = 16) -> str:
        """What the widget shows (default: now) as plain text, the static
        fallback for readers without a kernel: for each map, the key each
        query attends to most, with its weight."""
        from lm_course.attention_view import visible_tokens

        view = self.last_view if view is None else view
        head = f"Attention explorer · text “{shorten(view.text)}” · layer {view.layer}, {self._head_name(view.head)}"
        if not view.ok:
            return f"{head}\n{view.message}"
        maps = view.weights if view.weights.dim() == 3 else view.weights[None]  # (H', T, S)
        names = ([f"head {h}" for h in range(maps.size(0))] if view.head is None
                 else [self._head_name(view.head)])
        T = maps.size(-2)
        queries, keys = visible_tokens(view.tokens[-T:]), visible_tokens(view.tokens)
        lines = [head, "each query → the key it attends to most (weight):"]
        for name, m in zip(names, maps):
            best, where = m.max(dim=-1)  # (T,), (T,)
            pairs = [f"{queries[t]}→{keys[int(where[t])]} {float(best[t]):.2f}" for t in range(min(T, max_queries))]
            lines.append(f"{name}: " + ", ".join(pairs) + (", …" if T > max_queries else ""))
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def attention_explorer(model: Any = None, tokenizer: Any = None, text: str = "", *, attentions: Any = None,
                       tokens: Sequence[str] | None = None, max_tokens: int = 64,
                       continuous_update: bool = False) -> AttentionExplorer:
    """Explore a model's attention, layer by layer and head by head.

    Args:
        model: called as ``model(ids, output_attentions=True)`` with a
            ``(1, T)`` batch; its output's ``.attentions`` holds one
            ``(1, H, T, S)`` tensor per layer (the toy model, the course's GPT).
            Its ``config`` gives the number of layers and heads.
        tokenizer: encodes the typed text (default: ``model.tokenizer``).
        text: the text the box starts with.
        attentions, tokens: instead of a model, weights computed beforehand
            (any format :func:`lm_course.attention_view.stack_attention`
            takes) and their tokens.
        max_tokens: longer texts show a message instead of a crowded map.
        continuous_update: redraw on every keystroke (default: on Enter).
    """
    return AttentionExplorer(model, tokenizer, text, attentions=attentions, tokens=tokens,
                             max_tokens=max_tokens, continuous_update=continuous_update)


# --------------------------------------------------------------------------- the query explorer

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
