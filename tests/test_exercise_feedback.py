"""How every exercise checker talks to a student (issue 31): the catalog of
exercises, the stub message that gives nothing away, graded hints on demand,
the one way the student's code is run (time limit, copies, stubs, unfinished
earlier exercises), a verdict that echoes nothing in a notebook, and the
progress record."""

from __future__ import annotations

import importlib
import json
import re
import signal
import threading
import time
from pathlib import Path

import nbformat
import pytest
import torch

from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import PENDING_CELLS, flags, passes
from lm_course.exercises import EXERCISES, hint, progress
from lm_course.exercises import tracking
from lm_course.exercises._check import MISSING, Outcome, call, exercise
from lm_course.exercises.catalog import CHAPTERS, by_function, entry

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _checker(e):
    return getattr(importlib.import_module(f"lm_course.exercises.{e.chapter_module}"), e.checker)


def _stub_answers(e):
    def stub(*args, **kwargs):
        raise NotImplementedError

    if e.function in ("log_prob_of_word", "words_seen_twice", "copy_model"):
        return (None,)
    return (stub, stub) if e.function == "split_merge_heads" else (stub,)


# ---------------------------------------------------------------- the catalog
def test_the_catalog_rates_every_exercise_and_gives_three_hints():
    assert len({e.key for e in EXERCISES}) == len(EXERCISES)
    assert sum(e.notebook for e in EXERCISES) == 46
    for e in EXERCISES:
        assert 1 <= e.difficulty <= 5 and 1 <= e.importance <= 5 and 1 <= e.minutes <= 60, e.key
        assert len(e.hints) == 3 and all(len(h) > 20 for h in e.hints), e.key
        assert len(set(e.hints)) == 3, e.key  # three different levels
        assert e.checked and e.title and e.chapter in CHAPTERS
        assert e.number == 1 + sum(x.chapter == e.chapter for x in EXERCISES[:EXERCISES.index(e)])
        checker = _checker(e)
        assert checker.exercise == e.key and callable(checker.hint)
        for dep in e.needs:
            assert entry(dep).chapter == e.chapter and entry(dep).number < e.number


def test_the_catalog_matches_the_notebooks_exercise_cells():
    """Every checker a notebook calls is in the catalog, with the function the cell defines."""
    found = set()
    for path in sorted(NOTEBOOKS.glob("0*.ipynb")):
        chapter = int(path.name[:2])
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for checker, args in re.findall(r"^(check_\w+)\(([^)]*)\)", cell.source, re.M):
                found.add((chapter, checker))
                e = next((x for x in EXERCISES if x.chapter == chapter and x.checker == checker), None)
                assert e is not None, (path.name, checker)
                first = args.split(",")[0].strip()
                assert first == e.function or e.function == "split_merge_heads" or (
                    first in ("answer", "copy_model") and e.function in ("log_prob_of_word", "words_seen_twice",
                                                                         "copy_model")), (path.name, checker, first)
    expected = {(e.chapter, e.checker) for e in EXERCISES if e.notebook}
    pending = {(e.chapter, e.checker) for e in EXERCISES if e.key in PENDING_CELLS}
    assert found <= expected and expected - found <= pending  # the pending cells are being written (exercise_util)


def test_hints_are_graded_and_on_demand(capsys):
    from lm_course.exercises.ch03 import check_lstm_step

    check_lstm_step.hint(2)
    out = capsys.readouterr().out
    assert out.startswith("Hint 2 of 3 (the approach) for Exercise 4 (an LSTM step by hand)")
    assert entry("ch03.lstm_step").hints[1] in out and ".hint(3)" in out
    assert hint("ch03.lstm_step", 3).startswith("Hint 3 of 3 (almost the code)")
    assert check_lstm_step.hint() is None  # level 1 by default; prints, returns nothing
    assert "the idea" in capsys.readouterr().out
    with pytest.raises(ValueError, match="level"):
        hint("ch03.lstm_step", 4)
    with pytest.raises(KeyError, match="ch03.lstm_step"):
        entry("ch03.nope")


# ---------------------------------------------------------------- the stub gives nothing away
@pytest.mark.parametrize("e", EXERCISES, ids=lambda e: e.key)
def test_a_stub_gets_not_done_and_how_to_ask_for_a_hint_only(capsys, e):
    checker = _checker(e)
    outcome = checker(*_stub_answers(e))
    out = capsys.readouterr().out
    assert isinstance(outcome, Outcome) and not outcome
    assert out.count("\n") == 1 and out.startswith(f"❌ Exercise {e.number} ({e.title}): ")
    assert "not implemented yet" in out or "no answer yet" in out
    assert f"`{e.checker}.hint(1)`" in out
    for level in (1, 2, 3):  # no hint is printed unasked
        assert e.hints[level - 1][:40] not in out


def test_outcome_displays_nothing_in_a_notebook():
    from IPython.core.formatters import DisplayFormatter

    for passed in (True, False):
        assert DisplayFormatter().format(Outcome(passed)) == ({}, {})
        assert bool(Outcome(passed)) is passed


