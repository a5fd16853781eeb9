"""Every chapter as slides: the slide metadata of the notebooks, its checks,
and offline HTML decks.

The same notebook is the textbook chapter and the lecture. Each cell carries
``metadata.slideshow.slide_type`` (the field RISE and ``nbconvert --to
slides`` read): ``slide`` (a new slide, left to right), ``subslide`` (a new
slide below the current one), ``fragment`` (appears on the next key press),
``-`` (stays on the current slide), ``notes`` (speaker notes, shown only in
the speaker view) or ``skip``. :func:`slide_types` assigns them by the rules
below, which :func:`write_slide_metadata` stores in the notebooks and
:func:`check_slides` enforces (``tests/test_slides.py``):

1. a ``#`` or ``##`` heading starts a slide, a ``###`` heading a sub-slide
   (unless it follows a bare ``##`` heading, whose slide it then fills);
2. an exercise (``**Exercise ...``) starts a sub-slide;
3. a text that follows code (e.g. "What to notice") starts a sub-slide: one
   result, then one idea about it;
4. a text of more than :data:`NOTES_WORDS` words that is not a heading becomes
   speaker notes: the slide keeps the code and its output, the teacher keeps
   the explanation;
5. exercise solutions, the badges and the Colab set-up cell are skipped;
6. every other cell stays on the current slide (code runs live on it).

Live, a teacher presents the notebook itself in JupyterLab's Presentation
Mode and Simple Interface (View ▸ Appearance), where every widget works; not
RISE: jupyterlab-rise 0.43.1 renders slides in a separate app that cannot
load the ipywidgets 8 widget manager ("Exception opening new comm"; see
``docs/teaching.md``, "Slides", and ``tests/browser/test_present.py``).
Offline, with no kernel, :func:`export_decks` (``make slides``) writes one self-contained
HTML deck per chapter that loads reveal.js and MathJax from copies beside it
(``lm_course/vendor``), never from a CDN. A deck has no kernel: each widget is
drawn from the widget state saved in the notebook, as static HTML
(:mod:`lm_course.widgets.static`: its charts, text and slider values), and
the attention views run their inlined scripts. Code lines wrap and wide
equations are scaled down to the slide's width. The teacher's guide is
``docs/teaching.md``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat

from lm_course.fileio import atomic_write_text

__all__ = ["SLIDE_TYPES", "NOTES_WORDS", "slide_types", "write_slide_metadata", "check_slides",
           "static_widgets", "export_deck", "export_decks", "external_resources"]

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "notes", "skip")
NOTES_WORDS = 140  # a non-heading text longer than this becomes speaker notes
_VENDOR = Path(__file__).parent / "vendor"
_TEMPLATES = Path(__file__).parent / "templates"
_ASSETS = ("reveal.js", "mathjax")  # vendored folders a deck loads, copied to <out>/assets/


def _is_solution(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("<details>")


def _is_skipped(cell) -> bool:
    tags = set(cell.metadata.get("tags", []))
    return _is_solution(cell) or bool(tags & {"badges", "colab-setup"})


def _heading_level(cell) -> int:
    """1-6 for a markdown cell that starts with a heading, else 0."""
    if cell.cell_type != "markdown":
        return 0
    match = re.match(r"(#{1,6})\s", cell.source.lstrip())
    return len(match.group(1)) if match else 0


def slide_types(cells: Sequence) -> list[str]:
    """The slide type of each cell of a notebook, by the module's rules."""
    types: list[str] = []
    previous = None  # the last cell shown on a slide (not skipped, not notes)
    for cell in cells:
        level = _heading_level(cell)
        bare_heading_before = (previous is not None and _heading_level(previous) in (1, 2)
                               and len(previous.source.split()) <= 8)
        if _is_skipped(cell):
            kind = "skip"
        elif level in (1, 2):
            kind = "slide"
        elif level >= 3 and bare_heading_before:
            kind = "-"
        elif level >= 3 or cell.source.lstrip().startswith("**Exercise"):
            kind = "subslide"
        elif cell.cell_type == "markdown" and len(cell.source.split()) > NOTES_WORDS:
            kind = "notes"
        elif cell.cell_type == "markdown" and previous is not None and previous.cell_type == "code":
            kind = "subslide"
        else:
            kind = "-"
        if previous is None and kind not in ("skip", "notes"):
            kind = "slide"  # the deck opens on a slide
        types.append(kind)
        if kind not in ("skip", "notes"):
            previous = cell
    return types


