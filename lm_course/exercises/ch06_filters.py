"""Checkers for chapter 6's logit filters (``06_gpt2_sampling.ipynb``): top-k (exercise 2) and
nucleus, top-p (exercise 3).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lm_course.exercises._check import MISSING, call, exercise, report
from lm_course.exercises.wrong_versions import diagnose, from_switches
from lm_course.sampling import filter_logits

__all__ = ["check_top_k", "check_nucleus"]


def _tensor_like(got: object, want: torch.Tensor, name: str, what: str) -> bool:
    """Report and return False unless ``got`` is a tensor of ``want``'s shape."""
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        return True
    seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    return report(False, name, "", f"return {what} of shape {tuple(want.shape)}, got {seen}.")


# ---- exercise 2: top-k -----------------------------------------------------

def _top_k_version(logits: torch.Tensor, k: int, *, ties: bool = True, strict: bool = False, extra: bool = False,
                   fill: float = float("-inf"), out: str = "logits", per_row: bool = True) -> torch.Tensor:
    """A student's ``top_k_filter(logits, k)``: right (the defaults) or with one
    mistake: ``ties=False`` (the k indices of ``topk`` kept, a tie with the
    k-th dropped), ``strict`` (the k-th itself removed: k - 1 kept),
    ``extra`` (the threshold is the (k+1)-th largest: k + 1 kept), ``fill``
    (removed logits set to a finite number), ``out="probs"`` or
    ``"log_probs"`` (the filtered logits turned into (log-)probabilities),
    ``per_row=False`` (one k-th largest over the whole batch)."""
    if not ties:
        idx = torch.topk(logits, k, dim=-1).indices  # (..., k)
        return torch.full_like(logits, fill).scatter(-1, idx, logits.gather(-1, idx))
    ranked = (logits if per_row else logits.reshape(-1)).sort(dim=-1, descending=True).values
    n = k + 1 if extra else k
    kth = ranked[..., n - 1:n]  # (..., 1): the threshold, per row (or one for the whole batch)
    kept = logits.masked_fill(logits <= kth if strict else logits < kth, fill)
    return {"logits": kept, "probs": kept.softmax(-1), "log_probs": kept.log_softmax(-1)}[out]


_BATCH_HINT = ("your function works on one row but not on a batch (B, V): take the k-th largest along the last "
               "dimension, per row, and keep that dimension (dim=-1, keepdim=True) so it broadcasts.")

# Wrong versions of Exercise 2, as switches of _top_k_version: what top-k keeps, and what it returns.
_TOP_K_MISTAKES = [
    (dict(ties=False), "with ties you keep exactly k; top-k keeps every token whose logit equals the k-th largest "
                       "too: compare the logits with the k-th largest value (logits < kth -> -inf) rather than "
                       "keeping k indices."),
    (dict(out="probs"), "you returned probabilities; return logits: the kept ones unchanged, the others -inf (the "
                        "softmax comes later, in the sampler)."),
    (dict(fill=0.0), "removed tokens must get -inf (float('-inf')), not a finite number such as 0: softmax gives "
                     "exp(0) = 1 a share of the probability."),
    (dict(out="log_probs"), "you keep the right tokens but changed their logits: leave the kept logits exactly as "
                            "they were."),
    (dict(strict=True), "you keep one token too few (k - 1): keep the logits >= the k-th largest and remove only "
                        "those strictly below it."),
    (dict(extra=True), "you keep one token too many (k + 1): the k-th largest is topk(...).values[..., -1], the "
                       "last of the k values."),
    (dict(per_row=False), _BATCH_HINT),
]
_TOP_K_WRONG = from_switches(_top_k_version, _TOP_K_MISTAKES)


def _same_logits(got: object, want: torch.Tensor) -> bool:
    """The same kept tokens with the same logits, and the same value (-inf) everywhere else."""
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return False
    got = got.detach().to(want.dtype)
    kept = torch.isfinite(got)
    return (torch.equal(kept, torch.isfinite(want)) and torch.allclose(got[kept], want[kept])
            and torch.equal(got[~kept], want[~kept]))


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


