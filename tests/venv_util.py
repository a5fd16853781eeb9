"""Helpers of the install tests (tests/test_wheel.py, tests/test_colab_path.py):
build the course's wheel, make a fresh virtualenv outside the clone, run
notebook cells in it. Each venv costs minutes: those tests are marked slow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"  # the CPU build pip finds on this disk (CI: PyPI's); never a CUDA build


def build_wheel(dest: Path) -> Path:
    """Build ``lm_course-<version>-py3-none-any.whl`` into ``dest`` from a copy of
    the clone's tracked files (as they are in the working tree), so untracked
    files and caches cannot slip in and the clone gets no ``build/`` folder."""
    src = dest / "src"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    # The running interpreter's setuptools builds it (no build isolation: no network needed).
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dest), str(src)], check=True, capture_output=True)
    (wheel,) = dest.glob("lm_course-*.whl")
    return wheel


def make_venv(path: Path, *install: str) -> tuple[Path, float]:
    """A fresh venv at ``path`` with ``pip install *install``; returns its python
    and the install's seconds (pip's cache is used; the network only for what it lacks)."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    start = time.perf_counter()
    if install:
        pip(python, *install)
    return python, time.perf_counter() - start


def pip(python: Path, *args: str) -> str:
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"pip install {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def versions(python: Path, *names: str) -> dict[str, str | None]:
    code = ("import json, sys, importlib.metadata as m\n"
            "def v(n):\n    try: return m.version(n)\n    except m.PackageNotFoundError: return None\n"
            "print(json.dumps({n: v(n) for n in sys.argv[1:]}))")
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


_RUNNER = textwrap.dedent('''
    import json, sys, time
    import nbformat
    from nbclient import NotebookClient
    cells = [nbformat.v4.new_code_cell(s) for s in json.load(open(sys.argv[1]))]
    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    text = []
    for cell in nb.cells:
        for out in cell.outputs:
            text.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    print(json.dumps({"seconds": time.perf_counter() - start, "text": text}))
''')


def run_cells(python: Path, sources: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run ``sources`` as code cells in one fresh kernel of ``python``'s venv
    (nbclient and ipykernel from that venv), in ``cwd``; a cell that raises
    fails the call with the kernel's traceback. Returns ``{"seconds", "text"}``."""
    cells = cwd / "cells.json"
    cells.write_text(json.dumps(sources))
    runner = cwd / "run_cells.py"
    runner.write_text(_RUNNER)
    result = subprocess.run([str(python), str(runner), str(cells), str(cwd)], cwd=cwd, capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, f"a cell failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def outside_env(tmp: Path) -> dict[str, str]:
    """The environment of a student's machine with no clone: its own home (so the
    cache is ``~/.cache/lm_course`` there), no course variables, the hub offline."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    drop = ("LM_COURSE_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHONDIR", "MPLBACKEND", "HF_", "TRANSFORMERS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                "JUPYTER_DATA_DIR": str(home / "jupyter"), "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
                "IPYTHONDIR": str(home / "ipython")})
    return env
