"""Character-level tokenizer: one id per character.

Explained in ``00_welcome.ipynb`` ("Characters as tokens") and compared with
words and BPE in ``02_tokens_and_embeddings.ipynb``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from lm_course.tokenizers.value import ComparedByValue


class UnknownCharacterError(ValueError):
    """A character that is not in the tokenizer's vocabulary."""


class CharTokenizer(ComparedByValue):
    """Maps each character of a fixed vocabulary to an id and back.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.decode(tok.encode("hole"))
    'hole'
    """

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        if not chars:
            raise ValueError("a CharTokenizer needs at least one character")
        if any(len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("the vocabulary has repeated characters")
        self.chars: list[str] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The vocabulary is the sorted set of characters in ``text``."""
        if not text:
            raise ValueError("cannot build a vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text to ids; a character outside the vocabulary raises
        :class:`UnknownCharacterError` naming it and its position."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            ch = err.args[0]
            raise UnknownCharacterError(
                f"character {ch!r} (position {text.index(ch)}) is not in this tokenizer's "
                f"vocabulary of {self.vocab_size} characters"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text; an id outside ``0..vocab_size-1`` raises ``ValueError``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary 0..{self.vocab_size - 1}")
            out.append(self.chars[i])
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"type": "char", "chars": "".join(self.chars)})

    @classmethod
    def from_json(cls, blob: str) -> "CharTokenizer":
        data = json.loads(blob)
        if data.get("type") != "char":
            raise ValueError("not a CharTokenizer description")
        return cls(data["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def _value(self) -> tuple:  # equality and hashing (ComparedByValue)
        return tuple(self.chars)
