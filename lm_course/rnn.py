"""Recurrent language models: a vanilla RNN cell written from its equations,
an unrolled RNN layer built on it, and RNN / LSTM / GRU character models.

Explained in ``03_rnns.ipynb``:

* "The RNN cell by hand": :class:`RNNCell` implements

      h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)
      y_t = W_hy h_t + b_y

  and :class:`UnrolledRNN` runs it over a sequence, returning every hidden
  state (the notebook checks both against ``torch.nn.RNN``).
* "A character-level LSTM on the scoreboard": :class:`RNNLanguageModel` wraps PyTorch's fused
  ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (fast, batched) between an embedding
  and a linear read-out, and implements the course's
  :class:`~lm_course.interface.LanguageModel` (``next_token_probs`` reads the
  whole context in one call from a zero state, ``token_log_probs`` scores a
  long text in batched chunks).

Truncated backpropagation through time
    The course's training loop (:func:`lm_course.train.train`) cuts random
    windows of ``block_size`` tokens out of the corpus and starts every window
    from a zero hidden state. Gradients therefore flow back at most
    ``block_size`` steps: this is truncated BPTT with truncation length
    ``block_size``, and a dependency longer than a window cannot be learned
    directly. At evaluation time the state is carried across the whole text.
"""

from __future__ import annotations


import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.interface import Generates, inference_method
from lm_course.scoring import target_log_probs
from lm_course.validation import as_id_tensor, check_batch, check_finite_logits, require_int, require_number, require_positive

__all__ = [
    "KINDS",
    "RNNCell",
    "UnrolledRNN",
    "RNNConfig",
    "RNNLanguageModel",
]

#: The recurrent layers :class:`RNNLanguageModel` can use.
KINDS = ("rnn", "lstm", "gru")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h, or (h, c) for an LSTM


_positive_int = require_positive  # the sizes and counts of this module


