"""Tokenizers compare, and hash, by what they encode with.

Two tokenizers of the same class are equal when they map every text to the
same ids (the same characters, words, or merges and byte ids): a model's
checkpoint can then be checked against the tokenizer it is used with
(``05_transformer.ipynb`` does, for the reference GPT), and a tokenizer can be
a dictionary key.
"""

from __future__ import annotations

__all__ = ["ComparedByValue"]


class ComparedByValue:
    """Mixin: equal to another object of the same class with the same
    :meth:`_value`, and hashed from it (so equal tokenizers hash equal)."""

    def _value(self) -> tuple:
        """What decides the ids of every text (a hashable tuple)."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._value() == self._value()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value()))
