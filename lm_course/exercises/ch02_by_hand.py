"""Checkers for chapter 2's by-hand exercises (``02_tokens_and_embeddings.ipynb``): cross-entropy
from logits (exercise 6) and an AdamW step (exercise 7), against PyTorch's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from lm_course.exercises._check import Stop, call, current_name, exercise, report
from lm_course.exercises.wrong_versions import diagnose, from_switches

__all__ = ["check_cross_entropy", "check_adamw_step", "cross_entropy_reference", "adamw_step_reference"]


# --------------------------------------------------------------------- Exercise 6: cross-entropy from logits
def cross_entropy_reference(logits, targets, *, stable: bool = True, reduce: str = "mean", log=None,
                            dim: int = -1, sign: int = 1, normalise: bool = True):
    """The mean cross-entropy ``-log softmax(logits)[target]`` of ``(N, V)``
    logits against ``(N,)`` target ids, computed in float64 (the defaults:
    ``F.cross_entropy``), or a wrong version: ``stable=False`` (exp of the raw
    logits, which overflows), ``reduce="sum"`` or ``"none"``, ``log`` another
    logarithm (``math.log2``: bits), ``dim=0`` (the softmax over the rows),
    ``sign=-1`` (the mean log-probability, not its negative),
    ``normalise=False`` (minus the target's logit, without log-sum-exp)."""
    import torch

    x = logits.double() if stable else logits.float()  # unstable: in float32, as a student's exp overflows
    if stable:
        m = x.max(dim=dim, keepdim=True).values  # (N, 1)
        log_z = m + (x - m).exp().sum(dim=dim, keepdim=True).log()
    else:
        log_z = x.exp().sum(dim=dim, keepdim=True).log()
    logp = x - log_z if normalise else x  # (N, V)
    if log is math.log2:
        logp = logp / math.log(2)  # bits
    nll = -sign * logp[torch.arange(len(targets)), targets]  # (N,)
    return {"mean": nll.mean(), "sum": nll.sum(), "none": nll}[reduce]


# said when the loss is not finite on the case whose logits are near 100
_OVERFLOW = ("your loss is not finite on logits near 100: exp(100) overflows float32. Subtract each row's max "
             "before exp (the log-sum-exp trick): log sum exp(x) = m + log sum exp(x - m).")
_CE_MISTAKES = [
    (dict(stable=False), _OVERFLOW),
    (dict(sign=-1), "the cross-entropy is MINUS the mean log-probability of the targets: it is never negative."),
    (dict(normalise=False), "you took minus the target's logit: its log-probability subtracts log sum_j "
                            "exp(x_j) first (a log-softmax over the row)."),
    (dict(reduce="sum"), "that is the sum over the rows; the loss is their mean (divide by N), as F.cross_entropy "
                         "returns by default."),
    (dict(log=math.log2), "that is in bits (log2); PyTorch's cross-entropy uses the natural log (nats)."),
    (dict(dim=0), "the softmax runs over the wrong axis: each ROW (one example, all V classes: dim=-1) is a "
                  "distribution."),
]


def _ce_cases():
    import torch

    g = torch.Generator().manual_seed(21)
    cases = [(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 2])),
             (torch.randn(7, 11, generator=g) * 3, torch.randint(0, 11, (7,), generator=g)),
             (torch.randn(5, 4, generator=g) * 4 + 100.0, torch.randint(0, 4, (5,), generator=g)),  # exp overflows
             (torch.randn(1, 30, generator=g), torch.tensor([29]))]
    return cases


_CE_TABLE = from_switches(cross_entropy_reference, _CE_MISTAKES)


@exercise("ch02.cross_entropy", wrong=_CE_TABLE)
def check_cross_entropy(fn: Callable) -> bool:
    """Exercise 6: ``fn(logits, targets)`` returns the mean cross-entropy of
    ``(N, V)`` float logits against ``(N,)`` target ids, like
    ``F.cross_entropy(logits, targets)``, computed by hand (log-sum-exp), and
    stable for large logits (a case with logits near 100, where exp overflows)."""
    import torch
    import torch.nn.functional as F

    name = "Exercise 6 (cross-entropy from logits)"
    for logits, targets in _ce_cases():
        want = F.cross_entropy(logits.double(), targets)
        got = call(fn, logits, targets)
        if isinstance(got, torch.Tensor) and got.numel() == len(targets) and len(targets) > 1:
            return report(False, name, "", f"you return one loss per row, shape {tuple(got.shape)}; the loss is "
                                           "their mean, one number (.mean()).")
        try:
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            return report(False, name, "", f"return one number (a 0-d tensor or a float), got {type(got).__name__}.")
        if math.isclose(value, float(want), rel_tol=1e-5, abs_tol=1e-6):
            continue
        if not math.isfinite(value):
            return report(False, name, "", _OVERFLOW)
        hint = diagnose(value, (logits, targets), _CE_TABLE, lambda mine, wrong: math.isclose(mine, float(wrong),
                                                                                              rel_tol=1e-5))
        if hint:
            return report(False, name, "", hint)
        return report(False, name, "", f"for logits {tuple(logits.shape)} expected {float(want):.5f}, got "
                                       f"{value:.5f}: the mean over rows of log sum_j exp(x_j) - x_target.")
    return report(True, name, "The same loss as F.cross_entropy, also where exp(logits) alone would overflow: "
                              "log-sum-exp keeps the largest exponent at 0.", "")