class RNNCell(nn.Module):
    """One step of a vanilla (Elman) RNN, written from the equations.

    ``h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)`` and, when ``output_size`` is
    given, ``y_t = W_hy h_t + b_y`` (:meth:`readout`). Weights are initialised
    like PyTorch's: uniform in ``(-1/sqrt(H), 1/sqrt(H))``.

    Notebook section: "The RNN cell by hand".
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int | None = None):
        super().__init__()
        self.input_size = _positive_int(input_size, "input_size")
        self.hidden_size = _positive_int(hidden_size, "hidden_size")
        self.output_size = None if output_size is None else _positive_int(output_size, "output_size")
        H, I = hidden_size, input_size
        self.W_xh = nn.Parameter(torch.empty(H, I))  # (H, I)
        self.W_hh = nn.Parameter(torch.empty(H, H))  # (H, H)
        self.b_h = nn.Parameter(torch.empty(H))  # (H,)
        if output_size is not None:
            self.W_hy = nn.Parameter(torch.empty(output_size, H))  # (O, H)
            self.b_y = nn.Parameter(torch.empty(output_size))  # (O,)
        bound = 1 / math.sqrt(H)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x_t: torch.Tensor, h_prev: torch.Tensor | None = None) -> torch.Tensor:
        """One step: ``x_t`` ``(B, I)`` and ``h_prev`` ``(B, H)`` (zeros when
        ``None``) give ``h_t`` ``(B, H)``."""
        if x_t.dim() != 2 or x_t.size(1) != self.input_size:
            raise ValueError(f"x_t must have shape (batch, {self.input_size}), got {tuple(x_t.shape)}")
        if h_prev is None:
            h_prev = x_t.new_zeros(x_t.size(0), self.hidden_size)  # (B, H)
        elif h_prev.shape != (x_t.size(0), self.hidden_size):
            raise ValueError(
                f"h_prev must have shape ({x_t.size(0)}, {self.hidden_size}), got {tuple(h_prev.shape)}"
            )
        return torch.tanh(h_prev @ self.W_hh.T + x_t @ self.W_xh.T + self.b_h)  # (B, H)

    def readout(self, h_t: torch.Tensor) -> torch.Tensor:
        """``y_t = W_hy h_t + b_y``: ``(..., H)`` to ``(..., O)``."""
        if self.output_size is None:
            raise RuntimeError("this cell has no output layer; build it with output_size=...")
        return h_t @ self.W_hy.T + self.b_y  # (..., O)

    @torch.no_grad()
    def load_from_torch(self, rnn: nn.RNN) -> "RNNCell":
        """Copy the weights of a one-layer, tanh ``torch.nn.RNN`` into this cell.

        PyTorch keeps two bias vectors (``bias_ih`` and ``bias_hh``); they are
        always added together, so ``b_h`` is their sum.
        """
        if not isinstance(rnn, nn.RNN) or rnn.num_layers != 1 or rnn.nonlinearity != "tanh" \
                or rnn.bidirectional:
            raise ValueError("expected a one-layer, one-direction torch.nn.RNN with tanh")
        if (rnn.input_size, rnn.hidden_size) != (self.input_size, self.hidden_size):
            raise ValueError(
                f"shape mismatch: the torch RNN is {rnn.input_size}->{rnn.hidden_size}, "
                f"this cell is {self.input_size}->{self.hidden_size}"
            )
        self.W_xh.copy_(rnn.weight_ih_l0)
        self.W_hh.copy_(rnn.weight_hh_l0)
        self.b_h.copy_(rnn.bias_ih_l0 + rnn.bias_hh_l0 if rnn.bias else torch.zeros_like(self.b_h))
        return self


class UnrolledRNN(nn.Module):
    """An RNN layer written as a Python loop over :class:`RNNCell` steps.

    Slow, but it shows its work: :meth:`forward` returns every hidden state
    ``h_1 .. h_T`` (and every output ``y_t`` when the cell has a read-out).
    Backpropagating through the loop is backpropagation through time.

    Notebook section: "The recurrence".
    """

    def __init__(self, cell: RNNCell):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the cell over ``x`` ``(B, T, I)`` from ``h0`` ``(B, H)`` (zeros
        when ``None``). Returns ``(hidden (B, T, H), outputs (B, T, O) or None)``."""
        if x.dim() != 3:
            raise ValueError(f"x must have shape (batch, time, {self.cell.input_size}), got {tuple(x.shape)}")
        if x.size(1) == 0:
            raise ValueError("x has no time steps")
        h, hidden = h0, []
        for t in range(x.size(1)):
            h = self.cell(x[:, t], h)  # (B, H)
            hidden.append(h)
        hs = torch.stack(hidden, dim=1)  # (B, T, H)
        ys = self.cell.readout(hs) if self.cell.output_size is not None else None  # (B, T, O)
        return hs, ys


