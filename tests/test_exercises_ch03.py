"""The checkers of 03_rnns.ipynb accept the right answers, name the typical
mistakes, and handle the notebook's stubs without raising."""

from functools import partial

import pytest
import torch
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import accepts_right_flags_wrong, flags, passes

from lm_course.exercises import ch03, ch03_cells
from lm_course.exercises.ch03 import (bptt_grad_W_hh_autograd, check_bptt_grad_W_hh, check_clip_grad_norm,
                                      check_gru_step, check_lstm_step)


def _stub(*args):
    raise NotImplementedError


# ------------------------------------------------------------------ Exercise 2: BPTT for W_hh
def _bptt(xs, W_xh, W_hh, b_h, u, mistake=None):
    """The notebook's solution, or it with one typical mistake."""
    hs = [torch.zeros(W_hh.shape[0], dtype=xs.dtype)]
    for x_t in xs:
        hs.append(torch.tanh(W_hh @ hs[-1] + W_xh @ x_t + b_h))
    grad = torch.zeros_like(W_hh)
    dh = u
    for t in range(len(xs), 0, -1):
        delta = dh if mistake == "no tanh'" else dh * (1 - hs[t] ** 2)
        grad += torch.outer(delta, hs[t] if mistake == "h_t" else hs[t - 1])
        if mistake == "last only":
            break
        dh = W_hh @ delta if mistake == "no transpose" else W_hh.T @ delta
    return grad.T if mistake == "transposed" else grad


def test_bptt_reference_is_autograd_of_the_chapter_rnn():
    g = torch.Generator().manual_seed(0)
    xs, W_xh, W_hh = torch.randn(5, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 4, generator=g)
    b_h, u = torch.randn(4, generator=g), torch.randn(4, generator=g)
    assert torch.allclose(bptt_grad_W_hh_autograd(xs, W_xh, W_hh, b_h, u), _bptt(xs, W_xh, W_hh, b_h, u), atol=1e-6)
    assert torch.count_nonzero(bptt_grad_W_hh_autograd(xs[:1], W_xh, W_hh, b_h, u)) == 0  # h_0 = 0


