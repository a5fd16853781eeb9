"""The measuring rule of bench/ (``bench/timing.py``): interleaved rounds and
per-round ratios, checked with a fake clock (no real timing, so it is fast)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import Summary, format_ratio, format_seconds, interleaved, summarize  # noqa: E402


class FakeClock:
    """A clock that only moves when a case says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_each_case_is_timed_by_the_clock_once_per_round():
    clock = FakeClock()
    cases = {"a": lambda: clock.advance(2.0), "b": lambda: clock.advance(0.5)}
    times = interleaved(cases, rounds=4, warmup=1, clock=clock)
    assert times == {"a": [2.0] * 4, "b": [0.5] * 4}


def test_the_order_is_rotated_each_round_and_warmup_is_untimed():
    calls: list[str] = []
    clock = FakeClock()

    def case(name: str, seconds: float):
        def run() -> None:
            calls.append(name)
            clock.advance(seconds)
        return run

    times = interleaved({"a": case("a", 1), "b": case("b", 2), "c": case("c", 3)}, rounds=3, warmup=2, clock=clock)
    assert calls == list("abc" "bca") + list("abc" "bca" "cab")  # 2 warm-up rounds, then 3 timed
    assert times == {"a": [1, 1, 1], "b": [2, 2, 2], "c": [3, 3, 3]}


def test_a_drifting_machine_cancels_in_the_per_round_ratio():
    clock = FakeClock()
    slowdown = {"factor": 1.0}

    def case(seconds: float):
        return lambda: clock.advance(seconds * slowdown["factor"])

    def drift() -> None:  # the machine gets 10% slower after every round
        slowdown["factor"] *= 1.1

    times = interleaved({"fast": case(1.0), "slow": case(3.0), "drift": drift}, rounds=5, warmup=0, clock=clock)
    rows = summarize({k: times[k] for k in ("fast", "slow")}, reference="slow")
    assert rows["fast"].ratio == pytest.approx(3.0, rel=0.11)  # within one round's drift
    assert rows["slow"].ratio == 1.0
    assert rows["fast"].max > rows["fast"].min  # the raw times did drift


def test_summary_median_min_max_and_ratio_range():
    rows = summarize({"ref": [2.0, 4.0, 3.0], "x": [1.0, 1.0, 6.0]}, reference="ref")
    x = rows["x"]
    assert (x.n, x.median, x.min, x.max) == (3, 1.0, 1.0, 6.0)
    assert (x.ratio, x.ratio_min, x.ratio_max) == (2.0, 0.5, 4.0)  # per round: 2/1, 4/1, 3/6
    assert x.spread == pytest.approx(5.0)
    assert format_ratio(x) == "2.00x (0.50-4.00)"
    assert format_seconds(x, 1000, "ms", 1) == "1000.0 ms (1000.0-6000.0)"
    assert summarize({"x": [1.0]})["x"].ratio is None


def test_summary_as_dict_and_one_round_formatting():
    row = summarize({"r": [2.0], "x": [1.0]}, reference="r")["x"]
    assert isinstance(row, Summary)
    assert row.as_dict()["ratio"] == 2.0
    assert format_ratio(row) == "2.00x (1 round)"


@pytest.mark.parametrize("kwargs, message", [
    ({"cases": {}}, "at least one case"),
    ({"cases": {"a": 3}}, "not callable"),
    ({"cases": {"a": lambda: None}, "rounds": 0}, "rounds must be an int >= 1"),
    ({"cases": {"a": lambda: None}, "warmup": -1}, "warmup must be an int >= 0"),
    ({"cases": {"a": lambda: None}, "rounds": 2.5}, "rounds must be an int"),
])
def test_interleaved_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        interleaved(**kwargs)


@pytest.mark.parametrize("times, reference, message", [
    ({"a": [1.0]}, "b", "reference 'b' is not one of the cases"),
    ({"a": []}, None, "no measurements"),
    ({"a": [1.0, 0.0]}, None, "non-positive"),
    ({"a": [1.0, 2.0], "b": [1.0]}, "a", "per-round ratios need the same rounds"),
])
def test_summarize_rejects_bad_input(times, reference, message):
    with pytest.raises(ValueError, match=message):
        summarize(times, reference)


def test_an_exception_in_a_case_propagates():
    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        interleaved({"ok": lambda: None, "broken": broken}, rounds=1, warmup=0)
