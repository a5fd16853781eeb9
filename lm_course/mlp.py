"""The MLP language model of Bengio et al. (2003), for characters.

Explained in ``02_tokens_and_embeddings.ipynb``, section "A neural language
model": to predict the next character, look up an embedding vector for each
of the last ``n`` characters, concatenate them, pass them through one hidden
``tanh`` layer, and turn the output into a softmax over the vocabulary::

    e     = [C[x_{t-n+1}]; ...; C[x_t]]            (n * d,)  concatenated embeddings
    h     = tanh(W_h e + b_h)                       (H,)
    p(x_{t+1} | x_{t-n+1..t}) = softmax(W_o h + b_o)  (V,)

(Bengio et al. also had optional direct connections from ``e`` to the output;
we leave them out.)

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

Speed. :meth:`MLPLanguageModel.logits_from_windows` computes ``W_h e`` as a
sum of ``n`` rows looked up in per-position tables (a linear layer after an
embedding lookup is itself a lookup), which gives the same numbers as the
concatenation with far fewer multiplications; the notebook checks it against
the formula computed by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.interface import as_id_tensor

__all__ = ["MLPConfig", "MLPLanguageModel"]


@dataclass
class MLPConfig:
    """Size of an :class:`MLPLanguageModel` (a comment per field)."""

    vocab_size: int = 63  # V: tokens the model predicts (63 characters in the corpus)
    context_length: int = 8  # n: how many previous tokens the model sees
    n_embd: int = 24  # d: size of each token's embedding vector
    n_hidden: int = 512  # H: units of the hidden tanh layer

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MLPConfig.{name} must be an int >= 1, got {value!r}")


class MLPLanguageModel(nn.Module):
    """Bengio et al. (2003)'s neural probabilistic language model.

    Implements :class:`lm_course.interface.LanguageModel` (``vocab_size``,
    ``context_length``, ``next_token_probs``, a batched ``token_log_probs``)
    and trains with :func:`lm_course.train.train`.
    """

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        V, n, d, H = config.vocab_size, config.context_length, config.n_embd, config.n_hidden
        self.vocab_size, self.context_length = V, n
        self.pad_id = V  # the extra "before the start" token (see the module docstring)
        self.embedding = nn.Embedding(V + 1, d)  # C: one row per token, plus padding
        self.hidden = nn.Linear(n * d, H)  # W_h, b_h
        self.output = nn.Linear(H, V)  # W_o, b_o
        with torch.no_grad():  # small output weights: the first predictions are near uniform,
            self.output.weight.mul_(0.1)  # so the initial loss is close to ln V
            self.output.bias.zero_()

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ the network
    def logits_from_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits of the token after each window: ``(..., n)`` ids -> ``(..., V)``.

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
        logits = self.output(h)  # (M, V)
        return logits.view(*windows.shape[:-1], self.vocab_size)  # (..., V)

    def windows(self, idx: torch.Tensor) -> torch.Tensor:
        """The ``n`` ids ending at each position, padded on the left:
        ``(B, T)`` -> ``(B, T, n)``."""
        n = self.context_length
        padded = F.pad(idx, (n - 1, 0), value=self.pad_id)  # (B, T+n-1)
        return padded.unfold(1, n, 1)  # (B, T, n); row t = ids t-n+1 .. t

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, V)`` logits; position ``t`` predicts token ``t + 1``."""
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
            got = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"expected a (B, T) tensor of token ids, got {got}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.vocab_size):
            raise ValueError(f"token ids must be in 0..{self.vocab_size - 1}")
        return self.logits_from_windows(self.windows(idx))  # (B, T, V)

    # ------------------------------------------------------------------ LanguageModel
    def _device(self) -> torch.device:
        return self.embedding.weight.device

    @torch.no_grad()
    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(vocab_size,)`` probabilities of the next token after ``context``
        (its last ``context_length`` tokens; shorter contexts are padded)."""
        ctx = as_id_tensor(context, self.vocab_size, "context")[-self.context_length:]  # (<=n,)
        window = F.pad(ctx, (self.context_length - len(ctx), 0), value=self.pad_id)  # (n,)
        logits = self.logits_from_windows(window.to(self._device()))  # (V,)
        return torch.softmax(logits.float(), dim=-1).cpu()

    @torch.no_grad()
    def token_log_probs(self, ids: Sequence[int] | torch.Tensor, batch_size: int = 16384) -> torch.Tensor:
        """``(len(ids)-1,)`` float64 ``ln p(ids[t] | ids[t-n:t])`` for ``t >= 1``,
        in batches of ``batch_size`` windows (the fast path of
        :func:`lm_course.evaluate.bits_per_token`)."""
        ids = as_id_tensor(ids, self.vocab_size)  # (N,)
        if len(ids) < 2:
            raise ValueError(f"need at least 2 tokens (the first is only context), got {len(ids)}")
        was_training = self.training
        self.eval()
        windows = self.windows(ids[None])[0, :-1]  # (N-1, n): the context of ids[1:]
        targets = ids[1:]  # (N-1,)
        out = torch.empty(len(targets), dtype=torch.float64)
        for s in range(0, len(targets), batch_size):
            w = windows[s: s + batch_size].to(self._device())  # (b, n)
            logp = torch.log_softmax(self.logits_from_windows(w).float(), dim=-1)  # (b, V)
            out[s: s + batch_size] = logp.gather(1, targets[s: s + batch_size, None].to(w.device))[:, 0].double().cpu()
        self.train(was_training)
        return out

    @torch.no_grad()
    def generate(self, max_new_tokens: int, context: Sequence[int] | torch.Tensor = (),
                 temperature: float = 1.0, generator: torch.Generator | None = None) -> list[int]:
        """``context`` followed by ``max_new_tokens`` sampled tokens, one at a
        time from ``softmax(logits / temperature)``; seed ``generator`` for
        repeatable samples."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        out = as_id_tensor(context, self.vocab_size, "context").tolist()
        for _ in range(max_new_tokens):
            probs = self.next_token_probs(out[-self.context_length:])  # (V,)
            if temperature != 1.0:
                probs = torch.softmax(probs.log() / temperature, dim=-1)  # (V,)
            out.append(int(torch.multinomial(probs, 1, generator=generator)))
        return out

    def __repr__(self) -> str:
        c = self.config
        return (f"MLPLanguageModel(vocab_size={c.vocab_size}, context_length={c.context_length}, "
                f"n_embd={c.n_embd}, n_hidden={c.n_hidden}; {self.n_params():,} parameters)")
