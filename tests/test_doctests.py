"""Every example in a docstring of the package runs and prints what it shows
(the doctests are part of the test command)."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lm_course"
MODULES = sorted(
    ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in ROOT.rglob("*.py")
    if "vendor" not in p.parts and ">>> " in p.read_text(encoding="utf-8")
)


def test_there_are_doctests():
    assert len(MODULES) >= 5


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if result.attempted == 0:
        pytest.skip(f"{name}'s examples are all marked +SKIP (they need the corpus)")
    assert result.failed == 0
