"""Checkers for chapter 6's logit filters (``06_gpt2_sampling.ipynb``): top-k (exercise 2) and
nucleus, top-p (exercise 3).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lm_course.exercises._check import MISSING, call, exercise, report
from lm_course.sampling import filter_logits

__all__ = ["check_top_k", "check_nucleus"]


def _tensor_like(got: object, want: torch.Tensor, name: str, what: str) -> bool:
    """Report and return False unless ``got`` is a tensor of ``want``'s shape."""
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        return True
    seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    return report(False, name, "", f"return {what} of shape {tuple(want.shape)}, got {seen}.")


# ---- exercise 2: top-k -----------------------------------------------------

def _top_k_cases() -> list[tuple[torch.Tensor, int]]:
    gen = torch.Generator().manual_seed(61)
    return [
        (torch.tensor([2.0, -1.0, 3.0, 0.5, -4.0]), 2),  # plain
        (torch.tensor([-1.0, -3.0, -1.0, -2.0, -5.0, -1.0]), 2),  # ties with the 2nd: all three -1.0 stay
        (torch.tensor([0.3, 1.2, -0.7]), 1),  # k = 1 is greedy's single token
        (torch.tensor([0.3, 1.2, -0.7]), 3),  # k = V removes nothing
        (torch.randn(4, 30, generator=gen) * 2, 5),  # a batch: every row its own k-th value
        (torch.randint(-3, 3, (3, 20), generator=gen).float(), 4),  # a batch full of ties
    ]


@exercise("ch06.top_k_filter")
def check_top_k(top_k_filter: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Exercise 2: ``top_k_filter(logits, k)`` for logits ``(V,)`` or ``(B, V)``
    returns the same shape: each row's ``k`` largest logits (and every logit
    tied with the k-th) unchanged, every other entry ``-inf``; the input is
    not modified. Compared with ``filter_logits(logits, top_k=k)``."""
    name = "Exercise 2 (top-k)"
    batch_hint = ("your function works on one row but not on a batch (B, V): take the k-th largest along the last "
                  "dimension, per row, and keep that dimension (dim=-1, keepdim=True) so it broadcasts.")
    for logits, k in _top_k_cases():
        want = filter_logits(logits, top_k=k)
        rows_ok = logits.dim() == 2 and _one_row_ok(top_k_filter, logits, k)
        if rows_ok:  # a batch: a failure here is a batching bug
            got = call(top_k_filter, logits, k, quiet=True)
            if got is MISSING:
                return report(False, name, "", batch_hint)
        else:
            got = call(top_k_filter, logits, k)
        if not _tensor_like(got, want, name, "logits"):
            return False
        got = got.to(want.dtype)
        kept, want_kept = torch.isfinite(got), torch.isfinite(want)
        if torch.equal(kept, want_kept) and torch.allclose(got[kept], want[kept]):
            continue
        if rows_ok:
            return report(False, name, "", batch_hint)
        if bool(((got >= 0) & (got <= 1)).all()) and torch.allclose(got.sum(-1), torch.ones(got.shape[:-1])):
            return report(False, name, "", "you returned probabilities; return logits: the kept ones unchanged, "
                                           "the others -inf (the softmax comes later, in the sampler).")
        if bool(torch.isfinite(got[~want_kept]).all()) and torch.allclose(got[want_kept], want[want_kept]):
            return report(False, name, "", "removed tokens must get -inf (float('-inf')), not a finite number "
                                           "such as 0: softmax gives exp(0) = 1 a share of the probability.")
        if torch.equal(kept, want_kept):
            return report(False, name, "", "you keep the right tokens but changed their logits: leave the kept "
                                           "logits exactly as they were.")
        n_got, n_want = kept.sum(-1), want_kept.sum(-1)  # per row
        if bool((n_got == k).all()) and bool((n_want > k).any()):
            return report(False, name, "", f"with ties you keep exactly k = {k}; top-k keeps every token whose "
                                           "logit equals the k-th largest too: compare the logits with the k-th "
                                           "largest value (logits < kth -> -inf) rather than keeping k indices.")
        if bool((n_got == n_want - 1).all()):
            return report(False, name, "", "you keep one token too few (k - 1): keep the logits >= the k-th "
                                           "largest and remove only those strictly below it.")
        if bool((n_got == n_want + 1).all()):
            return report(False, name, "", "you keep one token too many (k + 1): the k-th largest is "
                                           "topk(...).values[..., -1], the last of the k values.")
        return report(False, name, "", f"for k = {k} you keep {n_got.tolist()} token(s) per row, top-k keeps "
                                       f"{n_want.tolist()}; keep the k largest logits and any tied with the k-th.")
    return report(True, name, "each row's k-th largest logit is the threshold; ties with it survive, as in "
                              "transformers' TopKLogitsWarper.", "")


def _one_row_ok(top_k_filter: Callable, logits: torch.Tensor, k: int) -> bool:
    """Whether the student's function is right on each row of ``logits`` alone."""
    for row in logits:
        got = call(top_k_filter, row, k, quiet=True)
        want = filter_logits(row, top_k=k)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or \
                not torch.equal(torch.isfinite(got), torch.isfinite(want)):
            return False
    return True


# ---- exercise 3: the nucleus -----------------------------------------------

@exercise("ch06.nucleus")
def check_nucleus(nucleus: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise 3: ``nucleus(probs, p) -> bool mask`` ``(V,)`` in vocabulary
    order of the tokens top-p keeps, compared with
    :func:`~lm_course.sampling.filter_logits` on fixed and random cases."""
    name = "Exercise 3 (the nucleus)"
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.tensor([0.1, 0.5, 0.15, 0.25]), 0.7), (torch.tensor([0.9, 0.05, 0.05]), 0.5)]
    cases += [(torch.softmax(torch.randn(30, generator=gen) * s, -1), p) for s in (1, 3) for p in (0.3, 0.9)]
    for probs, p in cases:
        want = torch.isfinite(filter_logits(probs.log(), top_p=p))
        got = call(nucleus, probs, p)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != torch.bool:
            what = f"{got.dtype} {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a boolean tensor of shape {tuple(want.shape)}, got {what}.")
        if torch.equal(got, want):
            continue
        n_got, n_want = int(got.sum()), int(want.sum())
        if n_got == n_want:
            in_sorted_order = torch.zeros_like(want)
            in_sorted_order[:n_want] = True
            if torch.equal(got, in_sorted_order):
                return report(False, name, "", "you keep the right number of tokens but return the mask in sorted "
                                               "order; return it in vocabulary order (mask[i] is about token i): "
                                               "undo the sort with the indices torch.sort returned.")
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, as top-p does, but not the most "
                                           "probable ones: sort in descending order and return the mask in "
                                           "vocabulary order.")
        if n_got < n_want:
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Keep the "
                                           "token that makes the total reach p (cumsum <= p drops it).")
        return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Stop as soon "
                                       "as the running total reaches p.")
    return report(True, name, "sort, accumulate, and keep up to the token whose running total reaches p.", "")
