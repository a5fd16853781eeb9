"""The scoreboard: reference numbers overlaid by this run's."""

import json
import math

import pytest

from lm_course import scoreboard, viz


@pytest.fixture
def board_dirs(tmp_path, monkeypatch):
    ref = tmp_path / "data"
    ref.mkdir()
    (ref / "scoreboard.json").write_text(json.dumps([
        {"name": "unigram", "chapter": 0, "val": 4.5, "test": 4.6, "notes": ""},
        {"name": "5-gram", "chapter": 1, "val": 2.2, "test": 2.3, "notes": ""},
    ]))
    monkeypatch.setenv("LM_COURSE_DATA", str(ref))
    monkeypatch.setenv("LM_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LM_COURSE_REFERENCE", raising=False)
    return ref


def test_record_overlays_reference(board_dirs):
    board = scoreboard.record("5-gram", 2.1, 2.25, chapter=1, notes="mine")
    assert board["5-gram"].val == 2.1 and board["5-gram"].source == "this run"
    assert board["unigram"].source == "reference"
    assert scoreboard.reference_entry("5-gram").val == 2.2  # committed file untouched
    assert board.best().name == "5-gram"
    assert [e.name for e in board.rows()] == ["unigram", "5-gram"]
    assert "5-gram" in str(board)


def test_best_so_far_ignores_later_chapters(board_dirs):
    """Chapter 5 asks for the best of chapters 0-5: a reader who ran chapter 8 sees the same answer."""
    scoreboard.record("later", 1.0, 1.1, chapter=8)
    board = scoreboard.load_scoreboard()
    assert board.best().name == "later"
    assert board.best(up_to_chapter=5).name == "5-gram" and board.best(up_to_chapter=0).name == "unigram"


def test_reference_mode_writes_the_committed_file(board_dirs, monkeypatch):
    monkeypatch.setenv("LM_COURSE_REFERENCE", "1")
    scoreboard.record("MLP", 2.0, 2.1, chapter=2)
    assert scoreboard.reference_entry("MLP").val == 2.0


@pytest.mark.parametrize("val", [0.0, -1.0, math.inf, math.nan])
def test_bad_numbers_are_refused(board_dirs, val):
    with pytest.raises(ValueError, match="positive finite"):
        scoreboard.record("x", val, 1.0, chapter=1)


def test_bad_chapter(board_dirs):
    with pytest.raises(ValueError, match="chapter"):
        scoreboard.record("x", 1.0, 1.0, chapter=9)


def test_plot_has_labels(board_dirs):
    import matplotlib

    matplotlib.use("Agg")
    ax = viz.plot_scoreboard()
    assert ax.get_xlabel() and ax.get_title()
    assert len(ax.get_yticklabels()) == 2
    assert ax.get_legend() is not None
