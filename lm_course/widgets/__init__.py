"""Interactive widgets (ipywidgets). The next-token explorer takes any
:class:`~lm_course.interface.LanguageModel`; the attention explorer takes a
model that returns its attention maps (chapter 4's toy model, the course's
GPT) or maps computed beforehand; the query explorer takes keys and values;
the sampling playground takes a course :class:`~lm_course.gpt.GPT` (it samples
with its KV cache); the genre box takes chapter 7's classifiers.

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
    "query_explorer": "lm_course.widgets.query",
    # chapter 6: the sampling playground
    "sampling_playground": "lm_course.widgets.playground",
    # chapter 7: comedy or tragedy? the fine-tuned classifiers on typed text
    "genre_box": "lm_course.widgets.genre",
}

__all__, __getattr__, __dir__ = lazy_exports("lm_course.widgets", _WHERE)
