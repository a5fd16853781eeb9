"""Tokenizers: characters (chapter 0), words and byte-level BPE (chapter 2),
and GPT-2's own BPE (chapters 2 and 6).

The corpus's own tokenizer and its encoded splits, ``corpus_tokenizer`` and
``corpus_ids``, live with the corpus in :mod:`lm_course.corpus`. They are
still importable from here, looked up on first use (so this package never
imports the corpus module at import time; the corpus module imports this
one): the notebooks of chapters 0, 1, 2, 3, 5 and 7 import
``corpus_tokenizer`` from here, and ``lm_course.mlp`` and ``lm_course.rnn``
import ``corpus_ids``.
"""

from lm_course._lazy import lazy_exports
from lm_course.tokenizers.bpe import BPETokenizer
from lm_course.tokenizers.char import CharTokenizer, UnknownCharacterError
from lm_course.tokenizers.gpt2 import GPT2TokenizerUnavailable, gpt2_tokenizer  # transformers loads on call
from lm_course.tokenizers.word import WordTokenizer

_MOVED, __getattr__, _ = lazy_exports(__name__, {"corpus_tokenizer": "lm_course.corpus",
                                                 "corpus_ids": "lm_course.corpus"})

__all__ = ["BPETokenizer", "CharTokenizer", "GPT2TokenizerUnavailable", "UnknownCharacterError",
           "WordTokenizer", "gpt2_tokenizer", *_MOVED]


def __dir__() -> list[str]:
    return sorted({*globals(), *_MOVED})
