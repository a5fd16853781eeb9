"""Checkers for chapter 7's classifier exercises (``07_finetuning.ipynb``): last-token pooling
(exercise 2), the head in eval mode (exercise 3) and what a probe and full fine-tuning train (exercise 4).
"""

from __future__ import annotations

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.classifier import GPTClassifier
from lm_course.gpt import GPT, GPTConfig

__all__ = ["check_last_token_pool", "check_head_logits", "check_trainable_parameters"]


# --------------------------------------------------------------------------
# Exercise 2: last-token pooling
# --------------------------------------------------------------------------
def _last_token_reference(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What :class:`~lm_course.classifier.GPTClassifier` does with ``pooling="last"``."""
    return h[torch.arange(h.size(0)), lengths - 1]  # (B, C)


@exercise("ch07.last_token_pool")
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
        B, T, C = h.shape
        if isinstance(got, torch.Tensor) and got.shape == (B, B, C):
            return report(False, name, "", "h[:, lengths - 1] takes every chosen position of *every* sequence, "
                                           "(B, B, C); index the batch dimension too, with torch.arange(B).")
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a tensor of shape {tuple(want.shape)} (B, C), got {seen}.")
        if torch.allclose(got, want):
            continue
        if torch.allclose(got, h[:, -1]):
            hint = ("h[:, -1] is the last *padded* position: for a shorter sequence that is padding. Use each "
                    "sequence's own length.")
        elif bool((lengths < T).all()) and torch.allclose(got, h[torch.arange(B), lengths]):
            hint = "off by one: a sequence of length n has its last real token at position n - 1."
        elif torch.allclose(got, h[:, 0]):
            hint = "h[:, 0] is the first token, which has seen nothing else in a causal model; take the last real one."
        elif torch.allclose(got, torch.stack([h[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])) or \
                torch.allclose(got, h.mean(1)):
            hint = ("that is mean pooling (an average over the positions); the exercise asks for the hidden state "
                    "at the last real token, h[b, lengths[b] - 1].")
        else:
            hint = "for sequence b return h[b, lengths[b] - 1]; without a Python loop: h[torch.arange(B), ...]."
        return report(False, name, "", hint)
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


def _head_hint(got: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, W: torch.Tensor,
               b: torch.Tensor) -> str:
    """What wrong logits ``got`` (B, K) of the eval-mode head most likely
    computed from ``z`` (B, C), the running ``mu`` and ``var`` (C,), the
    head's ``W`` (K, C) and ``b`` (K,)."""
    def matches(logits: torch.Tensor) -> bool:
        return torch.allclose(got, logits, rtol=1e-4, atol=1e-4)

    with torch.no_grad():
        if len(z) > 1 and matches(((z - z.mean(0)) / (z.var(0, unbiased=False) + 1e-5).sqrt()) @ W.T + b):
            return ("that uses the batch's own mean and variance, as BatchNorm does in *training*; in eval mode "
                    "it uses running_mean and running_var, so a passage's logits do not depend on the rest of "
                    "its batch.")
        if matches(((z - mu) / var.sqrt()) @ W.T + b):
            return "almost: BatchNorm divides by sqrt(running_var + eps), with eps inside the square root."
        if matches(((z - mu) / (var + 1e-5)) @ W.T + b):
            return "divide by the standard deviation, sqrt(running_var + eps), not by the variance."
        if matches(z @ W.T + b):
            return "that is the head without its normalisation: standardise z with the running statistics first."
    return "logits = ((z - running_mean) / sqrt(running_var + eps)) @ weight.T + bias."


@exercise("ch07.head_logits")
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
        got = got.detach()
        if torch.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        return report(False, name, "", _head_hint(got, z, mu, var, W, b))
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


def _parameter_list(got: object, name: str, where: str) -> list | None:
    """``got`` as a list of distinct parameters, or ``None`` after reporting why not."""
    try:
        params = list(got)
    except TypeError:
        problem = f"return a list of parameters, got {type(got).__name__}."
    else:
        if not all(isinstance(p, torch.nn.Parameter) for p in params):
            problem = ("return the parameters themselves (torch.nn.Parameter objects, e.g. from model.parameters()), "
                       "not their names or values.")
        elif len({id(p) for p in params}) != len(params):
            problem = (f"a parameter is listed twice (the tied lm_head is wte itself): list each once, e.g. from "
                       f"model.parameters(). {where}")
        else:
            return params
    report(False, name, "", problem)
    return None


@exercise("ch07.trainable_parameters")
def check_trainable_parameters(trainable_parameters: object) -> bool:
    """Exercise 4: ``trainable_parameters(model, mode)`` for a
    :class:`~lm_course.classifier.GPTClassifier`: with ``mode="probe"`` only the
    head trains (the body's parameters get ``requires_grad=False``, as
    ``make_classifier("probe", ...)`` leaves them), with ``mode="full"``
    everything does; returns the list of parameters to give the optimiser."""
    name = "Exercise 4 (what a probe and full fine-tuning train)"
    # probe on a fresh model, full on the probed one (must unfreeze it), probe again, full on a fresh model
    plan = (("probe", 0, True), ("full", None, False), ("probe", None, False), ("full", 2, True))
    model = None
    for mode, seed, normalize in plan:
        if seed is not None:
            model = _toy_classifier(seed, normalize)
        before = "a fresh classifier" if seed is not None else "the classifier of the previous call"
        where = f'(mode="{mode}" on {before})'
        got = call(trainable_parameters, model, mode)
        params = _parameter_list(got, name, where)
        if params is None:
            return False
        ids = {id(p) for p in params}
        body, head = list(model.gpt.parameters()), list(model.head.parameters())
        body_in = [id(p) in ids for p in body]
        head_in = all(id(p) in ids for p in head)
        body_grad = [p.requires_grad for p in body]
        head_grad = all(p.requires_grad for p in head)
        if mode == "probe":
            if any(body_grad):
                return report(False, name, "", f"the probe still trains the body: its parameters keep "
                                               "requires_grad=True, so gradients flow through it (and "
                                               "fine_tune would train it). Set requires_grad_(False) on every "
                                               f"parameter of model.gpt. {where}")
            if any(body_in):
                return report(False, name, "", f"the probe gives the body's parameters to the optimiser: return "
                                               f"only the head's. {where}")
            if not (head_in and head_grad) or len(params) != len(head):
                return report(False, name, "", f"the probe trains the head, model.head: its parameters need "
                                               f"requires_grad=True and belong in the list. {where}")
        else:
            if not head_in:
                return report(False, name, "", f"full fine-tuning forgot the head: model.gpt.parameters() is the "
                                               f"body only; the new head (model.head) must train too. {where}")
            if not all(body_grad):
                return report(False, name, "", f"after a probe, the body is still frozen: full mode must set "
                                               f"requires_grad_(True) on every parameter again (the function "
                                               f"may be called on a model that was probed before). {where}")
            if not all(body_in) or not head_grad or len(params) != len(list(model.parameters())):
                return report(False, name, "", f"full fine-tuning trains every parameter of the model, body and "
                                               f"head, each listed once. {where}")
        body_moved, head_moved = _one_step_changes(model, params)
        if mode == "probe" and body_moved or mode == "full" and not body_moved or not head_moved:
            return report(False, name, "", f"one optimiser step on your parameters changed the body: {body_moved}, "
                                           f"the head: {head_moved}; a probe changes only the head, full "
                                           f"fine-tuning both. {where}")
    return report(True, name, "a probe trains only the head (a logistic regression on fixed features); full "
                              "fine-tuning trains body and head, and unfreezes a body that was frozen before.", "")
