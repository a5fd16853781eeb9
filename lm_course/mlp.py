"""The MLP language model of Bengio et al. (2003), for characters.

Explained in ``02_tokens_and_embeddings.ipynb``, section "A neural language
model": to predict the next character, look up an embedding vector for each
of the last ``n`` characters (``context_length``; the notebook writes it
n-1, as for an n-gram of order n), concatenate them, pass them through one hidden
``tanh`` layer, and turn the output into a softmax over the vocabulary::

    e     = [C[x_{t-n+1}]; ...; C[x_t]]            (n * d,)  concatenated embeddings
    h     = tanh(W_h e + b_h)                       (H,)
    p(x_{t+1} | x_{t-n+1..t}) = softmax(W_o h + b_o)  (V,)

(Bengio et al. also had optional direct connections from ``e`` to the output;
we leave them out.) ``MLPConfig.dropout`` optionally applies dropout
(Srivastava et al., 2014) to ``h`` during training; the notebook's model has
none, the shipped one uses it against over-fitting.

Positions near the start. ``forward`` maps a ``(B, T)`` batch of ids to
``(B, T, V)`` logits, position ``t`` predicting token ``t + 1`` from the
``n`` tokens ending at ``t``, as :func:`lm_course.train.train` expects. When
fewer than ``n`` tokens precede (the first ``n - 1`` positions of a window,
the start of a text, a short context given to :meth:`next_token_probs`), the
missing ones are filled with a *padding token*, id ``vocab_size``: an extra,
learned row of the embedding table that means "before the start". The model
never predicts it (the softmax has ``vocab_size`` outputs), and training sees
it at the start of every window, so it learns to predict from short contexts
too. An empty context is ``n`` padding tokens.

Speed. ``forward`` computes the formula above
(:meth:`~MLPLanguageModel.logits_by_formula`), and so does
:meth:`~MLPLanguageModel.next_token_probs` (one window: a widget's
keystroke, a sampling step), for which it is also the fast way. One speed-up
is opt-in: a model built with ``lookup_training=True`` computes ``W_h e``
*while training* as a sum of ``n`` rows looked up in per-position tables
(:meth:`~MLPLanguageModel.fast_logits`: a linear layer after an embedding
lookup is itself a lookup), the same numbers up to rounding with far fewer
multiplications (a training step 1.4x faster for the notebook's model, 2.1x for
the shipped one, on one thread: ``bench/RESULTS.md``, "Training throughput");
the notebook's main training run and the shipped model's recipe use it, and
:meth:`~MLPLanguageModel.token_log_probs` uses it to score thousands of
windows at once.

The shipped MLP. A notebook can afford a minute of training; section "A
wider MLP, trained for two hours, with dropout" loads ``lm_course/shipped_data/mlp_reference.safetensors``, a wider MLP
trained for 118 minutes with the recipe :data:`lm_course.recipes.MLP_RECIPE`
(recreate it with ``python -m lm_course make-reference mlp``, which calls
:func:`lm_course.reference.make_reference`).
"""

from __future__ import annotations


from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.interface import Generates, inference_method
from lm_course.scoring import target_log_probs
from lm_course.validation import as_id_tensor, check_batch, check_finite_logits, require_number, require_positive

__all__ = ["MLPConfig", "MLPLanguageModel"]


@dataclass
class MLPConfig:
    """Size of an :class:`MLPLanguageModel` (a comment per field)."""

    vocab_size: int = 63  # V: tokens the model predicts (63 characters in the corpus)
    context_length: int = 8  # n-1: how many previous tokens the model sees (an order-n model)
    n_embd: int = 24  # d: size of each token's embedding vector
    n_hidden: int = 512  # H: units of the hidden tanh layer
    dropout: float = 0.0  # probability of zeroing each hidden unit in training (0: off)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "n_embd", "n_hidden"):
            setattr(self, name, require_positive(getattr(self, name), f"MLPConfig.{name}"))
        if not 0.0 <= require_number(self.dropout, "MLPConfig.dropout") < 1.0:
            raise ValueError(f"MLPConfig.dropout must be in [0, 1), got {self.dropout!r}")


