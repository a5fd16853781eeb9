"""Every hidden solution of the notebooks (the ``<details>`` cells) passes its
checker, run as written: the notebook's import lines, then the chapter's
solutions in order (a later one may call an earlier one, as the add-k table
calls Exercise 1's ``mle_table``). The notebooks are only read."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import re
from pathlib import Path

import nbformat
import pytest

from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import in_notebook
from lm_course.exercises import EXERCISES

pytestmark = pytest.mark.usefixtures("one_thread")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _notebook(chapter: int) -> nbformat.NotebookNode:
    path = next(NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb"))
    return nbformat.read(path, as_version=4)


def _imports(nb) -> str:
    """Every top-level import statement of the notebook's code cells, in order, once."""
    seen: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # a cell with IPython magics
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and ast.unparse(node) not in seen:
                seen.append(ast.unparse(node))
    return "\n".join(seen)


def _definitions(code: str) -> str:
    """The functions (and imports) a solution defines, without its demonstration lines, which use the
    notebook's own variables."""
    tree = ast.parse(code)
    keep = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def _solutions(nb) -> list[tuple[str, str]]:
    """``(checker, code)`` of every Solution cell, in the notebook's order: the checker is the one the
    nearest code cell above it calls (exercises move through the chapter; their order is the notebook's)."""
    found, checker = [], None
    for c in nb.cells:
        if c.cell_type == "code":
            calls = re.findall(r"^(check_\w+)\(", c.source, re.M)
            checker = calls[-1] if calls else checker
        elif "<summary>Solution" in c.source:
            found.append((checker, re.search(r"```python\n(.*?)```", c.source, re.S).group(1)))
    return found


def _answers_preamble(chapter: int) -> str:
    """What the numeric answers' solutions use from the notebook's own cells."""
    if chapter == 0:
        return ("from lm_course.corpus import corpus_tokenizer\nfrom lm_course.data import load_shakespeare\n"
                "from lm_course.unigram import UnigramLM\nfrom lm_course.viz.corpus import word_counts\nimport math\n"
                "tok = corpus_tokenizer()\nsplits = {'train': load_shakespeare('train')}\n"
                "unigram = UnigramLM(tok.vocab_size).fit(tok.encode(splits['train']))\n")
    return ""


@pytest.mark.parametrize("chapter", range(8))
def test_every_hidden_solution_passes_its_checker(chapter):
    nb = _notebook(chapter)
    rows = {e.checker: e for e in EXERCISES if e.chapter == chapter and e.notebook and in_notebook(e, nb)}
    solutions = _solutions(nb)
    assert sorted(c for c, _ in solutions) == sorted(rows)  # one solution per exercise
    namespace: dict = {}
    exec(_imports(nb) + "\n" + _answers_preamble(chapter), namespace)  # noqa: S102 - the course's own notebook
    module = importlib.import_module(f"lm_course.exercises.ch{chapter:02d}")
    failures = []
    for row, code in ((rows[c], code) for c, code in solutions):
        if row.key == "ch04.copy_model":  # trains a model and plots: tested with its own copier in test_exercises_ch04
            continue
        answer = row.function in ("log_prob_of_word", "words_seen_twice")
        exec(code if answer else _definitions(code), namespace)  # noqa: S102
        answers = (namespace["split_heads"], namespace["merge_heads"]) if row.function == "split_merge_heads" \
            else (namespace["answer"] if answer else namespace[row.function],)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            passed = bool(getattr(module, row.checker)(*answers))
        if not passed or "passes the checks" not in out.getvalue():
            failures.append((row.key, out.getvalue()))
    assert not failures
