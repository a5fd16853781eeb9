"""Execute notebooks top to bottom in place, so the committed copies carry
their outputs, and print how long each took.

    python tools/execute_notebooks.py notebooks/01_ngrams.ipynb [...]

Kernel: the current Python (the course's .venv). Each notebook runs in its
own kernel, in the ``notebooks/`` folder, with a 10-minute cell timeout.
``--reference`` also lets the notebooks' scoreboard entries refresh the
committed ``lm_course/shipped_data/scoreboard.json`` (sets ``LM_COURSE_REFERENCE=1``).
``--fresh-cache`` runs the notebooks, in the order given, with a new empty
cache folder (``LM_COURSE_CACHE``), as a student's first run: the committed
copies then show cold-cache times, and their scoreboards star only the rows
that the notebooks run so far really measured.

:func:`run_notebook` runs a notebook in a fresh kernel without writing it
back and reports its time and the kernel's peak memory (``bench/run.py``'s
notebook budgets and ``tests/test_colab_path.py`` use it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from progress_text import finalize  # noqa: E402  (a sibling script of tools/)

from lm_course.notebook_runner import peak_rss_mb  # noqa: E402


#: Every committed notebook's kernel (tests/test_notebook_metadata.py checks it).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    finalize(nb)  # saved tqdm bars read their final line, not "0/N"
    # The kernel JupyterLab would write itself: a notebook without one is
    # modified (and autosaved) the moment a student opens it.
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nbformat.write(nb, path)
    return seconds


def run_notebook(path: Path, threads: int | None = None, env: dict[str, str] | None = None,
                 timeout: int = 900) -> dict:
    """Execute ``path`` top to bottom in a fresh kernel (the file is not
    written); return ``{"notebook", "seconds", "peak_rss_mb", "cell_seconds"}``.

    ``threads``: torch's thread count in the kernel (``OMP_NUM_THREADS``;
    ``None``: the default). ``env``: extra environment variables for the
    kernel. A cell that raises stops the run with nbclient's
    ``CellExecutionError``, which names the cell.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    kernel_env = {**os.environ, **(env or {})}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if threads is not None:
            kernel_env[name] = str(threads)
        else:
            kernel_env.pop(name, None)
    cell_seconds = []
    start = time.perf_counter()
    with client.setup_kernel(env=kernel_env):
        for index, cell in enumerate(nb.cells):
            began = time.perf_counter()
            client.execute_cell(cell, index)
            cell_seconds.append(time.perf_counter() - began)
        seconds = time.perf_counter() - start
        process = getattr(client.km.provisioner, "process", None)
        peak = peak_rss_mb(process.pid) if process is not None else None
    return {"notebook": path.name, "seconds": seconds, "peak_rss_mb": peak, "cell_seconds": cell_seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--reference", action="store_true",
                        help="record scoreboard entries as the committed reference numbers")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="run with a new, empty cache folder (a student's first run)")
    args = parser.parse_args(argv)
    if args.reference:
        os.environ["LM_COURSE_REFERENCE"] = "1"
    with tempfile.TemporaryDirectory(prefix="lm_course_cache_") as fresh:
        if args.fresh_cache:
            os.environ["LM_COURSE_CACHE"] = fresh
        for path in args.notebooks:
            seconds = execute(path)
            print(f"{path.name}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
