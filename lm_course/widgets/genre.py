"""Comedy or tragedy? Type a line, see each classifier's P(comedy) and
P(tragedy) as bars that update as you type.

Used in ``07_finetuning.ipynb`` ("Try it yourself"). The typed text is only
*encoded* by the tokenizer (never evaluated); empty text and characters
outside the vocabulary show a message instead of raising; text longer than
the model's ``block_size`` is cropped to its first ``block_size`` characters
(:func:`lm_course.finetune.encode_passage`), and the widget says so.

For tests and scripts, drive it without a browser::

    box = genre_box({"fine-tuned": clf}, tok)
    box.text.value = "O, I am slain!"
    box.last_view.probs["fine-tuned"]      # {"comedy": ..., "tragedy": ...}
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

from lm_course.classifier import GPTClassifier, classify_text
from lm_course.genre_data import CLASSES
from lm_course.widgets.display import display_widget, error_html, shorten

__all__ = ["GenreView", "GenreBox", "genre_box"]


@dataclass
class GenreView:
    """What the box shows for one text."""

    text: str  # what was typed
    probs: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> {class: probability}
    cropped: bool = False  # the text was longer than the models' block_size
    message: str = ""  # why nothing is shown (empty text, unknown character), else ""

    @property
    def ok(self) -> bool:
        return not self.message


class GenreBox:
    """The widget behind :func:`genre_box`: ``text`` (the box), ``output``
    (the bars), ``widget`` (what the notebook displays)."""

    def __init__(self, models: Mapping[str, GPTClassifier], tokenizer, text: str = "",
                 classes=CLASSES, continuous_update: bool = True):
        import ipywidgets as widgets

        if not isinstance(models, Mapping) or not models:
            raise ValueError("models must be a non-empty dict {name: GPTClassifier}")
        for name, model in models.items():
            if not isinstance(model, GPTClassifier):
                raise TypeError(f"model {name!r} is not a GPTClassifier")
            if model.n_classes != len(classes):
                raise ValueError(f"model {name!r} has {model.n_classes} classes, not {len(classes)}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        self.models, self.tokenizer, self.classes = dict(models), tokenizer, tuple(classes)
        self.block_size = min(m.block_size for m in self.models.values())
        self.text = widgets.Textarea(value=text, description="passage", continuous_update=continuous_update,
                                     placeholder="type a line of verse or prose...",
                                     layout=widgets.Layout(width="95%", height="4.5em"))
        self.output = widgets.HTML()
        self.widget = widgets.VBox([self.text, self.output])
        self.last_view: GenreView | None = None
        self.text.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    def view(self, text: str | None = None) -> GenreView:
        """Each model's class probabilities for ``text`` (default: the box's)."""
        text = self.text.value if text is None else text
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        view = GenreView(text, cropped=len(text) > self.block_size)
        try:
            for name, model in self.models.items():
                view.probs[name] = classify_text(model, self.tokenizer, text, crop=True, classes=self.classes)
        except ValueError as err:  # empty text, or UnknownCharacterError
            view.probs, view.message = {}, str(err)
        return view

    def refresh(self) -> GenreView:
        view = self.last_view = self.view()
        self.output.value = self._html(view)
        return view

    def _html(self, view: GenreView) -> str:
        if not view.ok:
            return error_html(view.message)
        colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
        rows = []
        for name, probs in view.probs.items():
            bars = "".join(
                f'<div title="{html.escape(c)}: {p:.1%}" style="width:{100 * p:.1f}%;background:'
                f'{colours[i % len(colours)]};color:white;overflow:hidden;white-space:nowrap;'
                f'padding-left:3px">{html.escape(c)} {p:.0%}</div>'
                for i, (c, p) in enumerate(probs.items()))
            rows.append(f'<div style="margin:3px 0"><b>{html.escape(name)}</b>'
                        f'<div style="display:flex;width:420px;border:1px solid #999">{bars}</div></div>')
        note = (f"<i>only the first {self.block_size} characters are read</i>" if view.cropped else "")
        return "".join(rows) + note

    def summary(self, view: GenreView | None = None) -> str:
        """What the box shows (default: now) as plain text, the static
        fallback for readers without a kernel."""
        view = self.last_view if view is None else view
        lines = [f"Comedy or tragedy? · passage “{shorten(view.text)}”"]
        if not view.ok:
            return "\n".join(lines + [view.message])
        for name, probs in view.probs.items():
            lines.append(f"{name}: " + ", ".join(f"P({c}) = {p:.2f}" for c, p in probs.items()))
        if view.cropped:
            lines.append(f"(only the first {self.block_size} characters are read)")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def genre_box(models: Mapping[str, GPTClassifier], tokenizer, text: str = "",
              continuous_update: bool = True) -> GenreBox:
    """A text box and, for each classifier in ``models``, a bar split into
    P(comedy) and P(tragedy) for the typed text."""
    return GenreBox(models, tokenizer, text=text, continuous_update=continuous_update)
