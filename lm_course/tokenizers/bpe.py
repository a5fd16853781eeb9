"""Byte-level byte-pair encoding (BPE), trained from scratch.

Explained in ``02_tokens_and_embeddings.ipynb``, sections "Byte-pair encoding"
and "Training BPE by hand". The algorithm is Sennrich et al. (2016), applied to
UTF-8 bytes as in GPT-2 (Radford et al., 2019):

1. Every text is UTF-8 bytes, so the first 256 tokens are the 256 byte values
   and *any* Unicode string can be encoded, even characters never seen in
   training (they simply stay split into bytes).
2. Training repeats: find the most frequent adjacent pair of tokens in the
   training text and give it a new id (a *merge*), until the vocabulary has
   ``vocab_size`` tokens. The merges, in order, are the whole tokenizer.
3. Encoding applies the merges to a new text in the same order (always the
   earliest-learned pair present first); decoding concatenates each token's
   bytes and decodes them as UTF-8.

**Pre-splitting.** Like GPT-2, we first cut the text into chunks (words with
their leading space, runs of digits, runs of punctuation, whitespace) and
never merge across a chunk boundary, so no token glues a word to the
punctuation after it. :data:`SPLIT_PATTERN` is GPT-2's pattern rewritten for
Python's built-in :mod:`re` (GPT-2 uses the ``regex`` package's ``\\p{L}`` and
``\\p{N}``; here a letter is ``[^\\W\\d_]``, a digit ``\\d``). Its
alternatives cover every character, so joining the chunks gives back the
text exactly.

**Speed.** Training counts each *distinct* chunk once, weighted by how often
it occurs (Shakespeare's 4.35 M training characters hold about 30 k distinct
chunks), and after each merge updates the pair counts only in the chunks that
contained the merged pair (an index ``pair -> chunks`` says which), with a
heap to find the next most frequent pair. A full recount per merge would
be hundreds of times slower.

**GPT-2's own merges** (chapter 2, "GPT-2's tokenizer"):
:meth:`BPETokenizer.from_gpt2` loads GPT-2's ``vocab.json`` and
``merges.txt`` into this same class, and its ``encode`` gives GPT-2's ids
exactly. Only three things differ from a tokenizer trained here, all
constructor options: GPT-2 numbers its 256 byte tokens in another order
(``byte_ids``; its merge ``k`` still creates token ``256 + k``), it splits
with its original pattern :data:`GPT2_SPLIT_PATTERN` (compiled with the
``regex`` package, which has ``\\p{L}``), and it has one special token,
``<|endoftext|>`` = 50256 (``special_tokens``; ``encode`` treats it as
ordinary text unless told otherwise with ``allowed_special``).

Showing its work, in the spirit of minGPT's ``bpe.py``:
:meth:`BPETokenizer.merge_steps` returns every intermediate split of a
word, ``encode(text, verbose=True)`` prints them, ``merge_counts`` holds the
frequency of each pair when it was merged.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from lm_course.fileio import atomic_write_text
from lm_course.tokenizers.bpe_files import bytes_to_unicode, read_gpt2_files, write_gpt2_files
from lm_course.tokenizers.bpe_training import N_BYTES, merge_pair, train_merges
from lm_course.tokenizers.value import ComparedByValue
from lm_course.tokenizers.visible import visible
from lm_course.validation import require_int

__all__ = ["BPETokenizer", "GPT2_SPLIT_PATTERN", "SPLIT_PATTERN", "bytes_to_unicode", "merge_pair", "visible"]

#: GPT-2's pre-tokenisation pattern in Python ``re`` syntax: English
#: contractions, an optional space + letters, an optional space + digits, an
#: optional space + other symbols (``_`` included), whitespace not followed by
#: a non-space (so the space before a word stays with the word), whitespace.
SPLIT_PATTERN = r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""

#: GPT-2's own pattern (OpenAI's ``encoder.py``), for the ``regex`` package:
#: ``\p{L}`` is any Unicode letter, ``\p{N}`` any Unicode number.
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

def _compile(pattern: str):
    """``pattern`` compiled by Python's :mod:`re`, or, when it uses what ``re``
    lacks (``\\p{L}``, as GPT-2's pattern does), by the ``regex`` package."""
    try:
        return re.compile(pattern)
    except re.error:
        try:
            import regex
        except ImportError:
            raise ImportError(f"the pattern {pattern!r} needs the `regex` package: pip install regex") from None
        return regex.compile(pattern)


def _check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    return text


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"the text holds {text[err.start:err.end]!r} at position {err.start}, a lone surrogate "
            "that is not a Unicode character and has no UTF-8 encoding"
        ) from None


