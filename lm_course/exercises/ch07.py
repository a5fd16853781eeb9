"""Checkers for the exercises of ``07_finetuning.ipynb`` (section "Exercises").

* Exercise 1, :func:`check_paired_difference`: the student writes the
  difference of two classifiers' accuracies on the same passages with its
  paired standard error (section "The held-out test"); compared with
  :func:`lm_course.genre_eval.paired_difference`.
* Exercise 2, :func:`check_prefix_lm_mask`: the student writes a prefix-LM
  attention mask (section "Two ways to pre-train"); compared with an exact
  reference.
* Exercise 3, :func:`check_last_token_pool`: the student writes last-token
  pooling of a right-padded batch (section "A head on a pre-trained body");
  compared with :class:`lm_course.finetune.GPTClassifier` with
  ``pooling="last"``.
* Exercise 4, :func:`check_head_logits`: the student writes the head with
  its normalisation, as it runs in eval mode (section "A head on a
  pre-trained body"); compared with
  :meth:`lm_course.finetune.GPTClassifier.classify_features` with
  ``normalize=True``.
* Exercise 5, :func:`check_trainable_parameters`: the student freezes or
  unfreezes the body for a linear probe or full fine-tuning and returns the
  parameters to optimise (section "A head on a pre-trained body"); compared
  with what :func:`lm_course.finetune.make_classifier` sets, and checked by
  one optimiser step.

Every checker prints ✅ or ❌ with a hint naming the likely mistake and never
raises: a student's bug never stops the notebook (see
:mod:`lm_course.exercises._check`).
"""

from __future__ import annotations

import math

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.finetune import GPTClassifier
from lm_course.genre_eval import paired_difference
from lm_course.gpt import GPT, GPTConfig

# The notebook's checkers, in its order (lm_course.grading reads them from here), then the references.
__all__ = ["check_paired_difference", "check_prefix_lm_mask", "check_last_token_pool", "check_head_logits",
           "check_trainable_parameters"]

# --------------------------------------------------------------------------
# Exercise 1: a paired difference of accuracies
# --------------------------------------------------------------------------
def _pair(got: object) -> tuple[float, float] | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return None
    try:
        return float(got[0]), float(got[1])
    except (TypeError, ValueError):
        return None


def _paired_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    a = torch.tensor([1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=torch.bool)  # 7 of 10 right
    b = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0, 0, 1], dtype=torch.bool)  # 5 of 10 right
    cases = [(a, b)]
    g = torch.Generator().manual_seed(7)
    for n in (50, 333):
        a = torch.rand(n, generator=g) < 0.65  # (n,)
        agree = torch.rand(n, generator=g) < 0.7  # (n,): B copies A 70% of the time
        b = torch.where(agree, a, torch.rand(n, generator=g) < 0.55)  # (n,)
        cases.append((a, b))
    return cases


def _stderr_hint(se: float, a: torch.Tensor, b: torch.Tensor, want: float) -> str:
    """What a wrong standard error ``se`` of the paired difference of ``a`` and
    ``b`` (``(N,)`` bool) most likely computed instead of ``want``."""
    n = len(a)
    acc_a, acc_b = float(a.float().mean()), float(b.float().mean())
    d = a.double() - b.double()  # (N,)
    if math.isclose(se, math.sqrt(acc_a * (1 - acc_a) / n + acc_b * (1 - acc_b) / n), rel_tol=1e-5):
        return ("that is the standard error for two *independent* samples, sqrt(se_A^2 + se_B^2). Both "
                "classifiers saw the same passages: use the per-passage differences d = a - b.")
    if any(math.isclose(se, math.sqrt(x * (1 - x) / n), rel_tol=1e-5) for x in (acc_a, acc_b)):
        return ("that is the standard error of one accuracy, sqrt(a (1 - a) / N); the difference needs "
                "the spread of the per-passage differences d = a - b.")
    if math.isclose(se, float(d.std(unbiased=False)) / math.sqrt(n), rel_tol=1e-5):
        return "almost: the sample standard deviation divides by N - 1 (ddof=1, torch's default), not N."
    if math.isclose(se, float(d.std()), rel_tol=1e-5):
        return "that is the standard deviation of d; the standard error of its mean divides it by sqrt(N)."
    return f"for N = {n} passages the standard error should be std(d, ddof=1) / sqrt(N) = {want:.4f}."