@pytest.mark.kernel
def test_a_checker_cell_echoes_nothing_in_a_kernel(tmp_path):
    """The checker call ends its cell: the cell's outputs are the printed verdict only."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from lm_course.exercises.ch07 import check_prefix_lm_mask\n"
        "def prefix_lm_mask(T, P):\n    raise NotImplementedError\n\n"
        "check_prefix_lm_mask(prefix_lm_mask)")])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"]
    assert "not implemented yet" in outputs[0].text


# ---------------------------------------------------------------- one way to call the student's code
def _prober(**options):
    """A checker that only calls ``fn(*args, **options)``: passes if that returns."""
    @exercise("ch02.merge")
    def probe(fn, *args):
        call(fn, *args, **options)
        return True

    return probe


_probe = _prober()


def test_call_reports_each_way_a_function_can_fail(capsys):
    assert not _probe(3.0)
    assert "pass your function itself" in capsys.readouterr().out
    assert not _probe(None)
    assert "no answer yet" in capsys.readouterr().out
    assert not _probe(lambda x: None, 1)
    assert "returned None" in capsys.readouterr().out

    def divides(x):
        return x / 0

    assert not _probe(divides, 1)
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and "`return x / 0`" in out  # the student's failing line
    assert _probe(lambda x: x + 1, 1)
    capsys.readouterr()


def test_call_gives_copies_and_catches_changes_in_place(capsys):
    ids, t = [1, 2, 3], torch.arange(6.0).reshape(2, 3).t()  # a non-contiguous tensor

    def appends(xs):
        xs.append(4)
        return xs

    def fills(x):
        assert x.is_contiguous()  # the student gets a contiguous copy
        return x.masked_fill_(x > 2, 0.0)

    assert "changed its argument `xs` in place" in flags(capsys, _probe, appends, ids)
    assert "changed its argument `x` in place" in flags(capsys, _probe, fills, t)
    assert ids == [1, 2, 3] and torch.equal(t, torch.arange(6.0).reshape(2, 3).t())  # the checker's own data
    assert _prober(may_change=True)(fills, t)
    capsys.readouterr()


def test_call_stops_an_endless_loop_and_rearms_an_outer_timer(capsys):
    def forever(x):
        while True:
            x += 1

    previous = signal.signal(signal.SIGALRM, lambda *a: None)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        start = time.monotonic()
        out = flags(capsys, _prober(timeout=0.3), forever, 0)
        assert time.monotonic() - start < 5
        assert "did not return within 0.3 s" in out and "loop that never ends" in out
        assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100  # pytest-timeout's timer is given back
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_call_has_a_time_limit_outside_the_main_thread(capsys):
    out = {}

    def run():
        out["ok"] = bool(_prober(timeout=0.2)(lambda x: time.sleep(3), 0))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert out == {"ok": False}
    assert "did not return within 0.2 s" in capsys.readouterr().out


def test_call_quiet_returns_missing_without_a_word(capsys):
    @exercise("ch02.merge")
    def quiet(fn):
        return call(fn, 1, quiet=True) is MISSING

    assert quiet(lambda x: 1 / 0) and quiet(None) and quiet(lambda x: None)
    assert capsys.readouterr().out == ""


def test_an_unforeseen_checker_error_is_reported_not_raised(capsys):
    @exercise("ch02.merge")
    def broken(fn):
        raise KeyError("surprise")

    assert not broken(len)
    assert "the checker could not judge" in capsys.readouterr().out


def test_by_function_finds_an_exercise_by_its_function_name():
    assert by_function("mle_table").key == "ch01.mle_table"
    assert by_function("merge_heads").key == "ch04.split_merge_heads"
    assert by_function("no_such_function") is None


# ---------------------------------------------------------------- progress
def test_a_pass_is_recorded_with_the_students_source(capsys, progress_in_tmp):
    from lm_course.exercises.ch07 import check_prefix_lm_mask

    def prefix_lm_mask(T, P):
        s = torch.arange(T)
        return (s[None, :] < P) | (s[None, :] <= s[:, None])

    out = passes(capsys, check_prefix_lm_mask, prefix_lm_mask)
    assert "4 (T, P) pairs" in out  # what was checked
    record = json.loads((progress_in_tmp / "progress.json").read_text())
    assert set(record) == {"ch07.prefix_lm_mask"}
    saved = Path(record["ch07.prefix_lm_mask"]["source"]).read_text()
    assert "def prefix_lm_mask(T, P):" in saved and "s[None, :] < P" in saved
    rows = progress()
    text = capsys.readouterr().out
    assert "Exercises done: 1 of 46" in text and "Chapter 7 (Pre-training and fine-tuning): 1 of 5" in text
    assert "  ✅ 1. a prefix-LM mask" in text and "  · 5. a paired difference" in text
    done = [r for r in rows if r["done"]]
    assert [r["key"] for r in done] == ["ch07.prefix_lm_mask"] and done[0]["difficulty"] == 1
    assert len(rows) == 46 and not list(progress_in_tmp.glob(".*.tmp"))  # atomic writes leave nothing behind


def test_a_lambda_passes_but_saves_no_source(capsys, progress_in_tmp):
    from lm_course.exercises.ch07 import check_prefix_lm_mask

    passes(capsys, check_prefix_lm_mask, lambda T, P: (torch.arange(T)[None, :] < P)
           | (torch.arange(T)[None, :] <= torch.arange(T)[:, None]))
    record = json.loads((progress_in_tmp / "progress.json").read_text())
    assert record["ch07.prefix_lm_mask"]["source"] is None
    assert not (progress_in_tmp / "solutions").exists()


def test_a_failure_records_nothing(capsys, progress_in_tmp):
    from lm_course.exercises.ch07 import check_prefix_lm_mask

    flags(capsys, check_prefix_lm_mask, lambda T, P: torch.ones(T, T, dtype=torch.bool))
    assert not (progress_in_tmp / "progress.json").exists()


def test_a_damaged_progress_file_is_set_aside_and_a_fresh_one_started(capsys, progress_in_tmp):
    from lm_course.exercises.ch07 import check_prefix_lm_mask

    progress_in_tmp.mkdir(parents=True)
    (progress_in_tmp / "progress.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="damaged"):
        passes(capsys, check_prefix_lm_mask, lambda T, P: (torch.arange(T)[None, :] < P)
               | (torch.arange(T)[None, :] <= torch.arange(T)[:, None]))
    assert (progress_in_tmp / "progress.json.corrupt").read_text() == "{not json"
    assert set(json.loads((progress_in_tmp / "progress.json").read_text())) == {"ch07.prefix_lm_mask"}


def test_progress_with_no_record_lists_every_exercise_as_not_done(capsys):
    rows = progress()
    out = capsys.readouterr().out
    assert "Exercises done: 0 of 46" in out and out.count("  · ") == 46 and len(rows) == 46
    assert tracking.load() == {}


def test_progress_of_one_chapter_is_one_line(capsys):
    from lm_course.exercises.ch07 import check_prefix_lm_mask

    passes(capsys, check_prefix_lm_mask, lambda T, P: (torch.arange(T)[None, :] < P)
           | (torch.arange(T)[None, :] <= torch.arange(T)[:, None]))
    rows = progress(chapter=7)
    out = capsys.readouterr().out
    assert out == ("Your exercises in this chapter: 1 of 5 done; lm_course.exercises.progress() lists the "
                   "whole course.\n")
    assert [r["key"] for r in rows if r["done"]] == ["ch07.prefix_lm_mask"] and len(rows) == 5
    progress(chapter=0)
    assert "0 of 4 done" in capsys.readouterr().out
    with pytest.raises(ValueError, match="chapter"):
        progress(chapter=9)


# ---------------------------------------------------------------- right answers written differently
def _entropy_loop(p):
    import math

    return sum(-x * math.log2(x) for x in p.tolist() if x > 0)


def _mle_loops(counts):
    V = counts.shape[0]
    rows = []
    for i in range(V):
        total = int(counts[i].sum())
        rows.append([int(c) / total if total else 1 / V for c in counts[i].tolist()])
    return torch.tensor(rows, dtype=torch.float64)


def _pair_counter(chunks):
    from collections import Counter

    return Counter(p for c in chunks for p in zip(c, c[1:]))


def _merge_tuple(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if ids[i:i + 2] == list(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return tuple(out)


def _window_loops(T, w):
    return torch.tensor([[0 <= t - s < w for s in range(T)] for t in range(T)])


def _top_k_sorted(logits, k):
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1:k]
    return torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)


def _paired_tensors(a, b):
    d = a.double() - b.double()
    return d.mean(), d.std() / d.numel() ** 0.5


def _prefix_loops(T, P):
    return torch.tensor([[s < P or s <= t for s in range(T)] for t in range(T)])


def _last_token_loop(h, lengths):
    return torch.stack([h[b, int(n) - 1] for b, n in enumerate(lengths)])


@pytest.mark.parametrize("key, answer", [
    ("ch00.entropy_bits", _entropy_loop), ("ch01.mle_table", _mle_loops), ("ch02.pair_counts", _pair_counter),
    ("ch02.merge", _merge_tuple), ("ch04.window_mask", _window_loops), ("ch06.top_k_filter", _top_k_sorted),
    ("ch07.paired_se", _paired_tensors), ("ch07.prefix_lm_mask", _prefix_loops),
    ("ch07.last_token_pool", _last_token_loop),
], ids=lambda x: x if isinstance(x, str) else "")
def test_right_answers_written_differently_pass(capsys, key, answer):
    passes(capsys, _checker(entry(key)), answer)


def test_each_modules_all_lists_the_notebooks_checkers_in_order():
    """lm_course.grading reads a chapter's exercises from its module's __all__."""
    for chapter in CHAPTERS:
        module = importlib.import_module(f"lm_course.exercises.ch{chapter:02d}")
        listed = [n for n in module.__all__ if n.startswith("check_")]
        rows = sorted((e for e in EXERCISES if e.chapter == chapter and e.notebook), key=lambda e: e.number)
        assert listed == list(dict.fromkeys(e.checker for e in rows)), chapter
