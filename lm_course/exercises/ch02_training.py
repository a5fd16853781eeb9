"""Checkers for chapter 2's MLP exercises (``02_tokens_and_embeddings.ipynb``): the MLP's
forward pass (exercise 4) and one training step (exercise 5).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from functools import partial

from lm_course.exercises._check import Stop, call, exercise, report
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches

__all__ = ["check_mlp_logits", "check_training_step", "mlp_logits_reference"]


# --------------------------------------------------------------------- Exercise 4: the MLP's forward pass
def mlp_logits_reference(windows, C, W_h, b_h, W_o, b_o, *, tanh: bool = True, order: str = "positions",
                         hidden_bias: bool = True, output_bias: bool = True, transpose: bool = True,
                         softmax: bool = False):
    """``W_o tanh(W_h [C[x_1]; ...; C[x_n]] + b_h) + b_o`` for ``(N, n)`` windows:
    the logits of :meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula`.
    The keywords build wrong versions: no tanh, ``order="reversed"`` (the
    window's positions last to first), ``order="dims"`` (flattened dimension
    by dimension), a missing bias, weights not transposed, softmax applied."""
    import torch

    idx = windows.flip(-1) if order == "reversed" else windows
    e = C[idx]  # (N, n, d)
    e = (e.transpose(-1, -2) if order == "dims" else e).flatten(-2)  # (N, n*d)
    pre = e @ (W_h.T if transpose else W_h) + (b_h if hidden_bias else 0)  # (N, H)
    h = torch.tanh(pre) if tanh else pre
    logits = h @ (W_o.T if transpose else W_o) + (b_o if output_bias else 0)  # (N, V)
    return logits.softmax(-1) if softmax else logits


_MLP_SLIPS = [
    (dict(tanh=False), "the hidden layer needs its non-linearity: h = torch.tanh(e @ W_h.T + b_h); without it "
                       "the two layers collapse into one linear map."),
    (dict(order="reversed"), "concatenate the embeddings in the window's order, first position first "
                             "(C[windows].flatten(-2)); you reversed them."),
    (dict(order="dims"), "flatten (N, n, d) row by row, position after position: C[windows].reshape(N, n * d) "
                         "or .flatten(-2); a transpose before flattening interleaves the positions."),
    (dict(hidden_bias=False), "add the hidden bias b_h before the tanh."),
    (dict(output_bias=False), "add the output bias b_o to the logits."),
    (dict(hidden_bias=False, output_bias=False), "add both biases: b_h before the tanh, b_o to the logits."),
    (dict(transpose=False), "nn.Linear stores its weight as (out, in): multiply by its transpose, e @ W_h.T "
                            "and h @ W_o.T."),
    (dict(softmax=True), "return the logits (before softmax), not probabilities."),
]


def _mlp_cases():
    """``(model, windows)``: the first with ``n d = H = V`` (so a missing
    transpose does not fail on shapes), then random sizes; windows include
    the padding id ``V``."""
    import torch

    from lm_course.mlp import MLPConfig, MLPLanguageModel

    out = []
    sizes = [(12, 3, 4, 12), (7, 2, 3, 5), (10, 4, 2, 6), (5, 1, 3, 8), (20, 5, 4, 16)]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for V, n, d, H in sizes:
            model = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=n, n_embd=d, n_hidden=H))
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0, 0.7)  # biases and output weights far from 0, tanh far from linear
            windows = torch.randint(0, V + 1, (9, n))  # (N, n), padding id V included
            windows[0] = V  # an all-padding window: the very start of a text
            out.append((model, windows))
    return out


@exercise("ch02.mlp_logits", wrong=from_switches(mlp_logits_reference, _MLP_SLIPS))
def check_mlp_logits(fn: Callable) -> bool:
    """Exercise 4: ``fn(windows, C, W_h, b_h, W_o, b_o)`` returns the ``(N, V)``
    logits of the MLP language model for ``(N, n)`` windows, compared with
    :meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula` on models of
    several sizes."""
    import torch

    name = "Exercise 4 (the MLP's forward pass)"
    for model, windows in _mlp_cases():
        weights = (model.embedding.weight.detach(), model.hidden.weight.detach(), model.hidden.bias.detach(),
                   model.output.weight.detach(), model.output.bias.detach())
        got = call(fn, windows, *weights,
                   on_error=lambda err: ("Check the shapes: C is (V+1, d), W_h (H, n*d), W_o (V, H) "
                                         "(nn.Linear's (out, in)), so e @ W_h.T and h @ W_o.T."))
        with torch.no_grad():
            want = model.logits_by_formula(windows)  # (N, V)
        try:
            got = torch.as_tensor(got).detach().to(want.dtype)
        except Exception:
            return report(False, name, "", f"return a tensor of logits, got {type(got).__name__}.")
        if got.shape != want.shape:
            return report(False, name, "", f"return one row of V logits per window: shape {tuple(want.shape)}, "
                                           f"got {tuple(got.shape)}.")
        if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            continue
        for kw, hint in _MLP_SLIPS:
            try:
                wrong = mlp_logits_reference(windows, *weights, **kw)
            except RuntimeError:  # a wrong version that does not fit these shapes
                continue
            if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
                return report(False, name, "", hint)
        return report(False, name, "", f"your logits differ from the model's by up to "
                                       f"{float((got - want).abs().max()):.3g}: check each step, the look-up "
                                       "C[windows] (N, n, d), its flattening to (N, n*d), the tanh layer and the "
                                       "output layer.")
    return report(True, name, "the same logits as MLPLanguageModel.logits_by_formula: look-up, concatenate, "
                              "tanh layer, output layer.", "")


# --------------------------------------------------------------------- Exercise 5: one training step


def _variant_step(model, optimizer, x, y, grad_clip: float | None = 1.0, *, zero: str | None = "first",
                  clip: str | None = "all", fixed: float | None = None, step: bool = True,
                  item: bool = True) -> float:
    """The training step right (the defaults) or with one slip, to recognise a
    student's mistake: no ``zero_grad`` (``zero=None``) or one between backward
    and step (``zero="late"``), no clipping (``clip=None``), clipping after the
    step (``clip="after"``), each tensor clipped on its own (``clip="each"``),
    a hard-coded max norm (``fixed``), no update (``step=False``), the loss
    tensor returned (``item=False``)."""
    import torch

    from lm_course.train import lm_loss

    loss = lm_loss(model, x, y)
    if zero == "first":
        optimizer.zero_grad()
    loss.backward()
    if zero == "late":
        optimizer.zero_grad()
    max_norm = grad_clip if fixed is None else fixed
    if clip in ("all", "each") and max_norm is not None:
        groups = [[p] for p in model.parameters()] if clip == "each" else [list(model.parameters())]
        for group in groups:
            torch.nn.utils.clip_grad_norm_(group, max_norm)
    if step:
        optimizer.step()
    if clip == "after" and max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    return loss.item() if item else loss


_NOT_CLIPPED = ("the update is not clipped: call torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip), with "
                "the argument grad_clip, between loss.backward() and optimizer.step() (after the step it is too late).")
_NO_UPDATE = ("the weights never change: after loss.backward() (and not with a zero_grad in between) call "
              "optimizer.step(), which applies the update.")
_TENSOR_LOSS = ("your step returns the loss tensor; return loss.item(), a Python float: the tensor keeps the step's "
                "whole graph alive, and a loop that keeps every step's loss would keep every graph.")

# the training step's commonest slips and what to say; slips that update the weights alike share one
# (the last, a tensor returned, is named before any comparison, from the type of the result)
_STEP_WRONG = from_switches(_variant_step, [
    (dict(zero=None), "the gradients pile up from step to step: call optimizer.zero_grad() before loss.backward() "
                      "(backward adds to .grad, it does not overwrite it)."),
    (dict(clip=None), _NOT_CLIPPED),
    (dict(clip="after"), _NOT_CLIPPED),
    (dict(clip="each"), "you clip each parameter's gradient on its own; clip_grad_norm_ takes all of "
                        "model.parameters() at once and scales them together."),
    (dict(fixed=1.0), _NOT_CLIPPED),  # these gradients' norms are below 1: clipping to 1.0 leaves them as they are
    (dict(step=False), _NO_UPDATE),
    (dict(zero="late"), _NO_UPDATE),
    (dict(item=False), _TENSOR_LOSS),
])


def _run_steps(step_fn: Callable, grad_clip: float | None, optimizer_name: str) -> tuple[list[float], list]:
    """Run ``step_fn`` for a few steps on a small MLP and a fixed stream, in
    the loop of :func:`lm_course.train.train` (same initial weights, batches
    and learning rates every call); returns the losses and the final weights.
    Errors propagate to the caller."""
    import torch

    from lm_course.train import lr_at, make_optimizer, random_windows

    cfg = _step_config(grad_clip)
    model = _step_model()
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    else:
        optimizer = make_optimizer(model, cfg)
    batches = torch.Generator().manual_seed(cfg.seed)
    model.train()
    losses = []
    for step in range(cfg.steps):
        if optimizer_name != "sgd":
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
        x, y = random_windows(_step_stream(), cfg.batch_size, cfg.block_size, batches)  # (B, T), (B, T)
        losses.append(step_fn(model, optimizer, x, y, grad_clip))
    return losses, [p.detach().clone() for p in model.parameters()]


def _step_model():
    """The small MLP the training step is checked on: the same initial weights
    at every call, without touching the notebook's random state."""
    import torch

    from lm_course.mlp import MLPConfig, MLPLanguageModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return MLPLanguageModel(MLPConfig(vocab_size=12, context_length=3, n_embd=4, n_hidden=16))


