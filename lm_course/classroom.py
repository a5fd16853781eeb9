"""Is this machine ready for a class? ``python -m lm_course classroom``
(``make classroom``) prepares and checks it, and prints a short report.

It (1) lists the versions a class depends on (Python, torch, JupyterLab, the
widget and slide extensions); (2) caches GPT-2's weights when the Hugging
Face hub can be reached, and says plainly when it cannot (the course then
runs on its own reference models: nothing else needs the network); (3)
builds the offline slide decks (:func:`lm_course.slides.export_decks`); (4)
runs the first cells of ``00_welcome.ipynb`` in a headless kernel, up to the
end of "Check your setup"; (5) checks that the cache folder
(``LM_COURSE_CACHE``) can be written and has room, and that a chapter's data
loads (the validation split, verified); (6) compares the memory available with
what one chapter's kernel needs. The teacher's guide (``docs/teaching.md``) says when
to run it: the day before, on the projector machine and on a student laptop.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from lm_course.env import package_versions

__all__ = ["Check", "run_checks", "main", "KERNEL_MEMORY_MB"]

ROOT = Path(__file__).resolve().parent.parent
KERNEL_MEMORY_MB = 1536  # the design's budget for one chapter's kernel; every chapter's peak is under it
_VERSIONS = ("torch", "jupyterlab", "ipywidgets", "jupyterlab_widgets", "jupyterlab-rise", "bertviz",
             "transformers")


@dataclass
class Check:
    """One line of the report: ``ok`` False means the class cannot go ahead as planned."""

    name: str
    ok: bool
    detail: str


def _versions() -> Check:
    found = package_versions(_VERSIONS)
    missing = [k for k, v in found.items() if v == "missing"]
    detail = ", ".join(f"{k} {v}" for k, v in found.items())
    return Check("packages", not missing, detail + (f" (install with `make install`: {missing} missing)"
                                                    if missing else ""))


def _gpt2(download: bool) -> Check:
    from huggingface_hub import try_to_load_from_cache

    from lm_course import hub

    cached = isinstance(try_to_load_from_cache("gpt2", "model.safetensors"), str)
    if not cached and download and not hub.is_offline() and hub.hub_reachable():
        from lm_course.gpt2_weights import GPT2WeightsUnavailable, download as fetch

        try:
            fetch("gpt2")
            cached = True
        except GPT2WeightsUnavailable:
            pass
    if cached:
        return Check("GPT-2 weights", True, "cached: chapter 6 uses GPT-2 124M")
    return Check("GPT-2 weights", True,
                 "not cached and the Hugging Face hub cannot be reached: chapter 6 uses the course's "
                 "reference GPT instead (everything else runs as usual; GPT-2's tokenizer ships with the course)")


def _decks(out: Path) -> Check:
    from lm_course.slides import export_decks

    decks = export_decks(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), out)
    return Check("slide decks", bool(decks), f"{len(decks)} offline decks in {out} (open any *.slides.html in a browser)")


def _welcome(timeout: int = 300) -> Check:
    """Run 00_welcome.ipynb's cells up to the end of its "Check your setup" section."""
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "notebooks" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## ")]
    setup = next((i for i in headings if "setup" in nb.cells[i].source.splitlines()[0].lower()), None)
    if setup is None:
        return Check("chapter 0", False, "no 'Check your setup' section found in 00_welcome.ipynb")
    end = next((i for i in headings if i > setup), len(nb.cells))
    nb.cells = [c for c in nb.cells[:end] if "colab-setup" not in c.metadata.get("tags", [])]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as err:  # a cell error, a missing kernel: the report says which
        return Check("chapter 0", False, f"its first cells failed: {type(err).__name__}: {str(err)[:200]}")
    code = sum(c.cell_type == "code" for c in nb.cells)
    return Check("chapter 0", True, f"{code} code cell{'s' * (code != 1)} up to the end of \"Check your setup\" "
                                     f"ran in {time.perf_counter() - start:.0f} s")


CACHE_SPACE_MB = 64  # the corpus splits take 5 MB, a run's checkpoints and scoreboard a few more


def _cache() -> Check:
    """Write, fsync and read back a file in the cache folder; check its free space."""
    from lm_course.data import cache_dir
    from lm_course.fileio import atomic_write_text

    fix = ": set LM_COURSE_CACHE to a writable folder with room (or unset it)"
    try:
        folder = cache_dir()
        probe = folder / f".classroom_check_{os.getpid()}"
        atomic_write_text(probe, "ok")
        try:
            readable = probe.read_text(encoding="utf-8") == "ok"
        finally:
            probe.unlink()
        free = shutil.disk_usage(folder).free / 1e6
    except OSError as err:
        return Check("cache", False, f"{err}{'' if 'LM_COURSE_CACHE' in str(err) else fix}")
    if not readable:
        return Check("cache", False, f"a file written in {folder} did not read back the same{fix}")
    if free < CACHE_SPACE_MB:
        return Check("cache", False, f"{folder} has {free:.0f} MB free; the course needs about {CACHE_SPACE_MB} MB{fix}")
    return Check("cache", True, f"{folder} is writable ({free:,.0f} MB free)")


def _corpus() -> Check:
    """A chapter's data: the validation split, built (or read from the cache) and verified."""
    from lm_course.data import load_shakespeare

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            text = load_shakespeare("val")
        except Exception as err:  # a missing package, a checksum that differs: the report says which
            return Check("corpus", False, f"load_shakespeare('val') failed: {type(err).__name__}: {str(err)[:300]}")
    problems = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if problems:
        return Check("corpus", False, f"the validation split loads, but: {problems[0][:300]}")
    return Check("corpus", True, f"the validation split loads and matches its sha256 ({len(text):,} characters, "
                                 f"{time.perf_counter() - start:.1f} s)")


def _memory() -> Check:
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        available = int(info["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return Check("memory", True, "unknown (no /proc/meminfo); one chapter needs up to "
                                     f"{KERNEL_MEMORY_MB:,} MB")
    return Check("memory", available >= KERNEL_MEMORY_MB,
                 f"{available:,.0f} MB available; one chapter's kernel needs up to {KERNEL_MEMORY_MB:,} MB"
                 + ("" if available >= KERNEL_MEMORY_MB else ": close other programs, run one chapter at a time"))


def run_checks(download: bool = True, decks: Path | None = ROOT / "build" / "slides",
               run_welcome: bool = True) -> list[Check]:
    """Every check of the module docstring, in order (``decks=None`` or
    ``run_welcome=False`` skips those steps)."""
    checks = [_versions(), _gpt2(download)]
    if decks is not None:
        checks.append(_decks(decks))
    if run_welcome:
        checks.append(_welcome())
    checks += [_cache(), _corpus(), _memory()]
    return checks


def main(download: bool = True) -> int:
    """Print the report; 0 when the machine is ready, 1 when it is not."""
    checks = run_checks(download)
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok ' if c.ok else 'NO '} {c.name:<{width}}  {c.detail}")
    ready = all(c.ok for c in checks)
    print("READY for class" if ready else "NOT READY: fix the lines marked NO")
    return 0 if ready else 1
