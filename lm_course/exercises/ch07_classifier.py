"""Checkers for chapter 7's classifier exercises (``07_finetuning.ipynb``): last-token pooling
(exercise 2), the head in eval mode (exercise 3) and what a probe and full fine-tuning train (exercise 4).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.classifier import GPTClassifier
from lm_course.gpt import GPT, GPTConfig

__all__ = ["check_last_token_pool", "check_head_logits", "check_trainable_parameters"]


def _same_tensor(got: torch.Tensor, wrong: object, tol: float = 1e-5) -> bool:
    return (isinstance(wrong, torch.Tensor) and got.shape == wrong.shape
            and torch.allclose(got.detach().to(wrong.dtype), wrong, rtol=tol, atol=tol))


# --------------------------------------------------------------------------
# Exercise 2: last-token pooling
# --------------------------------------------------------------------------
def _last_token_reference(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What :class:`~lm_course.classifier.GPTClassifier` does with ``pooling="last"``."""
    return h[torch.arange(h.size(0)), lengths - 1]  # (B, C)


def _real_token_mean(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return torch.stack([h[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])  # (B, C)


_MEAN_POOLING = ("that is mean pooling (an average over the positions); the exercise asks for the hidden state at "
                 "the last real token, h[b, lengths[b] - 1].")

# A student's last_token_pool(h, lengths) with one mistake each: the wrong position, the batch not indexed, a mean.
_POOL_WRONG = (
    Wrong("the last padded position", lambda h, n: h[:, -1],
          "h[:, -1] is the last *padded* position: for a shorter sequence that is padding. Use each sequence's "
          "own length."),
    Wrong("off by one", lambda h, n: h[torch.arange(h.size(0)), n],
          "off by one: a sequence of length n has its last real token at position n - 1."),
    Wrong("the batch not indexed", lambda h, n: h[:, n - 1],
          "h[:, lengths - 1] takes every chosen position of *every* sequence, (B, B, C); index the batch "
          "dimension too, with torch.arange(B)."),
    Wrong("averaged over the batch", lambda h, n: h[:, n - 1].mean(0),
          "h[:, lengths - 1] takes the chosen positions of every sequence, and averaging over dim 0 then mixes "
          "the sequences of the batch; index the batch dimension with torch.arange(B) instead."),
    Wrong("the first token", lambda h, n: h[:, 0],
          "h[:, 0] is the first token, which has seen nothing else in a causal model; take the last real one."),
    Wrong("mean over the real tokens", _real_token_mean, _MEAN_POOLING),
    Wrong("mean over every position", lambda h, n: h.mean(1), _MEAN_POOLING),
)


@exercise("ch07.last_token_pool", wrong=_POOL_WRONG)
def check_last_token_pool(last_token_pool: object) -> bool:
    """Exercise 2: ``last_token_pool(h, lengths)``: for the hidden states
    ``h`` (B, T, C) of a right-padded batch and the true ``lengths`` (B,),
    each sequence's hidden state at its last real token, shape (B, C)."""
    name = "Exercise 2 (last-token pooling)"
    g = torch.Generator().manual_seed(11)
    cases = [(torch.randn(3, 6, 4, generator=g), torch.tensor([4, 2, 5])),  # no sequence fills the batch
             (torch.randn(4, 7, 5, generator=g), torch.tensor([7, 1, 3, 7])),
             (torch.randn(1, 5, 3, generator=g), torch.tensor([5]))]
    for h, lengths in cases:
        got = call(last_token_pool, h, lengths)
        want = _last_token_reference(h, lengths)  # (B, C)
        if not isinstance(got, torch.Tensor):
            return report(False, name, "", f"return a tensor of shape {tuple(want.shape)} (B, C), got "
                                           f"{type(got).__name__}.")
        if _same_tensor(got, want):
            continue
        hint = diagnose(got, (h, lengths), _POOL_WRONG, _same_tensor)
        if hint is None and got.shape != want.shape:
            hint = f"return a tensor of shape {tuple(want.shape)} (B, C), got a tensor of shape {tuple(got.shape)}."
        return report(False, name, "", hint or "for sequence b return h[b, lengths[b] - 1]; without a Python "
                                               "loop: h[torch.arange(B), ...].")
    return report(True, name, "in a causal model the last real token is the only position that has seen the "
                              "whole passage, which is why GPT puts its head there.", "")


# --------------------------------------------------------------------------
# Exercise 3: the head, with its normalisation, in eval mode
# --------------------------------------------------------------------------
def _head_case(seed: int, B: int = 5, C: int = 6, K: int = 2):
    """A GPTClassifier(normalize=True) with random running statistics, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = GPTClassifier(GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=1, n_embd=C)), K,
                        normalize=True).eval()
    with torch.no_grad():
        clf.norm.running_mean.copy_(torch.randn(C, generator=g))  # (C,)
        clf.norm.running_var.copy_(torch.rand(C, generator=g) * 1e-3 + 1e-5)  # (C,): small, so eps matters
        clf.head.weight.copy_(torch.randn(K, C, generator=g))  # (K, C)
        clf.head.bias.copy_(torch.randn(K, generator=g))  # (K,)
    z = clf.norm.running_mean + torch.randn(B, C, generator=g) * 0.03  # (B, C)
    return clf, z


def _head_variant(z: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor, eps: float = 1e-5, *, stats: str = "running", divide: str = "sqrt(var + eps)",
                  center: bool = True) -> torch.Tensor:
    """The eval-mode head (the defaults) or with one mistake: ``stats="batch"``
    (the batch's own statistics, as in training), ``"none"`` (no
    normalisation); ``divide`` by ``"sqrt(var)"``, ``"sqrt(var) + eps"`` or
    ``"var + eps"``; ``center=False`` (the mean not subtracted)."""
    if stats == "none":
        return z @ weight.T + bias  # (B, K)
    if stats == "batch":
        running_mean, running_var = z.mean(0), z.var(0, unbiased=False)  # (C,) each
    scale = {"sqrt(var + eps)": torch.sqrt(running_var + eps), "sqrt(var)": running_var.sqrt(),
             "sqrt(var) + eps": running_var.sqrt() + eps, "var + eps": running_var + eps}[divide]
    return ((z - running_mean if center else z) / scale) @ weight.T + bias  # (B, K)


# The eval-mode head's common mistakes, as switches of _head_variant.
_HEAD_MISTAKES = (
    ({"stats": "batch"}, "that uses the batch's own mean and variance, as BatchNorm does in *training*; in eval "
                         "mode it uses running_mean and running_var, so a passage's logits do not depend on the "
                         "rest of its batch."),
    ({"divide": "sqrt(var)"}, "almost: BatchNorm divides by sqrt(running_var + eps), with eps inside the square "
                              "root."),
    ({"divide": "sqrt(var) + eps"}, "eps goes INSIDE the square root: sqrt(running_var + eps), not "
                                    "sqrt(running_var) + eps (these running variances are tiny, so it shows)."),
    ({"divide": "var + eps"}, "divide by the standard deviation, sqrt(running_var + eps), not by the variance."),
    ({"center": False}, "standardising subtracts running_mean first: (z - running_mean) / sqrt(running_var + eps)."),
    ({"stats": "none"}, "that is the head without its normalisation: standardise z with the running statistics "
                        "first."),
)
_HEAD_WRONG = from_switches(_head_variant, _HEAD_MISTAKES)


@exercise("ch07.head_logits", wrong=_HEAD_WRONG)
def check_head_logits(head_logits: object) -> bool:
    """Exercise 3: ``head_logits(z, running_mean, running_var, weight, bias,
    eps=1e-5)``: the classifier's head with ``normalize=True`` in eval mode.
    ``z`` (B, C) pooled features, ``running_mean`` and ``running_var`` (C,),
    ``weight`` (K, C), ``bias`` (K,); returns the logits (B, K)."""
    name = "Exercise 3 (the head in eval mode)"
    for seed, B in ((0, 5), (1, 1), (2, 9)):
        clf, z = _head_case(seed, B=B)
        mu, var = clf.norm.running_mean.clone(), clf.norm.running_var.clone()
        W, b = clf.head.weight.detach().clone(), clf.head.bias.detach().clone()
        got = call(head_logits, z, mu, var, W, b)
        with torch.no_grad():
            want = clf.classify_features(z)  # (B, K)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return the logits, shape {tuple(want.shape)} (B, K), got {seen}; "
                                           "nn.Linear computes z @ weight.T + bias.")
        if _same_tensor(got, want, tol=1e-4):
            continue
        with torch.no_grad():
            hint = diagnose(got.detach(), (z, mu, var, W, b), _HEAD_WRONG, partial(_same_tensor, tol=1e-4))
        return report(False, name, "", hint or "logits = ((z - running_mean) / sqrt(running_var + eps)) @ "
                                               "weight.T + bias.")
    return report(True, name, "in eval mode the normalisation is a fixed affine map per feature, so a probe "
                              "with it is still a logistic regression, on standardised features.", "")


# --------------------------------------------------------------------------
# Exercise 4: what a linear probe and full fine-tuning train
# --------------------------------------------------------------------------
def _toy_classifier(seed: int = 0, normalize: bool = False):
    """A small :class:`~lm_course.classifier.GPTClassifier` (random body) for the checker."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPTClassifier(GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8)),
                             n_classes=3, normalize=normalize)


def _one_step_changes(model, params: list) -> tuple[bool, bool]:
    """Run one AdamW step on ``params``: did the body change, did the head change?"""
    body0 = [p.detach().clone() for p in model.gpt.parameters()]
    head0 = [p.detach().clone() for p in model.head.parameters()]
    idx = torch.randint(0, 17, (4, 6), generator=torch.Generator().manual_seed(1))  # (B, T)
    opt = torch.optim.AdamW(params, lr=1e-2)
    loss = torch.nn.functional.cross_entropy(model.train()(idx), torch.tensor([0, 1, 2, 0]))
    if loss.requires_grad:
        loss.backward()
        opt.step()
    model.eval()
    body = any(not torch.equal(a, p) for a, p in zip(body0, model.gpt.parameters()))
    head = any(not torch.equal(a, p) for a, p in zip(head0, model.head.parameters()))
    return body, head


def _parameter_list(got: object, name: str) -> list | None:
    """``got`` as a list of parameters, or ``None`` after reporting why not."""
    try:
        params = list(got)
    except TypeError:
        problem = f"return a list of parameters, got {type(got).__name__}."
    else:
        if all(isinstance(p, torch.nn.Parameter) for p in params):
            return params
        problem = ("return the parameters themselves (torch.nn.Parameter objects, e.g. from model.parameters()), "
                   "not their names or values.")
    report(False, name, "", problem)
    return None


def _effect(model, params: list) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """What a call of trainable_parameters left: the names of the parameters
    it listed (sorted, each as often as listed; the tied lm_head is wte) and
    every parameter's requires_grad flag."""
    names = {id(p): n for n, p in model.named_parameters()}
    return (tuple(sorted(names.get(id(p), "<not the model's>") for p in params)),
            tuple(p.requires_grad for p in model.parameters()))


def _effect_of(trainable_parameters: Callable, model, mode: str) -> tuple:
    """The :func:`_effect` of ``trainable_parameters(copy, mode)`` on a copy of ``model``."""
    model = copy.deepcopy(model)
    return _effect(model, list(trainable_parameters(model, mode)))


def _trainable_reference(model, mode: str, *, freeze: str = "body", listed: str = "trainable",
                         unfreeze: bool = True) -> list:
    """The notebook's solution (the defaults), or with one mistake: ``freeze``
    ``"nothing"`` or ``"everything"`` for a probe; ``unfreeze=False``: full
    mode leaves the flags as they were; ``listed``: what is returned instead of
    the parameters that train, for a probe and in full mode: ``"all"`` (every
    parameter, frozen ones too), ``"parts"`` (model.head's, then every one),
    ``"no head"`` (model.head's, then model.gpt's) or ``"tied twice"``
    (model.head's, then model.gpt.transformer's, model.gpt.lm_head's (the tied
    wte again) and model.head's)."""
    probe = mode == "probe"
    if probe or unfreeze:
        for p in model.gpt.parameters():
            p.requires_grad_({"body": not probe, "nothing": True, "everything": not probe}[freeze])
        for p in model.head.parameters():
            p.requires_grad_(not (probe and freeze == "everything"))
    pair = {"parts": ("head", "all"), "no head": ("head", "gpt"), "tied twice": ("head", "tied")}
    source = pair.get(listed, (listed, listed))[not probe]
    if source == "trainable":
        return [p for p in model.parameters() if p.requires_grad]
    if source == "tied":
        return [*model.gpt.transformer.parameters(), *model.gpt.lm_head.parameters(), *model.head.parameters()]
    return list((model if source == "all" else getattr(model, source)).parameters())


_FROZEN_AFTER_PROBE = ("after a probe, the body is still frozen: full mode must set requires_grad_(True) on every "
                       "parameter again (the function may be called on a model that was probed before).")

# The probe's and full fine-tuning's common mistakes, as switches of _trainable_reference.
_TRAINABLE_MISTAKES = (
    ({"freeze": "nothing", "listed": "parts"}, "the probe still trains the body: its parameters keep "
     "requires_grad=True, so gradients flow through it (and fine_tune would train it). Set requires_grad_(False) "
     "on every parameter of model.gpt."),
    ({"listed": "all"}, "the probe gives the body's parameters to the optimiser: return only the head's."),
    ({"freeze": "everything", "listed": "parts"}, "the probe trains the head, model.head: its parameters need "
                                                 "requires_grad=True and belong in the list."),
    ({"listed": "no head"}, "full fine-tuning forgot the head: model.gpt.parameters() is the body only; the new "
                            "head (model.head) must train too."),
    ({"unfreeze": False, "listed": "parts"}, _FROZEN_AFTER_PROBE),
    ({"unfreeze": False}, _FROZEN_AFTER_PROBE),
    ({"listed": "tied twice"}, "a parameter is listed twice (the tied lm_head is wte itself): list each once, e.g. "
                               "from model.parameters()."),
)
_TRAINABLE_WRONG = from_switches(_trainable_reference, _TRAINABLE_MISTAKES)


def _trainable_fallback(model, params: list, mode: str) -> str:
    """What the student's call left, for a mistake the table does not name."""
    ids = {id(p) for p in params}
    parts = {"body": list(model.gpt.parameters()), "head": list(model.head.parameters())}
    left = ", ".join(f"the {k}'s {sum(p.requires_grad for p in v)} of {len(v)} have requires_grad=True and "
                     f"{sum(id(p) in ids for p in v)} are in your list" for k, v in parts.items())
    return (f'after mode="{mode}", {left} ({len(params)} entries). A probe trains and lists only the head, full '
            "fine-tuning every parameter, each listed once.")


@exercise("ch07.trainable_parameters", wrong=_TRAINABLE_WRONG)
def check_trainable_parameters(trainable_parameters: object) -> bool:
    """Exercise 4: ``trainable_parameters(model, mode)`` for a
    :class:`~lm_course.classifier.GPTClassifier`: with ``mode="probe"`` only the
    head trains (the body's parameters get ``requires_grad=False``, as
    ``make_classifier("probe", ...)`` leaves them), with ``mode="full"``
    everything does; returns the list of parameters to give the optimiser."""
    name = "Exercise 4 (what a probe and full fine-tuning train)"
    # probe on a fresh model, full on the probed one (must unfreeze it), probe again, full on a fresh model
    plan = (("probe", 0, True), ("full", None, False), ("probe", None, False), ("full", 2, True))
    # the table as what each wrong version leaves on a copy of the classifier (flags and list), as _effect says
    effects = tuple(Wrong(w.name, partial(_effect_of, w.version), w.diagnosis) for w in _TRAINABLE_WRONG)
    model = None
    for mode, seed, normalize in plan:
        if seed is not None:
            model = _toy_classifier(seed, normalize)
        before = copy.deepcopy(model)  # for the wrong versions
        where = (f'(mode="{mode}" on '
                 + ("a fresh classifier)" if seed is not None else "the classifier of the previous call)"))
        params = _parameter_list(call(trainable_parameters, model, mode), name)
        if params is None:
            return False
        got = _effect(model, params)
        if got != _effect_of(_trainable_reference, before, mode):
            hint = diagnose(got, (before, mode), effects, lambda a, b: a == b)
            return report(False, name, "", f"{hint or _trainable_fallback(model, params, mode)} {where}")
        body_moved, head_moved = _one_step_changes(model, params)
        if mode == "probe" and body_moved or mode == "full" and not body_moved or not head_moved:
            return report(False, name, "", f"one optimiser step on your parameters changed the body: {body_moved}, "
                                           f"the head: {head_moved}; a probe changes only the head, full "
                                           f"fine-tuning both. {where}")
    return report(True, name, "a probe trains only the head (a logistic regression on fixed features); full "
                              "fine-tuning trains body and head, and unfreezes a body that was frozen before.", "")
