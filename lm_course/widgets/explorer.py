"""The next-token explorer: type a context, pick a model, see the most likely
next tokens as a bar chart that updates as you type.

Introduced in ``01_ngrams.ipynb`` ("What comes next? The explorer") and reused
by every later chapter with its own models: it takes any
:class:`~lm_course.interface.LanguageModel` and any tokenizer with
``encode``/``decode`` (characters or BPE).

The typed text is only ever *encoded* by the tokenizer, never evaluated.
Characters the tokenizer does not know, and contexts a model refuses, show a
message in the widget instead of raising.

For tests and scripts, drive it without a browser::

    ex = next_token_explorer({"5-gram": kn5}, tok)
    ex.text.value = "ROMEO:\\nO"        # what the reader types
    ex.model_choice.value = "5-gram"    # what the reader picks
    ex.view().tokens                    # what the chart shows
    ex.view("To be", "5-gram")          # or ask without touching the widgets
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from lm_course.gpt import GPT
from lm_course.gpt_decoding import PrefixCache
from lm_course.interface import LanguageModel
from lm_course.validation import as_id_tensor
from lm_course.tokenizers.visible import visible
from lm_course.validation import require_positive
from lm_course.viz.distributions import entropy_bits, top_tokens
from lm_course.widgets.display import display_widget, error_html, shorten, show_figure

__all__ = ["ExplorerView", "NextTokenExplorer", "next_token_explorer"]


@dataclass
class ExplorerView:
    """What the explorer shows for one context and one model."""

    model_name: str  # the model picked in the dropdown
    context: str  # the text typed in the box
    context_ids: list[int] = field(default_factory=list)  # the ids the model was given (cropped)
    tokens: list[tuple[int, str, float]] = field(default_factory=list)  # (id, label, probability), top first
    entropy: float = math.nan  # entropy of the whole next-token distribution, in bits
    message: str = ""  # why there is no chart (unknown character, refused context), else ""

    @property
    def ok(self) -> bool:
        """``True`` when there is a distribution to show."""
        return not self.message


def _check_models(models) -> dict[str, LanguageModel]:
    if isinstance(models, LanguageModel) and not isinstance(models, Mapping):
        models = {type(models).__name__: models}
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: language model} (or one model)")
    for name, model in models.items():
        if not isinstance(name, str):
            raise TypeError(f"model names must be strings, got {name!r}")
        if not isinstance(model, LanguageModel):
            raise TypeError(
                f"model {name!r} is not a LanguageModel: it needs vocab_size and next_token_probs(context)"
            )
    return dict(models)


class NextTokenExplorer:
    """The widget behind :func:`next_token_explorer`.

    Attributes (all ipywidgets, so tests can set their ``.value``):
        text: the context box.
        model_choice: the model dropdown.
        top_k: how many bars to draw.
        info: the line under the chart (context seen, entropy, or a message).
        output: where the chart is drawn.
        widget: the whole box (what the notebook displays).
    """

    def __init__(self, models, tokenizer, context: str = "", top_k: int = 10,
                 continuous_update: bool = True, max_context_chars: int = 2000):
        import ipywidgets as widgets

        self.models = _check_models(models)
        if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
            raise TypeError("tokenizer needs encode(text) and decode(ids) methods")
        vocab = getattr(tokenizer, "vocab_size", None)
        for name, model in self.models.items():
            if vocab is not None and model.vocab_size != vocab:
                raise ValueError(
                    f"model {name!r} has vocab_size {model.vocab_size} but the tokenizer has {vocab}"
                )
        top_k = require_positive(top_k, "top_k")
        if not isinstance(context, str):
            raise TypeError(f"context must be a str, got {type(context).__name__}")
        self.tokenizer = tokenizer
        self.max_context_chars = max_context_chars
        # a GPT answers a keystroke from the keys and values of the text before it (lm_course.gpt.PrefixCache)
        self._ask = {name: (PrefixCache(m) if isinstance(m, GPT) else m).next_token_probs
                     for name, m in self.models.items()}
        self.text = widgets.Textarea(value=context, description="context",
                                     continuous_update=continuous_update,
                                     placeholder="type some text...",
                                     layout=widgets.Layout(width="95%", height="4em"))
        self.model_choice = widgets.Dropdown(options=list(self.models), description="model")
        self.top_k = widgets.IntSlider(value=top_k, min=1, max=max(30, top_k), description="top k",
                                       continuous_update=continuous_update)
        self.info = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([self.text, widgets.HBox([self.model_choice, self.top_k]),
                                    self.output, self.info])
        self.last_view: ExplorerView | None = None
        for control in (self.text, self.model_choice, self.top_k):
            control.observe(self._on_change, names="value")
        self.refresh()

    # ------------------------------------------------------------- the model side
    def view(self, text: str | None = None, model: str | None = None) -> ExplorerView:
        """Compute what the explorer shows (no drawing; what the tests check).

        By default for the text in the box and the model in the dropdown;
        ``text`` and ``model`` (a dropdown name) ask about others without
        touching the widgets.
        """
        name = self.model_choice.value if model is None else model
        text = self.text.value if text is None else text
        if name not in self.models:
            raise ValueError(f"unknown model {name!r}; choose one of {list(self.models)}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        model = self.models[name]
        view = ExplorerView(name, text)
        if len(text) > self.max_context_chars:
            text = text[-self.max_context_chars:]  # no model here reads further back
        try:
            ids = self.tokenizer.encode(text)
        except ValueError as err:  # e.g. UnknownCharacterError: a character outside the vocabulary
            view.message = f"Cannot read this context: {err}"
            return view
        window = getattr(model, "context_length", None)
        if window is not None:
            ids = ids[len(ids) - window:] if 0 < window < len(ids) else (ids if window else [])
        view.context_ids = list(ids)
        try:
            probs = self._ask[name](as_id_tensor(ids, model.vocab_size, "context").tolist())
        except ValueError as err:  # the model refuses this context (e.g. it needs one token)
            view.message = f"{name} cannot predict from this context: {err}"
            return view
        view.tokens = top_tokens(probs, tokenizer=self.tokenizer, top_k=self.top_k.value)
        view.entropy = entropy_bits(probs)
        return view

    # -------------------------------------------------------------- the drawing
    def _on_change(self, _change) -> None:
        self.refresh()

    def refresh(self) -> ExplorerView:
        """Recompute the view and redraw the chart (removed when there is a
        message instead); returns the view."""
        view = self.last_view = self.view()
        show_figure(self.output, self.figure(view) if view.ok else None)
        self.info.value = self._info_html(view)
        return view

    def figure(self, view: ExplorerView):
        """The bar chart of ``view`` as a closed matplotlib figure."""
        import matplotlib.pyplot as plt

        from lm_course.viz.distributions import plot_next_token_probs

        fig, ax = plt.subplots(figsize=(6, 0.3 * len(view.tokens) + 1.4))
        probs = [0.0] * self.models[view.model_name].vocab_size
        for i, _, p in view.tokens:
            probs[i] = p
        shown = self.tokenizer.decode(view.context_ids[-24:]) if view.context_ids else ""
        more = "…" if len(view.context_ids) > 24 else ""
        plot_next_token_probs(probs, tokenizer=self.tokenizer, top_k=len(view.tokens), ax=ax,
                              title=f"{view.model_name}: next token after “{more}{visible(shown)}”")
        fig.tight_layout()
        plt.close(fig)
        return fig

    def _seen(self, view: ExplorerView) -> str:
        return visible(self.tokenizer.decode(view.context_ids)) if view.context_ids else "∅ (empty)"

    def _info_html(self, view: ExplorerView) -> str:
        if not view.ok:
            return error_html(view.message)
        return (f"{html.escape(view.model_name)} reads the last {len(view.context_ids)} token(s): "
                f"<code>{html.escape(self._seen(view))}</code> · entropy of its prediction: "
                f"{view.entropy:.2f} bits")

    def summary(self, view: ExplorerView | None = None) -> str:
        """What the widget shows (default: now), as plain text: the static
        fallback a notebook keeps for readers without a kernel."""
        view = self.last_view if view is None else view
        head = f"Next-token explorer · {view.model_name} · context “{shorten(view.context)}”"
        if not view.ok:
            return f"{head}\n{view.message}"
        tokens = "  ".join(f"{label} {p:.3f}" for _, label, p in view.tokens)
        return (f"{head}\nreads the last {len(view.context_ids)} token(s); top {len(view.tokens)} next tokens: "
                f"{tokens}\nentropy of the prediction: {view.entropy:.2f} bits")

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def next_token_explorer(models: Mapping[str, LanguageModel] | LanguageModel, tokenizer,
                        context: str = "", top_k: int = 10,
                        continuous_update: bool = True) -> NextTokenExplorer:
    """An interactive bar chart of the next-token distribution.

    Args:
        models: ``{name: model}`` shown in a dropdown (e.g. several orders and
            smoothings), or a single model. Any
            :class:`~lm_course.interface.LanguageModel`; a model's
            ``context_length`` (if it has one) crops the context it is given.
        tokenizer: encodes the typed text and labels the bars (``decode``).
        context: the text the box starts with.
        top_k: how many next tokens to draw (a slider changes it).
        continuous_update: redraw on every keystroke (``False``: when the box
            loses focus or Enter is pressed).

    Returns a :class:`NextTokenExplorer`; a notebook displays it as a widget.
    """
    return NextTokenExplorer(models, tokenizer, context=context, top_k=top_k,
                             continuous_update=continuous_update)
