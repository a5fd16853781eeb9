"""Packaging: environment.yml, pyproject and the lock file agree; the badge
cells are current."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# conda-forge names that differ from PyPI names
_CONDA_TO_PYPI = {"pytorch-cpu": "torch"}
_NOT_PACKAGES = {"python", "pip", "-e ."}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return {_name(r) for r in reqs}


def _environment_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([^#]+?)\s*$", line)
        if m and m.group(1) not in _NOT_PACKAGES and not m.group(1).endswith(":"):
            name = _name(m.group(1))
            names.add(_CONDA_TO_PYPI.get(name, name))
    return names - {"python", "pip"}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert _environment_packages() == _pyproject_packages()


def test_environment_yml_is_conda_forge_python_311_cpu_torch():
    text = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in text and "python=3.11" in text and "pytorch-cpu" in text
    assert "- -e ." in text


def test_lock_pins_every_dependency_and_torch_2_13():
    lock = (ROOT / "requirements-lock.txt").read_text()
    pinned = {_name(line): line for line in lock.splitlines() if "==" in line and not line.startswith("#")}
    assert pinned["torch"] == "torch==2.13.0"
    missing = _pyproject_packages() - set(pinned)
    assert not missing, f"not pinned in requirements-lock.txt: {missing}"


def test_badge_and_colab_cells_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "badges.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", sorted(p.relative_to(ROOT).as_posix() for folder in ("bench", "tools")
                                          for p in (ROOT / folder).glob("*.py")))
def test_scripts_compile_on_this_python(script):
    """bench/ and tools/ are not imported by the tests; at least they must parse."""
    source = (ROOT / script).read_text(encoding="utf-8")
    compile(source, script, "exec")