def write_slide_metadata(path: str | Path) -> bool:
    """Store :func:`slide_types` in the notebook at ``path`` (outputs kept);
    returns whether anything changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell, kind in zip(nb.cells, slide_types(nb.cells)):
        if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
            cell.metadata["slideshow"] = {"slide_type": kind}
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def check_slides(nb) -> list[str]:
    """What is wrong with a notebook's slide metadata (empty: nothing):
    every cell typed, the deck opening on a slide, no solution or set-up cell
    on a slide, no slide without content, and the types the rules give."""
    problems = []
    kinds = [cell.metadata.get("slideshow", {}).get("slide_type") for cell in nb.cells]
    for i, (cell, kind) in enumerate(zip(nb.cells, kinds)):
        if kind not in SLIDE_TYPES:
            problems.append(f"cell {i}: slide_type {kind!r} is not one of {SLIDE_TYPES}")
        elif _is_skipped(cell) and kind != "skip":
            problems.append(f"cell {i}: a solution or set-up cell is shown (slide_type {kind!r})")
    shown = [i for i, kind in enumerate(kinds) if kind not in ("skip", "notes")]
    if shown and kinds[shown[0]] != "slide":
        problems.append(f"cell {shown[0]}: the deck must open on a 'slide', not {kinds[shown[0]]!r}")
    starts = [i for i in shown if kinds[i] in ("slide", "subslide")] + [len(kinds)]
    for start, end in zip(starts, starts[1:]):
        content = [nb.cells[i] for i in range(start, end) if kinds[i] not in ("skip", "notes")]
        words = sum(len(re.sub(r"^#+\s*", "", c.source.strip()).split()) for c in content)
        if not any(c.cell_type == "code" for c in content) and words < 5:
            problems.append(f"cell {start}: a slide with no content (only {words} words and no code)")
    expected = slide_types(nb.cells)
    for i, (kind, want) in enumerate(zip(kinds, expected)):
        if kind in SLIDE_TYPES and kind != want:
            problems.append(f"cell {i}: slide_type {kind!r}, the rules give {want!r} "
                            "(python -m lm_course slides --write)")
    return problems


_RESOURCE = re.compile(r"""<(?:script|link|img|iframe|source|video|audio)\b[^>]*?\b(?:src|href)\s*=\s*["']"""
                       r"""((?:https?:)?//[^"']+)""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?((?:https?:)?//[^"')]+)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+["']((?:https?:)?//[^"']+)""", re.IGNORECASE)


def external_resources(html: str) -> list[str]:
    """The URLs outside the deck that ``html`` would load (scripts, style
    sheets, images, frames, CSS ``url()`` and ``@import``); hyperlinks a reader
    may click (``<a href>``) are not loads and are not listed."""
    return sorted({m.group(1) for pattern in (_RESOURCE, _CSS_URL, _CSS_IMPORT) for m in pattern.finditer(html)})


_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def static_widgets(nb) -> int:
    """Replace every widget output of ``nb`` (in place) by static HTML drawn
    from its saved state, or by its ``text/plain`` form when the state is
    not saved; returns how many were replaced."""
    from lm_course.widgets.static import static_widget_html, widget_state

    state, count = widget_state(nb), 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _WIDGET_VIEW not in data:
                continue
            drawn = static_widget_html(data.pop(_WIDGET_VIEW).get("model_id", ""), state)
            if drawn:
                data["text/html"] = drawn
            data.setdefault("text/plain", "(an interactive widget: run the notebook to use it)")
            count += 1
    nb.metadata.pop("widgets", None)
    return count


def export_deck(path: str | Path, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<notebook name>.slides.html``, a reveal.js deck of the
    notebook's outputs as committed (no kernel), loading its scripts from
    ``<out_dir>/assets/`` (see :func:`export_decks`); returns its path."""
    from nbconvert import SlidesExporter

    path, out_dir = Path(path), Path(out_dir)
    exporter = SlidesExporter(template_name="course_slides", extra_template_basedirs=[str(_TEMPLATES)],
                              reveal_url_prefix="assets/reveal.js", reveal_theme="white",
                              reveal_scroll=True, exclude_input_prompt=True, exclude_output_prompt=True)
    nb = nbformat.read(path, as_version=4)
    static_widgets(nb)
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    leaks = external_resources(html)
    if leaks:
        raise RuntimeError(f"{path.name}: the deck would load {len(leaks)} outside resource(s): {leaks[:3]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    deck = out_dir / f"{path.stem}.slides.html"
    return atomic_write_text(deck, html)


def export_decks(notebooks: Iterable[str | Path], out_dir: str | Path) -> list[Path]:
    """One deck per notebook in ``out_dir``, plus ``out_dir/assets`` (reveal.js
    4.6.1 and MathJax 3.2.2, copied from ``lm_course/vendor`` with their
    licences): the folder opens offline, from a USB stick or ``file://``."""
    out_dir = Path(out_dir)
    for name in _ASSETS:
        shutil.copytree(_VENDOR / name, out_dir / "assets" / name, dirs_exist_ok=True)
    return [export_deck(nb, out_dir) for nb in notebooks]
