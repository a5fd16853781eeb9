"""Looking inside recurrent networks: how far gradients travel back in time,
and which hidden units track which feature of the text.

Explained in ``03_rnns.ipynb``:

* "Vanishing and exploding gradients": :func:`hidden_gradient_norms`
  measures ``||d loss_T / d h_t||``, the size of the gradient that the loss
  at the last step sends back to the hidden state ``T - t`` steps earlier.
  Backpropagation through time multiplies it by one Jacobian
  ``d h_{t+1} / d h_t = diag(1 - h_{t+1}^2) W_hh`` per step (vanilla RNN), so
  its size follows the spectral radius of ``W_hh`` (:func:`set_spectral_radius`)
  (Bengio et al. 1994; Pascanu et al. 2013).
* "Inside the hidden state": :func:`text_features` marks newlines, speaker
  names, the position in a line..., and :func:`units_tracking` finds the
  hidden units most correlated with each (in the spirit of Karpathy et al. 2015).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.interface import inference
from lm_course.validation import require_positive

__all__ = [
    "spectral_radius",
    "set_spectral_radius",
    "random_recurrent_layer",
    "hidden_gradient_norms",
    "text_features",
    "units_tracking",
    "lstm_gates",
    "bits_with_context_resets",
]


def spectral_radius(W: torch.Tensor) -> float:
    """The largest absolute eigenvalue of a square matrix."""
    if W.dim() != 2 or W.size(0) != W.size(1):
        raise ValueError(f"expected a square matrix, got shape {tuple(W.shape)}")
    return float(torch.linalg.eigvals(W.detach().double()).abs().max())


@torch.no_grad()
def set_spectral_radius(W: torch.Tensor, radius: float) -> torch.Tensor:
    """Rescale ``W`` in place so that its spectral radius is ``radius``."""
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    W.mul_(radius / spectral_radius(W))
    return W


def random_recurrent_layer(kind: str, input_size: int, hidden_size: int,
                           spectral_radius: float | None = None,
                           forget_bias: float | None = None, seed: int = 0) -> nn.Module:
    """A freshly initialised one-layer ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
    (``batch_first``), seeded.

    ``spectral_radius`` rescales the recurrent matrix of a vanilla RNN;
    ``forget_bias`` sets the total bias of an LSTM's forget gates (PyTorch's
    default initialisation gives about 0, i.e. ``f_t ~ 0.5``).
    """
    layers = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    if kind not in layers:
        raise ValueError(f"unknown kind {kind!r}; choose one of {tuple(layers)}")
    if spectral_radius is not None and kind != "rnn":
        raise ValueError("spectral_radius applies to the vanilla RNN's W_hh (kind='rnn')")
    if forget_bias is not None and kind != "lstm":
        raise ValueError("forget_bias applies to an LSTM (kind='lstm')")
    torch.manual_seed(seed)
    layer = layers[kind](input_size, hidden_size, batch_first=True)
    if spectral_radius is not None:
        set_spectral_radius(layer.weight_hh_l0, spectral_radius)
    if forget_bias is not None:
        with torch.no_grad():
            layer.bias_ih_l0[hidden_size:2 * hidden_size].fill_(forget_bias)  # gates: i, f, g, o
            layer.bias_hh_l0[hidden_size:2 * hidden_size].zero_()
    return layer


def hidden_gradient_norms(rnn: nn.Module, x: torch.Tensor, head: nn.Module | None = None,
                          targets: torch.Tensor | None = None) -> torch.Tensor:
    """``||d loss_T / d h_t||`` for ``t = 1 .. T``, averaged over the batch.

    Args:
        rnn: a ``batch_first`` ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.
        x: ``(B, T, I)`` inputs (random vectors, or embedded characters).
        head: read-out from the last hidden state to logits; with ``targets``
            ``(B,)`` the loss is their cross-entropy. Without them the loss is
            ``sum_b u_b . h_T`` for fixed random unit vectors ``u_b``, so that
            ``||d loss / d h_T|| = 1`` and later values are pure growth or decay.

    Returns:
        ``(T,)`` float64 tensor; entry ``t`` is the gradient at distance
        ``T - 1 - t`` from the loss (the last entry is the loss's own step).

    The layer is stepped one token at a time so that every ``h_t`` is a node
    of the graph (for an LSTM, ``h_t`` is the hidden output; the memory cell
    ``c_t`` carries its own gradient alongside). The gradients themselves are
    float32, like the layer; their norms are taken in float64, because the
    *squares* of entries below about 1e-19 underflow float32 (a norm of 64
    entries of 1e-24 would come out as 0). A norm is 0 only where the float32
    gradient itself has underflowed (entries below about 1.4e-45).
    Notebook section: "Vanishing and exploding gradients".
    """
    if not isinstance(rnn, (nn.RNN, nn.LSTM, nn.GRU)) or not rnn.batch_first:
        raise TypeError("rnn must be a batch_first torch.nn.RNN, LSTM or GRU")
    if x.dim() != 3 or x.size(-1) != rnn.input_size or x.size(1) < 1:
        raise ValueError(f"x must have shape (batch, time >= 1, {rnn.input_size}), got {tuple(x.shape)}")
    if (head is None) != (targets is None):
        raise ValueError("pass both head and targets, or neither")
    x = x.detach()
    state, hs = None, []
    for t in range(x.size(1)):
        _, state = rnn(x[:, t:t + 1], state)
        h = state[0] if isinstance(state, tuple) else state  # (layers, B, H)
        h.retain_grad()
        hs.append(h)
    h_T = hs[-1][-1]  # (B, H) top layer at the last step
    if head is not None:
        loss = F.cross_entropy(head(h_T), targets, reduction="sum")
    else:
        g = torch.Generator().manual_seed(0)
        u = torch.randn(h_T.shape, generator=g)  # (B, H)
        loss = (h_T * (u / u.norm(dim=-1, keepdim=True))).sum()
    loss.backward()
    norms = torch.stack([h.grad.double().norm(dim=-1).sum(0) for h in hs])  # (T, B): all layers, float64
    return norms.mean(dim=1).detach()  # (T,)


# --------------------------------------------------------------------- hidden units
def text_features(text: str) -> dict[str, np.ndarray]:
    """Per-character indicator (or count) features of a play's text.

    * ``"newline"``: the character is a line break.
    * ``"speaker name"``: inside a speaker line such as ``HAMLET:``.
    * ``"position in line"``: characters since the last line break.
    * ``"inside a word"``: a letter (or an apostrophe between letters).
    * ``"end of sentence"``: one of ``. ! ?``.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text_features needs a non-empty string")
    n = len(text)
    newline = np.array([c == "\n" for c in text], dtype=float)
    speaker = np.zeros(n)
    position = np.zeros(n)
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        stripped = line.strip()
        if stripped.endswith(":") and stripped[:-1].replace(" ", "").replace("'", "").isupper():
            speaker[start:end] = 1.0
        position[start:end + 1] = np.arange(end + 1 - start)[: min(end + 1, n) - start]
        start = end + 1
    letters = np.array([c.isalpha() for c in text])
    word = letters.copy()
    word[1:-1] |= np.array([c == "'" for c in text[1:-1]]) & letters[:-2] & letters[2:]
    sentence = np.array([c in ".!?" for c in text], dtype=float)
    return {"newline": newline, "speaker name": speaker, "position in line": position,
            "inside a word": word.astype(float), "end of sentence": sentence}


def units_tracking(states: torch.Tensor | np.ndarray, features: dict[str, np.ndarray]
                   ) -> list[tuple[str, int, float]]:
    """For each feature, the hidden unit whose activity correlates most with
    it (largest ``|Pearson r|``): a list of ``(feature, unit, r)``.

    ``states`` is ``(T, H)``: one row per character, as returned by
    :meth:`lm_course.rnn.RNNLanguageModel.hidden_states`.
    """
    S = np.asarray(states, dtype=float)  # (T, H)
    if S.ndim != 2:
        raise ValueError(f"states must be (time, units), got shape {S.shape}")
    S = S - S.mean(0)
    S_norm = np.linalg.norm(S, axis=0)  # (H,)
    out = []
    for name, f in features.items():
        f = np.asarray(f, dtype=float)
        if f.shape != (S.shape[0],):
            raise ValueError(f"feature {name!r} has {f.size} values for {S.shape[0]} time steps")
        f = f - f.mean()
        denom = S_norm * np.linalg.norm(f)
        r = np.divide(S.T @ f, denom, out=np.zeros(S.shape[1]), where=denom > 0)  # (H,)
        unit = int(np.argmax(np.abs(r)))
        out.append((name, unit, float(r[unit]) if math.isfinite(r[unit]) else 0.0))
    return out


# --------------------------------------------------------------------- LSTM gates
def lstm_gates(lstm: nn.LSTM, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run a one-layer ``nn.LSTM`` by hand from its weights and return every
    gate at every step, each ``(B, T, H)`` (Hochreiter & Schmidhuber 1997,
    with the forget gate of Gers et al. 2000)::

        i_t = sigmoid(W_ii x_t + W_hi h_{t-1} + b_i)      input gate
        f_t = sigmoid(W_if x_t + W_hf h_{t-1} + b_f)      forget gate
        g_t = tanh(W_ig x_t + W_hg h_{t-1} + b_g)         candidate
        o_t = sigmoid(W_io x_t + W_ho h_{t-1} + b_o)      output gate
        c_t = f_t * c_{t-1} + i_t * g_t                   memory cell
        h_t = o_t * tanh(c_t)                             hidden state

    Keys: ``"i", "f", "g", "o", "c", "h"``. Notebook section: "LSTM and GRU".
    """
    if not isinstance(lstm, nn.LSTM) or lstm.num_layers != 1 or not lstm.batch_first \
            or lstm.bidirectional or lstm.proj_size:
        raise TypeError("expected a one-layer, one-direction, batch_first torch.nn.LSTM")
    if x.dim() != 3 or x.size(-1) != lstm.input_size:
        raise ValueError(f"x must have shape (batch, time, {lstm.input_size}), got {tuple(x.shape)}")
    B, T, _ = x.shape
    H = lstm.hidden_size
    W_x, W_h = lstm.weight_ih_l0, lstm.weight_hh_l0  # (4H, I), (4H, H): rows i, f, g, o
    b = lstm.bias_ih_l0 + lstm.bias_hh_l0 if lstm.bias else x.new_zeros(4 * H)  # (4H,)
    h = c = x.new_zeros(B, H)  # (B, H)
    record: dict[str, list[torch.Tensor]] = {k: [] for k in "ifgoch"}
    for t in range(T):
        z = x[:, t] @ W_x.T + h @ W_h.T + b  # (B, 4H)
        i, f, g, o = z.split(H, dim=-1)  # each (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # (B, H)
        h = o * torch.tanh(c)  # (B, H)
        for k, v in zip("ifgoch", (i, f, g, o, c, h)):
            record[k].append(v)
    return {k: torch.stack(v, dim=1) for k, v in record.items()}  # each (B, T, H)


# --------------------------------------------------------------------- how much context is used
@torch.no_grad()
def bits_with_context_resets(model: nn.Module, ids: torch.Tensor | list[int], every: int,
                             rows_per_batch: int = 4096) -> float:
    """Bits per token when the model's state is reset to zero every ``every``
    tokens, so that it sees between 1 and ``every`` tokens of context.

    The text is cut into consecutive chunks of ``every`` predictions; each
    chunk starts from a zero state at the token before its first target, so
    every token after the first is scored exactly once (as in
    :func:`lm_course.evaluate.bits_per_token`). ``model`` maps ``(B, T)`` ids
    to ``(B, T, V)`` logits from a zero state, like
    :class:`lm_course.rnn.RNNLanguageModel`. Notebook section: "How much
    context does the LSTM use?".
    """
    every = require_positive(every, "every")
    ids = torch.as_tensor(ids, dtype=torch.long)  # (N,)
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError("ids must be a 1-D sequence of at least 2 token ids")
    n = len(ids) - 1
    rows = math.ceil(n / every)
    pad = rows * every - n
    inputs = F.pad(ids[:-1], (0, pad)).view(rows, every)  # (R, every)
    targets = F.pad(ids[1:], (0, pad), value=-1).view(rows, every)  # (R, every); -1 = padding
    total = 0.0
    with inference(model):
        for a in range(0, rows, rows_per_batch):
            logits = model(inputs[a:a + rows_per_batch])  # (b, every, V)
            logits = getattr(logits, "logits", logits)
            total += float(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(),
                                           targets[a:a + rows_per_batch].reshape(-1),
                                           ignore_index=-1, reduction="sum"))
    return total / n / math.log(2)
