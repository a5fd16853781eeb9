"""The one measuring rule of every benchmark in ``bench/``: interleaved rounds.

A machine's speed drifts (other processes, turbo clocks, thermal limits), so
two programs timed one after the other measure the drift as much as the
code. Here every case runs once per round, A B C, then B C A, then C A B ...
(the order rotated each round, so no case always runs first or last), and a
case is compared with its reference *within* each round: the per-round ratio
``reference time / case time`` cancels whatever the machine did during that
round. The figure reported is the median of those ratios, with its min and
max as the spread.

* :func:`interleaved` runs the rounds and returns every case's times.
* :func:`summarize` turns per-round values (seconds, or seconds per token)
  into :class:`Summary` rows: median, min, max, and the speed ratio against a
  named reference case.

Used by every section of ``bench/run.py`` (whose ``RESULTS.md`` explains the
figures) and unit-tested in ``tests/test_bench_timing.py``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["interleaved", "summarize", "Summary", "format_ratio", "format_seconds"]


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def interleaved(cases: Mapping[str, Callable[[], object]], rounds: int = 5, warmup: int = 1,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of each call of each case, ``rounds`` per case, interleaved.

    Round ``r`` calls the cases in their given order rotated left by ``r``
    (A B C, B C A, C A B, A B C ...). Before the timed rounds, ``warmup``
    untimed rounds (rotated the same way) let caches, allocators and lazy
    imports settle. Return values of the cases are ignored; an exception in a
    case propagates. ``clock`` is injectable for tests.

    Returns ``{name: [seconds of round 0, round 1, ...]}`` in the cases' order.

    Raises:
        ValueError: no cases, a case that is not callable, ``rounds < 1`` or
            ``warmup < 0``.
    """
    if not cases:
        raise ValueError("interleaved() needs at least one case")
    for name, case in cases.items():
        if not callable(case):
            raise ValueError(f"case {name!r} is not callable (got {type(case).__name__})")
    _check_count(rounds, "rounds", 1)
    _check_count(warmup, "warmup", 0)
    names = list(cases)

    def order(r: int) -> list[str]:
        shift = r % len(names)
        return names[shift:] + names[:shift]

    for r in range(warmup):
        for name in order(r):
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in order(r):
            start = clock()
            cases[name]()
            times[name].append(clock() - start)
    return times


@dataclass(frozen=True)
class Summary:
    """One case's per-round values (seconds, or seconds per token) summarised.

    ``ratio`` is the median over rounds of ``reference value / this value``:
    the case's *speed* relative to the reference measured in the same round
    (2.0 = twice as fast; for a throughput it equals ``throughput /
    reference throughput``). ``None`` when no reference was named.
    """

    name: str
    n: int  # rounds
    median: float
    min: float
    max: float
    ratio: float | None = None  # median of the per-round speed ratios against the reference
    ratio_min: float | None = None
    ratio_max: float | None = None

    @property
    def spread(self) -> float:
        """``(max - min) / median``: how noisy the rounds were (0.05 = 5%)."""
        return (self.max - self.min) / self.median

    def as_dict(self) -> dict:
        return {"name": self.name, "n": self.n, "median": self.median, "min": self.min, "max": self.max,
                "ratio": self.ratio, "ratio_min": self.ratio_min, "ratio_max": self.ratio_max}


def _check_values(name: str, values: Sequence[float]) -> list[float]:
    values = [float(v) for v in values]
    if not values:
        raise ValueError(f"case {name!r} has no measurements")
    bad = [v for v in values if not (v > 0 and math.isfinite(v))]
    if bad:
        raise ValueError(f"case {name!r} has non-positive or non-finite measurements {bad[:3]}")
    return values


def summarize(times: Mapping[str, Sequence[float]], reference: str | None = None) -> dict[str, Summary]:
    """Median, min and max of each case's per-round values and, with a
    ``reference`` case, the median (and range) of the per-round speed ratios
    ``reference[r] / case[r]``; the reference's own ratio is 1.

    Raises:
        ValueError: an unknown ``reference``, a case with no or non-positive
            values, or (with a reference) a case measured in a different
            number of rounds than the reference (rounds must pair up).
    """
    checked = {name: _check_values(name, values) for name, values in times.items()}
    if reference is not None and reference not in checked:
        raise ValueError(f"reference {reference!r} is not one of the cases {sorted(checked)}")
    out: dict[str, Summary] = {}
    for name, values in checked.items():
        ratio = ratio_min = ratio_max = None
        if reference is not None:
            ref = checked[reference]
            if len(ref) != len(values):
                raise ValueError(f"case {name!r} has {len(values)} rounds but the reference {reference!r} "
                                 f"has {len(ref)}: per-round ratios need the same rounds")
            ratios = [r / v for r, v in zip(ref, values)]
            ratio, ratio_min, ratio_max = statistics.median(ratios), min(ratios), max(ratios)
        out[name] = Summary(name, len(values), statistics.median(values), min(values), max(values),
                            ratio, ratio_min, ratio_max)
    return out


def format_ratio(summary: Summary) -> str:
    """``"0.93x (0.90-0.97)"``: the median speed ratio and its per-round range."""
    if summary.ratio is None:
        return "n/a"
    if summary.n == 1:
        return f"{summary.ratio:.2f}x (1 round)"
    return f"{summary.ratio:.2f}x ({summary.ratio_min:.2f}-{summary.ratio_max:.2f})"


def format_seconds(summary: Summary, scale: float = 1.0, unit: str = "s", digits: int = 2) -> str:
    """``"12.3 ms (12.1-13.0)"``: the median and the range, multiplied by ``scale``."""
    med, lo, hi = summary.median * scale, summary.min * scale, summary.max * scale
    if summary.n == 1:
        return f"{med:.{digits}f} {unit}"
    return f"{med:.{digits}f} {unit} ({lo:.{digits}f}-{hi:.{digits}f})"
