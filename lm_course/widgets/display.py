"""What the course widgets share: how a chart goes into an ``Output``, how a
message is shown, and the plain-text fallback a notebook keeps for readers
without a kernel.

Used by every widget of this package (chapters 1-7: the next-token
explorer, the attention explorer of ``04_attention.ipynb``, the sampling
playground of ``06_gpt2_sampling.ipynb``, the BPE explorer of
``02_tokens_and_embeddings.ipynb``).

* :func:`show_figure` *replaces* what an ``Output`` holds (its ``outputs``
  trait, one assignment, synced to the browser), so a message never sits
  next to the chart of an earlier text, as a message next to a chart drawn
  with ``clear_output(wait=True)`` did: a deferred clear only happens when
  new output arrives, and after an error none does. It is the genre box's
  approach (one HTML value holds either the bars or the message) for
  widgets that draw matplotlib figures. It also makes what a widget shows
  readable from Python: ``output.outputs`` is ``()`` or one PNG.
* :func:`display_widget` displays a widget with a readable ``text/plain``
  (what the widget shows, in words) instead of ipywidgets' ``VBox(children=...)``:
  that text is what JupyterLab shows for an untrusted notebook, and what
  GitHub, nbviewer and nbval see, before any kernel runs.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["error_html", "shorten", "figure_output", "show_figure", "display_widget", "FALLBACK_NOTE"]

#: The last line of every widget's text fallback.
FALLBACK_NOTE = "(an interactive widget: run the notebook's cells to use it)"


def error_html(message: str, quote: bool = True) -> str:
    """``message`` as the widgets' red warning line, HTML-escaped (typed text
    is shown, never interpreted; ``quote=False`` leaves quotes as they are)."""
    return f'<span style="color:#b00020">⚠ {html.escape(str(message), quote=quote)}</span>'


def shorten(text: str, n: int = 60) -> str:
    """The last ``n`` characters of ``text``, with whitespace made visible
    (``…`` in front when cut)."""
    from lm_course.tokenizers.visible import visible

    return ("…" if len(text) > n else "") + visible(text[-n:]) if text else "∅"


def figure_output(fig: Any) -> dict:
    """A matplotlib figure as one notebook output (``display_data`` with a
    base64 PNG, drawn as the inline backend draws it, and a text form)."""
    from IPython.core.pylabtools import print_figure

    png = print_figure(fig, "png", base64=True)
    if png is None:  # a figure with no axes draws nothing
        raise ValueError("the figure has no axes: nothing to draw")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": png, "text/plain": repr(fig)}}


def show_figure(output: Any, fig: Any = None) -> None:
    """Make ``output`` (an ``ipywidgets.Output``) show ``fig`` and nothing
    else, or nothing at all when ``fig`` is ``None`` (the chart of the
    previous text is removed, never left beside a message)."""
    output.outputs = () if fig is None else (figure_output(fig),)


def display_widget(widget: Any, text: str) -> None:
    """Display ``widget`` (an ipywidget) with ``text`` as its ``text/plain``
    form (followed by :data:`FALLBACK_NOTE`)."""
    from IPython.display import display

    bundle = dict(widget._repr_mimebundle_())
    bundle["text/plain"] = f"{text}\n{FALLBACK_NOTE}"
    display(bundle, raw=True)
