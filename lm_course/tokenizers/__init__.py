"""Tokenizers: characters (chapter 0), words and byte-level BPE (chapter 2),
and GPT-2's own BPE (chapters 2 and 6).

Tokenizers of one class compare and hash by what they encode with
(:mod:`lm_course.tokenizers.value`).

The corpus's own tokenizer and its encoded splits (``corpus_tokenizer``,
``corpus_ids``) live with the corpus, in :mod:`lm_course.corpus`.
"""

from lm_course.tokenizers.bpe import BPETokenizer
from lm_course.tokenizers.char import CharTokenizer, UnknownCharacterError
from lm_course.tokenizers.gpt2 import GPT2TokenizerUnavailable, gpt2_tokenizer  # transformers loads on call
from lm_course.tokenizers.word import WordTokenizer

__all__ = ["BPETokenizer", "CharTokenizer", "GPT2TokenizerUnavailable", "UnknownCharacterError",
           "WordTokenizer", "gpt2_tokenizer"]
