"""Checkers for chapter 7's first exercises (``07_finetuning.ipynb``): a paired difference of two
classifiers' accuracies (exercise 5) and a prefix-LM mask (exercise 1).
"""

from __future__ import annotations

import math
from functools import partial

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
from lm_course.genre_eval import paired_difference

__all__ = ["check_paired_difference", "check_prefix_lm_mask"]


# --------------------------------------------------------------------------
# Exercise 5: a paired difference of accuracies
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


def _paired_variant(a: torch.Tensor, b: torch.Tensor, *, diff: str = "a - b", se: str = "paired",
                    ddof: int = 1) -> tuple[float, float]:
    """``(acc_A - acc_B, its paired standard error)`` (the defaults), or with one
    mistake: ``diff`` ``"b - a"`` (the sign) or ``"a ^ b"`` (xor); ``se``
    ``"independent"`` (sqrt(se_A^2 + se_B^2)), ``"A alone"``/``"B alone"``
    (one accuracy's), ``"std"`` (the standard deviation of d, not of its mean),
    ``"std / N"``, ``"var / N"`` (its square); ``ddof=0`` (the population's)."""
    n = len(a)
    d = {"a - b": a.double() - b.double(), "b - a": b.double() - a.double(), "a ^ b": (a ^ b).double()}[diff]
    acc_a, acc_b = float(a.double().mean()), float(b.double().mean())
    sd = float(d.std(correction=ddof))  # of d (N,)
    stderr = {"paired": sd / math.sqrt(n), "std": sd, "std / N": sd / n, "var / N": sd ** 2 / n,
              "independent": math.sqrt(acc_a * (1 - acc_a) / n + acc_b * (1 - acc_b) / n),
              "A alone": math.sqrt(acc_a * (1 - acc_a) / n), "B alone": math.sqrt(acc_b * (1 - acc_b) / n)}[se]
    return float(d.mean()), stderr


_ONE_ACCURACY = ("that is the standard error of one accuracy, sqrt(a (1 - a) / N); the difference needs the spread "
                 "of the per-passage differences d = a - b.")

# The paired difference's common mistakes, as switches of _paired_variant: in the difference, then in its error.
_PAIRED_MISTAKES = (
    ({"diff": "b - a"}, "the sign: return accuracy of A minus accuracy of B."),
    ({"diff": "a ^ b"}, "that is the mean of a ^ b (xor), which counts the passages where they disagree and loses "
                        "the sign: use d = a.double() - b.double()."),
    ({"se": "independent"}, "that is the standard error for two *independent* samples, sqrt(se_A^2 + se_B^2). Both "
                            "classifiers saw the same passages: use the per-passage differences d = a - b."),
    ({"se": "A alone"}, _ONE_ACCURACY),
    ({"se": "B alone"}, _ONE_ACCURACY),
    ({"ddof": 0}, "almost: the sample standard deviation divides by N - 1 (ddof=1, torch's default), not N."),
    ({"se": "std"}, "that is the standard deviation of d; the standard error of its mean divides it by sqrt(N)."),
    ({"se": "std / N"}, "the standard error of a mean divides the standard deviation by sqrt(N), not by N."),
    ({"se": "var / N"}, "that is the variance of the mean, var(d) / N, the standard error squared: take its "
                        "square root."),
)
_PAIRED_WRONG = from_switches(_paired_variant, _PAIRED_MISTAKES)


def _same_pair(want_diff: float, got: tuple[float, float], wrong: object) -> bool:
    """Is ``got`` the output ``wrong`` of a wrong version? A wrong difference is
    named by the difference alone, a wrong error by both numbers."""
    out = _pair(wrong)
    if out is None or not math.isclose(got[0], out[0], abs_tol=1e-6):
        return False
    return not math.isclose(out[0], want_diff, abs_tol=1e-6) or math.isclose(got[1], out[1], rel_tol=1e-5)


def _bool_hint(err: Exception) -> str:
    if "bool" in str(err) and ("logical_xor" in str(err) or "subtract" in str(err).lower()):
        return ("Booleans cannot be subtracted, and `^` (xor) would lose the sign of a - b: turn them into "
                "numbers first, a.double() - b.double().")
    return ""


