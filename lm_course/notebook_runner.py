"""Run a notebook in a fresh kernel, every cell, and collect what failed.

Used by ``python -m lm_course grade`` (:mod:`lm_course.grading`, a student's
notebook run as a teacher grades it) and by ``tools/seed_sweep.py`` (the
chapters on other seeds). Unlike ``nbclient``'s own ``execute()``, a failing
or endless cell does not stop the run: it is recorded and the next cell
runs, as a student pressing Shift+Enter would see it. Nothing is written
back to the file.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CellFailure", "NotebookRun", "run_every_cell", "peak_rss_mb"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CellFailure:
    """A cell that raised or ran past its time limit."""

    cell: int  # index into the notebook's cells
    error: str  # the last line of the traceback, e.g. "AssertionError: the LSTM ..."
    timed_out: bool = False


@dataclass
class NotebookRun:
    """What :func:`run_every_cell` saw."""

    notebook: object  # the nbformat.NotebookNode, with its new outputs
    failures: list[CellFailure] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    stopped_at: int | None = None  # the first cell not run, when the notebook's time limit was reached


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory (``VmHWM``) of process ``pid`` in MB, or None (not Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    line = next((ln for ln in reversed(lines) if "Error" in ln or "Exception" in ln),
                lines[-1] if lines else "?")
    return line[:300]


def run_every_cell(path: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
                   cell_timeout: int = 600, total_timeout: float | None = None) -> NotebookRun:
    """Execute every code cell of ``path`` in a fresh ``python3`` kernel.

    ``env``: the kernel's whole environment (default: this process's).
    ``cwd``: the kernel's working folder (default: the notebook's folder).
    A cell that raises, or runs past ``cell_timeout`` seconds (the kernel is
    interrupted), is recorded as a :class:`CellFailure` and the run goes on;
    once ``total_timeout`` seconds have passed, no further cell starts.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(cwd or path.parent)}})
    run = NotebookRun(notebook=nb)
    start = time.perf_counter()
    with client.setup_kernel(env=dict(env if env is not None else os.environ)):
        for index, cell in enumerate(nb.cells):
            if total_timeout is not None and time.perf_counter() - start > total_timeout:
                run.stopped_at = index
                break
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                run.failures.append(CellFailure(index, f"the cell ran past its limit of {cell_timeout} s",
                                                timed_out=True))
            except CellExecutionError as exc:
                run.failures.append(CellFailure(index, _last_error_line(str(exc))))
            else:
                # With interrupt_on_timeout nbclient may record the interrupt as an error output.
                if cell.cell_type == "code" and any(o.get("ename") == "KeyboardInterrupt"
                                                    for o in cell.get("outputs", [])):
                    run.failures.append(CellFailure(index, f"the cell ran past its limit of {cell_timeout} s",
                                                    timed_out=True))
        run.seconds = time.perf_counter() - start
        process = getattr(client.km.provisioner, "process", None)
        run.peak_rss_mb = peak_rss_mb(process.pid) if process is not None else None
    return run
