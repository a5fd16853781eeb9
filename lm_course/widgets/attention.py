"""The attention explorer of ``04_attention.ipynb``.

* :func:`attention_explorer` ("Exploring attention interactively"): type a
  text, pick a layer and a head, see the model's attention map redrawn. Works
  with any model of the course that returns its attention weights (the toy
  model of :mod:`lm_course.toy_attention`, the GPT of chapters 5 and 6), or
  with weights computed beforehand.
* the query explorer of section 1 is in :mod:`lm_course.widgets.query`.

Typed text is only ever *encoded* by the tokenizer, never evaluated. Text the
tokenizer or the model refuses shows a message in the widget instead of
raising. Drive it without a browser (tests, scripts)::

    ex = attention_explorer(model, text="abcdefgh")
    ex.text.value = "hgfedcba"; ex.head.value = 0
    ex.view().weights            # the (T, S) map the widget draws
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lm_course.interface import inference
from lm_course.validation import require_positive
from lm_course.widgets.display import display_widget, error_html, shorten, show_figure

__all__ = ["AttentionExplorer", "AttentionExplorerView", "attention_explorer"]

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