# --------------------------------------------------------------------- Exercise 7: an AdamW step by hand
def adamw_step_reference(p, grad, m, v, t: int, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                         weight_decay: float = 0.01, *, bias_correction: bool = True, decay: str = "decoupled",
                         eps_inside: bool = False, square: bool = True):
    """One step of ``torch.optim.AdamW`` on a tensor ``p`` with gradient
    ``grad`` and moments ``m``, ``v`` at step ``t`` (1, 2, ...), returning the
    new ``(p, m, v)``; or a wrong version: ``bias_correction=False``,
    ``decay="l2"`` (the decay added to the gradient: Adam with L2),
    ``decay="no_lr"`` (``p -= weight_decay * p``, not times ``lr``),
    ``eps_inside=True`` (``sqrt(v_hat + eps)``), ``square=False`` (v from |g|)."""
    import torch

    b1, b2 = betas
    g = grad + weight_decay * p if decay == "l2" else grad
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g if square else g.abs())
    m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
    if decay == "decoupled":
        p = p * (1 - lr * weight_decay)
    elif decay == "no_lr":
        p = p * (1 - weight_decay)
    denom = torch.sqrt(v_hat + eps) if eps_inside else v_hat.sqrt() + eps
    return p - lr * m_hat / denom, m, v


_ADAMW_MISTAKES = [
    (dict(bias_correction=False), "the bias correction is missing: m_hat = m / (1 - beta1**t) and v_hat = "
                                  "v / (1 - beta2**t), with t = 1 at the first step; without it the first steps "
                                  "are far too small."),
    (dict(decay="l2"), "that is Adam with L2: the decay was added to the gradient, so it goes through m and v. "
                       "AdamW decouples it: p = p * (1 - lr * weight_decay), apart from the Adam update."),
    (dict(decay="no_lr"), "the decoupled decay is scaled by the learning rate too: p = p * (1 - lr * weight_decay)."),
    (dict(eps_inside=True), "eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)."),
    (dict(square=False), "the second moment averages the SQUARED gradient: v = beta2 * v + (1 - beta2) * g**2."),
    (dict(decay="none"), "the weight decay is missing: p = p * (1 - lr * weight_decay) before (or with) the "
                         "Adam update."),
]


def _torch_adamw(p0, grads, lr, betas, eps, wd):
    import torch

    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    out = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        out.append(p.detach().clone())
    return out


def _adamw_trajectory(step: Callable, p0, grads, lr, betas, eps, wd) -> list:
    """``p`` after each of ``len(grads)`` steps of ``step`` from zero moments
    (the student's function runs through :func:`call`)."""
    import torch

    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    out = []
    for t, grad in enumerate(grads, start=1):
        got = call(step, p, grad, m, v, t, lr, betas, eps, wd)
        if not (isinstance(got, (tuple, list)) and len(got) == 3
                and all(isinstance(x, torch.Tensor) and x.shape == p.shape for x in got)):
            report(False, current_name(), "", f"return the new (p, m, v), three tensors of shape {tuple(p.shape)}.")
            raise Stop
        p, m, v = (x.detach().double() for x in got)
        out.append(p)
    return out


@exercise("ch02.adamw_step", wrong=from_switches(adamw_step_reference, _ADAMW_MISTAKES))
def check_adamw_step(fn: Callable) -> bool:
    """Exercise 7: ``fn(p, grad, m, v, t, lr, betas, eps, weight_decay)``
    makes one AdamW step on the tensor ``p`` and returns the new
    ``(p, m, v)`` (new tensors); ``t`` counts from 1. Run for 6 steps from
    zero moments and compared, step by step, with ``torch.optim.AdamW``
    (with weight decay and bias correction), in float64."""
    import torch

    name = "Exercise 7 (an AdamW step by hand)"
    g = torch.Generator().manual_seed(22)
    for lr, betas, eps, wd in ((1e-2, (0.9, 0.999), 1e-8, 0.1), (0.05, (0.8, 0.95), 1e-6, 0.0),
                               (3e-3, (0.9, 0.99), 1e-8, 0.5)):
        p0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
        grads = [torch.randn(4, 3, generator=g, dtype=torch.float64) * s for s in (1.0, 0.1, 2.0, 0.5, 1e-3, 1.0)]
        want = _torch_adamw(p0, grads, lr, betas, eps, wd)
        mine = _adamw_trajectory(fn, p0, grads, lr, betas, eps, wd)  # the student's p after each step
        if all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(mine, want)):
            continue
        t = next(k for k, (a, b) in enumerate(zip(mine, want), start=1) if not torch.allclose(a, b, rtol=1e-9,
                                                                                                atol=1e-12))
        where = f"(step t = {t}, lr = {lr}, betas = {betas}, eps = {eps}, weight_decay = {wd})"
        for switches, hint in _ADAMW_MISTAKES:  # judged on the whole trajectory: at t = 1 several coincide
            if switches.get("decay") in ("l2", "no_lr", "none") and wd == 0:
                continue
            wrong = _adamw_trajectory(partial(adamw_step_reference, **switches), p0, grads, lr, betas, eps, wd)
            if all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(mine, wrong)):
                return report(False, name, "", f"{hint} {where}")
        if torch.equal(mine[0], p0):
            return report(False, name, "", "p did not change: return the updated tensor (a new one).")
        return report(False, name, "", f"p differs from torch.optim.AdamW's by up to "
                                       f"{float((mine[t - 1] - want[t - 1]).abs().max()):.3g} {where}. In order: "
                                       "m and v from g, bias-corrected m_hat and v_hat, p * (1 - lr * wd), "
                                       "then p - lr * m_hat / (sqrt(v_hat) + eps).")
    return report(True, name, "The same parameters as torch.optim.AdamW at every step: decoupled weight decay, "
                              "bias-corrected moments.", "")