def _bool_hint(err: Exception) -> str:
    if "bool" in str(err) and ("logical_xor" in str(err) or "subtract" in str(err).lower()):
        return ("Booleans cannot be subtracted, and `^` (xor) would lose the sign of a - b: turn them into "
                "numbers first, a.double() - b.double().")
    return ""


@exercise("ch07.paired_se")
def check_paired_difference(paired_se: object) -> bool:
    """Exercise 1: ``paired_se(correct_a, correct_b) -> (difference, stderr)``.

    ``correct_a``, ``correct_b``: ``(N,)`` bool tensors, which of the same N
    passages classifiers A and B got right. Return ``acc_A - acc_B`` and its
    paired standard error ``std(d, ddof=1) / sqrt(N)`` of ``d = a - b``, as
    two floats."""
    name = "Exercise 1 (a paired difference)"
    for a, b in _paired_cases():
        got = call(paired_se, a, b, on_error=_bool_hint)
        pair = _pair(got)
        if pair is None:
            return report(False, name, "", f"return two numbers (difference, stderr), got {got!r}.")
        diff, se = pair
        want = paired_difference(a, b)
        acc_a, acc_b = float(a.float().mean()), float(b.float().mean())
        if math.isclose(diff, -want.difference, abs_tol=1e-6) and abs(want.difference) > 1e-6:
            return report(False, name, "", "the sign: return accuracy of A minus accuracy of B.")
        if math.isclose(diff, float((a ^ b).double().mean()), abs_tol=1e-6) and \
                not math.isclose(diff, want.difference, abs_tol=1e-6):
            return report(False, name, "", "that is the mean of a ^ b (xor), which counts the passages where "
                                           "they disagree and loses the sign: use d = a.double() - b.double().")
        if not math.isclose(diff, want.difference, abs_tol=1e-6):
            return report(False, name, "", f"the difference: A is right on {acc_a:.1%} of the passages and B "
                                           f"on {acc_b:.1%}; return {acc_a:.4f} - {acc_b:.4f}.")
        if math.isclose(se, want.stderr, rel_tol=1e-5, abs_tol=1e-9):
            continue
        return report(False, name, "", _stderr_hint(se, a, b, want.stderr))
    return report(True, name, "passages both classifiers got right (or both wrong) add no variance, which is "
                              "why a paired difference is measured more precisely than two separate accuracies.", "")


# --------------------------------------------------------------------------
# Exercise 2: a prefix-LM mask
# --------------------------------------------------------------------------
def _prefix_mask(T: int, P: int) -> torch.Tensor:
    """The reference answer: ``[t, s]`` is True when ``s < P`` or ``s <= t``."""
    s = torch.arange(T)
    return (s[None, :] < P) | (s[None, :] <= s[:, None])  # (T, T)


def _mask_text(mask: torch.Tensor) -> str:
    return "\n".join("      " + " ".join("1" if v else "." for v in row) for row in mask.tolist())