class MLPLanguageModel(Generates, nn.Module):
    """Bengio et al. (2003)'s neural probabilistic language model.

    Implements :class:`lm_course.interface.LanguageModel` (``vocab_size``,
    ``context_length``, ``next_token_probs``, a batched ``token_log_probs``)
    and trains with :func:`lm_course.train.train`.
    """

    def __init__(self, config: MLPConfig, *, lookup_training: bool = False):
        super().__init__()
        self.config = config
        self.lookup_training = lookup_training  # training steps use fast_logits (module docstring, "Speed")
        V, n, d, H = config.vocab_size, config.context_length, config.n_embd, config.n_hidden
        self.vocab_size, self.context_length = V, n
        self.pad_id = V  # the extra "before the start" token (see the module docstring)
        self.embedding = nn.Embedding(V + 1, d)  # C: one row per token, plus padding
        self.hidden = nn.Linear(n * d, H)  # W_h, b_h
        self.output = nn.Linear(H, V)  # W_o, b_o
        with torch.no_grad():  # small output weights: the first predictions are near uniform,
            self.output.weight.mul_(0.1)  # so the initial loss is close to ln V
            self.output.bias.zero_()

    def num_parameters(self) -> int:
        """How many parameters the model has (each tensor counted once)."""
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ the network
    def fast_logits(self, windows: torch.Tensor) -> torch.Tensor:
        """The logits of :meth:`logits_by_formula`, computed faster for many
        windows: ``(..., n)`` ids -> ``(..., V)``.

        Computes ``W_h e`` without building ``e``: the block of ``W_h`` that
        multiplies position ``i`` of the concatenation, ``W_h^(i)``, meets only
        the embedding of the token there, so ``W_h e = sum_i W_h^(i) C[x_i]``.
        Each ``C W_h^(i)T`` is a ``(V+1, H)`` table computed once per call, and
        a window costs ``n`` row look-ups and a sum (``F.embedding_bag``)
        instead of an ``(n d) x H`` product: the same numbers (up to float
        rounding) with about four times fewer multiplications in training.
        """
        n, d, H = self.context_length, self.config.n_embd, self.config.n_hidden
        rows = self.vocab_size + 1  # embedding rows, padding included
        w_blocks = self.hidden.weight.view(H, n, d)  # (H, n, d): W_h^(i) = w_blocks[:, i, :]
        tables = torch.einsum("vd,hid->ivh", self.embedding.weight, w_blocks)  # (n, V+1, H)
        flat = windows.reshape(-1, n) + torch.arange(n, device=windows.device) * rows  # (M, n) rows of table i
        pre = F.embedding_bag(flat, tables.reshape(n * rows, H), mode="sum")  # (M, H) = W_h e
        h = torch.tanh(pre + self.hidden.bias)  # (M, H)
        if self.config.dropout > 0:  # training only; scaled by 1/(1-p) so evaluation needs no change
            h = F.dropout(h, self.config.dropout, self.training)  # (M, H)
        logits = self.output(h)  # (M, V)
        return logits.view(*windows.shape[:-1], self.vocab_size)  # (..., V)

    def logits_by_formula(self, windows: torch.Tensor) -> torch.Tensor:
        """The same logits, written as the notebook's formula:
        ``softmax`` input ``W_o tanh(W_h [C[x_1]; ...; C[x_n]] + b_h) + b_o``.

        ``(..., n)`` ids -> ``(..., V)``. One window (a widget's keystroke,
        one sampling step) is fastest this way; :meth:`fast_logits`
        pays off only for the thousands of windows of a training batch.
        """
        e = self.embedding(windows).flatten(-2)  # (..., n*d): the embeddings side by side
        h = torch.tanh(self.hidden(e))  # (..., H)
        if self.config.dropout > 0:
            h = F.dropout(h, self.config.dropout, self.training)  # (..., H)
        return self.output(h)  # (..., V)

    def windows(self, idx: torch.Tensor) -> torch.Tensor:
        """The ``n`` ids ending at each position, padded on the left:
        ``(B, T)`` -> ``(B, T, n)``."""
        n = self.context_length
        padded = F.pad(idx, (n - 1, 0), value=self.pad_id)  # (B, T+n-1)
        return padded.unfold(1, n, 1)  # (B, T, n); row t = ids t-n+1 .. t

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, V)`` logits; position ``t`` predicts token ``t + 1``
        (:meth:`logits_by_formula`; :meth:`fast_logits` in training if ``lookup_training``)."""
        idx = check_batch(idx, self.vocab_size, "idx", device=self.device)  # (B, T) long, or a clear error
        windows = self.windows(idx)  # (B, T, n)
        if self.training and self.lookup_training:
            return self.fast_logits(windows)  # (B, T, V)
        return self.logits_by_formula(windows)  # (B, T, V)

    # ------------------------------------------------------------------ LanguageModel
    @property
    def device(self) -> torch.device:
        """Where the model's weights are (``cpu``, ``cuda``, ``mps``)."""
        return self.embedding.weight.device

    @inference_method
    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)`` probabilities of the next token after ``context``
        (its last ``context_length`` tokens; shorter contexts are padded)."""
        ctx = as_id_tensor(context, self.vocab_size, "context")[-self.context_length:]  # (<=n,)
        window = F.pad(ctx, (self.context_length - len(ctx), 0), value=self.pad_id)  # (n,)
        logits = check_finite_logits(self.logits_by_formula(window.to(self.device)), self)  # (V,)
        return torch.softmax(logits.float(), dim=-1).cpu()

    @inference_method
    def token_log_probs(self, ids: Sequence[int] | torch.Tensor, batch_size: int = 16384) -> torch.Tensor:
        """``(len(ids)-1,)`` float64 ``ln p(ids[t] | ids[t-n:t])`` for ``t >= 1``,
        in batches of ``batch_size`` windows (the fast path of
        :func:`lm_course.evaluate.bits_per_token`)."""
        ids = as_id_tensor(ids, self.vocab_size)  # (N,)
        if len(ids) < 2:
            raise ValueError(f"need at least 2 tokens (the first is only context), got {len(ids)}")
        windows = self.windows(ids[None])[0, :-1]  # (N-1, n): the context of ids[1:]
        targets = ids[1:].to(self.device)  # (N-1,)
        batches = [target_log_probs(self.fast_logits(windows[s:s + batch_size].to(self.device)),  # (b,)
                                    targets[s:s + batch_size])
                   for s in range(0, len(targets), batch_size)]
        return torch.cat(batches)  # (N-1,)

    def __repr__(self) -> str:
        c = self.config
        return (f"MLPLanguageModel(vocab_size={c.vocab_size}, context_length={c.context_length}, "
                f"n_embd={c.n_embd}, n_hidden={c.n_hidden}; {self.num_parameters():,} parameters)")