@exercise("ch07.paired_se", wrong=_PAIRED_WRONG)
def check_paired_difference(paired_se: object) -> bool:
    """Exercise 5: ``paired_se(correct_a, correct_b) -> (difference, stderr)``.

    ``correct_a``, ``correct_b``: ``(N,)`` bool tensors, which of the same N
    passages classifiers A and B got right. Return ``acc_A - acc_B`` and its
    paired standard error ``std(d, ddof=1) / sqrt(N)`` of ``d = a - b``, as
    two floats."""
    name = "Exercise 5 (a paired difference)"
    for a, b in _paired_cases():
        got = call(paired_se, a, b, on_error=_bool_hint)
        pair = _pair(got)
        if pair is None:
            return report(False, name, "", f"return two numbers (difference, stderr), got {got!r}.")
        want = paired_difference(a, b)
        if math.isclose(pair[0], want.difference, abs_tol=1e-6) and \
                math.isclose(pair[1], want.stderr, rel_tol=1e-5, abs_tol=1e-9):
            continue
        hint = diagnose(pair, (a, b), _PAIRED_WRONG, partial(_same_pair, want.difference))
        acc_a, acc_b = float(a.float().mean()), float(b.float().mean())
        return report(False, name, "", hint or (
            f"A is right on {acc_a:.1%} of the N = {len(a)} passages and B on {acc_b:.1%}: return the difference "
            f"{acc_a:.4f} - {acc_b:.4f} = {want.difference:.4f} and its paired standard error std(d, ddof=1) / "
            f"sqrt(N) = {want.stderr:.4f} (d = a - b per passage); you returned ({pair[0]:.4f}, {pair[1]:.4f})."))
    return report(True, name, "passages both classifiers got right (or both wrong) add no variance, which is "
                              "why a paired difference is measured more precisely than two separate accuracies.", "")


# --------------------------------------------------------------------------
# Exercise 1: a prefix-LM mask
# --------------------------------------------------------------------------
def _prefix_mask(T: int, P: int) -> torch.Tensor:
    """The reference answer: ``[t, s]`` is True when ``s < P`` or ``s <= t``."""
    s = torch.arange(T)
    return (s[None, :] < P) | (s[None, :] <= s[:, None])  # (T, T)


def _mask_text(mask: torch.Tensor) -> str:
    return "\n".join("      " + " ".join("1" if v else "." for v in row) for row in mask.tolist())


def _query_key(T: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(T)[:, None], torch.arange(T)[None, :]  # (T, 1) queries t, (1, T) keys s


_PREFIX_WRONG = (
    Wrong("the plain causal mask", lambda T, P: torch.ones(T, T, dtype=torch.bool).tril(),
          "that is the plain causal mask: let every query also see all P prefix positions."),
    Wrong("transposed", lambda T, P: _prefix_mask(T, P).T,
          "rows are queries (t) and columns keys (s); you have the transpose."),
    Wrong("s <= P", lambda T, P: (_query_key(T)[1] <= P) | (_query_key(T)[1] <= _query_key(T)[0]),
          "the prefix is the positions 0 .. P - 1: s < P, not s <= P, or position P is seen from the past."),
    Wrong("& instead of |", lambda T, P: (_query_key(T)[1] < P) & (_query_key(T)[1] <= _query_key(T)[0]),
          "a key is visible when it is in the prefix OR not in the query's future: combine the two conditions "
          "with |, not &."),
    Wrong("the prefix's queries see everything",
          lambda T, P: (_query_key(T)[0] < P) | (_query_key(T)[1] <= _query_key(T)[0]),
          "the prefix positions see each other in both directions, but not the positions after the prefix: a "
          "query t < P may see the keys s < P (and the causal ones), not every key."),
)


@exercise("ch07.prefix_lm_mask", wrong=_PREFIX_WRONG)
def check_prefix_lm_mask(prefix_lm_mask: object) -> bool:
    """Exercise 1: ``prefix_lm_mask(T, P)``: a boolean ``(T, T)`` mask, True
    where query t may attend to key s: the first P positions (the prefix)
    see each other in both directions, and every position sees the whole
    prefix and itself and the positions before it."""
    name = "Exercise 1 (a prefix-LM mask)"
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
        hint = diagnose(got, (T, P), _PREFIX_WRONG, torch.equal) or (
            f"for T={T}, P={P} (rows: queries t, columns: keys s, 1 = may attend)\n    expected\n"
            f"{_mask_text(want)}\n    got\n{_mask_text(got)}\n    mask[t, s] is True when s < P or s <= t.")
        return report(False, name, "", hint)
    return report(True, name, "with P = 0 it is GPT's causal mask, with P = T BERT's full one; the prefix LM "
                              "(used by T5 and UniLM) sits in between.", "")