@dataclass
class RNNConfig:
    """The shape of an :class:`RNNLanguageModel` (a comment per field)."""

    vocab_size: int  # number of token ids (63 characters for the course corpus)
    hidden_size: int = 256  # width H of the hidden state h_t (and of the LSTM cell c_t)
    kind: str = "lstm"  # "rnn" (tanh Elman RNN), "lstm" or "gru"
    num_layers: int = 1  # recurrent layers stacked on top of each other
    embed_size: int = 64  # width of the character embedding fed to the first layer
    dropout: float = 0.0  # dropout on the embeddings, between layers and before the read-out

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; choose one of {KINDS}")
        for name in ("vocab_size", "hidden_size", "num_layers", "embed_size"):
            _positive_int(getattr(self, name), name)
        if not 0.0 <= require_number(self.dropout, "dropout") < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class RNNLanguageModel(Generates, nn.Module):
    """A character (or any token) language model with a recurrent core::

        e_t = Embedding(x_t)                      (E,)
        h_t = RNN / LSTM / GRU (e_t, h_{t-1})     (H,)
        p(x_{t+1} | x_<=t) = softmax(W h_t + b)   (V,)

    ``forward`` is the fast batched path used for training (``(B, T)`` ids to
    ``(B, T, V)`` logits, every sequence starting from a zero state unless a
    ``state`` is passed). ``next_token_probs`` reads a whole context in one such
    call and reads out its last step; ``token_log_probs`` scores a long text.

    The model has no window: ``context_length`` is ``None``. It needs at least
    one token of context (it was never trained to predict the first token of
    a text from nothing).

    Notebook sections: "A character-level LSTM on the scoreboard", "Sampling", "Inside the
    hidden state".
    """

    context_length = None

    def __init__(self, config: RNNConfig):
        super().__init__()
        self.config = config
        vocab_size, hidden_size, kind = config.vocab_size, config.hidden_size, config.kind
        num_layers, embed_size, dropout = config.num_layers, config.embed_size, config.dropout
        self.vocab_size = vocab_size
        self.kind = kind
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.rnn = layer(embed_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if kind == "lstm":
            self._open_forget_gates()

    @torch.no_grad()
    def _open_forget_gates(self, bias: float = 1.0) -> None:
        """Start the LSTM's forget gates half-open-plus (bias 1, so f ~ 0.73):
        the usual initialisation (Gers et al. 2000; Jozefowicz et al. 2015)
        that lets gradients travel far from the first step. PyTorch orders
        the gates i, f, g, o."""
        H = self.config.hidden_size
        for k in range(self.config.num_layers):
            getattr(self.rnn, f"bias_ih_l{k}")[H:2 * H].fill_(bias)
            getattr(self.rnn, f"bias_hh_l{k}")[H:2 * H].zero_()

    # ----------------------------------------------------------------- input checks
    def _check_batch(self, idx: torch.Tensor) -> torch.Tensor:
        return check_batch(idx, self.vocab_size, "idx", device=self.device)  # (B, T) long, or a clear error

    def _check_context(self, context: Sequence[int] | torch.Tensor, what: str = "context") -> torch.Tensor:
        ids = as_id_tensor(context, self.vocab_size, what)  # (T,)
        if len(ids) == 0:
            raise ValueError(
                f"{what} is empty: an RNN language model needs at least one token to start from "
                "(e.g. a newline, tokenizer.encode('\\n'))"
            )
        return ids

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # ----------------------------------------------------------------- the model
    def forward(self, idx: torch.Tensor, state: State | None = None,
                return_state: bool = False) -> torch.Tensor | tuple[torch.Tensor, State]:
        """``idx`` ``(B, T)`` to next-token logits ``(B, T, V)``.

        ``state`` is the recurrent state to start from (``None``: zeros); with
        ``return_state=True`` the final state comes back too, so a long text
        can be fed in chunks (that is how :meth:`token_log_probs` works).
        """
        idx = self._check_batch(idx)
        x = self.drop(self.embed(idx))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        return (logits, state) if return_state else logits

    @inference_method
    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """p(next token | context) as a ``(vocab_size,)`` tensor.

        Reads the whole context from a zero state in one call (the recurrence
        ``h_t = f(x_t, h_{t-1})`` runs inside ``nn.LSTM``/``nn.GRU``/``nn.RNN``)
        and reads out the last step. Needs at least one token.
        """
        ids = self._check_context(context).to(self.device)  # (T,)
        logits = check_finite_logits(self(ids[None])[0, -1], self)  # (V,)
        return F.softmax(logits.float(), dim=-1).cpu()  # (V,)

    @inference_method
    def token_log_probs(self, ids: Sequence[int] | torch.Tensor, streams: int = 32,
                        warmup: int = 512, chunk: int = 1024) -> torch.Tensor:
        """``ln p(ids[t] | ids[:t])`` for ``t = 1 .. N-1`` (``(N-1,)``, float64).

        The fast path of :func:`lm_course.evaluate.bits_per_token`. The text is
        cut into ``streams`` consecutive segments that run side by side as one
        batch; each is fed in chunks of ``chunk`` tokens, carrying the
        recurrent state from one chunk to the next. A segment other than the
        first starts reading ``warmup`` tokens before its first scored token,
        so every prediction is conditioned on at least ``warmup`` tokens of
        context (or the whole prefix). ``streams=1`` is the exact recurrence
        over the whole text (and slow: one long sequential loop).
        """
        _positive_int(streams, "streams")
        _positive_int(chunk, "chunk")
        require_int(warmup, "warmup", minimum=0)
        ids = as_id_tensor(ids, self.vocab_size)  # (N,)
        n = len(ids) - 1  # positions to score
        if n < 1:
            raise ValueError(f"need at least 2 tokens to score (the first is only context), got {len(ids)}")
        seg = math.ceil(n / min(streams, n))  # scored positions per segment
        starts = list(range(0, n, seg))  # first scored input position of each segment
        begins = [max(0, s - warmup) for s in starts]  # where each stream starts reading
        length = max(min(s + seg, n) - b for s, b in zip(starts, begins))
        rows = torch.zeros(len(starts), length, dtype=torch.long)  # (S, L) inputs, padded
        targets = torch.zeros(len(starts), length, dtype=torch.long)  # (S, L)
        for r, (s, b) in enumerate(zip(starts, begins)):
            end = min(s + seg, n)
            rows[r, : end - b] = ids[b:end]
            targets[r, : end - b] = ids[b + 1:end + 1]
        out = torch.empty(len(starts), length, dtype=torch.float64)  # (S, L)
        state = None
        for c in range(0, length, chunk):
            x = rows[:, c:c + chunk].to(self.device)  # (S, C)
            logits, state = self(x, state, return_state=True)  # (S, C, V)
            out[:, c:c + chunk] = target_log_probs(logits, targets[:, c:c + chunk].to(self.device))  # (S, C)
        pieces = [out[r, s - b: min(s + seg, n) - b] for r, (s, b) in enumerate(zip(starts, begins))]
        return torch.cat(pieces)  # (N-1,)

    @inference_method
    def hidden_states(self, ids: Sequence[int] | torch.Tensor, which: str = "h") -> torch.Tensor:
        """The top layer's state after reading each token, ``(T, H)``.

        ``which="h"`` gives the hidden state h_t (the input of the read-out);
        for an LSTM, ``which="c"`` gives its memory cell c_t instead.
        Notebook section: "Inside the hidden state".
        """
        ids = self._check_context(ids, "ids").to(self.device)  # (T,)
        if which not in ("h", "c"):
            raise ValueError(f"which must be 'h' or 'c', got {which!r}")
        if which == "c" and self.kind != "lstm":
            raise ValueError(f"only an LSTM has a memory cell c_t; this model is a {self.kind!r}")
        if which == "h":
            out, _ = self.rnn(self.embed(ids[None]))  # (1, T, H)
            states = out[0]  # (T, H)
        else:  # step by step, keeping the top layer's c_t each time
            state, cells = None, []
            for t in range(len(ids)):
                _, state = self.rnn(self.embed(ids[t].view(1, 1)), state)
                cells.append(state[1][-1, 0])  # (H,)
            states = torch.stack(cells)  # (T, H)
        return states.cpu()

    def _first_step(self, ids: list[int]) -> tuple[torch.Tensor, object]:
        """:meth:`Generates.generate`'s first step: read the whole context once
        and keep the hidden state (notebook section: "Sampling")."""
        x = self._check_context(ids)[None].to(self.device)  # (1, T)
        logits, state = self(x, None, return_state=True)  # (1, T, V)
        return logits[0, -1].float().cpu(), state  # (V,)

    def _next_step(self, ids: list[int], state: object) -> tuple[torch.Tensor, object]:
        """Each later step reads only the token just drawn, from the carried state."""
        logits, state = self(torch.tensor([[ids[-1]]], device=self.device), state, return_state=True)  # (1, 1, V)
        return logits[0, -1].float().cpu(), state  # (V,)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, parameters={self.num_parameters():,}"
