"""A byte-level BPE in GPT-2's file format: ``vocab.json`` and ``merges.txt``
(chapter 2, ``02_tokens_and_embeddings.ipynb``, "GPT-2's tokenizer"), read
by :meth:`lm_course.tokenizers.bpe.BPETokenizer.from_gpt2` and written by its
``save_gpt2_format``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lm_course.fileio import atomic_write_text
from lm_course.tokenizers.bpe_training import N_BYTES

__all__ = ["bytes_to_unicode", "write_gpt2_files", "read_gpt2_files"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each byte to a printable character, used to write
    byte tokens as text in ``vocab.json``/``merges.txt`` (OpenAI's
    ``encoder.py``, Radford et al., 2019): printable Latin-1 bytes map to
    themselves, the others to characters from U+0100 on."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(N_BYTES):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(N_BYTES + extra)
            extra += 1
    return table


def write_gpt2_files(directory: str | Path, vocab: Sequence[bytes], merges: Sequence[tuple[int, int]]) -> None:
    """Write ``vocab.json`` (each token's printable spelling -> its id) and
    ``merges.txt`` (one merge a line) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    table = bytes_to_unicode()
    names = ["".join(table[b] for b in token) for token in vocab]
    atomic_write_text(directory / "vocab.json", json.dumps({name: i for i, name in enumerate(names)},
                                                           ensure_ascii=False))
    lines = ["#version: 0.2"] + [f"{names[a]} {names[b]}" for a, b in merges]
    atomic_write_text(directory / "merges.txt", "\n".join(lines) + "\n")


def read_gpt2_files(directory: str | Path) -> tuple[list[tuple[int, int]], list[int], dict[str, int]]:
    """``(merges, byte_ids, special_tokens)`` of the GPT-2 files in ``directory``;
    a ``ValueError`` when they cannot be read or are not a byte-level BPE
    numbered as GPT-2's (merge ``k`` makes token ``256 + k``)."""
    directory = Path(directory)
    try:
        vocab: dict[str, int] = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        lines = (directory / "merges.txt").read_text(encoding="utf-8").splitlines()
    except (ValueError, OSError) as err:  # truncated or not JSON (JSONDecodeError is a ValueError)
        raise ValueError(f"GPT-2's tokenizer files in {directory} (vocab.json, merges.txt) cannot be read "
                         f"({type(err).__name__}: {err}); restore them (`git checkout -- "
                         "lm_course/shipped_data/gpt2` for the shipped copy, or reinstall the package)") from None
    if not isinstance(vocab, dict):
        raise ValueError(f"{directory / 'vocab.json'} is not a JSON object of token: id")
    pairs = [line.split(" ") for line in lines if line and not line.startswith("#version")]
    table = bytes_to_unicode()
    missing = [b for b in range(N_BYTES) if table[b] not in vocab]
    if missing:
        raise ValueError(f"{directory / 'vocab.json'} has no token for the bytes {missing[:5]}...: "
                         "not a byte-level BPE vocabulary")
    byte_ids = [vocab[table[b]] for b in range(N_BYTES)]  # GPT-2's id of each byte's token
    merges = []
    for k, pair in enumerate(pairs):
        if len(pair) != 2 or vocab.get(pair[0] + pair[1]) != N_BYTES + k:
            raise ValueError(f"merge {k} in {directory / 'merges.txt'} ({' '.join(pair)!r}) does not "
                             f"make token {N_BYTES + k} of vocab.json, as GPT-2's merge {k} does")
        merges.append((vocab[pair[0]], vocab[pair[1]]))
    specials = {name: i for name, i in vocab.items() if i >= N_BYTES + len(merges)}
    if len(vocab) != N_BYTES + len(merges) + len(specials):
        raise ValueError(f"{directory / 'vocab.json'} has {len(vocab)} tokens; 256 bytes, "
                         f"{len(merges)} merges and {len(specials)} special tokens should make "
                         f"{N_BYTES + len(merges) + len(specials)}")
    return merges, byte_ids, specials
