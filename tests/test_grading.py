"""python -m lm_course grade: a synthetic class of chapter-0 submissions, graded with the real checkers.

Each submission is a small notebook as a student would hand it in (title,
imports, the exercise cells); each runs in a real kernel, so this test takes
about a minute.
"""

import csv
from pathlib import Path

import nbformat
import pytest

from lm_course.grading import chapter_exercises, find_submissions, grade

pytestmark = pytest.mark.kernel  # the graded class runs in real kernels (a module fixture)

HEAD = "from lm_course.exercises.ch00 import check_entropy_bits, check_log_prob_of_word\nimport math, torch"
RIGHT = ("def entropy_bits(p):\n    p = torch.as_tensor(p, dtype=torch.float64)\n"
         "    nz = p[p > 0]\n    return float(-(nz * torch.log2(nz)).sum())")
WRONG = ("def entropy_bits(p):\n    p = torch.as_tensor(p, dtype=torch.float64)\n"
         "    nz = p[p > 0]\n    return float(-(nz * torch.log(nz)).sum())  # nats, not bits")
STUB = "def entropy_bits(p):\n    raise NotImplementedError"
LOOP = "def entropy_bits(p):\n    while True:\n        pass"
RENAMED = RIGHT.replace("def entropy_bits", "def my_entropy")
CALL = "check_entropy_bits(entropy_bits)"
ANSWER = ("from lm_course.corpus import corpus_tokenizer\nfrom lm_course.data import load_shakespeare\n"
          "from lm_course.unigram import UnigramLM\ntok = corpus_tokenizer()\n"
          "m = UnigramLM(tok.vocab_size).fit(tok.encode(load_shakespeare('train')))\n"
          "answer = sum(math.log2(float(m.probs[i])) for i in tok.encode('the'))\n"
          "check_log_prob_of_word(answer)")


def _notebook(path: Path, *codes: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter 0: Welcome")] + [nbformat.v4.new_code_cell(c)
                                                                         for c in codes]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    _notebook(subs / "alice" / "00_welcome.ipynb", HEAD, RIGHT + "\n" + CALL, ANSWER)
    _notebook(subs / "bob" / "welcome (1).ipynb", HEAD, WRONG + "\n" + CALL)
    _notebook(subs / "carol" / "00.ipynb", HEAD, STUB + "\n" + CALL)
    _notebook(subs / "dan" / "00.ipynb", HEAD, "while True:\n    pass", RIGHT + "\n" + CALL)
    _notebook(subs / "ed" / "00.ipynb", HEAD, LOOP + "\n" + CALL)
    _notebook(subs / "erin" / "00.ipynb", HEAD, RENAMED + "\n" + CALL)
    _notebook(subs / "frank" / "00.ipynb", HEAD, "1 / 0", RIGHT + "\n" + CALL)
    (subs / "gina").mkdir()
    (subs / "gina" / "homework.ipynb").write_text("this is not a notebook")
    out = tmp_path_factory.mktemp("out")
    verdicts = grade([subs], out, cell_timeout=15, notebook_timeout=120, progress=False)
    return {(v.student, v.exercise): v for v in verdicts}, out


def test_the_chapter_exercises_come_from_the_package():
    assert chapter_exercises(0)[:2] == ["check_words_seen_twice", "check_log_prob_of_word"]
    assert len(chapter_exercises(3)) == 6


def test_right_wrong_and_stub_get_the_checkers_verdicts(graded):
    by, _ = graded
    assert by[("alice", "check_entropy_bits")].status == "pass"
    assert by[("alice", "check_log_prob_of_word")].status == "pass"
    bob = by[("bob", "check_entropy_bits")]
    assert bob.status == "fail" and "nats" in bob.message  # the checker's own diagnosis
    assert by[("carol", "check_entropy_bits")].status == "not done"


def test_an_endless_loop_is_stopped_and_the_notebook_goes_on(graded):
    by, _ = graded
    assert by[("dan", "check_entropy_bits")].status == "pass"  # the cell after the endless one still ran
    ed = by[("ed", "check_entropy_bits")]  # the loop inside the checked function
    assert ed.status in ("fail", "timeout") and ("return within" in ed.message or "limit" in ed.message)


def test_a_renamed_function_and_a_deleted_cell_are_reported(graded):
    by, _ = graded
    erin = by[("erin", "check_entropy_bits")]
    assert erin.status == "error" and "renamed" in erin.message
    assert by[("bob", "check_log_prob_of_word")].status == "missing"


def test_an_error_in_an_earlier_cell_does_not_stop_grading(graded):
    by, _ = graded
    assert by[("frank", "check_entropy_bits")].status == "pass"


def test_a_file_that_is_not_a_notebook_is_reported(graded):
    by, _ = graded
    gina = by[("gina", "-")]
    assert gina.status == "error" and "not a readable notebook" in gina.message


def test_the_gradebook_matches_the_verdicts(graded):
    by, out = graded
    rows = list(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    assert {(r["student"], r["exercise"]): r["status"] for r in rows} == {k: v.status for k, v in by.items()}
    md = (out / "gradebook.md").read_text(encoding="utf-8")
    assert "## Chapter 0" in md and "| alice |" in md and "nats" in md and "gina" in md


def test_find_submissions_names_students_by_folder_or_file(tmp_path):
    _notebook(tmp_path / "alice" / "x.ipynb", "1")
    _notebook(tmp_path / "bob_ch0.ipynb", "1")
    found = {(s, p.name) for s, p, _ in find_submissions([tmp_path])}
    assert found == {("alice", "x.ipynb"), ("bob_ch0", "bob_ch0.ipynb")}
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_submissions([tmp_path / "nowhere"])
