"""Checkers for chapter 3's recurrent-cell exercises (``03_rnns.ipynb``): an LSTM step
(exercise 4), a GRU step (exercise 5), the RNN over a sequence (exercise 1) and stateful truncated
backpropagation (exercise 6).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn as nn

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.ch03_gradients import _as_tensor
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.rnn_training import StatefulLoss, consecutive_lanes

__all__ = ["check_lstm_step", "check_gru_step", "check_rnn_forward", "check_stateful_tbptt", "rnn_forward_reference",
    "stateful_reference"]


# --------------------------------------------------------------------- Exercise 4: an LSTM step
def _lstm_variant(x, h, c, cell, order=(0, 1, 2, 3), g_sigmoid=False, no_tanh_c=False, biases="both"):
    """One LSTM step from the cell's weights, right (defaults) or with one mistake.
    ``order`` says which row block is used as i, f, g, o."""
    b = {"both": cell.bias_ih + cell.bias_hh, "ih": cell.bias_ih, "hh": cell.bias_hh}[biases]
    z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + b  # (B, 4H)
    blocks = z.chunk(4, dim=-1)
    i, f, g, o = (blocks[k] for k in order)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if g_sigmoid else torch.tanh(g)
    c_new = f * c + i * g  # (B, H)
    h_new = o * (c_new if no_tanh_c else torch.tanh(c_new))  # (B, H)
    return h_new, c_new


_LSTM_MISTAKES = [
    (dict(g_sigmoid=True), "the candidate g_t uses tanh (values in (-1, 1), so the cell can also be decreased); "
                           "only i, f and o are sigmoids."),
    (dict(no_tanh_c=True), "the new hidden state is h_t = o_t * tanh(c_t): squash the cell before the output gate."),
    (dict(biases="ih"), "PyTorch keeps two bias vectors, bias_ih and bias_hh; add both."),
    (dict(biases="hh"), "PyTorch keeps two bias vectors, bias_ih and bias_hh; add both."),
]


@exercise("ch03.lstm_step", wrong=from_switches(_lstm_variant, _LSTM_MISTAKES))
def check_lstm_step(fn: Callable) -> bool:
    """Exercise 4: ``fn(x, h, c, cell)`` computes one ``nn.LSTMCell`` step by
    hand and returns ``(h_new, c_new)``."""
    name = "Exercise 4 (an LSTM step by hand)"
    for seed, (B, I, H) in enumerate([(4, 5, 6), (1, 3, 2)]):
        torch.manual_seed(10 + seed)
        cell = nn.LSTMCell(I, H)
        x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
        with torch.no_grad():
            want_h, want_c = cell(x, (h, c))  # (B, H) each
        out = call(fn, x, h, c, cell)
        if isinstance(out, torch.Tensor) or not isinstance(out, (tuple, list)) or len(out) != 2:
            return report(False, name, "", "return a pair (h_new, c_new): the LSTM has two states.")
        got_h, got_c = (_as_tensor(t, want_h) for t in out)
        if got_h is None or got_c is None:
            return report(False, name, "", f"return (h_new, c_new), each of shape {tuple(want_h.shape)}.")
        if torch.allclose(got_h, want_h, atol=1e-5) and torch.allclose(got_c, want_c, atol=1e-5):
            continue
        if torch.allclose(got_h, want_c, atol=1e-5) and torch.allclose(got_c, want_h, atol=1e-5):
            return report(False, name, "", "you returned (c_new, h_new); return (h_new, c_new) like nn.LSTMCell.")
        with torch.no_grad():
            for flags, hint in _LSTM_MISTAKES:
                if torch.allclose(got_h, _lstm_variant(x, h, c, cell, **flags)[0], atol=1e-5):
                    return report(False, name, "", hint)
            for order in itertools.permutations(range(4)):
                if order != (0, 1, 2, 3) and torch.allclose(got_h, _lstm_variant(x, h, c, cell, order)[0],
                                                            atol=1e-5):
                    return report(False, name, "", "PyTorch stacks the rows of weight_ih / weight_hh in the "
                                  "order i, f, g, o (input gate, forget gate, candidate, output gate), H rows each.")
        if torch.allclose(got_c, want_c, atol=1e-5):
            return report(False, name, "", "your c_new is right; h_new = o * tanh(c_new), with o the 4th block.")
        return report(False, name, "", "check the memory-cell line: c_new = f * c + i * g (elementwise).")
    return report(True, name, "Your LSTM step equals torch.nn.LSTMCell: four blocks of weights, "
                  "an additive memory cell.", "")


# --------------------------------------------------------------------- Exercise 5: a GRU step
def _gru_variant(x, h, cell, *, order: str = "rzn", z_flip: bool = False, r_inside: bool = False) -> torch.Tensor:
    """One GRU step from the cell's weights, right (defaults) or with one
    mistake: ``order`` of the row blocks (``"zrn"``: update gate first, as in
    some texts), ``z_flip`` (h' = z n + (1 - z) h), ``r_inside`` (d2l's
    ``r * (W_hn h) + b_hn``: the reset gate leaves the bias out)."""
    H = h.size(-1)
    gi = x @ cell.weight_ih.T + cell.bias_ih  # (B, 3H)
    gh = h @ cell.weight_hh.T + cell.bias_hh  # (B, 3H)
    blocks = {name: k for k, name in enumerate(order)}

    def part(t, name):
        k = blocks[name]
        return t[:, k * H:(k + 1) * H]

    r = torch.sigmoid(part(gi, "r") + part(gh, "r"))
    z = torch.sigmoid(part(gi, "z") + part(gh, "z"))
    if r_inside:
        k = blocks["n"]
        hidden = r * (h @ cell.weight_hh[k * H:(k + 1) * H].T) + cell.bias_hh[k * H:(k + 1) * H]
    else:
        hidden = r * part(gh, "n")
    n = torch.tanh(part(gi, "n") + hidden)
    return z * n + (1 - z) * h if z_flip else (1 - z) * n + z * h


_GRU_MISTAKES = [
    (dict(z_flip=True), "PyTorch's convention is h' = (1 - z) * n + z * h: z is how much of the OLD state is kept."),
    (dict(order="zrn"), "PyTorch stacks the rows of weight_ih / weight_hh as [reset r; update z; new n], H rows "
                        "each; you took z from the first block."),
    (dict(r_inside=True), "the reset gate multiplies the whole hidden term, bias included: "
                          "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); you left b_hn outside r."),
    (dict(order="zrn", z_flip=True), "the rows are [r; z; n] (reset first) and h' = (1 - z) * n + z * h."),
]


@exercise("ch03.gru_step", wrong=from_switches(_gru_variant, _GRU_MISTAKES))
def check_gru_step(fn: Callable) -> bool:
    """Exercise 5: ``fn(x, h, cell)`` computes one ``nn.GRUCell`` step by hand
    from ``cell.weight_ih``, ``cell.weight_hh``, ``cell.bias_ih``, ``cell.bias_hh``."""
    name = "Exercise 5 (a GRU step by hand)"
    for seed, (B, I, H) in enumerate([(4, 5, 6), (1, 3, 2), (3, 6, 6)]):
        torch.manual_seed(3 + seed)
        cell = nn.GRUCell(I, H)
        with torch.no_grad():
            cell.bias_hh.normal_(0, 1.0)  # biases far from 0, so a misplaced one shows
        x, h = torch.randn(B, I), torch.randn(B, H)
        want = cell(x, h).detach()
        got = _as_tensor(call(fn, x, h, cell), want)
        if got is None:
            return report(False, name, "", f"return the new hidden state, one tensor of shape {tuple(want.shape)}.")
        if torch.allclose(got, want, atol=1e-5):
            continue
        with torch.no_grad():
            for flags, hint in _GRU_MISTAKES:
                if torch.allclose(got, _gru_variant(x, h, cell, **flags), atol=1e-5):
                    return report(False, name, "", hint)
        return report(False, name, "", "the rows of weight_ih / weight_hh are [reset r; update z; new n], H each; "
                                       "r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), "
                                       "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.")
    return report(True, name, "Your GRU step equals torch.nn.GRUCell.", "")


# --------------------------------------------------------------------- Exercise 1: the RNN over a sequence
def rnn_forward_reference(xs: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                          b_h: torch.Tensor, *, tanh: bool = True, carry: bool = True, use_h0: bool = True,
                          transpose_x: bool = True, transpose_h: bool = True) -> torch.Tensor:
    """Every hidden state ``h_1 .. h_T`` ``(B, T, H)`` of
    ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)`` from ``h0`` ``(B, H)``, for
    ``xs`` ``(B, T, I)``. The keywords build the commonest wrong versions: no
    tanh, the state not carried (every step from ``h0``), ``h0`` ignored
    (zeros), ``W_xh`` or ``W_hh`` not transposed (row-vector convention)."""
    h = h0 if use_h0 else torch.zeros_like(h0)  # (B, H)
    start, out = h, []
    for t in range(xs.size(1)):
        prev = h if carry else start
        pre = xs[:, t] @ (W_xh.T if transpose_x else W_xh) + prev @ (W_hh.T if transpose_h else W_hh) + b_h
        h = torch.tanh(pre) if tanh else pre  # (B, H)
        out.append(h)
    return torch.stack(out, dim=1)  # (B, T, H)


def _torch_rnn_states(xs, h0, W_xh, W_hh, b_h) -> torch.Tensor:
    """The same states from ``torch.nn.RNN`` (one layer, tanh, ``batch_first``)."""
    I, H = W_xh.shape[1], W_xh.shape[0]
    rnn = nn.RNN(I, H, batch_first=True).to(xs.dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh)
        rnn.weight_hh_l0.copy_(W_hh)
        rnn.bias_ih_l0.copy_(b_h)
        rnn.bias_hh_l0.zero_()  # PyTorch's two biases add up to our one b_h
        out, _ = rnn(xs, h0.unsqueeze(0))  # (B, T, H)
    return out


_RNN_MISTAKES = [
    (dict(tanh=False), "apply the non-linearity: h_t = torch.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)."),
    (dict(carry=False), "every step starts again from h0: carry the state, h_prev = the h_t you just computed."),
    (dict(use_h0=False), "start from the h0 you are given, not from zeros."),
    (dict(transpose_h=False), "with row vectors (one row per batch element) the recurrent term is h_prev @ W_hh.T "
                              "(W_hh h_prev for a column vector); h_prev @ W_hh uses W_hh transposed."),
    (dict(transpose_x=False), "with row vectors the input term is x_t @ W_xh.T; W_xh is (H, I)."),
    (dict(tanh=False, carry=False), "apply the tanh and carry the state from step to step."),
]


def _rnn_cases() -> list[tuple[torch.Tensor, ...]]:
    """``(xs, h0, W_xh, W_hh, b_h)`` in float64; the first with ``I = H`` (so a
    missing transpose of W_xh still fits the shapes), a zero ``h0``, one step."""
    cases = []
    for seed, (B, T, I, H) in enumerate([(2, 5, 4, 4), (3, 6, 3, 5), (1, 1, 2, 3), (4, 8, 6, 2)]):
        g = torch.Generator().manual_seed(200 + seed)
        xs = torch.randn(B, T, I, generator=g, dtype=torch.float64)  # (B, T, I)
        h0 = 0.8 * torch.randn(B, H, generator=g, dtype=torch.float64)  # (B, H)
        if seed == 2:
            h0 = torch.zeros(B, H, dtype=torch.float64)
        W_xh = 0.6 * torch.randn(H, I, generator=g, dtype=torch.float64)  # (H, I)
        W_hh = 0.6 * torch.randn(H, H, generator=g, dtype=torch.float64)  # (H, H)
        b_h = 0.3 * torch.randn(H, generator=g, dtype=torch.float64)  # (H,)
        cases.append((xs, h0, W_xh, W_hh, b_h))
    return cases


@exercise("ch03.rnn_forward", wrong=from_switches(rnn_forward_reference, _RNN_MISTAKES))
def check_rnn_forward(fn: Callable) -> bool:
    """Exercise 1: ``fn(xs, h0, W_xh, W_hh, b_h)`` runs the vanilla RNN over
    ``xs`` ``(B, T, I)`` from ``h0`` ``(B, H)`` and returns every hidden state
    ``(B, T, H)``; compared with ``torch.nn.RNN`` with the same weights."""
    name = "Exercise 1 (the RNN over a sequence)"
    for case in _rnn_cases():
        want = _torch_rnn_states(*case)  # (B, T, H)
        out = call(fn, *case)
        try:
            got = torch.as_tensor(out).detach().to(want.dtype)
        except Exception:
            return report(False, name, "", f"return one tensor of shape (B, T, H), got {type(out).__name__}.")
        B, T, H = want.shape
        if got.shape != want.shape:
            if got.shape == (B, H):
                hint = "return every state h_1 .. h_T stacked along dim 1, (B, T, H), not only the last one."
            elif got.shape == (B, T + 1, H):
                hint = "return h_1 .. h_T (T states), without h0."
            elif got.shape == (T, B, H):
                hint = "stack the states along dim 1 (batch first): (B, T, H), not (T, B, H)."
            else:
                hint = f"return shape (B, T, H) = {tuple(want.shape)}, got {tuple(got.shape)}."
            return report(False, name, "", hint)
        if torch.allclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        for flags, hint in _RNN_MISTAKES:
            if torch.allclose(got, rnn_forward_reference(*case, **flags), rtol=1e-6, atol=1e-9):
                return report(False, name, "", hint)
        if T > 1 and torch.allclose(got, want[:, -1:].expand_as(want), rtol=1e-6, atol=1e-9):
            return report(False, name, "", "every state you kept equals the LAST one: you keep the same tensor "
                                           "and overwrite it in place (h[:] = ..., h.copy_(...)); write "
                                           "h = torch.tanh(...), a new tensor each step.")
        return report(False, name, "", f"your states differ from torch.nn.RNN's by up to "
                                       f"{float((got - want).abs().max()):.3g}: h_t = tanh(x_t @ W_xh.T + "
                                       "h_{t-1} @ W_hh.T + b_h), from h_0 = h0, every h_1 .. h_T kept.")
    return report(True, name, "the same states as torch.nn.RNN: one shared cell applied T times, "
                              "the state carried from step to step.", "")


# --------------------------------------------------------------------- Exercise 6: stateful truncated BPTT
def _detached(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def stateful_reference(model, optimizer, inputs, targets, block_size: int, *, reset: bool = False,
                       detach: bool = True, zero: bool = True, stride: int | None = None,
                       piece: bool = False) -> list[float]:
    """One optimiser step per consecutive window of ``block_size`` tokens of
    the ``(B, L)`` lanes, each window starting from the final state of the
    previous one, detached; returns the losses. (The same steps as
    :class:`lm_course.rnn_training.StatefulLoss` in the training loop.) The
    keywords build the commonest wrong versions: ``reset=True`` (a zero state
    every window), ``detach=False``, ``zero=False`` (no ``zero_grad``),
    ``stride=1`` (overlapping windows), ``piece=True`` (the last piece, shorter
    than a window, trained on too)."""
    import torch.nn.functional as F

    state = None
    losses = []
    for a in range(0, inputs.size(1) - (1 if piece else block_size) + 1, stride or block_size):
        x, y = inputs[:, a:a + block_size], targets[:, a:a + block_size]  # (B, T) each
        logits, state = model(x, None if reset else state, return_state=True)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        if zero:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state = _detached(state) if detach else state
        losses.append(loss.item())
    return losses


_NO_DETACH = ("this is what happens without a detach: the state still hangs on the previous window's graph, so "
              "backward reaches into a graph that was already freed (or into weights the optimiser has changed "
              "since). After each step set state = state.detach() (each tensor of an LSTM's (h, c)).")

# stateful training's commonest slips and what to say (a missing detach raises in backward: call's on_error
# names it, see _graph_error_hint)
_STATEFUL_WRONG = from_switches(stateful_reference, [
    (dict(reset=True), "every window starts again from a zero state: pass the previous window's final state "
                       "(detached) to model(x, state, return_state=True); that carried state is what makes the "
                       "training stateful."),
    (dict(detach=False), _NO_DETACH),
    (dict(zero=False), "the gradients pile up from window to window: call optimizer.zero_grad() before each "
                       "loss.backward()."),
    (dict(stride=1), "the windows overlap: start each window where the previous one ended, block_size tokens "
                     "later, so that the state it starts from is the one the previous window ended with."),
    (dict(piece=True), "train on the whole windows only (L // block_size of them), as the statement says: the "
                       "last piece, shorter than a window, is left out."),
])


# kind, lanes, block_size, windows, extra tokens per lane (a last piece shorter than a window, to drop)
_STATEFUL_SIZES = [("rnn", 4, 6, 4, 0), ("lstm", 3, 5, 5, 0), ("gru", 2, 7, 3, 0), ("lstm", 2, 4, 3, 3)]


def _stateful_setup(kind: str, lanes: int, block: int, windows: int, extra: int = 0):
    """A fresh small model (the same weights at every call), its SGD
    optimiser, the token stream and its lanes of ``block * windows + extra``
    tokens."""
    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = RNNLanguageModel(RNNConfig(9, hidden_size=12, kind=kind, embed_size=6))
    model.train()
    g = torch.Generator().manual_seed(3)
    base = torch.arange(lanes * (block * windows + extra) + 1) % 9  # a noisy cycle: the carried state helps
    ids = torch.where(torch.rand(len(base), generator=g) < 0.7, base, torch.randint(9, (len(base),), generator=g))
    inputs, targets = consecutive_lanes(ids, lanes)
    return model, torch.optim.SGD(model.parameters(), lr=0.5), ids, inputs, targets


def _package_stateful(kind: str, lanes: int, block: int, windows: int,
                      extra: int = 0) -> tuple[list[float], list[torch.Tensor]]:
    """The package's stateful training: :class:`StatefulLoss` in the course's loop."""
    model, optimizer, ids, _, _ = _stateful_setup(kind, lanes, block, windows, extra)
    loss_fn = StatefulLoss(ids, lanes, block)
    losses = []
    for _ in range(windows):
        loss = loss_fn(model, None, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in model.parameters()]


def _graph_error_hint(err: Exception) -> str:
    text = str(err)
    return _NO_DETACH if "second time" in text or "inplace operation" in text or "freed" in text else ""


def _stateful_run(fn: Callable, sizes: tuple) -> tuple[list[float], list[torch.Tensor]]:
    """A wrong version's losses and final weights on the test case ``sizes``."""
    model, optimizer, _, inputs, targets = _stateful_setup(*sizes)
    losses = fn(model, optimizer, inputs, targets, sizes[2])
    return losses, [p.detach() for p in model.parameters()]


