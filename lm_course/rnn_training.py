"""Stateful training of recurrent language models: truncated backpropagation
through time that carries the hidden state from one chunk of the text to the
next and cuts only the gradient.

Explained in ``03_rnns.ipynb``, section "Random windows or a carried state?".
There are two common ways to cut a long text into training sequences for an
RNN (d2l.ai calls them *random sampling* and *sequential partitioning*):

* **Random windows from a zero state** (the course's default,
  :func:`lm_course.train.train`): every batch holds ``B`` windows of ``T``
  tokens taken at random places, and each window starts from ``h = 0``. The
  model never sees a state older than ``T`` steps during training.
* **Stateful training** (truncated BPTT in the sense of Williams & Peng 1990):
  the text is cut into ``B`` long consecutive *lanes*; step ``s`` reads the
  ``s``-th chunk of ``T`` tokens of every lane, starting from the state that
  the previous chunk ended in, *detached* (``h = h.detach()``), so the values
  flow forward across chunks while the gradient flows back at most ``T``
  steps. The model is trained on states that have read the whole lane so far.

:class:`StatefulLoss` turns the course's training loop into the second kind:
it is the ``loss_fn`` of :func:`lm_course.train.train`, so the optimiser,
learning-rate schedule, clipping and evaluation are exactly those of the
random-window runs and only the batches differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.corpus import corpus_ids, corpus_tokenizer
from lm_course.device import model_device
from lm_course.seeds import seed_everything
from lm_course.recipes import LSTM_RECIPE, CharRNNRecipe
from lm_course.rnn import RNNLanguageModel
from lm_course.train import TrainHistory, train
from lm_course.validation import require_positive

__all__ = ["consecutive_lanes", "StatefulLoss", "train_stateful_char_rnn"]

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h, or (h, c) for an LSTM


def consecutive_lanes(ids: Sequence[int] | torch.Tensor, batch_size: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a token stream into ``batch_size`` consecutive lanes of equal length.

    Returns inputs and next-token targets, both ``(batch_size, L)`` with
    ``L = (N - 1) // batch_size``: lane ``b`` is ``ids[b L : (b + 1) L]`` and
    its targets are the same stretch shifted by one token. The last
    ``N - 1 - batch_size L`` tokens are dropped.
    """
    batch_size = require_positive(batch_size, "batch_size")
    data = torch.as_tensor(ids, dtype=torch.long)  # (N,)
    if data.dim() != 1:
        raise ValueError(f"ids must be a 1-D stream of token ids, got shape {tuple(data.shape)}")
    lane = (len(data) - 1) // batch_size
    if lane < 1:
        raise ValueError(f"{len(data)} tokens are too few for {batch_size} lanes")
    x = data[: lane * batch_size].view(batch_size, lane)  # (B, L)
    y = data[1: lane * batch_size + 1].view(batch_size, lane)  # (B, L)
    return x, y


def _detach(state: State) -> State:
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class StatefulLoss:
    """A ``loss_fn`` for :func:`lm_course.train.train` that trains statefully.

    In training mode (``model.training`` and gradients enabled) it ignores the
    random windows the loop passes in and reads the next chunk of
    ``block_size`` tokens of every lane (:func:`consecutive_lanes`), starting
    from the detached final state of the previous chunk. When the lanes run
    out it starts again at their beginning from a zero state (a new epoch).
    In evaluation mode it scores the windows it is given from a zero state,
    like :func:`lm_course.train.lm_loss`, so ``history.val_loss`` means the
    same thing as in a random-window run.

    ``model`` must map ``(B, T)`` ids and a state to logits and the new state,
    like :meth:`lm_course.rnn.RNNLanguageModel.forward` with
    ``return_state=True``.
    """

    def __init__(self, train_ids: Sequence[int] | torch.Tensor, batch_size: int, block_size: int):
        block_size = require_positive(block_size, "block_size")
        self.inputs, self.targets = consecutive_lanes(train_ids, batch_size)  # (B, L) each
        if self.inputs.size(1) < block_size:
            raise ValueError(f"lanes of {self.inputs.size(1)} tokens are shorter than block_size={block_size}")
        self.block_size = block_size
        self.position = 0  # where the next chunk starts in every lane
        self.state: State | None = None  # the detached state the next chunk starts from
        self.epochs = 0  # how many times the lanes have been read to the end

    def next_chunk(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(B, block_size)`` inputs and targets; resets the state at a new epoch."""
        if self.position + self.block_size > self.inputs.size(1):
            self.position, self.state = 0, None
            self.epochs += 1
        a, b = self.position, self.position + self.block_size
        self.position = b
        return self.inputs[:, a:b], self.targets[:, a:b]  # (B, T), (B, T)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not (model.training and torch.is_grad_enabled()):  # evaluation: the windows given, zero state
            logits = model(x)  # (B, T, V)
            return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        device = model_device(model)
        xs, ys = (t.to(device) for t in self.next_chunk())  # (B, T) each; x and y are not used
        logits, state = model(xs, self.state, return_state=True)  # (B, T, V)
        self.state = _detach(state)  # carry the values, cut the gradient: truncated BPTT
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), ys.reshape(-1))


def train_stateful_char_rnn(recipe: CharRNNRecipe | None = None, progress: bool = True,
                            **overrides) -> tuple[RNNLanguageModel, TrainHistory]:
    """Like :func:`lm_course.recipes.train_recipe` with :data:`~lm_course.recipes.LSTM_RECIPE` (same seed, same initial
    weights, same optimiser and schedule), but trained statefully with
    :class:`StatefulLoss`: ``batch_size`` lanes of the training split, read in
    consecutive chunks of ``block_size`` characters with the state carried.

    Returns ``(model, history)``; ``history.val_loss`` is measured on the
    same fixed validation windows from a zero state as in
    :func:`~lm_course.recipes.train_recipe`. Notebook section: "Random windows
    or a carried state?".
    """
    recipe = replace(recipe or LSTM_RECIPE, **overrides)
    seed_everything(recipe.seed)  # the same initial weights as train_recipe with this recipe
    model = recipe.build_model(corpus_tokenizer().vocab_size)
    train_ids = corpus_ids("train")
    loss = StatefulLoss(train_ids, recipe.batch_size, recipe.block_size)
    history = train(model, train_ids, corpus_ids("val"), recipe.train_config(progress), loss_fn=loss)
    return model, history