def test_bptt_checker(capsys):
    assert check_bptt_grad_W_hh(_bptt)
    assert "✅" in capsys.readouterr().out
    expected = {"last only": "EVERY step", "no tanh'": "tanh derivative", "no transpose": "TRANSPOSED",
                "h_t": "PREVIOUS state", "transposed": "transpose of the gradient"}
    for mistake, hint in expected.items():
        assert not check_bptt_grad_W_hh(lambda *a, m=mistake: _bptt(*a, mistake=m))
        assert hint in capsys.readouterr().out, mistake
    assert not check_bptt_grad_W_hh(_stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_bptt_grad_W_hh(lambda *a: torch.zeros(2, 2))  # wrong shape
    assert not check_bptt_grad_W_hh(lambda *a: 1 / 0)  # raising code is reported, not raised
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not check_bptt_grad_W_hh(None)
    assert not check_bptt_grad_W_hh(lambda *a: None)


# ------------------------------------------------------------------ Exercise 3: clipping
def _clip(grads, max_norm):
    total = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    return [g * scale for g in grads]


def test_clip_grad_norm(capsys):
    assert check_clip_grad_norm(_clip)
    per_tensor = lambda gs, m: [g * min(1.0, m / float(g.norm())) for g in gs]  # noqa: E731
    assert not check_clip_grad_norm(per_tensor)
    assert "ONE norm" in capsys.readouterr().out
    always = lambda gs, m: [g * m / float(torch.sqrt(sum((x ** 2).sum() for x in gs))) for g in gs]  # noqa: E731
    assert not check_clip_grad_norm(always)
    assert "already below" in capsys.readouterr().out
    assert not check_clip_grad_norm(lambda gs, m: 1 / 0)  # raising code is reported, not raised
    assert not check_clip_grad_norm(None)
    assert not check_clip_grad_norm(lambda gs, m: gs[:1])
    assert not check_clip_grad_norm(lambda gs, m: None)
    assert "returned None" in capsys.readouterr().out
    assert not check_clip_grad_norm(_stub)  # the notebook's stub
    assert "not implemented yet" in capsys.readouterr().out


# ------------------------------------------------------------------ Exercise 4: an LSTM step
def _lstm(x, h, c, cell, mistake=None):
    b = cell.bias_ih if mistake == "one bias" else cell.bias_ih + cell.bias_hh
    z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + b
    i, f, g, o = z.chunk(4, dim=-1)
    if mistake == "ifog":  # the order of some papers
        i, f, o, g = z.chunk(4, dim=-1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if mistake == "sigmoid g" else torch.tanh(g)
    c_new = f * c + i * g
    h_new = o * c_new if mistake == "no tanh" else o * torch.tanh(c_new)
    return (c_new, h_new) if mistake == "swapped" else (h_new, c_new)


def test_lstm_step(capsys):
    assert check_lstm_step(_lstm)
    assert "✅" in capsys.readouterr().out
    expected = {"ifog": "i, f, g, o", "sigmoid g": "uses tanh", "no tanh": "tanh(c_t)", "one bias": "two bias",
                "swapped": "(c_new, h_new)"}
    for mistake, hint in expected.items():
        assert not check_lstm_step(lambda *a, m=mistake: _lstm(*a, mistake=m))
        assert hint in capsys.readouterr().out, mistake
    assert not check_lstm_step(lambda x, h, c, cell: _lstm(x, h, c, cell)[0])  # h only
    assert "pair" in capsys.readouterr().out
    assert not check_lstm_step(_stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_lstm_step(lambda x, h, c, cell: (h, c[:, :1]))
    assert not check_lstm_step(lambda x, h, c, cell: (h, c))
    assert not check_lstm_step("lstm")


# ------------------------------------------------------------------ Exercise 5: a GRU step
def _gru(x, h, cell, flip=False):
    H = h.size(1)
    gi = x @ cell.weight_ih.T + cell.bias_ih
    gh = h @ cell.weight_hh.T + cell.bias_hh
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return z * n + (1 - z) * h if flip else (1 - z) * n + z * h


def test_gru_step(capsys):
    assert check_gru_step(_gru)
    assert not check_gru_step(lambda x, h, c: _gru(x, h, c, flip=True))
    assert "OLD state" in capsys.readouterr().out
    assert not check_gru_step(lambda x, h, c: h)
    assert "b_hn" in capsys.readouterr().out
    assert not check_gru_step(lambda x, h, c: h[:, :2])
    assert not check_gru_step(lambda x, h, c: undefined_name)  # noqa: F821
    assert not check_gru_step(3)
    assert not check_gru_step(lambda x, h, c: None)
    assert not check_gru_step(lambda x, h, c: "text")
    assert "returned None" in capsys.readouterr().out
    assert not check_gru_step(_stub)  # the notebook's stub
    assert "not implemented yet" in capsys.readouterr().out


# ------------------------------------------------------------------ Exercise 1: the RNN over a sequence


def rnn_forward_solution(xs, h0, W_xh, W_hh, b_h):  # the notebook's solution
    h, states = h0, []
    for t in range(xs.shape[1]):
        h = torch.tanh(xs[:, t] @ W_xh.T + h @ W_hh.T + b_h)  # (B, H)
        states.append(h)
    return torch.stack(states, dim=1)  # (B, T, H)


def test_rnn_reference_is_the_package_cell():
    from lm_course.rnn import RNNCell, UnrolledRNN

    B, T, I, H = 3, 6, 3, 5
    g = torch.Generator().manual_seed(201)
    xs, h0 = torch.randn(B, T, I, generator=g, dtype=torch.float64), torch.randn(B, H, generator=g, dtype=torch.float64)
    W_xh, W_hh = (0.6 * torch.randn(H, n, generator=g, dtype=torch.float64) for n in (I, H))  # (H, I), (H, H)
    b_h = 0.3 * torch.randn(H, generator=g, dtype=torch.float64)  # (H,)
    cell = RNNCell(I, H).double()
    with torch.no_grad():
        cell.W_xh.copy_(W_xh), cell.W_hh.copy_(W_hh), cell.b_h.copy_(b_h)
        hs, _ = UnrolledRNN(cell)(xs, h0)  # (B, T, H)
    assert torch.allclose(hs, ch03.rnn_forward_reference(xs, h0, W_xh, W_hh, b_h))
    assert ch03.check_rnn_forward(ch03.rnn_forward_reference)  # the checker compares with torch.nn.RNN


@pytest.mark.parametrize("wrong, hint", [
    (partial(ch03.rnn_forward_reference, tanh=False), "non-linearity"),
    (partial(ch03.rnn_forward_reference, carry=False), "carry the state"),
    (partial(ch03.rnn_forward_reference, use_h0=False), "not from zeros"),
    (partial(ch03.rnn_forward_reference, transpose_h=False), "h_prev @ W_hh.T"),
    (partial(ch03.rnn_forward_reference, transpose_x=False), "x_t @ W_xh.T"),
    (lambda *a: rnn_forward_solution(*a)[:, -1], "not only the last"),
    (lambda *a: rnn_forward_solution(*a).transpose(0, 1), "batch first"),
    (lambda *a: rnn_forward_solution(*a) * 1.01, "differ"),
    (_stub, "not implemented yet"),
])
def test_rnn_forward(capsys, wrong, hint):
    accepts_right_flags_wrong(capsys, ch03.check_rnn_forward, rnn_forward_solution, wrong, hint)


# ------------------------------------------------------------------ Exercise 6: stateful truncated BPTT
def _stateful(model, optimizer, inputs, targets, block_size, mistake=None):
    """The notebook's solution, or it with one typical mistake."""
    import torch.nn.functional as F

    state, losses = None, []
    for a in range(0, inputs.shape[1] - block_size + 1, block_size):
        x, y = inputs[:, a:a + block_size], targets[:, a:a + block_size]
        logits, state = model(x, None if mistake == "reset" else state, return_state=True)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward(retain_graph=mistake == "retain")
        optimizer.step()
        if mistake not in ("no detach", "retain"):
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        losses.append(loss.item())
    return losses[:-1] if mistake == "short" else losses


def test_stateful_reference_is_stateful_loss():
    assert ch03.check_stateful_tbptt(ch03.stateful_reference)  # the checker compares with StatefulLoss


@pytest.mark.parametrize("mistake, hint", [
    ("reset", "zero state"),
    ("no detach", "without a detach"),
    ("retain", "without a detach"),
    ("short", "consecutive windows"),
])
def test_stateful_tbptt(capsys, mistake, hint):
    accepts_right_flags_wrong(capsys, ch03.check_stateful_tbptt, _stateful, partial(_stateful, mistake=mistake), hint)


def test_stateful_tbptt_stub_and_junk(capsys):
    assert not ch03.check_stateful_tbptt(_stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch03.check_stateful_tbptt(lambda *a: "loss")
    assert "list of floats" in capsys.readouterr().out


# ------------------------------------------------------------------ issue 31: holes closed
def test_stateful_tbptt_with_an_extra_partial_window_fails(capsys):
    """One test size has lanes that are not a whole number of windows: the statement's L // block_size."""
    import torch.nn.functional as F

    def every_piece(model, optimizer, inputs, targets, block_size):
        state, losses = None, []
        for a in range(0, inputs.shape[1], block_size):  # the last, shorter piece too
            x, y = inputs[:, a:a + block_size], targets[:, a:a + block_size]
            logits, state = model(x, state, return_state=True)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            losses.append(loss.item())
        return losses

    out = flags(capsys, ch03.check_stateful_tbptt, every_piece)
    assert "whole windows" in out and "L // block_size" in out


def test_bptt_names_the_tanh_left_out_of_the_recursion(capsys):
    def pass_dh(xs, W_xh, W_hh, b_h, u):
        hs = [xs.new_zeros(W_hh.size(0))]
        for x_t in xs:
            hs.append(torch.tanh(W_hh @ hs[-1] + W_xh @ x_t + b_h))
        grad, dh = torch.zeros_like(W_hh), u.clone()
        for t in range(len(xs), 0, -1):
            delta = dh * (1 - hs[t] ** 2)
            grad += torch.outer(delta, hs[t - 1])
            dh = W_hh.T @ dh  # the tanh derivative left out of the recursion
        return grad

    assert "through the tanh too" in flags(capsys, ch03.check_bptt_grad_W_hh, pass_dh)


def test_clip_names_the_sum_of_norms_and_clipping_by_value(capsys):
    def sum_of_norms(grads, max_norm):
        total = sum(float(g.norm()) for g in grads)
        return [g * min(1.0, max_norm / total) for g in grads]

    def by_value(grads, max_norm):
        return [g.clamp(-max_norm, max_norm) for g in grads]

    def in_place(grads, max_norm):  # like torch's clip_grad_norm_: allowed
        total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
        for g in grads:
            g.mul_(min(1.0, max_norm / (total + 1e-6)))
        return grads

    assert "EVERY squared entry" in flags(capsys, ch03.check_clip_grad_norm, sum_of_norms)
    assert "clipping by value" in flags(capsys, ch03.check_clip_grad_norm, by_value)
    passes(capsys, ch03.check_clip_grad_norm, in_place)


def test_gru_names_each_mistake(capsys):
    def variant(x, h, cell, **kw):
        return ch03_cells._gru_variant(x, h, cell, **kw)

    assert "[reset r; update z; new n]" in flags(capsys, ch03.check_gru_step, partial(variant, order="zrn"))
    assert "bias included" in flags(capsys, ch03.check_gru_step, partial(variant, r_inside=True))
    passes(capsys, ch03.check_gru_step, variant)


def test_rnn_forward_names_in_place_aliasing(capsys):
    def aliased(xs, h0, W_xh, W_hh, b_h):
        h, states = h0.clone(), []
        for t in range(xs.size(1)):
            h[:] = torch.tanh(xs[:, t] @ W_xh.T + h @ W_hh.T + b_h)
            states.append(h)
        return torch.stack(states, dim=1)

    assert "overwrite it in place" in flags(capsys, ch03.check_rnn_forward, aliased)


def test_clip_table_starts_from_the_right_clipping(capsys):
    """The switches of clipping's table are off by default: the right answer."""
    from lm_course.exercises import ch03_gradients

    passes(capsys, ch03.check_clip_grad_norm, ch03_gradients._clip_variant)
