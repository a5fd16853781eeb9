"""The checkers of 03_rnns.ipynb accept the right answers and reject wrong ones."""

import torch
import torch.nn as nn

from lm_course.exercises.ch03 import (check_clip_grad_norm, check_gru_step, check_lstm_parameters,
                                      check_steps_to_vanish)


def test_lstm_parameters(capsys):
    right = sum(p.numel() for p in nn.LSTM(64, 256).parameters())
    assert check_lstm_parameters(right)
    assert not check_lstm_parameters(right - 4 * 256)  # one bias only
    assert "two bias" in capsys.readouterr().out
    assert not check_lstm_parameters(right // 4)
    assert not check_lstm_parameters(None)
    assert not check_lstm_parameters("many")


def test_steps_to_vanish(capsys):
    assert check_steps_to_vanish(66)
    assert not check_steps_to_vanish(65)
    assert not check_steps_to_vanish(65.56)
    assert not check_steps_to_vanish(None)
    assert "❌" in capsys.readouterr().out


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
    assert not check_clip_grad_norm(lambda gs, m: 1 / 0)  # raising code is reported, not raised
    assert not check_clip_grad_norm(None)
    assert not check_clip_grad_norm(lambda gs, m: None)  # the notebook's placeholder
    assert not check_clip_grad_norm(lambda gs, m: gs[:1])
    assert "returned None" in capsys.readouterr().out


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
    assert not check_gru_step(lambda x, h, c: h[:, :2])
    assert not check_gru_step(lambda x, h, c: undefined_name)  # noqa: F821
    assert not check_gru_step(3)
    assert not check_gru_step(lambda x, h, c: None)  # the notebook's placeholder
    assert not check_gru_step(lambda x, h, c: "text")
    assert "returned None" in capsys.readouterr().out