@exercise("ch07.prefix_lm_mask")
def check_prefix_lm_mask(prefix_lm_mask: object) -> bool:
    """Exercise 2: ``prefix_lm_mask(T, P)``: a boolean ``(T, T)`` mask, True
    where query t may attend to key s: the first P positions (the prefix)
    see each other in both directions, and every position sees the whole
    prefix and itself and the positions before it."""
    name = "Exercise 2 (a prefix-LM mask)"
    for T, P in ((6, 2), (5, 0), (4, 4), (7, 3)):
        got = call(prefix_lm_mask, T, P)
        want = _prefix_mask(T, P)
        if not isinstance(got, torch.Tensor) or got.shape != (T, T):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a ({T}, {T}) boolean tensor; got {shape} for T={T}.")
        if got.dtype != torch.bool:
            return report(False, name, "", "return a boolean tensor (True = may attend), e.g. with `|` and `<=`.")
        if torch.equal(got, want):
            continue
        t, k = torch.arange(T)[:, None], torch.arange(T)[None, :]  # query, key indices
        if torch.equal(got, torch.ones(T, T, dtype=torch.bool).tril()):
            hint = "that is the plain causal mask: let every query also see all P prefix positions."
        elif torch.equal(got, want.T):
            hint = "rows are queries (t) and columns keys (s); you have the transpose."
        elif torch.equal(got, (k <= P) | (k <= t)):
            hint = (f"the prefix is the positions 0 .. P - 1 (here 0 .. {P - 1}): s < P, not s <= P, or "
                    "position P is seen from the past.")
        elif torch.equal(got, (k < P) & (k <= t)):
            hint = ("a key is visible when it is in the prefix OR not in the query's future: combine the two "
                    "conditions with |, not &.")
        elif torch.equal(got, (t < P) | (k <= t)):
            hint = ("the prefix positions see each other in both directions, but not the positions after the "
                    "prefix: a query t < P may see the keys s < P (and the causal ones), not every key.")
        else:
            hint = (f"for T={T}, P={P} (rows: queries t, columns: keys s, 1 = may attend)\n    expected\n"
                    f"{_mask_text(want)}\n    got\n{_mask_text(got)}\n    mask[t, s] is True when s < P or s <= t.")
        return report(False, name, "", hint)
    return report(True, name, "with P = 0 it is GPT's causal mask, with P = T BERT's full one; the prefix LM "
                              "(used by T5 and UniLM) sits in between.", "")


# --------------------------------------------------------------------------
# Exercise 3: last-token pooling
# --------------------------------------------------------------------------
def _last_token_reference(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What :class:`~lm_course.finetune.GPTClassifier` does with ``pooling="last"``."""
    return h[torch.arange(h.size(0)), lengths - 1]  # (B, C)


@exercise("ch07.last_token_pool")
def check_last_token_pool(last_token_pool: object) -> bool:
    """Exercise 3: ``last_token_pool(h, lengths)``: for the hidden states
    ``h`` (B, T, C) of a right-padded batch and the true ``lengths`` (B,),
    each sequence's hidden state at its last real token, shape (B, C)."""
    name = "Exercise 3 (last-token pooling)"
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
# Exercise 4: the head, with its normalisation, in eval mode
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
    """Exercise 4: ``head_logits(z, running_mean, running_var, weight, bias,
    eps=1e-5)``: the classifier's head with ``normalize=True`` in eval mode.
    ``z`` (B, C) pooled features, ``running_mean`` and ``running_var`` (C,),
    ``weight`` (K, C), ``bias`` (K,); returns the logits (B, K)."""
    name = "Exercise 4 (the head in eval mode)"
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
# Exercise 5: what a linear probe and full fine-tuning train
# --------------------------------------------------------------------------
def _toy_classifier(seed: int = 0, normalize: bool = False):
    """A small :class:`~lm_course.finetune.GPTClassifier` (random body) for the checker."""
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
    """Exercise 5: ``trainable_parameters(model, mode)`` for a
    :class:`~lm_course.finetune.GPTClassifier`: with ``mode="probe"`` only the
    head trains (the body's parameters get ``requires_grad=False``, as
    ``make_classifier("probe", ...)`` leaves them), with ``mode="full"``
    everything does; returns the list of parameters to give the optimiser."""
    name = "Exercise 5 (what a probe and full fine-tuning train)"
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
