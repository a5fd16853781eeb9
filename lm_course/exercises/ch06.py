"""Checkers for the exercises of ``06_gpt2_sampling.ipynb``."""

from __future__ import annotations

import torch

from lm_course.exercises._check import report
from lm_course.sampling import filter_logits

__all__ = ["EXERCISE_1_LOGITS", "EXERCISE_3_LOGITS", "EXERCISE_3_PREVIOUS", "EXERCISE_4",
           "check_temperature", "check_nucleus", "check_repetition_penalty", "check_kv_cache_work"]

EXERCISE_1_LOGITS = [2.0, 1.0, 0.0, -1.0]  # exercise 1: these logits at temperature 0.5
EXERCISE_3_LOGITS = [3.0, -1.0, 0.5, -2.0, 1.5]  # exercise 3: penalty 2.0 ...
EXERCISE_3_PREVIOUS = [1, 4, 1, 0]  # ... for a text that already holds these token ids
EXERCISE_4 = dict(prompt=10, new=50)  # exercise 4: a 10-token prompt, 50 new tokens


def _as_tensor(answer: object) -> torch.Tensor | None:
    try:
        t = torch.as_tensor(answer, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None
    return t if t.dim() == 1 else None


def check_temperature(answer: object) -> bool:
    """Exercise 1: the probabilities of ``EXERCISE_1_LOGITS`` at temperature 0.5."""
    name = "Exercise 1 (temperature)"
    z = torch.tensor(EXERCISE_1_LOGITS, dtype=torch.float64)
    want = torch.softmax(z / 0.5, -1)
    got = _as_tensor(answer)
    if got is None or got.shape != want.shape:
        return report(False, name, "", f"give the {len(want)} probabilities as a list or 1-D tensor.")
    if torch.allclose(got, torch.softmax(z * 0.5, -1), atol=1e-4):
        return report(False, name, "", "you multiplied by the temperature; divide the logits by it.")
    if torch.allclose(got, torch.softmax(z, -1), atol=1e-4):
        return report(False, name, "", "that is the distribution at T = 1; divide the logits by 0.5 first.")
    if torch.allclose(got, z / 0.5, atol=1e-4):
        return report(False, name, "", "those are the scaled logits; apply the softmax to get probabilities.")
    return report(torch.allclose(got, want, atol=1e-4), name,
                  f"p = {[round(float(p), 3) for p in want]}: halving T doubles the gaps between logits, "
                  "so the top token's share grows.",
                  "p_i = exp(z_i / T) / sum_j exp(z_j / T) with T = 0.5.")


def check_nucleus(answer: object) -> bool:
    """Exercise 2: ``nucleus(probs, p) -> bool mask`` of the tokens top-p keeps,
    compared with :func:`~lm_course.sampling.filter_logits` on random cases."""
    name = "Exercise 2 (the nucleus)"
    if not callable(answer):
        return report(False, name, "", "define a function nucleus(probs, p) returning a boolean mask and pass it.")
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.tensor([0.1, 0.5, 0.15, 0.25]), 0.7), (torch.tensor([0.9, 0.05, 0.05]), 0.5)]
    cases += [(torch.softmax(torch.randn(30, generator=gen) * s, -1), p) for s in (1, 3) for p in (0.3, 0.9)]
    for probs, p in cases:
        want = torch.isfinite(filter_logits(probs.log(), top_p=p))
        try:
            got = answer(probs.clone(), p)
        except Exception as err:  # the student's code: report, never raise
            return report(False, name, "", f"your function raised {type(err).__name__}: {err}.")
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != torch.bool:
            what = f"{got.dtype} {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a boolean tensor of shape {tuple(want.shape)}, got {what}.")
        if not torch.equal(got, want):
            few = int(got.sum()) < int(want.sum())
            return report(False, name, "", f"for p = {p} you keep {int(got.sum())} tokens, top-p keeps "
                          f"{int(want.sum())}. " + ("Keep the token that makes the total reach p." if few else
                                                    "Stop as soon as the running total reaches p; sort first."))
    return report(True, name, "sort, accumulate, and keep up to the token whose running total reaches p.", "")


def check_repetition_penalty(answer: object) -> bool:
    """Exercise 3: ``EXERCISE_3_LOGITS`` after a repetition penalty of 2.0
    for a text holding ``EXERCISE_3_PREVIOUS``."""
    name = "Exercise 3 (repetition penalty)"
    z = torch.tensor(EXERCISE_3_LOGITS, dtype=torch.float64)
    want = filter_logits(z, repetition_penalty=2.0, prev_tokens=EXERCISE_3_PREVIOUS)
    got = _as_tensor(answer)
    if got is None or got.shape != want.shape:
        return report(False, name, "", f"give the {len(want)} new logits as a list or 1-D tensor.")
    seen = torch.zeros(len(z), dtype=torch.bool)
    seen[EXERCISE_3_PREVIOUS] = True
    if torch.allclose(got, torch.where(seen, z / 2.0, z)):
        return report(False, name, "", "dividing a negative logit by 2 makes it *larger* (more likely); "
                                       "negative logits are multiplied by the penalty.")
    return report(torch.allclose(got, want), name,
                  f"{[float(v) for v in want]}: every token already in the text loses, once, however often "
                  "it appeared.",
                  "for each distinct token in the text: logit / 2 if the logit is positive, logit * 2 if negative.")


def check_kv_cache_work(answer: object) -> bool:
    """Exercise 4: ``(without, with_cache)``: how many token positions go
    through the model to generate ``EXERCISE_4["new"]`` tokens after a
    ``EXERCISE_4["prompt"]``-token prompt, without and with the KV cache
    (the context never exceeds ``block_size``)."""
    name = "Exercise 4 (the work a KV cache saves)"
    P, N = EXERCISE_4["prompt"], EXERCISE_4["new"]
    without = sum(P + i for i in range(N))  # step i reruns all P + i tokens
    with_cache = P + (N - 1)  # the prompt once, then one new token per step
    try:
        a, b = (int(v) for v in answer)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return report(False, name, "", "give a pair of integers: (without_cache, with_cache).")
    if (a, b) == (without, with_cache):
        return report(True, name, f"{without} against {with_cache}: {without / with_cache:.0f} times fewer "
                                  "token positions, and the gap grows with the square of the length.", "")
    hints = []
    if a != without:
        hints.append(f"without the cache step i (0..{N - 1}) runs the whole text so far, P + i tokens: sum them")
    if b != with_cache:
        hints.append("with the cache the first step runs the P prompt tokens, every later step only 1 token")
    return report(False, name, "", "; ".join(hints) + ".")

