"""Checkers for the exercises of ``03_rnns.ipynb``.

Each ``check_...(student_function)`` runs the student's function on fixed and
random inputs, compares it with PyTorch or the package (autograd,
``clip_grad_norm_``, ``nn.LSTMCell``, ``nn.GRUCell``, ``nn.RNN``,
:class:`lm_course.rnn_training.StatefulLoss`), prints ✅ or a hint naming the likely
mistake, and never raises (see :mod:`lm_course.exercises._check`).

The checkers live in :mod:`.ch03_gradients` and :mod:`.ch03_cells`; this
module gathers them (the notebooks import from here).
"""

from __future__ import annotations

from lm_course.exercises.ch03_gradients import check_bptt_grad_W_hh, check_clip_grad_norm, bptt_grad_W_hh_autograd
from lm_course.exercises.ch03_cells import (check_lstm_step, check_gru_step, check_rnn_forward, check_stateful_tbptt,
    rnn_forward_reference, stateful_reference)

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_rnn_forward", "check_bptt_grad_W_hh", "check_clip_grad_norm", "check_lstm_step", "check_gru_step",
    "check_stateful_tbptt", "rnn_forward_reference", "stateful_reference", "bptt_grad_W_hh_autograd"]
