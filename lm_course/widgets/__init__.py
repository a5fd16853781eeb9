"""Interactive widgets (ipywidgets); every widget takes any
:class:`~lm_course.interface.LanguageModel` it can use.

Names are imported lazily. To add a widget: write it in a module here and
list its name in ``_WHERE``. What every widget shares (charts in an
``Output``, error messages, the text a notebook shows without a kernel) is
in :mod:`lm_course.widgets.display`.
"""

from __future__ import annotations

from lm_course._lazy import lazy_exports

_WHERE = {
    # chapter 1, reused by chapters 2, 3, 5, 6: type a context, see the next tokens
    "next_token_explorer": "lm_course.widgets.explorer",
    # chapter 2: type a text, see its BPE tokens and merge steps, drag the vocabulary size
    "bpe_explorer": "lm_course.widgets.bpe",
    # chapter 4: explore attention heads and layers
    "attention_explorer": "lm_course.widgets.attention",
    "query_explorer": "lm_course.widgets.attention",
    # chapter 6: the sampling playground
    "sampling_playground": "lm_course.widgets.playground",
    # chapter 7: comedy or tragedy? the fine-tuned classifiers on typed text
    "genre_box": "lm_course.widgets.genre",
}

__all__, __getattr__, __dir__ = lazy_exports("lm_course.widgets", _WHERE)
