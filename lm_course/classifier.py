"""A pre-trained GPT with a classification head, and what its frozen parts compute once.

Explained in ``07_finetuning.ipynb``: "A head on a pre-trained body"
(:class:`GPTClassifier`), "Three ways to use the same architecture"
(:func:`make_classifier`, :func:`pooled_features`) and "GPT-2 on the same
task" (:meth:`GPTClassifier.train_last_blocks`, :func:`prefix_states`).

Any GPT of the course's class works, of any vocabulary and width: the
reference GPT (characters, width 128) or GPT-2 (``GPT.from_pretrained``,
50,257 BPE tokens, width 768), with the matching tokenizer. **A frozen
prefix runs once.** When the embeddings and the first blocks are frozen
(a linear probe; or :meth:`GPTClassifier.train_last_blocks`, which trains
only the last blocks and the head), their output never changes, so the
residual stream entering the first trained block is computed once per
passage (:func:`prefix_states`, in eval mode) and
:func:`lm_course.finetune.fine_tune` runs only the blocks after it: for
GPT-2 with its last block trained, one block of twelve per step instead of
all of them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from lm_course.device import model_device
from lm_course.genre_data import CLASSES, encode_passage, pad_batch
from lm_course.gpt import GPT
from lm_course.interface import inference
from lm_course.seeds import seed_everything
from lm_course.validation import is_int, require_int

__all__ = ["GPTClassifier", "make_classifier", "PrefixStates", "prefix_states", "check_prefix", "pad_states",
           "pooled_features", "predict_proba", "classify_text"]


class GPTClassifier(nn.Module):
    """A GPT body with a linear classification head on its final hidden state.

    ``z = pool(ln_f(h_L))``, ``logits = W norm(z) + b`` (Radford et al.
    2018 put the head on the last token). The final hidden states are the
    ``ln_f`` output, ``gpt(idx, output_hidden_states=True).hidden_states[-1]``
    (B, T, C). ``norm`` is the identity by default; with ``normalize=True``
    it is ``nn.BatchNorm1d(C, affine=False)``, which standardises each
    feature, ``(z - mu) / sqrt(var + 1e-5)``, with the batch's mean and
    (biased) variance in training and with running averages of them
    (momentum 0.1) in eval mode. Pooling:

    * ``"last"``: the state at each sequence's last real token, the only one
      whose causal attention has seen the whole passage;
    * ``"mean"``: the mean over the real (unpadded) positions; each position
      has seen a prefix, and the mean uses all of them.

    The GPT's own language-model head is still there (unused here).
    """

    def __init__(self, gpt: GPT, n_classes: int = len(CLASSES), pooling: str = "mean", dropout: float = 0.0,
                 normalize: bool = False):
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"gpt must be a lm_course.gpt.GPT, got {type(gpt).__name__}")
        n_classes = require_int(n_classes, "n_classes", minimum=2)
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

    def train_last_blocks(self, n_blocks: int) -> "GPTClassifier":
        """Train only the last ``n_blocks`` Transformer blocks, the final
        LayerNorm and the head; freeze the embeddings and every earlier block.
        ``0`` is the linear probe (:meth:`freeze_body`); the GPT-2 section of
        ``07_finetuning.ipynb`` trains GPT-2's last block(s) this way. The
        frozen prefix then runs once per passage (:func:`prefix_states`)."""
        n_layer = self.gpt.config.n_layer
        n_blocks = require_int(n_blocks, "n_blocks (the GPT's blocks to unfreeze)", minimum=0, maximum=n_layer)
        self.freeze_body(True)
        if n_blocks:
            for module in (*self.gpt.transformer.h[n_layer - n_blocks:], self.gpt.transformer.ln_f):
                module.requires_grad_(True)
        for p in self.head.parameters():
            p.requires_grad_(True)
        return self

    @property
    def frozen_prefix(self) -> int:
        """How many leading blocks are frozen together with the embeddings
        (0 when the embeddings or the first block train; ``n_layer`` when no
        block trains): their output is the same at every training step."""
        t = self.gpt.transformer
        if t.wte.weight.requires_grad or t.wpe.weight.requires_grad:
            return 0
        n = 0
        for block in t.h:
            if any(p.requires_grad for p in block.parameters()):
                break
            n += 1
        return n

    def _pool(self, h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Pool final hidden states ``h`` (B, T, C) of a right-padded batch to ``(B, C)``."""
        B, T, _ = h.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=h.device)  # (B,)
        if lengths.shape != (B,) or int(lengths.min()) < 1 or int(lengths.max()) > T:
            raise ValueError(f"lengths must be a (B,) tensor of values in 1..{T}")
        lengths = lengths.to(h.device)
        if self.pooling == "last":
            return h[torch.arange(B, device=h.device), lengths - 1]  # (B, C)
        real = (torch.arange(T, device=h.device)[None, :] < lengths[:, None]).to(h.dtype)  # (B, T)
        return (h * real[..., None]).sum(1) / lengths[:, None].to(h.dtype)  # (B, C)

    def features(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled final hidden states ``(B, C)`` of a right-padded batch ``idx`` (B, T)."""
        # logits_to_keep=1: the LM head (50,257 x 768 for GPT-2) runs on one position, and is unused
        h = self.gpt(idx, output_hidden_states=True, logits_to_keep=1).hidden_states[-1]  # (B, T, C)
        return self._pool(h, lengths)  # (B, C)

    def hidden_before(self, idx: torch.Tensor, block: int) -> torch.Tensor:
        """The residual stream entering block ``block`` (B, T, C): the token and
        position embeddings, then blocks ``0 .. block-1`` (``block = n_layer``:
        after the last block, before ``ln_f``). The same numbers as
        ``gpt(idx, output_hidden_states=True).hidden_states[block]`` for
        ``block < n_layer``, without running the rest."""
        t, cfg = self.gpt.transformer, self.gpt.config
        self._check_block(block)
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.is_floating_point():
            raise ValueError("idx must be a (B, T) tensor of token ids")
        if not 1 <= idx.size(1) <= cfg.block_size:
            raise ValueError(f"idx has {idx.size(1)} positions; the GPT's block_size is {cfg.block_size}")
        pos = torch.arange(idx.size(1), device=idx.device)  # (T,)
        x = t.drop(t.wte(idx) + t.wpe(pos))  # (B, T, C)
        for b in t.h[:block]:
            x = b(x)[0]  # (B, T, C)
        return x

    def features_from(self, x: torch.Tensor, lengths: torch.Tensor | None, block: int) -> torch.Tensor:
        """Pooled features ``(B, C)`` from the residual stream ``x`` (B, T, C)
        entering block ``block`` (:meth:`hidden_before`, or the cached states
        of :func:`prefix_states`, right-padded): blocks ``block ..
        n_layer-1``, ``ln_f``, then the pooling. ``features_from(
        hidden_before(idx, k), lengths, k)`` equals ``features(idx, lengths)``
        for every ``k``."""
        self._check_block(block)
        if x.dim() != 3 or x.size(-1) != self.gpt.config.n_embd:
            raise ValueError(f"x must be (B, T, {self.gpt.config.n_embd}), got {tuple(x.shape)}")
        for b in self.gpt.transformer.h[block:]:
            x = b(x)[0]  # (B, T, C)
        return self._pool(self.gpt.transformer.ln_f(x), lengths)  # (B, C)

    def _check_block(self, block: int) -> None:
        n_layer = self.gpt.config.n_layer
        block = require_int(block, "block", minimum=0, maximum=n_layer)  # one of the GPT's blocks

    def classify_features(self, feats: torch.Tensor) -> torch.Tensor:
        """The head: ``(B, C)`` features to ``(B, n_classes)`` logits."""
        return self.head(self.dropout(self.norm(feats)))  # (B, K)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(B, n_classes)`` for ids ``(B, T)``, right-padded to the ``lengths``."""
        return self.classify_features(self.features(idx, lengths))  # (B, K)


def make_classifier(variant: str, pretrained: GPT, n_classes: int = len(CLASSES), pooling: str = "mean",
                    seed: int = 0, dropout: float = 0.0, normalize: bool = False) -> GPTClassifier:
    """A :class:`GPTClassifier` for one of the three variants of the notebook:

    * ``"probe"``: a copy of the pre-trained GPT, frozen; only the head trains;
    * ``"full"``: a copy of the pre-trained GPT; everything trains;
    * ``"scratch"``: the same architecture with random weights (seeded); everything trains.

    ``pretrained`` itself is never modified. The head is initialised from ``seed``.
    """
    if variant not in ("probe", "full", "scratch"):
        raise ValueError(f"variant must be 'probe', 'full' or 'scratch', got {variant!r}")
    seed_everything(seed)
    body = GPT(pretrained.config) if variant == "scratch" else copy.deepcopy(pretrained)
    model = GPTClassifier(body, n_classes, pooling, dropout, normalize)
    model.freeze_body(variant == "probe")
    return model


@dataclass
class PrefixStates:
    """What a frozen prefix of a GPT computes for encoded passages, once
    (:func:`prefix_states`): the residual stream entering block ``block``."""

    block: int  # the first block NOT run: the states enter transformer.h[block]
    states: list[torch.Tensor]  # one (T_i, C) float32 tensor per passage, on the CPU

    def __len__(self) -> int:
        return len(self.states)


@torch.no_grad()
def prefix_states(model: GPTClassifier, seqs: Sequence[torch.Tensor], block: int | None = None,
                  batch_size: int = 64) -> PrefixStates:
    """The residual stream entering block ``block`` (default: the model's
    :attr:`~GPTClassifier.frozen_prefix`, the first block that trains) of
    each encoded passage, computed once in eval mode, kept on the CPU.
    Batched in order of length (little padding); in the order of ``seqs``.
    With a causal model a passage's states do not depend on the padding after
    it, so each is cut to its own length. :func:`~lm_course.finetune.fine_tune`,
    :func:`pooled_features`, :func:`predict_proba` and :func:`lm_course.genre_eval.evaluate` take
    them (``prefix=``) and run only the blocks from ``block`` on.
    ``07_finetuning.ipynb``, "GPT-2 on the same task".

    Raises ``ValueError`` when ``block`` is 0 or not a block of the GPT, or
    when there are no passages.
    """
    if not isinstance(model, GPTClassifier):
        raise TypeError(f"model must be a GPTClassifier, got {type(model).__name__}")
    block = model.frozen_prefix if block is None else block
    n_layer = model.gpt.config.n_layer
    if not is_int(block) or not 1 <= block <= n_layer:
        raise ValueError(f"block must be an integer in 1..{n_layer} (states after at least one block; "
                         f"the model's frozen prefix is {model.frozen_prefix}), got {block!r}")
    if len(seqs) == 0:
        raise ValueError("no passages to compute prefix states of")
    device = model_device(model)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    states: list[torch.Tensor | None] = [None] * len(seqs)
    with inference(model):
        for b in range(0, len(seqs), batch_size):
            pick = order[b:b + batch_size]
            idx, lengths = pad_batch([seqs[i] for i in pick])  # (B, T), (B,)
            x = model.hidden_before(idx.to(device), block).float()  # (B, T, C)
            for j, i in enumerate(pick):
                states[i] = x[j, :int(lengths[j])].to("cpu", copy=True)  # (T_i, C), its own memory
    return PrefixStates(block, states)


def check_prefix(model: GPTClassifier, prefix: PrefixStates, seqs: Sequence[torch.Tensor], what: str) -> None:
    """``prefix`` must belong to ``seqs`` and end where the model's frozen prefix allows."""
    if not isinstance(prefix, PrefixStates):
        raise TypeError(f"{what} must be the PrefixStates of prefix_states(), got {type(prefix).__name__}")
    if len(prefix) != len(seqs) or any(len(h) != len(s) for h, s in zip(prefix.states, seqs)):
        raise ValueError(f"{what} do not match the passages (another set, or other tokens?)")
    if not 1 <= prefix.block <= model.frozen_prefix:
        raise ValueError(f"{what} enter block {prefix.block}, but the model trains block(s) before it "
                         f"(its frozen prefix is {model.frozen_prefix} blocks): recompute them")


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``(T_i, C)`` states with zeros into ``(B, T_max, C)``, with the lengths ``(B,)``."""
    lengths = torch.tensor([len(h) for h in states], dtype=torch.long)  # (B,)
    return nn.utils.rnn.pad_sequence(list(states), batch_first=True), lengths  # (B, T_max, C), (B,)


@torch.no_grad()
def pooled_features(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int = 64,
                    prefix: PrefixStates | None = None) -> torch.Tensor:
    """The pooled features ``(N, C)`` of encoded passages (the body in eval
    mode). Passages are batched in order of length, so little is padded; the
    result is in the order of ``seqs``. A frozen body gives the same features
    every time: compute them once and pass them to :func:`~lm_course.finetune.fine_tune`,
    :func:`predict_proba` or :func:`lm_course.genre_eval.evaluate`. ``prefix``: the passages'
    :func:`prefix_states`; then only the blocks after the prefix run."""
    if len(seqs) == 0:
        raise ValueError("no passages to compute features of")
    if prefix is not None:
        check_prefix(model, prefix, seqs, "the prefix states")
    device = model_device(model)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = torch.empty(len(seqs), model.gpt.config.n_embd)  # (N, C)
    with inference(model):
        for b in range(0, len(seqs), batch_size):
            pick = order[b:b + batch_size]
            if prefix is None:
                idx, lengths = pad_batch([seqs[i] for i in pick])  # (B, T), (B,)
                feats = model.features(idx.to(device), lengths.to(device))  # (B, C)
            else:
                x, lengths = pad_states([prefix.states[i] for i in pick])  # (B, T, C), (B,)
                feats = model.features_from(x.to(device), lengths.to(device), prefix.block)  # (B, C)
            out[pick] = feats.float().cpu()  # (B, C)
    return out



@torch.no_grad()
def predict_proba(model: GPTClassifier, seqs: Sequence[torch.Tensor], batch_size: int = 64,
                  features: torch.Tensor | None = None, prefix: PrefixStates | None = None) -> torch.Tensor:
    """Class probabilities ``(N, n_classes)`` for encoded passages (eval mode).

    ``features``: the pooled features of ``seqs`` if already computed
    (a frozen body gives the same features every time); ``prefix``: their
    :func:`prefix_states` (only the blocks after the prefix run)."""
    device = model_device(model)
    if features is not None and prefix is not None:
        raise ValueError("pass features or prefix, not both")
    with inference(model):
        feats = pooled_features(model, seqs, batch_size, prefix) if features is None else features  # (N, C)
        probs = torch.softmax(model.classify_features(feats.to(device)).float(), dim=-1).cpu()  # (N, K)
    return probs


def classify_text(model: GPTClassifier, tokenizer, text: str, crop: bool = True,
                  classes: Sequence[str] = CLASSES) -> dict[str, float]:
    """``{class: probability}`` for one text (see :func:`encode_passage` for
    what happens to empty, unknown or too long input)."""
    if len(classes) != model.n_classes:
        raise ValueError(f"{len(classes)} class names for a model with {model.n_classes} classes")
    ids = encode_passage(tokenizer, text, model.block_size, crop)  # (T,)
    probs = predict_proba(model, [ids])[0]  # (K,)
    return {c: float(p) for c, p in zip(classes, probs)}