@exercise("ch06.top_k_filter", wrong=_TOP_K_WRONG)
def check_top_k(top_k_filter: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Exercise 2: ``top_k_filter(logits, k)`` for logits ``(V,)`` or ``(B, V)``
    returns the same shape: each row's ``k`` largest logits (and every logit
    tied with the k-th) unchanged, every other entry ``-inf``; the input is
    not modified. Compared with ``filter_logits(logits, top_k=k)``; a batch
    that fails where each of its rows alone passes is a batching bug."""
    name = "Exercise 2 (top-k)"
    for logits, k in _top_k_cases():
        want = filter_logits(logits, top_k=k)
        rows_ok = logits.dim() == 2 and _one_row_ok(top_k_filter, logits, k)
        got = call(top_k_filter, logits, k, quiet=rows_ok)  # a batch whose rows pass: a failure is a batching bug
        if got is MISSING:
            return report(False, name, "", _BATCH_HINT)
        if not _tensor_like(got, want, name, "logits"):
            return False
        if _same_logits(got, want):
            continue
        hint = diagnose(got, (logits, k), _TOP_K_WRONG, _same_logits) or (_BATCH_HINT if rows_ok else None)
        if hint:
            return report(False, name, "", f"{hint} (k = {k}, logits of shape {tuple(logits.shape)})")
        n_got, n_want = torch.isfinite(got).sum(-1), torch.isfinite(want).sum(-1)  # kept per row
        return report(False, name, "", f"for k = {k} you keep {n_got.tolist()} token(s) per row, top-k keeps "
                                       f"{n_want.tolist()} (every removed logit -inf); keep the k largest logits "
                                       "unchanged, and any tied with the k-th.")
    return report(True, name, "each row's k-th largest logit is the threshold; ties with it survive, as in "
                              "transformers' TopKLogitsWarper.", "")


def _one_row_ok(top_k_filter: Callable, logits: torch.Tensor, k: int) -> bool:
    """Whether the student's function is right on each row of ``logits`` alone."""
    for row in logits:
        got = call(top_k_filter, row, k, quiet=True)
        if not _same_logits(got, filter_logits(row, top_k=k)):
            return False
    return True


# ---- exercise 3: the nucleus -----------------------------------------------

def _nucleus_version(probs: torch.Tensor, p: float, *, rule: str = "before < p", order: str = "vocabulary",
                     descending: bool = True) -> torch.Tensor:
    """A student's ``nucleus(probs, p)``: right (the defaults) or with one
    mistake: ``rule="cumsum <= p"`` (the token that crosses p dropped),
    ``"one more"`` (the next token kept too), ``order="sorted"`` (the mask
    returned in sorted order), ``descending=False`` (an ascending sort)."""
    sorted_probs, idx = torch.sort(probs, descending=descending)
    total = torch.cumsum(sorted_probs, 0)  # the running total, in sorted order
    if rule == "cumsum <= p":
        keep_sorted = total <= p
    else:
        keep_sorted = total - sorted_probs < p  # the mass before each token has not reached p: keep it
        keep_sorted[0] = True
        if rule == "one more":
            keep_sorted[1:] = keep_sorted[1:] | keep_sorted[:-1]
    if order == "sorted":
        return keep_sorted
    keep = torch.zeros_like(keep_sorted)
    keep[idx] = keep_sorted  # back to vocabulary order
    return keep


# Wrong versions of Exercise 3, as switches of _nucleus_version: where the nucleus stops, and its order.
_NUCLEUS_MISTAKES = [
    (dict(order="sorted"), "you keep the right number of tokens but return the mask in sorted order; return it in "
                           "vocabulary order (mask[i] is about token i): undo the sort with the indices torch.sort "
                           "returned."),
    (dict(rule="cumsum <= p"), "you keep one token too few: keep the token that makes the running total reach p "
                               "(cumsum <= p drops it)."),
    (dict(rule="one more"), "you keep one token too many: stop as soon as the running total reaches p; the token "
                            "that reaches it is the last one kept."),
    (dict(descending=False), "you keep the least probable tokens: the nucleus is the most probable ones, so sort in "
                             "descending order before accumulating, and return the mask in vocabulary order."),
]
_NUCLEUS_WRONG = from_switches(_nucleus_version, _NUCLEUS_MISTAKES)


@exercise("ch06.nucleus", wrong=_NUCLEUS_WRONG)
def check_nucleus(nucleus: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise 3: ``nucleus(probs, p) -> bool mask`` ``(V,)`` in vocabulary
    order of the tokens top-p keeps, compared with
    :func:`~lm_course.sampling.filter_logits` on fixed and random cases."""
    name = "Exercise 3 (the nucleus)"
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15]), 0.55),  # an ascending sort keeps 4 tokens here, not all
             (torch.tensor([0.1, 0.5, 0.15, 0.25]), 0.7), (torch.tensor([0.9, 0.05, 0.05]), 0.5)]
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
        hint = diagnose(got, (probs, p), _NUCLEUS_WRONG, torch.equal)
        if hint:
            return report(False, name, "", f"{hint} (p = {p}: top-p keeps {n_want} of {probs.numel()} tokens, you "
                                           f"keep {n_got}.)")
        more = "Stop as soon as the running total reaches p." if n_got > n_want else \
            "Sort in descending order, keep tokens until the running total reaches p (that token included)."
        return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. {more} Return "
                                       "the mask in vocabulary order.")
    return report(True, name, "sort, accumulate, and keep up to the token whose running total reaches p.", "")