def _same_run(a: tuple[list[float], list[torch.Tensor]], b: tuple[list[float], list[torch.Tensor]]) -> bool:
    """The same losses and final weights."""
    return (len(a[0]) == len(b[0]) and all(math.isclose(u, v, rel_tol=1e-4, abs_tol=1e-6) for u, v in zip(a[0], b[0]))
            and all(torch.allclose(u, v, rtol=1e-3, atol=1e-5) for u, v in zip(a[1], b[1])))


@exercise("ch03.train_stateful", wrong=_STATEFUL_WRONG)
def check_stateful_tbptt(fn: Callable) -> bool:
    """Exercise 6: ``fn(model, optimizer, inputs, targets, block_size)`` trains
    statefully on ``(B, L)`` lanes, one step per consecutive window, carrying
    the detached state, and returns the list of losses; compared (losses and
    final weights) with :class:`lm_course.rnn_training.StatefulLoss` on small
    vanilla RNN, LSTM and GRU models."""
    name = "Exercise 6 (stateful truncated BPTT)"
    runs = [Wrong(w.name, partial(_stateful_run, w.version), w.diagnosis) for w in _STATEFUL_WRONG]
    for sizes in _STATEFUL_SIZES:
        model, optimizer, _, inputs, targets = _stateful_setup(*sizes)
        got = call(fn, model, optimizer, inputs, targets, sizes[2], on_error=_graph_error_hint, timeout=30.0)
        want = _package_stateful(*sizes)
        try:
            got = ([float(v.detach() if isinstance(v, torch.Tensor) else v) for v in got],
                   [p.detach() for p in model.parameters()])
        except (TypeError, ValueError, RuntimeError):
            return report(False, name, "", "return a list of floats, one loss per window (loss.item()).")
        if _same_run(got, want):
            continue
        L, block, n = inputs.size(1), sizes[2], len(want[0])
        seen = f"lanes of {L} tokens and block_size={block} make {n} consecutive windows (one step each)"
        hint = diagnose(got, (sizes,), runs, _same_run)
        if hint or len(got[0]) != n:
            return report(False, name, "", f"{seen}: {hint}" if hint else f"{seen}; you returned {len(got[0])} losses.")
        if not math.isclose(got[0][0], want[0][0], rel_tol=1e-4):
            return report(False, name, "", "the first window's loss differs already: the first window is "
                                           "inputs[:, :block_size] from a zero state (None), and the loss is the "
                                           "mean cross-entropy of model's logits against targets.")
        return report(False, name, "", f"your losses {[round(v, 4) for v in got[0]]} differ from the package's "
                                       f"{[round(v, 4) for v in want[0]]}: one optimiser step per window, "
                                       "zero_grad, backward, step, then the state detached and carried on.")
    return report(True, name, "the same losses and weights as StatefulLoss in the course's loop (RNN, LSTM "
                              "and GRU): values flow across windows, gradients stop at each window's start.", "")
