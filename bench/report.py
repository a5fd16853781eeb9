"""What a benchmark section hands to ``bench/run.py``: tables, notes, targets
and raw numbers, and their rendering as the Markdown of ``bench/RESULTS.md``.

Every section module (``bench/generation.py``, ``bench/responsiveness.py``,
...) returns one :class:`Section`; :func:`machine_info` describes the machine
and the library versions once per run.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = ["Table", "Target", "Section", "timed_section", "machine_info", "render_section", "render_machine"]


@dataclass
class Table:
    """A Markdown table: a title, column names and rows of cell strings."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"table {self.title!r} has {len(self.columns)} columns, got {len(cells)} cells")
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Target:
    """A target of issue 17 and whether this run met it (``None``: not measured)."""

    description: str
    met: bool | None
    detail: str = ""

    def markdown(self) -> str:
        mark = {True: "met", False: "**NOT met**", None: "not measured"}[self.met]
        return f"- {self.description}: {mark}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Section:
    """One benchmark section's results."""

    key: str  # the name used by --only
    title: str
    intro: str  # what is measured and how (Markdown)
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # caveats, definitional differences
    plots: list[Path] = field(default_factory=list)  # PNG files written by the section
    raw: dict = field(default_factory=dict)  # every number, for bench/results/<key>-<stamp>.json
    checks_failed: list[str] = field(default_factory=list)  # identity checks that failed (exit code 1)
    seconds: float = 0.0  # how long the section took (set by timed_section)


def timed_section(run: Callable[..., Section]) -> Callable[..., Section]:
    """Decorate a function that builds a :class:`Section`: the section it
    returns gets ``seconds``, how long the whole call took."""

    @functools.wraps(run)
    def timed(*args, **kwargs) -> Section:
        started = time.perf_counter()
        section = run(*args, **kwargs)
        section.seconds = time.perf_counter() - started
        return section

    return timed


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model (``/proc/cpuinfo``), cores, Python and library versions,
    torch's default thread count, the date and the load average."""
    import torch

    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "torch_default_threads": torch.get_num_threads(),
        "versions": {d: _version(d) for d in ("torch", "transformers", "tokenizers", "nltk", "tiktoken", "numpy")},
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def render_machine(info: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    load = f"{info['load_average']:.1f}" if info.get("load_average") is not None else "n/a"
    return (f"- machine: {info['cpu']}, {info['cores']} cores ({info['machine']}), Python {info['python']}\n"
            f"- versions: {versions}\n"
            f"- torch threads: {info['torch_default_threads']} by default; each section sets its own "
            f"(stated in its tables)\n"
            f"- date: {info['date']}; load average at the start: {load} "
            f"(above ~0.5 on an idle machine means something else was running)")


def render_section(section: Section, info: dict, rel_to: Path) -> str:
    """The Markdown block of one section, with its own date and load average
    (so a section re-run with ``--only`` says when it was measured)."""
    load = f"{info['load_average']:.1f}" if info.get("load_average") is not None else "n/a"
    parts = [f"## {section.title}", "",
             f"*Measured {info['date']} (load average {load}); the section took {section.seconds:.0f} s.*", "",
             section.intro.strip(), ""]
    for table in section.tables:
        parts += [table.markdown(), ""]
    if section.targets:
        parts += ["Targets (issue 17):", ""] + [t.markdown() for t in section.targets] + [""]
    if section.checks_failed:
        parts += ["**Checks that failed:**", ""] + [f"- {c}" for c in section.checks_failed] + [""]
    if section.notes:
        parts += ["Notes:", ""] + [f"- {n}" for n in section.notes] + [""]
    for plot in section.plots:
        try:
            rel = plot.resolve().relative_to(rel_to.resolve())
        except ValueError:
            rel = plot
        parts += [f"![{section.title}]({rel.as_posix()})", ""]
    return "\n".join(parts).rstrip() + "\n"


def save_figure(fig, path: Path) -> Path:
    """Write a benchmark's figure (80 dpi, its folder made) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def section_main(run, doc: str, quick_help: str, argv: list[str] | None = None) -> int:
    """The command line of one section's module (``python bench/<section>.py
    [--quick]``): run it, print its Markdown; 1 if an identity check failed."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    section = run(args.quick)
    print(render_section(section, machine_info(), Path(__file__).resolve().parent))
    return 1 if section.checks_failed else 0
