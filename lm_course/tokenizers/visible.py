"""Whitespace made visible, so that " the" and "the" differ when printed or
plotted: the course's one helper for it (used by the BPE printouts of
``02_tokens_and_embeddings.ipynb``, every plot's tick labels, the widgets and
the attention views)."""

from __future__ import annotations

__all__ = ["visible"]

_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "\\r"}


def visible(text: str) -> str:
    """``text`` with whitespace and control characters made visible:
    space -> ``␣``, newline -> ``↵``, tab -> ``⇥``, other control characters
    as escapes (``\\x07``), the empty string as ``∅``.

    >>> visible(" the\\nend")
    '␣the↵end'
    >>> visible("")
    '∅'
    """
    if text == "":
        return "∅"
    return "".join(_VISIBLE.get(ch, ch if ch.isprintable() else repr(ch)[1:-1]) for ch in text)
