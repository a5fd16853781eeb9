"""The finale (lm_course.your_gpt, 08_your_gpt.ipynb): a GPT from the student's saved pieces.

The student's pieces here are the notebooks' hidden solutions, written to a
module file and passed through the real checkers, which save them in a
temporary course cache exactly as a student's passing exercise would.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

from lm_course.corpus import corpus_tokenizer
from lm_course.notebook_runner import run_every_cell
from lm_course.reference import load_reference
from lm_course.your_gpt import PIECES, YourGPT, greedy, load_pieces

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_exercise_solutions import _definitions, _imports, _notebook, _solutions  # noqa: E402

# The checkers of seven exercises, then a GPT run twice; on a loaded 2-core machine that can take minutes.
pytestmark = pytest.mark.timeout(1800)

#: The checker that saves each piece, and the functions it is called with.
CHECKERS = {
    "ch05.layer_norm": ("ch05", "check_layer_norm", ("layer_norm",)),
    "ch05.gelu": ("ch05", "check_gelu", ("gelu",)),
    "ch04.split_merge_heads": ("ch04", "check_split_merge_heads", ("split_heads", "merge_heads")),
    "ch04.causal_mask_with_cache": ("ch04", "check_causal_mask", ("causal_mask_with_cache",)),
    "ch04.masked_attention": ("ch04", "check_masked_attention", ("masked_attention",)),
    "ch06.attention_step": ("ch06", "check_cached_attention", ("attention_step",)),
    "ch06.generate_loop": ("ch06", "check_generate", ("generate_loop",)),
}
#: the whole-model exercises the finale also runs (lm_course.your_gpt.WHOLE)
WHOLE_CHECKERS = {
    "ch05.gpt_forward": ("ch05", "check_gpt_forward", ("gpt_forward",)),
    "ch06.generate_cached": ("ch06", "check_generate_cached", ("generate_cached",)),
}


@pytest.fixture(scope="module")
def saved_cache(tmp_path_factory):
    """A course cache in which every piece was saved by its checker, from the hidden solutions."""
    cache = tmp_path_factory.mktemp("cache")
    source = []
    for chapter in (4, 5, 6):
        nb = _notebook(chapter)
        source.append(_imports(nb))
        source += [_definitions(found if isinstance(found, str) else found[-1]) for found in _solutions(nb)]
    module_path = tmp_path_factory.mktemp("student") / "student_solutions.py"
    module_path.write_text("\n\n".join(source) + "\n")
    spec = importlib.util.spec_from_file_location("student_solutions", module_path)
    student = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(student)
    old = os.environ.get("LM_COURSE_CACHE")
    os.environ["LM_COURSE_CACHE"] = str(cache)
    try:
        for key, (chapter, checker, names) in {**CHECKERS, **WHOLE_CHECKERS}.items():
            check = getattr(importlib.import_module(f"lm_course.exercises.{chapter}"), checker)
            assert check(*(getattr(student, n) for n in names)), key
    finally:
        if old is None:
            os.environ.pop("LM_COURSE_CACHE")
        else:
            os.environ["LM_COURSE_CACHE"] = old
    assert set(CHECKERS) == set(PIECES)
    return cache


def test_every_piece_is_the_students_and_the_model_is_the_packages(saved_cache):
    pieces = load_pieces(saved_cache / "exercises" / "solutions")
    assert pieces.all_yours and not pieces.problems, pieces.table()
    reference, tok = load_reference("gpt")[0], corpus_tokenizer()
    reference64 = load_reference("gpt")[0].double().eval()
    yours = YourGPT(reference, pieces, dtype=torch.float64)
    idx = torch.randint(0, reference.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (yours(idx).logits - reference64(idx).logits).abs().max() < 1e-9
        from lm_course.corpus import corpus_ids
        from lm_course.sampling import generate

        prompt = torch.as_tensor(corpus_ids("val")[:120]).unsqueeze(0)  # (1, 120)
        plain = greedy(yours, prompt, 12, use_cache=False)  # runs past the 128-token window
        assert torch.equal(plain, greedy(yours, prompt, 12, use_cache=True))
        assert torch.equal(plain, generate(reference64, prompt, 12))


def test_the_whole_model_exercises_load_when_saved_and_run(saved_cache, tmp_path):
    from lm_course.your_gpt import WHOLE, load_whole

    assert set(WHOLE_CHECKERS) == set(WHOLE)
    assert set(load_whole(saved_cache / "exercises" / "solutions")) == set(WHOLE.values())
    (tmp_path / "ch05.gpt_forward.py").write_text("def gpt_forward(model, idx):\n    return (\n")
    assert load_whole(tmp_path) == {}


def test_a_broken_saved_piece_falls_back_to_the_package_and_says_why(tmp_path):
    (tmp_path / "ch05.gelu.py").write_text("def gelu(x):\n    return x +\n")
    (tmp_path / "ch05.layer_norm.py").write_text("def not_it(x):\n    return x\n")
    pieces = load_pieces(tmp_path)
    assert not pieces.yours and "does not run" in pieces.problems["ch05.gelu"]
    assert "defines no layer_norm" in pieces.problems["ch05.layer_norm"]
    assert "the package's" in pieces.table()


def test_positions_past_the_window_are_refused():
    reference, _ = load_reference("gpt")
    yours = YourGPT(reference, load_pieces(Path("/nonexistent")))
    with pytest.raises(ValueError, match="context"):
        yours(torch.zeros(1, reference.config.block_size + 1, dtype=torch.long))


@pytest.mark.kernel
def test_the_finale_notebook_runs_on_the_students_pieces(saved_cache):
    env = {**os.environ, "LM_COURSE_CACHE": str(saved_cache), "OMP_NUM_THREADS": "1"}
    run = run_every_cell(ROOT / "notebooks" / "08_your_gpt.ipynb", env=env, cell_timeout=600)
    assert not run.failures, run.failures
    printed = "".join(o.get("text", "") for c in run.notebook.cells for o in c.get("outputs", []))
    assert f"{len(PIECES)} of {len(PIECES)} pieces are yours" in printed
    assert "the same 200 characters" in printed and "the same 200 tokens" in printed
    assert "on the scoreboard as 'your GPT'" in printed
    assert "your gpt_forward gives the package's logits" in printed
    assert "your generate_cached writes the package's" in printed


def test_your_gpt_goes_on_this_copys_scoreboard_never_the_committed_one(tmp_path, monkeypatch):
    from lm_course import scoreboard
    from lm_course.your_gpt import put_on_scoreboard

    committed = tmp_path / "committed.json"
    committed.write_text("[]\n")
    monkeypatch.setattr(scoreboard, "_reference_path", lambda: committed)
    monkeypatch.setenv("LM_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LM_COURSE_REFERENCE", "1")  # as tools/execute_notebooks.py --reference sets it
    board = put_on_scoreboard(2.01, 1.88, load_pieces(Path("/nonexistent")))
    row = board["your GPT"]
    assert (row.chapter, row.val, row.test, row.source) == (8, 2.01, 1.88, "this run")
    assert f"0 of {len(PIECES)} yours" in row.notes
    assert committed.read_text() == "[]\n"
