"""Checkers for chapter 1's tables and sampler (``01_ngrams.ipynb``): the maximum-likelihood
and add-k tables (exercises 1 and 3) and a name drawn from the bigram table (exercise 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import operator
from functools import lru_cache, partial

import torch

from lm_course.data import load_names
from lm_course.exercises._check import Stop, call, current_name, exercise, report
from lm_course.exercises.wrong_versions import Wrong, diagnose, from_switches
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


def mle_table_reference(counts: torch.Tensor, *, dim: int | None = 1, unseen: str = "uniform") -> torch.Tensor:
    """The ``(V, V)`` float64 table of ``P(next | prev) = c(prev next) / c(prev)``,
    one row per context; a row whose context was never followed by anything
    is uniform ``1 / V`` (the rule of Exercise 1).

    ``dim=0`` (each column normalised), ``dim=None`` (divided by the whole
    matrix's total), ``unseen="nan"`` (0 / 0 left as NaN) and
    ``unseen="zeros"`` (a row of zeros) build the commonest wrong versions,
    which the checker recognises."""
    c = counts.double()  # (V, V)
    total = c.sum() if dim is None else c.sum(dim=dim, keepdim=True)  # (), (V, 1) or (1, V)
    if unseen == "nan":
        return c / total
    fill = 1.0 / c.shape[0] if unseen == "uniform" else 0.0
    return torch.where(total > 0, c / total.clamp(min=1), torch.full_like(c, fill))


def add_k_table_reference(counts: torch.Tensor, k: float, *, denominator: str = "kV",
                          zero_rule: bool = True) -> torch.Tensor:
    """``(c(prev next) + k) / (c(prev) + k V)`` for every cell, float64; with
    ``k = 0`` the MLE table (unseen rows uniform). ``denominator="none"``
    (k added to the numerator only), ``"k"`` (``c(prev) + k``), ``"all"``
    (the whole table's total + k V^2) and ``zero_rule=False`` (the formula
    for k = 0 too: NaN rows) build wrong versions."""
    if k == 0 and zero_rule:
        return mle_table_reference(counts)
    c = counts.double()  # (V, V)
    V, total = c.shape[0], c.sum(dim=1, keepdim=True)  # (V, 1)
    if denominator == "all":
        return (c + k) / (c.sum() + k * V * V)
    return (c + k) / (total + {"kV": k * V, "none": 0.0, "k": k}[denominator])


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


def _check_table(got: object, want: torch.Tensor, name: str, args: tuple, table: Sequence[Wrong]) -> bool:
    """Is ``got`` (the student's table for ``args``, counts first) ``want``? If not, print why: its
    type, shape or dtype, the wrong version of ``table`` it is, or both tables."""
    counts = args[0]
    got_table = _table(got)
    if got_table is None or got_table.shape != want.shape:
        shape = tuple(got_table.shape) if got_table is not None else type(got).__name__
        return report(False, name, "", f"return a (V, V) tensor, one row per context, got {shape} "
                                       f"for counts of shape {tuple(counts.shape)}.")
    if not got_table.is_floating_point():
        return report(False, name, "", "your table holds integers: convert the counts first "
                                       "(counts.double()), or every probability is rounded down to 0.")
    near = torch.allclose(got_table.double(), want, rtol=1e-5, atol=1e-7, equal_nan=True)
    if got_table.dtype != torch.float64 and near:
        return report(False, name, "", f"right values, but return float64 (counts.double()), not {got_table.dtype}.")
    if _same_table(got_table, want):
        return True
    hint = diagnose(got_table, args, table, _same_table)
    return report(False, name, "", hint or f"for counts\n{counts.tolist()}\nexpected\n"
                                           f"{want.numpy().round(4).tolist()}\ngot\n"
                                           f"{got_table.double().numpy().round(4).tolist()}")


def _tables_right(fn: Callable, name: str, cases: Iterable[tuple[tuple, torch.Tensor]],
                  table: Sequence[Wrong]) -> bool:
    """``fn(*args)`` for every case ``(args, want)``: True if each returns
    the table ``want``; else False, after reporting the first wrong one."""
    return all(_check_table(call(fn, *args), want, name, args, table) for args, want in cases)


_ROW_HINT = ("each ROW must sum to 1: row i is the distribution of the next token after token i, so divide by "
             "counts.sum(dim=1, keepdim=True), the row totals (dim=0 normalises the columns).")

# Exercise 1's wrong tables: the columns normalised (three ways with the unseen contexts), 0 / 0 left as NaN,
# unseen rows of zeros, the joint distribution.
_MLE_WRONG = from_switches(mle_table_reference, [
    (dict(dim=0), _ROW_HINT),
    (dict(dim=0, unseen="nan"), _ROW_HINT),
    (dict(dim=0, unseen="zeros"), _ROW_HINT),
    (dict(unseen="nan"), "a context that is never followed by anything has a row of zeros and 0 / 0 = NaN "
                         "there; the rule is a uniform row, 1 / V for every next token "
                         "(torch.where(total > 0, ..., 1 / V))."),
    (dict(unseen="zeros"), "the unseen rows are all zeros, so they do not sum to 1; the rule is a uniform row, "
                           "1 / V each."),
    (dict(dim=None), "you divided by the total of the whole matrix: that is the joint P(prev, next); divide each "
                     "row by its own total."),
])


@exercise("ch01.mle_table", wrong=_MLE_WRONG)
def check_mle_table(fn: Callable) -> bool:
    """Exercise 1: ``fn(counts)`` turns a ``(V, V)`` bigram count matrix into
    the ``(V, V)`` float64 table of MLE probabilities ``P(next | prev)``
    (rows sum to 1; a row never followed by anything is uniform)."""
    name = "Exercise 1 (the MLE table)"
    cases = (((counts,), mle_table_reference(counts)) for counts in _table_cases())
    if not _tables_right(fn, name, cases, _MLE_WRONG):
        return False
    counts, labels = _names_counts()
    P = mle_table_reference(counts)
    a, end = labels.index("a"), labels.index(".")
    return report(True, name, f"every row sums to 1; for the names P(. | a) = {int(counts[a, end])} / "
                              f"{int(counts[a].sum())} = {float(P[a, end]):.4f}.", "")


# Exercise 3's wrong tables: k in the numerator only, c(prev) + k, the whole table's total, no rule for k = 0.
_ADD_K_WRONG = from_switches(add_k_table_reference, [
    (dict(denominator="none"), "your rows sum to more than 1: you added k to the numerator only; the denominator "
                               "must grow too, by k for every one of the V next tokens (c(prev) + k * V)."),
    (dict(denominator="k"), "the denominator is c(prev) + k * V, not c(prev) + k: each of the V cells of the "
                            "row got k extra counts."),
    (dict(denominator="all"), "divide each ROW by its own total plus k * V, not by the total of the whole table."),
    (dict(zero_rule=False), "with k = 0 an unseen row gives 0 / 0 = NaN: use the MLE rule of Exercise 1 "
                            "(a uniform row) when k == 0."),
])


@exercise("ch01.add_k_table", wrong=_ADD_K_WRONG)
def check_add_k_table(fn: Callable) -> bool:
    """Exercise 3: ``fn(counts, k)`` returns the ``(V, V)`` float64 add-k
    table ``(c(prev next) + k) / (c(prev) + k V)``; ``k = 0`` gives the MLE
    table of Exercise 1 (unseen rows uniform)."""
    name = "Exercise 3 (the add-k table)"
    ks = [1.0, 0.5, 0.01, 2.0, 1.0, 0.1, 0.0, 1.0]
    cases = (((counts, k), add_k_table_reference(counts, k)) for counts, k in zip(_table_cases(), ks))
    if not _tables_right(fn, name, cases, _ADD_K_WRONG):
        return False
    return report(True, name, "(c + k) / (c(prev) + k V): every cell gets k pseudo-counts, so nothing has "
                              "probability 0, and an unseen context comes out uniform by itself when k > 0.", "")


# ---------------------------------------------------------------- exercise 2: sampling names
def sample_name_reference(P: torch.Tensor, labels: Sequence[str], generator: torch.Generator,
                          max_length: int = 30, *, greedy: bool = False, row: str = "last",
                          marker: str = "stop", use_generator: bool = True, limit: str = "max_length") -> str:
    """A name drawn from the bigram table ``P``: start at the marker (id 0),
    draw each next id with ``torch.multinomial(P[i], 1, generator=generator)``,
    stop at the marker (not included) or after ``max_length`` characters.
    The commonest wrong versions: ``greedy=True`` (argmax instead of a draw),
    ``row="first"`` (every draw from row 0), ``marker="skip"`` (the end
    marker skipped instead of ending the name), ``"keep"`` (appended, and
    the name goes on) or ``"append"`` (appended, then the name ends),
    ``use_generator=False`` (torch's global generator), ``limit="one more"``
    (``max_length + 1`` characters) or ``"none"`` (no limit)."""
    out, i = [], 0
    longest = {"max_length": max_length, "one more": max_length + 1, "none": float("inf")}[limit]
    while len(out) < longest:
        r = 0 if row == "first" else i
        if greedy:
            i = int(P[r].argmax())
        else:
            i = int(torch.multinomial(P[r], 1, generator=generator if use_generator else None))
        if i == 0 and marker != "keep":
            if marker == "skip":
                continue
            if marker == "append":
                out.append(labels[0])
            break
        out.append(labels[i])
    return "".join(out)


_LAST_ROW_HINT = ("draw each character from the row of the LAST drawn id, P[i] with i the id you just drew (the "
                  "first from row 0, the marker)")
_LENGTH_HINT = "a name has at most max_length characters: stop the loop there."
_MARKER_HINT = ("a name holds the marker '.': when you draw id 0 the name is over; stop there and do not append it "
                "(nor the start marker).")

# Exercise 2's wrong samplers: every draw from row 0, the end marker skipped, kept or appended, argmax instead of a
# draw, torch's global generator instead of the one given, one character too many or no limit.
_SAMPLE_WRONG = from_switches(sample_name_reference, [
    (dict(row="first"), f"your names are those of a sampler that always draws from row 0: {_LAST_ROW_HINT}."),
    (dict(marker="skip"), "every name has exactly max_length characters: stop as soon as you draw the end marker "
                          "(id 0); you skip it and go on."),
    (dict(marker="keep"), _MARKER_HINT),
    (dict(marker="append"), _MARKER_HINT),
    (dict(greedy=True), "every name is the same: you take the most probable character (argmax); draw it instead "
                        "with torch.multinomial(P[i], 1, generator=generator)."),
    (dict(use_generator=False), "your names do not come from the generator you are given: pass it to every draw "
                                "(generator=generator), so that the same seed gives the same names."),
    (dict(limit="one more"), _LENGTH_HINT),
    (dict(limit="none"), _LENGTH_HINT),
])

_TINY_LABELS = [".", "a", "b"]
_TINY_P = torch.tensor([[0.0, 0.7, 0.3], [0.5, 0.2, 0.3], [0.5, 0.5, 0.0]], dtype=torch.float64)


def _names(sampler: Callable, P: torch.Tensor, labels: Sequence[str], seed: int, max_length: int, n: int,
           global_seed: int = 1000) -> list[object]:
    """``n`` names from ``sampler`` with one generator seeded ``seed``; torch's global generator is seeded
    ``seed + global_seed`` meanwhile (then given back), so that a sampler that ignores the generator draws
    the same names on every call (and never those of the generator)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + global_seed)
        return [sampler(P, list(labels), g, max_length) for _ in range(n)]


# The same wrong samplers, each drawing a whole run of names (_names's arguments), as the student's is asked to.
_SAMPLE_RUNS_WRONG = tuple(Wrong(w.name, partial(_names, w.version), w.diagnosis) for w in _SAMPLE_WRONG)


def _student(fn: Callable) -> Callable[..., str]:
    """The student's sampler run by :func:`call`, its result required to be a str."""
    def sample(*args: object) -> str:
        value = call(fn, *args, timeout=3.0)
        if not isinstance(value, str):
            report(False, current_name(), "", f"return the name as a str (''.join(...)), got {type(value).__name__}.")
            raise Stop
        return value
    return sample


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


def _by_distribution(sample: Callable, name: str) -> bool:
    """A sampler whose names are not the reference's, draw for draw: it passes if it is a function of the
    generator and its names (1000 from the tiny table) have the model's distribution."""
    if _names(sample, _TINY_P, _TINY_LABELS, 7, 6, 20, 1) != _names(sample, _TINY_P, _TINY_LABELS, 7, 6, 20, 2):
        return report(False, name, "", "the same generator seed gave different names: draw every random number "
                                       "from the generator you are given, not from torch's global one, random "
                                       "or numpy.")
    names = _names(sample, _TINY_P, _TINY_LABELS, 123, 6, 1000)
    expect = {"a": 0.35, "b": 0.15, "aa": 0.07, "ab": 0.105, "ba": 0.075, "": 0.0}
    freq = {s: names.count(s) / len(names) for s in expect}
    if all(abs(freq[s] - p) < 0.05 for s, p in expect.items()):
        return report(True, name, "your names have the right distribution (you use the generator differently "
                                  "from the reference, so the exact names differ from section 2's).", "")
    step = _impossible_step(names, _TINY_P, _TINY_LABELS)
    return report(False, name, "", f"on P = {_TINY_P.tolist()} over {_TINY_LABELS} your names do not have the "
                                   f"model's distribution: P('a') = 0.35 but {freq['a']:.2f} of yours are 'a'"
                                   + (f", and one has {step}, which has probability 0" if step else "")
                                   + ". Start from row 0 (the marker), then draw from the row of the LAST drawn "
                                   "id, one torch.multinomial draw per character.")


@exercise("ch01.sample_bigram_name", wrong=_SAMPLE_WRONG)
def check_sample_name(fn: Callable) -> bool:
    """Exercise 2: ``fn(P, labels, generator, max_length)`` samples one name
    from the bigram table ``P`` with the seeded ``generator``. Compared, draw
    for draw, with :func:`sample_name_reference` (the sampler of section 2)
    on the names' table and a tiny one; names that differ are diagnosed
    (the wrong version of ``_SAMPLE_WRONG`` that draws them, with the same
    seeds); a sampler that uses the generator differently passes if its
    names have the right distribution (1000 names from the tiny table)."""
    name = "Exercise 2 (sampling a name)"
    counts, labels = _names_counts()
    P = mle_table_reference(counts)
    runs = [(P, labels, 0, 30, 12), (P, labels, 5, 4, 12), (_TINY_P, _TINY_LABELS, 1, 6, 30)]
    sample, shown = _student(fn), []
    for run in runs:
        got, want = _names(sample, *run), _names(sample_name_reference, *run)
        if got != want:
            hint = diagnose(got, run, _SAMPLE_RUNS_WRONG, operator.eq)
            return report(False, name, "", hint) if hint else _by_distribution(sample, name)
        shown += want
    return report(True, name, f"the same names as the reference, draw for draw: {shown[:6]}.", "")
