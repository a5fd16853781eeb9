"""Checkers for chapter 1's tables and sampler (``01_ngrams.ipynb``): the maximum-likelihood
and add-k tables (exercises 1 and 3) and a name drawn from the bigram table (exercise 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import torch

from lm_course.data import load_names
from lm_course.exercises._check import Stop, call, current_name, exercise, report
from lm_course.ngram import bigram_count_matrix

__all__ = ["check_mle_table", "check_add_k_table", "check_sample_name", "mle_table_reference",
    "add_k_table_reference", "sample_name_reference"]


@lru_cache(maxsize=1)
def _names_counts() -> tuple[torch.Tensor, list[str]]:
    return bigram_count_matrix(load_names())


# ---------------------------------------------------------------- exercises 1 and 3: tables of probabilities
def _table(value: object) -> torch.Tensor | None:
    try:
        return torch.as_tensor(value).detach()
    except Exception:
        return None


def _same_table(got: torch.Tensor, want: torch.Tensor) -> bool:
    return got.shape == want.shape and torch.allclose(got.double(), want.double(), rtol=1e-9, atol=1e-12,
                                                      equal_nan=True)


def mle_table_reference(counts: torch.Tensor, *, dim: int = 1, unseen: str = "uniform") -> torch.Tensor:
    """The ``(V, V)`` float64 table of ``P(next | prev) = c(prev next) / c(prev)``,
    one row per context; a row whose context was never followed by anything
    is uniform ``1 / V`` (the rule of Exercise 1).

    ``dim=0`` (each column normalised), ``unseen="nan"`` (0 / 0 left as NaN)
    and ``unseen="zeros"`` (a row of zeros) build the commonest wrong
    versions, which the checker recognises."""
    c = counts.double()  # (V, V)
    total = c.sum(dim=dim, keepdim=True)  # (V, 1) or (1, V)
    if unseen == "nan":
        return c / total
    fill = 1.0 / c.shape[0] if unseen == "uniform" else 0.0
    return torch.where(total > 0, c / total.clamp(min=1), torch.full_like(c, fill))


def add_k_table_reference(counts: torch.Tensor, k: float, *, denominator: str = "kV") -> torch.Tensor:
    """``(c(prev next) + k) / (c(prev) + k V)`` for every cell, float64; with
    ``k = 0`` the MLE table (unseen rows uniform). ``denominator="none"``
    (k added to the numerator only), ``"k"`` (``c(prev) + k``) and ``"all"``
    (the whole table's total + k V^2) build wrong versions."""
    if k == 0:
        return mle_table_reference(counts)
    c = counts.double()  # (V, V)
    V, total = c.shape[0], c.sum(dim=1, keepdim=True)  # (V, 1)
    extra = {"kV": k * V, "none": 0.0, "k": k}.get(denominator)
    if denominator == "all":
        return (c + k) / (c.sum() + k * V * V)
    return (c + k) / (total + extra)


def _random_counts(seed: int) -> torch.Tensor:
    """A random ``(V, V)`` count matrix with a few rows of zeros (contexts never followed)."""
    g = torch.Generator().manual_seed(seed)
    V = int(torch.randint(3, 9, (1,), generator=g))
    counts = torch.randint(0, 6, (V, V), generator=g) * (torch.rand(V, V, generator=g) < 0.6)  # (V, V)
    counts[int(torch.randint(0, V, (1,), generator=g))] = 0  # an unseen context
    counts[-1] = 0
    return counts.long()


def _table_cases() -> list[torch.Tensor]:
    fixed = torch.tensor([[0, 3, 1], [2, 0, 2], [0, 0, 0]])  # the last context is never followed
    return [fixed, *(_random_counts(s) for s in range(6)), _names_counts()[0]]


def _check_table(got: object, want: torch.Tensor, name: str, counts: torch.Tensor,
                 slips: list[tuple[torch.Tensor, str]]) -> bool | None:
    """``None`` when ``got`` equals ``want``; else print the hint and return ``False``."""
    table = _table(got)
    if table is None or table.shape != want.shape:
        shape = tuple(table.shape) if table is not None else type(got).__name__
        return report(False, name, "", f"return a (V, V) tensor, one row per context, got {shape} "
                                       f"for counts of shape {tuple(counts.shape)}.")
    if not table.is_floating_point():
        return report(False, name, "", "your table holds integers: convert the counts first "
                                       "(counts.double()), or every probability is rounded down to 0.")
    if table.dtype != torch.float64 and torch.allclose(table.double(), want, rtol=1e-5, atol=1e-7, equal_nan=True):
        return report(False, name, "", f"right values, but return float64 (counts.double()), not {table.dtype}.")
    if _same_table(table, want):
        return None
    for wrong, hint in slips:
        if _same_table(table, wrong):
            return report(False, name, "", hint)
    return report(False, name, "", f"for counts\n{counts.tolist()}\nexpected\n{want.numpy().round(4).tolist()}\n"
                                   f"got\n{table.double().numpy().round(4).tolist()}")


_ROW_HINT = ("each ROW must sum to 1: row i is the distribution of the next token after token i, so divide by "
             "counts.sum(dim=1, keepdim=True), the row totals (dim=0 normalises the columns).")
_UNSEEN_HINT = ("a context that is never followed by anything has a row of zeros and 0 / 0 = NaN there; "
                "the rule is a uniform row, 1 / V for every next token (torch.where(total > 0, ..., 1 / V)).")


def _tables_right(fn: Callable, name: str,
                  cases: Iterable[tuple[torch.Tensor, tuple, torch.Tensor, list[tuple[torch.Tensor, str]]]]) -> bool:
    """``fn(*args)`` for every case ``(counts, args, want, slips)``: True if
    each returns the table ``want``; else False, after reporting the first
    wrong one (with the hint of the slip it matches)."""
    for counts, args, want, slips in cases:
        got = call(fn, *args)
        if _check_table(got, want, name, counts, slips) is not None:
            return False
    return True


def _mle_slips(counts: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """The commonest wrong MLE tables for ``counts``, with their hints."""
    return [(mle_table_reference(counts, dim=0), _ROW_HINT),
            (mle_table_reference(counts, dim=0, unseen="nan"), _ROW_HINT),
            (mle_table_reference(counts, dim=0, unseen="zeros"), _ROW_HINT),
            (mle_table_reference(counts, unseen="nan"), _UNSEEN_HINT),
            (mle_table_reference(counts, unseen="zeros"), "the unseen rows are all zeros, so they do not sum "
                                                          "to 1; the rule is a uniform row, 1 / V each."),
            (counts.double() / counts.sum(), "you divided by the total of the whole matrix: that is the "
                                             "joint P(prev, next); divide each row by its own total.")]


@exercise("ch01.mle_table")
def check_mle_table(fn: Callable) -> bool:
    """Exercise 1: ``fn(counts)`` turns a ``(V, V)`` bigram count matrix into
    the ``(V, V)`` float64 table of MLE probabilities ``P(next | prev)``
    (rows sum to 1; a row never followed by anything is uniform)."""
    name = "Exercise 1 (the MLE table)"
    cases = ((counts, (counts,), mle_table_reference(counts), _mle_slips(counts)) for counts in _table_cases())
    if not _tables_right(fn, name, cases):
        return False
    counts, labels = _names_counts()
    P = mle_table_reference(counts)
    a, end = labels.index("a"), labels.index(".")
    return report(True, name, f"every row sums to 1; for the names P(. | a) = {int(counts[a, end])} / "
                              f"{int(counts[a].sum())} = {float(P[a, end]):.4f}.", "")


def _add_k_slips(counts: torch.Tensor, k: float) -> list[tuple[torch.Tensor, str]]:
    """The commonest wrong add-k tables for ``counts`` and ``k``, with their hints."""
    if k == 0:
        return [(mle_table_reference(counts, unseen="nan"),
                 "with k = 0 an unseen row gives 0 / 0 = NaN: use the MLE rule of Exercise 1 "
                 "(a uniform row) when k == 0.")]
    V = counts.shape[0]
    return [(add_k_table_reference(counts, k, denominator="none"),
             f"with k = {k} your rows sum to more than 1: you added k to the numerator only; the "
             "denominator must grow too, by k for every one of the V next tokens (c(prev) + k * V)."),
            (add_k_table_reference(counts, k, denominator="k"),
             f"the denominator is c(prev) + k * V (here V = {V}), not c(prev) + k: each of the V "
             "cells of the row got k extra counts."),
            (add_k_table_reference(counts, k, denominator="all"),
             "divide each ROW by its own total plus k * V, not by the total of the whole table.")]


@exercise("ch01.add_k_table")
def check_add_k_table(fn: Callable) -> bool:
    """Exercise 3: ``fn(counts, k)`` returns the ``(V, V)`` float64 add-k
    table ``(c(prev next) + k) / (c(prev) + k V)``; ``k = 0`` gives the MLE
    table of Exercise 1 (unseen rows uniform)."""
    name = "Exercise 3 (the add-k table)"
    ks = [1.0, 0.5, 0.01, 2.0, 1.0, 0.1, 0.0, 1.0]
    cases = ((counts, (counts, k), add_k_table_reference(counts, k), _add_k_slips(counts, k))
             for counts, k in zip(_table_cases(), ks))
    if not _tables_right(fn, name, cases):
        return False
    return report(True, name, "(c + k) / (c(prev) + k V): every cell gets k pseudo-counts, so nothing has "
                              "probability 0, and an unseen context comes out uniform by itself when k > 0.", "")


# ---------------------------------------------------------------- exercise 2: sampling names
def sample_name_reference(P: torch.Tensor, labels: Sequence[str], generator: torch.Generator,
                          max_length: int = 30, *, greedy: bool = False, row: str = "last",
                          marker: str = "stop") -> str:
    """A name drawn from the bigram table ``P``: start at the marker (id 0),
    draw each next id with ``torch.multinomial(P[i], 1, generator=generator)``,
    stop at the marker (not included) or after ``max_length`` characters.
    The commonest wrong versions: ``greedy=True`` (argmax instead of a draw),
    ``row="first"`` (every draw from row 0), ``marker="skip"`` (the end
    marker skipped instead of ending the name)."""
    out, i = [], 0
    while len(out) < max_length:
        r = 0 if row == "first" else i
        i = int(P[r].argmax()) if greedy else int(torch.multinomial(P[r], 1, generator=generator))
        if i == 0:
            if marker == "skip":
                continue
            break
        out.append(labels[i])
    return "".join(out)


_LAST_ROW_HINT = ("draw each character from the row of the LAST drawn id, P[i] with i the id you just drew (the first "
             "from row 0, the marker)")
_END_HINT = "every name has exactly max_length characters: stop as soon as you draw the end marker (id 0)"


_TINY_LABELS = [".", "a", "b"]
_TINY_P = torch.tensor([[0.0, 0.7, 0.3], [0.5, 0.2, 0.3], [0.5, 0.5, 0.0]], dtype=torch.float64)


def _sample_names(fn: Callable, P: torch.Tensor, labels: Sequence[str], seed: int, max_length: int,
                  n: int) -> list[str]:
    """``n`` names from the student's sampler with one generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    names = []
    for _ in range(n):
        value = call(fn, P, list(labels), g, max_length, timeout=3.0)
        if not isinstance(value, str):
            report(False, current_name(), "", f"return the name as a str (''.join(...)), got {type(value).__name__}.")
            raise Stop
        names.append(value)
    return names


def _impossible_step(names: list[str], P: torch.Tensor, labels: Sequence[str]) -> str | None:
    """The first step of ``names`` that the table gives probability 0 (as
    ``"'a' after the start"`` or ``"'b' after 'b'"``), or ``None``."""
    index = {c: i for i, c in enumerate(labels)}
    for s in names:
        prev = 0
        for ch in s:
            if ch not in index:
                return f"{ch!r}, which is not a label"
            if P[prev, index[ch]] == 0:
                return f"{ch!r} after {'the start' if prev == 0 else repr(labels[prev])}"
            prev = index[ch]
    return None


@exercise("ch01.sample_bigram_name")
def check_sample_name(fn: Callable) -> bool:
    """Exercise 2: ``fn(P, labels, generator, max_length)`` samples one name
    from the bigram table ``P`` with the seeded ``generator``. Compared, draw
    for draw, with :func:`sample_name_reference` (the sampler of section 2)
    on the names' table and a tiny one; a sampler that uses the generator
    differently passes if its names have the right distribution (1000 names
    from the tiny table), which is judged before the other diagnoses."""
    name = "Exercise 2 (sampling a name)"
    counts, labels = _names_counts()
    P = mle_table_reference(counts)
    runs = [(P, labels, 0, 30, 12), (P, labels, 5, 4, 12), (_TINY_P, _TINY_LABELS, 1, 6, 30)]
    got_all, want_all = [], []
    for table, labs, seed, max_length, n in runs:
        got = _sample_names(fn, table, labs, seed, max_length, n)
        gw = torch.Generator().manual_seed(seed)
        want = [sample_name_reference(table, labs, gw, max_length) for _ in range(n)]
        greedy = sample_name_reference(table, labs, gw, max_length, greedy=True)
        for kw, hint in ((dict(row="first"), f"your names are those of a sampler that always draws from row 0: "
                                             f"{_LAST_ROW_HINT}."),
                         (dict(marker="skip"), f"{_END_HINT}; you skip it and go on.")):
            gv = torch.Generator().manual_seed(seed)
            if got == [sample_name_reference(table, labs, gv, max_length, **kw) for _ in range(n)] and got != want:
                return report(False, name, "", hint)
        if len(set(got)) == 1 and got[0] == greedy:
            return report(False, name, "", f"every name is {got[0]!r}: you take the most probable character "
                                           "(argmax); draw it instead with torch.multinomial(P[i], 1, "
                                           "generator=generator).")
        if any(len(s) > max_length for s in got):
            return report(False, name, "", f"with max_length={max_length} a name has at most {max_length} "
                                           "characters: stop the loop there.")
        if any("." in s for s in got):
            bad = next(s for s in got if "." in s)
            return report(False, name, "", f"{bad!r} holds the marker '.': when you draw id 0 the name is "
                                           "over; stop there and do not append it (nor the start marker).")
        got_all += got
        want_all += want
    if got_all == want_all:
        return report(True, name, f"the same names as the reference, draw for draw: {want_all[:6]}.", "")
    # Not the reference's stream: judge by distribution on the tiny table, then diagnose
    names = _sample_names(fn, _TINY_P, _TINY_LABELS, 123, 6, 1000)
    expect = {"a": 0.35, "b": 0.15, "aa": 0.07, "ab": 0.105, "ba": 0.075, "": 0.0}
    freq = {s: names.count(s) / len(names) for s in expect}
    if all(abs(freq[s] - p) < 0.05 for s, p in expect.items()):
        return report(True, name, "your names have the right distribution (you use the generator differently "
                                  "from the reference, so the exact names differ from section 2's).", "")
    step = _impossible_step(names, _TINY_P, _TINY_LABELS)
    endless = all(len(s) == 6 for s in names)
    if step is not None and not endless:
        return report(False, name, "", f"on P = {_TINY_P.tolist()} over {_TINY_LABELS} one of your names has "
                                       f"{step}, which has probability 0: {_LAST_ROW_HINT}.")
    if endless:
        return report(False, name, "", f"{_END_HINT}, and {_LAST_ROW_HINT}: a row that never gives id 0, such as "
                                       "row 0, never ends a name.")
    return report(False, name, "", f"on P = {_TINY_P.tolist()} over {_TINY_LABELS} your names do not have the "
                                   f"model's distribution: P('a') = 0.35 but {freq['a']:.2f} of yours are 'a'. "
                                   "Start from row 0 (the marker), then draw from the row of the LAST drawn id, "
                                   "one torch.multinomial draw per character.")
