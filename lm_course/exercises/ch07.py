"""Checkers for the exercises of ``07_finetuning.ipynb``."""

from __future__ import annotations

import math

import torch

from lm_course.exercises._check import report, require_number

__all__ = ["check_target_counts", "check_prefix_lm_mask", "check_masked_mean", "check_probe_parameters"]

#: Exercise 1: the sequence length and BERT's masking rate.
EXERCISE_1_LENGTH, EXERCISE_1_MASK_PROB = 128, 0.15


def _function_result(answer: object, exercise: str, signature: str, *args) -> tuple[bool, object]:
    """Call the student's function; ``(True, result)``, or ``(False, None)``
    after printing why it could not be called (never raises)."""
    if answer is None:
        print(f"❌ {exercise}: no answer yet. Define {signature} and run the cell again.")
        return False, None
    if not callable(answer):
        print(f"❌ {exercise}: expected a function {signature}, got {type(answer).__name__}.")
        return False, None
    try:
        return True, answer(*args)
    except Exception as err:  # the student's code: report it, never raise
        print(f"❌ {exercise}: not yet. Hint: your function raised {type(err).__name__}: {err}.")
        return False, None


def check_target_counts(answer: object) -> bool:
    """Exercise 1: ``(autoregressive, masked)``: how many positions of one
    128-token training sequence are prediction targets under the causal LM
    objective (inputs ``ids[:-1]``, targets ``ids[1:]``), and how many on
    average under BERT's masked objective with 15% of positions chosen."""
    name = "Exercise 1 (targets per sequence)"
    if answer is None:
        print(f"❌ {name}: no answer yet. Set `answer = (autoregressive, masked)` and run the cell again.")
        return False
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        print(f"❌ {name}: expected a pair (autoregressive, masked), got {answer!r}.")
        return False
    ar, mlm = (require_number(a, name) for a in answer)
    if ar is None or mlm is None:
        return False
    N, p = EXERCISE_1_LENGTH, EXERCISE_1_MASK_PROB
    if math.isclose(ar, N) and not math.isclose(mlm, N * p):
        hint = "the autoregressive count is right; for BERT only the chosen positions are targets."
    elif math.isclose(ar, N):
        hint = ("the first token has nothing before it, so it is never a target: with inputs ids[:-1] "
                "and targets ids[1:] there are N - 1.")
    elif math.isclose(mlm, N * p * 0.8):
        hint = ("all chosen positions are targets, including the 10% replaced by a random token and the "
                "10% left unchanged, not only those shown as [MASK].")
    else:
        hint = "autoregressive: every position but the first is predicted; masked: 15% of the positions."
    ok = math.isclose(ar, N - 1) and math.isclose(mlm, N * p, rel_tol=1e-6)
    return report(ok, name, f"{N - 1} vs {N * p:g}: a causal LM gets a training signal from (almost) every "
                            "token, a masked LM from about one in seven, but each of those sees both sides.", hint)


def _prefix_mask(T: int, P: int) -> torch.Tensor:
    """The reference answer: ``[t, s]`` is True when ``s < P`` or ``s <= t``."""
    s = torch.arange(T)
    return (s[None, :] < P) | (s[None, :] <= s[:, None])  # (T, T)


def check_prefix_lm_mask(answer: object) -> bool:
    """Exercise 2: ``prefix_lm_mask(T, P)``: a boolean ``(T, T)`` mask, True
    where query t may attend to key s: the first P positions (the prefix)
    see each other in both directions, and every position sees the whole
    prefix and itself and the positions before it."""
    name = "Exercise 2 (a prefix-LM mask)"
    for T, P in ((6, 2), (5, 0), (4, 4), (7, 3)):
        ok, got = _function_result(answer, name, "prefix_lm_mask(T, P)", T, P)
        if not ok:
            return False
        want = _prefix_mask(T, P)
        if not isinstance(got, torch.Tensor) or got.shape != (T, T):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a ({T}, {T}) boolean tensor; got {shape} for T={T}.")
        if got.dtype != torch.bool:
            return report(False, name, "", "return a boolean tensor (True = may attend), e.g. with `|` and `<=`.")
        if torch.equal(got, want):
            continue
        if torch.equal(got, torch.ones(T, T, dtype=torch.bool).tril()):
            hint = "that is the plain causal mask: let every query also see all P prefix positions."
        elif torch.equal(got, want.T):
            hint = "rows are queries (t) and columns keys (s); you have the transpose."
        else:
            hint = f"for T={T}, P={P} the mask differs; mask[t, s] is True when s < P or s <= t."
        return report(False, name, "", hint)
    return report(True, name, "with P = 0 it is GPT's causal mask, with P = T BERT's full one; the prefix LM "
                              "(used by T5 and UniLM) sits in between.", "")


def check_masked_mean(answer: object) -> bool:
    """Exercise 3: ``masked_mean(h, lengths)``: for hidden states ``h``
    (B, T, C) of a right-padded batch and ``lengths`` (B,), the mean of each
    sequence's first ``lengths[b]`` positions, shape (B, C)."""
    name = "Exercise 3 (mean pooling with padding)"
    g = torch.Generator().manual_seed(7)
    h = torch.randn(3, 6, 4, generator=g)  # (B, T, C)
    lengths = torch.tensor([6, 2, 4])  # (B,)
    ok, got = _function_result(answer, name, "masked_mean(h, lengths)", h, lengths)
    if not ok:
        return False
    want = torch.stack([h[b, :n].mean(0) for b, n in enumerate(lengths.tolist())])  # (B, C)
    if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got.float(), h.mean(1)):
        return report(False, name, "", "that averages the padding too: divide the sum over the real "
                                       "positions by each sequence's own length.")
    good = isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got.float(), want, atol=1e-6)
    return report(good, name, "padding never touches the features, so a batch gives what one passage at a "
                              "time would.",
                  "build a (B, T) mask `arange(T) < lengths[:, None]`, sum h * mask[..., None] over T, "
                  "divide by lengths[:, None].")


def _reference_width() -> int:
    try:
        from lm_course.reference import load_reference_info

        return int(load_reference_info()["config"]["n_embd"])
    except Exception:  # no checkpoint here: the recipe's width
        from lm_course.reference import RECIPE

        return RECIPE.n_embd


def check_probe_parameters(answer: object, n_classes: int = 2) -> bool:
    """Exercise 4: the number of parameters a linear probe on the reference
    GPT trains for two classes (worked out, then checked with
    ``probe.num_trainable()``)."""
    name = "Exercise 4 (what a probe trains)"
    value = require_number(answer, name)
    if value is None:
        return False
    C = _reference_width()
    want = C * n_classes + n_classes
    if value == C * n_classes:
        return report(False, name, "", "the head has a bias too: one per class.")
    return report(value == want, name,
                  f"{want} numbers, C x K weights plus K biases; full fine-tuning changes every parameter "
                  "of the GPT as well.",
                  "the probe trains only the head, nn.Linear(C, K) with C = n_embd of the reference GPT "
                  "and K = 2 classes.")