def _step_config(grad_clip: float | None):
    from lm_course.train import TrainConfig

    return TrainConfig(steps=6, batch_size=4, block_size=8, lr=0.5, warmup_steps=2, grad_clip=grad_clip,
                       eval_interval=1000, eval_batches=1, seed=0, progress=False)


def _step_stream():
    import torch

    g = torch.Generator().manual_seed(1)
    base = torch.arange(400) % 12  # a noisy cycle: learnable, so the gradients are large
    return torch.where(torch.rand(400, generator=g) < 0.8, base, torch.randint(12, (400,), generator=g))


def _same(a: tuple[list[float], list], b: tuple[list[float], list]) -> bool:
    import torch

    (la, wa), (lb, wb) = a, b
    return (len(la) == len(lb) and all(math.isclose(u, v, rel_tol=1e-5, abs_tol=1e-6) for u, v in zip(la, lb))
            and all(torch.allclose(u, v, rtol=1e-4, atol=1e-6) for u, v in zip(wa, wb)))


@exercise("ch02.training_step", wrong=_STEP_WRONG)
def check_training_step(training_step: object) -> bool:
    """Exercise 5: ``training_step(model, optimizer, x, y, grad_clip)`` makes
    one optimiser step on the batch and returns its loss as a float, exactly
    like :func:`lm_course.train.training_step`. Checked in the loop of
    :func:`lm_course.train.train` with plain SGD (where a missing or misplaced
    clip shows at once), with ``grad_clip=None``, and with AdamW against
    :func:`lm_course.train.train` itself."""
    import torch

    from lm_course.train import train
    from lm_course.train import training_step as reference

    name = "Exercise 5 (one training step)"

    def student(model, optimizer, x, y, clip):
        value = call(training_step, model, optimizer, x, y, clip)
        if isinstance(value, torch.Tensor):
            report(False, name, "", _TENSOR_LOSS)
            raise Stop
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            report(False, name, "", f"your function returned {type(value).__name__}; return the loss as a "
                                    "float (loss.item()).")
            raise Stop
        return float(value)

    try:
        got = _run_steps(student, 0.05, "sgd")
        want = _run_steps(reference, 0.05, "sgd")
        if not _same(got, want):
            runs = [Wrong(w.name, partial(_run_steps, w.version), w.diagnosis) for w in _STEP_WRONG
                    if w.diagnosis != _TENSOR_LOSS]  # a tensor returned is named above, from its type
            hint = diagnose(got, (0.05, "sgd"), runs, _same)
            if hint is None and not math.isclose(got[0][0], want[0][0], rel_tol=1e-5):
                hint = ("the loss of the very first batch differs from the package's: use "
                        "F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)) on model(x), the mean over every "
                        "position.")
            return report(False, name, "", hint or "the losses after the first step differ from the package's: "
                                                   "the order is zero_grad, backward, clip (clip_grad_norm_ with "
                                                   "grad_clip), step.")
        if not _same(_run_steps(student, None, "sgd"), _run_steps(reference, None, "sgd")):
            return report(False, name, "", "with grad_clip=None the step must not clip at all.")
        # and in the real thing: AdamW, warm-up and cosine, against train() itself
        model = _step_model()
        history = train(model, _step_stream(), None, _step_config(1.0))
        mine = _run_steps(student, 1.0, "adamw")
        if not _same(mine, (history.train_loss, [p.detach() for p in model.parameters()])):
            return report(False, name, "", "right with SGD but not with AdamW inside train(): does your step "
                                           "build its own optimiser? Use the optimizer it is given.")
    except Stop:
        return False
    except Exception as err:  # the student's code: report, never raise
        return report(False, name, "", f"running your step raised {type(err).__name__}: {err}")
    return report(True, name, "The same losses and weights as lm_course.train.train, step for step. "
                              "These six lines are the heart of every training loop in the course.", "")
