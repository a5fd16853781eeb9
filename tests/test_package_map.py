"""The package docstring is the complete map of lm_course: one line per public module."""

import re
from pathlib import Path

import lm_course

ROOT = Path(lm_course.__file__).resolve().parent


def test_the_package_docstring_lists_every_public_module_once():
    modules = sorted(p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                     if (p.suffix == ".py" and not p.stem.startswith("_"))
                     or (p.is_dir() and (p / "__init__.py").exists() and not p.name.startswith("_")))
    lines = [line.split() for line in lm_course.__doc__.splitlines() if line.startswith("    lm_course.")]
    named = [words[0].removeprefix("lm_course.") for words in lines]
    assert sorted(named) == modules  # every module, once, and nothing that is not one
    assert all(len(re.findall(r"lm_course\.\w+", " ".join(w))) == 1 for w in lines)  # one module per line
