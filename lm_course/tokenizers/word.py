"""Word-level tokenizer with an explicit unknown token.

Explained in ``02_tokens_and_embeddings.ipynb``, section "Words as tokens":
the vocabulary is the words seen in training, so a word never seen (a new
name, a rare inflection) becomes ``<unk>`` and its spelling is lost. That
open-vocabulary problem is what byte-pair encoding solves.

Splitting (:data:`WORD_PATTERN`): a *word* is a run of letters, possibly
with inner apostrophes (``o'er``, ``ne'er``); a run of digits is one token;
each run of whitespace (``" "``, ``"\\n"``, ``"\\n\\n"``) is one token; any
other character (punctuation) is a token on its own. The pieces cover the
text exactly, so ``decode(encode(s)) == s`` whenever every piece of ``s`` is
in the vocabulary.

Decoding ``<unk>``: the id :attr:`WordTokenizer.unk_id` decodes to the
string ``unk_token`` (``"<unk>"`` by default), so a sentence with an unknown
word comes back with ``<unk>`` in its place: the original word is gone.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

from lm_course.tokenizers.value import ComparedByValue

__all__ = ["WordTokenizer", "WORD_PATTERN"]

#: Letters with inner apostrophes | digits | whitespace runs | any other character.
WORD_PATTERN = r"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|\s+|."

_SPLIT = re.compile(WORD_PATTERN, re.DOTALL)


class WordTokenizer(ComparedByValue):
    """One id per word (and per punctuation mark and whitespace run);
    id 0 is the unknown token.

    >>> tok = WordTokenizer.from_text("to be or not to be", min_count=2)
    >>> tok.tokens
    ['<unk>', ' ', 'be', 'to']
    >>> tok.decode(tok.encode("to be, or not"))
    'to be<unk> <unk> <unk>'
    """

    def __init__(self, tokens: Sequence[str], unk_token: str = "<unk>"):
        tokens = list(tokens)
        if not unk_token:
            raise ValueError("unk_token must be a non-empty string")
        if unk_token in tokens:
            raise ValueError(f"the vocabulary already holds the unknown token {unk_token!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("the vocabulary has repeated tokens")
        if any(not isinstance(t, str) or not t for t in tokens):
            raise ValueError("every vocabulary entry must be a non-empty string")
        self.unk_token = unk_token
        self.tokens: list[str] = [unk_token] + tokens  # id -> token
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}

    unk_id = 0  #: the id of ``unk_token``

    @staticmethod
    def split(text: str) -> list[str]:
        """``text`` cut into words, digit runs, whitespace runs and single
        other characters (``"".join(split(text)) == text``)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        return _SPLIT.findall(text)

    @classmethod
    def from_text(cls, text: str, min_count: int = 1, max_size: int | None = None,
                  unk_token: str = "<unk>") -> "WordTokenizer":
        """Vocabulary: the pieces of ``text`` seen at least ``min_count``
        times, the ``max_size - 1`` most frequent of them if ``max_size`` is
        given (``max_size`` counts ``<unk>``), sorted alphabetically."""
        pieces = cls.split(text)
        if not pieces:
            raise ValueError("cannot build a vocabulary from empty text")
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (<unk> and one word), got {max_size}")
        counts = Counter(pieces)
        kept = [(t, c) for t, c in counts.items() if c >= min_count]
        if max_size is not None:
            kept = sorted(kept, key=lambda tc: (-tc[1], tc[0]))[: max_size - 1]
        return cls(sorted(t for t, _ in kept), unk_token=unk_token)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Text to ids; a piece not in the vocabulary becomes :attr:`unk_id`."""
        return [self.stoi.get(p, self.unk_id) for p in self.split(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text; :attr:`unk_id` decodes to ``unk_token`` (the word it
        replaced is lost)."""
        from lm_course.validation import as_id_tensor  # deferred on purpose: the tokenizers import no torch

        return "".join(self.tokens[i] for i in as_id_tensor(ids, self.vocab_size, "token ids").tolist())

    def unknown_rate(self, text: str) -> float:
        """Fraction of the pieces of ``text`` that are not in the vocabulary."""
        pieces = self.split(text)
        if not pieces:
            raise ValueError("cannot measure the unknown rate of empty text")
        return sum(p not in self.stoi for p in pieces) / len(pieces)

    def to_json(self) -> str:
        return json.dumps({"type": "word", "unk_token": self.unk_token, "tokens": self.tokens[1:]})

    @classmethod
    def from_json(cls, blob: str) -> "WordTokenizer":
        data = json.loads(blob)
        if not isinstance(data, dict) or data.get("type") != "word":
            raise ValueError("not a WordTokenizer description (expected \"type\": \"word\")")
        return cls(data["tokens"], unk_token=data["unk_token"])

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"

    def _value(self) -> tuple:  # equality and hashing (ComparedByValue)
        return tuple(self.tokens)
