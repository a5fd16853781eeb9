"""The one seed knob (lm_course.seeds): LM_COURSE_SEED shifts every seed a notebook sets."""

import ast
import json
from pathlib import Path

import pytest
import torch

from lm_course.seeds import SEED_ENV, course_seed, seed_everything, seed_offset

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_unset_means_the_committed_seeds(monkeypatch):
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert seed_offset() == 0
    assert [course_seed(k) for k in range(3)] == [0, 1, 2]
    assert course_seed() == 0


def test_the_variable_shifts_every_stream_and_keeps_them_apart(monkeypatch):
    monkeypatch.setenv(SEED_ENV, "7")
    assert [course_seed(k) for k in range(3)] == [7, 8, 9]


@pytest.mark.parametrize("raw", ["x", "1.5", "-1"])
def test_a_bad_value_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv(SEED_ENV, raw)
    with pytest.raises(ValueError, match=SEED_ENV):
        course_seed(0)


@pytest.mark.parametrize("bad", [-1, 1.0, True, "0"])
def test_course_seed_refuses_non_integers(bad):
    with pytest.raises((TypeError, ValueError), match="seed"):
        course_seed(bad)


def test_seed_everything_is_unshifted_and_repeatable(monkeypatch):
    monkeypatch.setenv(SEED_ENV, "5")
    g = seed_everything(3)
    a = torch.rand(3, generator=g), torch.rand(2)
    g = seed_everything(3)
    b = torch.rand(3, generator=g), torch.rand(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(a[0], torch.rand(3, generator=torch.Generator().manual_seed(3)))


#: Calls whose first argument (or ``seed=`` keyword) is a seed.
SEED_CALLS = {"manual_seed", "seed_everything", "seed"}


def _seed_values(tree: ast.AST):
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        if name in SEED_CALLS and node.args:
            yield node.args[0]
        for kw in node.keywords:
            if kw.arg == "seed":
                yield kw.value


def _through_the_knob(value: ast.AST) -> bool:
    """``course_seed(...)``, or a name/attribute that carries a seed made elsewhere
    (a function's parameter, ``config.seed``, a named task constant)."""
    if isinstance(value, ast.Call):
        return getattr(value.func, "id", getattr(value.func, "attr", "")) == "course_seed"
    return isinstance(value, (ast.Name, ast.Attribute))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_seed_a_notebook_sets_goes_through_course_seed(path):
    nb = json.loads(path.read_text())
    bad = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        bad += [f"cell {i}: {ast.unparse(v)}" for v in _seed_values(tree) if not _through_the_knob(v)]
    assert not bad, f"{path.name}: seeds not set through lm_course.seeds.course_seed: {bad}"
