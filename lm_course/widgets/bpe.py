"""The BPE explorer: type a text, see how the course's byte-level BPE cuts it
into tokens and, chunk by chunk, the merges that built each token; a slider
sets the vocabulary size (how many of the learned merges are used).

Used in ``02_tokens_and_embeddings.ipynb`` ("Byte-pair encoding", after "The
trade-off, measured"). It runs the tokenizer trained in that chapter
(:class:`lm_course.tokenizers.BPETokenizer`): the vocabulary slider uses
:meth:`~lm_course.tokenizers.BPETokenizer.truncated`, the first
``vocab_size - 256`` merges, which is exactly what training the smaller
vocabulary would have learned, and the steps are
:meth:`~lm_course.tokenizers.BPETokenizer.merge_steps`.

The typed text is only ever *encoded*, never evaluated. A byte-level BPE
reads any Unicode text (unseen characters stay split into their UTF-8
bytes); empty text and a lone surrogate (no UTF-8 form) show a message
instead of raising. Drive it without a browser (tests, scripts)::

    ex = bpe_explorer(bpe, text="Wherefore art thou")
    ex.vocab.value = 300                 # what the reader drags
    ex.last_view.pieces                  # the tokens shown
    ex.view("Illyria", vocab_size=400)   # or ask without touching the widgets
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from lm_course.tokenizers.bpe import BPETokenizer
from lm_course.tokenizers.visible import visible
from lm_course.validation import require_int, require_positive
from lm_course.widgets.display import display_widget, error_html, shorten

__all__ = ["BPEView", "BPEExplorer", "bpe_explorer"]

# Alternating token backgrounds: neighbouring tokens never share a colour.
_COLOURS = ("#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc", "#fff2cc", "#d0e0e3")
# The chips' text colour, set explicitly: a dark theme's white text on these
# pastels is unreadable (contrast 1.1 to 1.4); this near-black gives 12 or more.
CHIP_TEXT = "#1a1a1a"
_N_BYTES = 256


@dataclass
class BPEView:
    """What the explorer shows for one text and one vocabulary size."""

    text: str  # the text encoded (cropped to the explorer's max_chars)
    vocab_size: int  # 256 bytes + the merges used
    ids: list[int] = field(default_factory=list)  # the token ids
    pieces: list[str] = field(default_factory=list)  # each token's text (\xNN for part of a character)
    chunks: list[str] = field(default_factory=list)  # the pre-split chunks; merges never cross them
    cropped: bool = False  # the typed text was longer than max_chars
    message: str = ""  # why there are no tokens (empty text, no UTF-8 form), else ""

    @property
    def ok(self) -> bool:
        return not self.message

    @property
    def n_chars(self) -> int:
        return len(self.text)


class BPEExplorer:
    """The widget behind :func:`bpe_explorer`.

    Attributes (ipywidgets, so tests can set ``.value``): ``text`` (the box),
    ``vocab`` (the vocabulary-size slider), ``tokens`` (HTML: the tokens and
    the counts), ``steps`` (HTML: the merge steps of the first chunks),
    ``widget`` (the whole box). ``last_view`` is the last :class:`BPEView`.
    """

    def __init__(self, tokenizer: BPETokenizer, text: str = "", vocab_size: int | None = None,
                 max_chars: int = 1000, max_chunks: int = 6, continuous_update: bool = True):
        import ipywidgets as widgets

        if not isinstance(tokenizer, BPETokenizer):
            raise TypeError(f"tokenizer must be a lm_course.tokenizers.BPETokenizer, got {type(tokenizer).__name__}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        for name, value in (("max_chars", max_chars), ("max_chunks", max_chunks)):
            require_positive(value, name)
        vocab_size = tokenizer.vocab_size if vocab_size is None else vocab_size
        self.tokenizer, self.max_chars, self.max_chunks = tokenizer, max_chars, max_chunks
        self._check_vocab_size(vocab_size)
        self._truncated: dict[int, BPETokenizer] = {tokenizer.vocab_size: tokenizer}
        self.text = widgets.Textarea(value=text, description="text", continuous_update=continuous_update,
                                     placeholder="type any text...",
                                     layout=widgets.Layout(width="95%", height="4em"))
        self.vocab = widgets.IntSlider(value=vocab_size, min=_N_BYTES, max=tokenizer.vocab_size,
                                       description="vocabulary", continuous_update=continuous_update,
                                       disabled=tokenizer.vocab_size == _N_BYTES,
                                       layout=widgets.Layout(width="480px", min_width="480px"),
                                       style={"description_width": "90px"})
        self.tokens, self.steps = widgets.HTML(), widgets.HTML()
        self.widget = widgets.VBox([self.text, self.vocab, self.tokens, self.steps])
        self.last_view: BPEView | None = None
        for control in (self.text, self.vocab):
            control.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    # ------------------------------------------------------------- the tokenizer side
    def _check_vocab_size(self, vocab_size: int) -> None:
        vocab_size = require_int(vocab_size, "vocab_size", minimum=_N_BYTES, maximum=self.tokenizer.vocab_size)

    def tokenizer_for(self, vocab_size: int) -> BPETokenizer:
        """The tokenizer with the first ``vocab_size - 256`` merges (kept for
        the sizes the slider has visited)."""
        self._check_vocab_size(vocab_size)
        if vocab_size not in self._truncated:
            if len(self._truncated) > 32:  # a slider dragged end to end: keep the full one, drop the rest
                self._truncated = {self.tokenizer.vocab_size: self.tokenizer}
            self._truncated[vocab_size] = self.tokenizer.truncated(vocab_size)
        return self._truncated[vocab_size]

    def view(self, text: str | None = None, vocab_size: int | None = None) -> BPEView:
        """What the explorer shows (no drawing; what the tests check), by
        default for the box's text and the slider's vocabulary size."""
        text = self.text.value if text is None else text
        vocab_size = self.vocab.value if vocab_size is None else vocab_size
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tok = self.tokenizer_for(vocab_size)
        view = BPEView(text[: self.max_chars], vocab_size, cropped=len(text) > self.max_chars)
        if not text:
            view.message = "Type some text to see its tokens."
            return view
        try:
            view.ids = tok.encode(view.text)
        except ValueError as err:  # a lone surrogate: no UTF-8 bytes to start from
            view.message = f"Cannot encode this text: {err}"
            return view
        view.pieces = [tok.token_str(i) for i in view.ids]
        view.chunks = tok.split_chunks(view.text)
        return view

    # -------------------------------------------------------------- the drawing
    def refresh(self) -> BPEView:
        """Recompute the view and redraw both panels (a message replaces them
        when there are no tokens); returns the view."""
        view = self.last_view = self.view()
        self.tokens.value = self._tokens_html(view)
        self.steps.value = self._steps_html(view) if view.ok else ""
        return view

    def _counts(self, view: BPEView) -> str:
        merges = view.vocab_size - _N_BYTES
        return (f"{view.n_chars:,} characters → {len(view.ids):,} tokens "
                f"({view.n_chars / len(view.ids):.2f} characters per token) with a vocabulary of "
                f"{view.vocab_size:,} (256 bytes + {merges:,} merges)")

    def _tokens_html(self, view: BPEView) -> str:
        if not view.ok:
            return error_html(view.message)
        spans = "".join(
            f'<span title="token {i}" style="background:{_COLOURS[n % len(_COLOURS)]};color:{CHIP_TEXT};'
            f'border-radius:3px;'
            f'padding:0 1px;margin:0 1px">{html.escape(visible(piece))}</span>'
            for n, (i, piece) in enumerate(zip(view.ids, view.pieces)))
        note = f"<br><i>only the first {self.max_chars:,} characters are encoded</i>" if view.cropped else ""
        row = "font-family:monospace;line-height:1.9;white-space:pre-wrap;overflow-wrap:anywhere"  # long text wraps
        return (f'<div style="{row}">{spans}</div>'
                f"<div>{html.escape(self._counts(view))}{note}</div>")

    def _distinct_chunks(self, view: BPEView) -> list[str]:
        return list(dict.fromkeys(view.chunks))  # first-seen order

    def _steps_text(self, view: BPEView) -> list[str]:
        tok = self.tokenizer_for(view.vocab_size)
        return [tok.show_merge_steps(chunk) for chunk in self._distinct_chunks(view)[: self.max_chunks]]

    def _more(self, view: BPEView) -> str:
        more = len(self._distinct_chunks(view)) - self.max_chunks
        return f"… and {more} more chunk{'s' if more > 1 else ''}" if more > 0 else ""

    def _steps_html(self, view: BPEView) -> str:
        blocks = "\n\n".join(self._steps_text(view))
        more = self._more(view)
        return ("<b>Merge steps, chunk by chunk</b> (each line applies the earliest-learned merge present; "
                "merges never cross a chunk)"
                f'<pre style="font-size:85%;line-height:1.3">{html.escape(blocks)}'
                f"{html.escape(chr(10) * 2 + more) if more else ''}</pre>")

    def summary(self, view: BPEView | None = None) -> str:
        """What the widget shows (default: now) as plain text, the static
        fallback for readers without a kernel: the tokens, the counts and the
        merge steps of the first chunks."""
        view = self.last_view if view is None else view
        head = f"BPE explorer · text “{shorten(view.text)}” · vocabulary {view.vocab_size:,}"
        if not view.ok:
            return f"{head}\n{view.message}"
        lines = [head, "tokens: " + "|".join(visible(p) for p in view.pieces), self._counts(view),
                 "merge steps:", "\n\n".join(self._steps_text(view))]
        if self._more(view):
            lines.append(self._more(view))
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def bpe_explorer(tokenizer: BPETokenizer, text: str = "", vocab_size: int | None = None, max_chars: int = 1000,
                 max_chunks: int = 6, continuous_update: bool = True) -> BPEExplorer:
    """Type a text and watch a byte-level BPE cut it into tokens.

    Args:
        tokenizer: a trained :class:`~lm_course.tokenizers.BPETokenizer`
            (chapter 2's ``bpe``); the slider goes from 256 (bytes only) to
            its vocabulary size.
        text: the text the box starts with.
        vocab_size: the slider's starting value (default: every merge).
        max_chars: longer texts are cropped to their first ``max_chars``
            characters (the widget says so).
        max_chunks: how many distinct chunks get their merge steps shown.
        continuous_update: redraw on every keystroke and while dragging.

    Returns a :class:`BPEExplorer`; a notebook displays it as a widget.
    """
    return BPEExplorer(tokenizer, text=text, vocab_size=vocab_size, max_chars=max_chars, max_chunks=max_chunks,
                       continuous_update=continuous_update)
