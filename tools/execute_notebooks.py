"""Execute notebooks top to bottom in place, so the committed copies carry
their outputs, and print how long each took.

    python tools/execute_notebooks.py notebooks/01_ngrams.ipynb [...]

Kernel: the current Python (the course's .venv). Each notebook runs in its
own kernel, in the ``notebooks/`` folder, with a 10-minute cell timeout.
``--reference`` also lets the notebooks' scoreboard entries refresh the
committed ``data/scoreboard.json`` (sets ``LM_COURSE_REFERENCE=1``).
``--fresh-cache`` runs the notebooks, in the order given, with a new empty
cache folder (``LM_COURSE_CACHE``), as a student's first run: the committed
copies then show cold-cache times, and their scoreboards star only the rows
that the notebooks run so far really measured.
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


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    finalize(nb)  # saved tqdm bars read their final line, not "0/N"
    nbformat.write(nb, path)
    return seconds


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