class BPETokenizer(ComparedByValue):
    """A byte-level BPE tokenizer: 256 byte tokens, then one token per merge.

    >>> tok = BPETokenizer.train("low lower lowest " * 10, vocab_size=260)
    >>> [tok.token_str(i) for i in range(256, 260)]
    ['lo', 'low', ' low', ' lowe']
    >>> tok.decode(tok.encode("lowest λ!"))
    'lowest λ!'

    Attributes:
        merges: the learned pairs, in the order they were learned; merge ``k``
            creates token ``256 + k``.
        merge_counts: how often each pair occurred in the training text when
            it was merged (``None`` for a tokenizer not trained here).
        pattern: the pre-splitting regular expression.
        byte_ids: the id of each byte's token, ``byte_ids[b]``: ``b`` itself
            here, GPT-2's own order for :meth:`from_gpt2`.
        special_tokens: tokens that no merge makes, numbered after the
            merges, e.g. GPT-2's ``{"<|endoftext|>": 50256}``.
    """

    def __init__(self, merges: Sequence[Sequence[int]] = (), pattern: str = SPLIT_PATTERN,
                 merge_counts: Sequence[int] | None = None, byte_ids: Sequence[int] | None = None,
                 special_tokens: Mapping[str, int] | None = None):
        self.byte_ids: list[int] = list(range(N_BYTES)) if byte_ids is None else [int(i) for i in byte_ids]
        if sorted(self.byte_ids) != list(range(N_BYTES)):
            raise ValueError("byte_ids must give the 256 byte tokens the ids 0..255, each id once")
        self.vocab: list[bytes] = [b""] * N_BYTES  # id -> bytes
        for b, i in enumerate(self.byte_ids):
            self.vocab[i] = bytes([b])
        self.merges: list[tuple[int, int]] = []
        for k, pair in enumerate(merges):
            if len(pair) != 2:
                raise ValueError(f"merge {k} must be a pair of token ids, got {pair!r}")
            a, b = int(pair[0]), int(pair[1])
            if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
                raise ValueError(
                    f"merge {k} = {(a, b)} uses a token id that does not exist yet "
                    f"(ids 0..{len(self.vocab) - 1} exist before it)"
                )
            self.merges.append((a, b))
            self.vocab.append(self.vocab[a] + self.vocab[b])
        if merge_counts is not None and len(merge_counts) != len(self.merges):
            raise ValueError("merge_counts must have one count per merge")
        self.merge_counts: list[int] | None = list(merge_counts) if merge_counts is not None else None
        self.ranks: dict[tuple[int, int], int] = {p: k for k, p in enumerate(self.merges)}
        self.special_tokens: dict[str, int] = dict(sorted((special_tokens or {}).items(), key=lambda kv: kv[1]))
        for name, i in self.special_tokens.items():
            if i != len(self.vocab):
                raise ValueError(f"special token {name!r} must have the id {len(self.vocab)} (the next "
                                 f"after the merges and the special tokens before it), got {i}")
            self.vocab.append(_utf8(name))
        self.pattern = pattern
        self._regex = _compile(pattern)
        self._cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = SPLIT_PATTERN,
              min_frequency: int = 2, progress: bool = False) -> "BPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text``.

        Ties between equally frequent pairs go to the smaller pair of ids, so
        training is deterministic. Training stops early (with a warning) when
        no pair occurs at least ``min_frequency`` times.

        Raises:
            TypeError: ``text`` is not a str or ``vocab_size`` not an int.
            ValueError: ``vocab_size < 256`` (the byte tokens alone take 256
                ids), empty text, or ``min_frequency < 1``.
        """
        _check_text(text)
        vocab_size = require_int(vocab_size, "vocab_size", type_error=True)
        if vocab_size < N_BYTES:
            raise ValueError(
                f"vocab_size must be at least {N_BYTES} for a byte-level BPE (the 256 byte "
                f"values are the first tokens), got {vocab_size}"
            )
        if not text:
            raise ValueError("cannot train a BPE tokenizer on empty text")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be >= 1, got {min_frequency}")
        _utf8(text)  # a clear error for lone surrogates
        merges, counts = train_merges(Counter(_compile(pattern).findall(text)), vocab_size - N_BYTES,
                                      min_frequency, progress)
        if len(merges) < vocab_size - N_BYTES:
            warnings.warn(f"BPE training stopped at {N_BYTES + len(merges)} tokens (asked for {vocab_size}): "
                          f"no pair of tokens occurs {min_frequency} times or more", stacklevel=2)
        return cls(merges, pattern=pattern, merge_counts=counts)

    # ------------------------------------------------------------------ basics
    @property
    def vocab_size(self) -> int:
        """256 byte tokens plus one token per merge."""
        return len(self.vocab)

    def split_chunks(self, text: str) -> list[str]:
        """The pre-split of ``text`` into chunks that merges never cross."""
        return self._regex.findall(_check_text(text))

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self._cache.get(chunk)
        if ids is None:
            ids = self.merge_steps(chunk)[-1][1]
            if len(self._cache) < 200_000:
                self._cache[chunk] = ids
        return ids

    def encode(self, text: str, verbose: bool = False,
               allowed_special: str | Collection[str] = ()) -> list[int]:
        """Text to token ids. ``verbose=True`` prints, for each chunk, the
        merges applied step by step (see :meth:`merge_steps`).

        ``allowed_special``: the special tokens (``"all"``, or a set of names
        such as ``{"<|endoftext|>"}``) that become their own id where they
        occur in ``text``. By default none: ``"<|endoftext|>"`` in a text is
        ordinary text, seven tokens for GPT-2 (tiktoken raises an error there
        unless told; Hugging Face always gives the special id).
        """
        _check_text(text)
        _utf8(text)
        specials = self._special_splitter(allowed_special)
        out: list[int] = []
        # split(text) around the special tokens: text, special, text, ... (no special: [text])
        for k, part in enumerate(specials.split(text) if specials else [text]):
            if k % 2:
                out.append(self.special_tokens[part])
                continue
            for chunk in self._regex.findall(part):
                if verbose:
                    print(self.show_merge_steps(chunk))
                out.extend(self._encode_chunk(chunk))
        return out

    def _special_splitter(self, allowed: str | Collection[str]) -> re.Pattern | None:
        """A regular expression matching the allowed special tokens, or
        ``None`` when none is allowed."""
        if allowed == "all":
            names = set(self.special_tokens)
        else:
            names = {allowed} if isinstance(allowed, str) else set(allowed)
        unknown = sorted(str(n) for n in names - set(self.special_tokens))
        if unknown:
            raise ValueError(f"allowed_special holds {unknown}, which are not special tokens of this "
                             f"tokenizer (it has {sorted(self.special_tokens) or 'none'})")
        if not names:
            return None
        longest_first = sorted(names, key=len, reverse=True)
        return re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")

    def _check_ids(self, ids: Sequence[int]) -> list[int]:
        from lm_course.validation import as_id_tensor  # deferred on purpose: the tokenizers import no torch

        return as_id_tensor(ids, self.vocab_size, "token ids").tolist()

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The raw bytes of ``ids`` (a cut through a multi-byte character is
        kept as is)."""
        return b"".join(self.vocab[i] for i in self._check_ids(ids))

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids to text. ``decode(encode(s)) == s`` for every string.

        A sequence that is not valid UTF-8 (e.g. a sampled byte token that
        cuts a character in half) decodes its bad bytes to U+FFFD, "�", as
        GPT-2 does (``errors="replace"``).
        """
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ showing its work
    def token_str(self, token_id: int) -> str:
        """A readable form of one token: its text, or ``\\xNN`` escapes for
        bytes that are only part of a UTF-8 character."""
        return self.vocab[self._check_ids([token_id])[0]].decode("utf-8", errors="backslashreplace")

    def merge_steps(self, chunk: str) -> list[tuple[int | None, list[int]]]:
        """How one chunk is split, step by step.

        Returns ``[(None, bytes), (rank, ids), ...]``: the starting byte
        tokens, then after each merge the rank of the merge applied (the
        earliest-learned pair present) and the resulting ids. The last entry
        is the encoding of ``chunk``.
        """
        ids = [self.byte_ids[b] for b in _utf8(_check_text(chunk, "chunk"))]  # the byte tokens
        steps: list[tuple[int | None, list[int]]] = [(None, ids)]
        while len(ids) >= 2:
            rank = min((self.ranks.get(p, len(self.merges)) for p in zip(ids, ids[1:])))
            if rank == len(self.merges):  # no learned pair left in the chunk
                break
            ids = merge_pair(ids, self.merges[rank], N_BYTES + rank)
            steps.append((rank, ids))
        return steps

    def show_merge_steps(self, chunk: str) -> str:
        """:meth:`merge_steps` as text, one line per step, tokens between ``|``
        (a space shown as ``␣``, a newline as ``↵``)."""
        lines = []
        for rank, ids in self.merge_steps(chunk):
            pieces = "|".join(visible(self.token_str(i)) for i in ids)
            if rank is None:
                lines.append(f"{'bytes':<26} {pieces}")
            else:
                a, b = self.merges[rank]
                rule = f"#{rank}: {visible(self.token_str(a))} + {visible(self.token_str(b))}"
                lines.append(f"{rule:<26} {pieces}")
        return "\n".join(lines)

    def truncated(self, vocab_size: int) -> "BPETokenizer":
        """The tokenizer made of the first ``vocab_size - 256`` merges.

        Training is greedy, so this is exactly what training with the smaller
        ``vocab_size`` on the same text would have produced. Special tokens
        are not kept.
        """
        if not N_BYTES <= vocab_size <= self.vocab_size:
            raise ValueError(f"vocab_size must be in {N_BYTES}..{self.vocab_size}, got {vocab_size}")
        k = vocab_size - N_BYTES
        counts = self.merge_counts[:k] if self.merge_counts is not None else None
        return BPETokenizer(self.merges[:k], pattern=self.pattern, merge_counts=counts, byte_ids=self.byte_ids)

    # ------------------------------------------------------------------ saving
    def to_json(self) -> str:
        return json.dumps({"type": "byte_bpe", "version": 1, "pattern": self.pattern,
                           "merges": [list(p) for p in self.merges],
                           "merge_counts": self.merge_counts, "byte_ids": self.byte_ids,
                           "special_tokens": self.special_tokens})

    @classmethod
    def from_json(cls, blob: str) -> "BPETokenizer":
        data = json.loads(blob)
        if not isinstance(data, dict) or data.get("type") != "byte_bpe":
            raise ValueError("not a byte-level BPE description (expected \"type\": \"byte_bpe\")")
        return cls(data["merges"], pattern=data["pattern"], merge_counts=data.get("merge_counts"),
                   byte_ids=data.get("byte_ids"), special_tokens=data.get("special_tokens"))

    def save(self, path: str | Path) -> None:
        """Write the merges (and pattern) as JSON: no pickle."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "BPETokenizer":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def save_gpt2_format(self, directory: str | Path) -> Path:
        """Write ``vocab.json`` and ``merges.txt`` in GPT-2's format, so that
        Hugging Face's tokenizer (``gpt2_tokenizer(directory)``) can load the
        merges learned here; on text our pre-split treats like GPT-2's
        (ASCII, most letters) both give the same ids. Token ids are ours:
        the byte tokens (ids 0..255, numbered by ``byte_ids``), one per
        merge, then the special tokens."""
        write_gpt2_files(directory, self.vocab, self.merges)
        return directory

    @classmethod
    def from_gpt2(cls, name_or_path: str = "gpt2", local_files_only: bool | None = None) -> "BPETokenizer":
        """GPT-2's own tokenizer as a :class:`BPETokenizer`: its 50,000
        merges, its ids (50,257 tokens, ``<|endoftext|>`` = 50256) and its
        pre-split pattern, so that ``encode`` gives exactly GPT-2's ids and
        ``merge_steps`` shows how GPT-2 splits a word (chapter 2, "GPT-2's
        tokenizer").

        The files are found as :func:`lm_course.tokenizers.gpt2_tokenizer`
        finds them (for ``"gpt2"``: the copy shipped in ``lm_course/shipped_data/gpt2/``, no
        network). In ``merges.txt`` line ``k`` is merge ``k``; each token is
        written in GPT-2's printable spelling of its bytes
        (:func:`bytes_to_unicode`), and ``vocab.json`` gives each spelling
        its id, so GPT-2's id of byte ``b`` is ``vocab[bytes_to_unicode()[b]]``.

        >>> gpt2 = BPETokenizer.from_gpt2()
        >>> gpt2.encode("Hello world"), gpt2.token_str(50256)
        ([15496, 995], '<|endoftext|>')

        Raises:
            GPT2TokenizerUnavailable: the files cannot be found (see
                :func:`lm_course.tokenizers.gpt2_tokenizer`).
            ValueError: the files are not a byte-level BPE numbered as
                GPT-2's (merge ``k`` makes token ``256 + k``).
        """
        from lm_course.tokenizers.gpt2 import gpt2_files_dir  # deferred on purpose: it loads the hub client

        merges, byte_ids, specials = read_gpt2_files(gpt2_files_dir(name_or_path, local_files_only))
        return cls(merges, pattern=GPT2_SPLIT_PATTERN, byte_ids=byte_ids, special_tokens=specials)

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"

    def _value(self) -> tuple:  # equality and hashing (ComparedByValue)
        return (tuple(self.merges), self.pattern, tuple(self.byte_ids), tuple(sorted(self.special_tokens.items())))
