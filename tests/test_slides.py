"""The slide view of every chapter (lm_course.slides): valid metadata in the
committed notebooks, the rules, and an offline deck that a real browser opens."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from browser_util import have_chromium, offline_page
from lm_course import slides

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_slide_metadata_is_valid(path):
    nb = nbformat.read(path, as_version=4)
    assert slides.check_slides(nb) == []
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert kinds.count("slide") >= 5  # a chapter is more than a title slide
    for cell, kind in zip(nb.cells, kinds):
        if cell.source.lstrip().startswith("<details>"):
            assert kind == "skip"  # no exercise solution on a slide


def _nb(*cells):
    nb = new_notebook()
    nb.cells = list(cells)
    return nb


def test_rules_on_a_small_chapter():
    badge = new_markdown_cell("[![Colab](x.svg)](link)", metadata={"tags": ["badges"]})
    cells = [badge, new_markdown_cell("# Chapter 9: Tests"), new_code_cell("import torch"),
             new_markdown_cell("## 1. A section\nSome words here."), new_code_cell("plot()"),
             new_markdown_cell("**What to notice.** The curve falls."),
             new_markdown_cell(" ".join(["word"] * (slides.NOTES_WORDS + 1))),
             new_markdown_cell("### A sub-section"), new_markdown_cell("**Exercise 1.** Write it."),
             new_code_cell("def f(): raise NotImplementedError"),
             new_markdown_cell("<details><summary>Solution</summary>\n\n```python\nx\n```\n</details>")]
    assert slides.slide_types(cells) == ["skip", "slide", "-", "slide", "-", "subslide", "notes",
                                         "subslide", "subslide", "-", "skip"]
    bare = [new_markdown_cell("# Title"), new_markdown_cell("## 6. Positions"), new_markdown_cell("### Order\nText.")]
    assert slides.slide_types(bare) == ["slide", "slide", "-"]  # the sub-heading fills the bare heading's slide


def test_check_flags_each_problem():
    solution = new_markdown_cell("<details><summary>Solution</summary>x</details>")
    nb = _nb(new_markdown_cell("# Title of the chapter here"), new_markdown_cell("## Empty"),
             new_markdown_cell("## Next section with enough words"), solution)
    for cell, kind in zip(nb.cells, ["slide", "slide", "slide", "-"]):
        cell.metadata["slideshow"] = {"slide_type": kind}
    problems = "\n".join(slides.check_slides(nb))
    assert "cell 1: a slide with no content" in problems
    assert "cell 3: a solution or set-up cell is shown" in problems
    nb.cells[0].metadata["slideshow"] = {"slide_type": "fragment"}
    nb.cells[1].metadata["slideshow"] = {"slide_type": "sideways"}
    problems = "\n".join(slides.check_slides(nb))
    assert "the deck must open on a 'slide'" in problems and "'sideways' is not one of" in problems


def test_external_resources_finds_loads_not_links():
    html = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//cdn.example/a.css">'
            '<img src="http://img.example/b.png"><style>@import "https://f.example/c.css"; '
            'p {background: url(https://i.example/d.png)}</style>'
            '<a href="https://arxiv.org/abs/1706.03762">a paper</a><script src="assets/local.js"></script>')
    assert slides.external_resources(html) == ["//cdn.example/a.css", "http://img.example/b.png",
                                               "https://cdn.example/x.js", "https://f.example/c.css",
                                               "https://i.example/d.png"]


def _deck_notebook(tmp_path: Path) -> Path:
    code = new_code_cell("print(1 + 1)", outputs=[new_output("stream", name="stdout", text="2\n")])
    nb = _nb(new_markdown_cell("# A deck"), new_markdown_cell("## Attention\n$$\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$$"),
             code, new_markdown_cell("**What to notice.** It printed 2."),
             new_markdown_cell("<details><summary>Solution</summary>secret</details>"))
    for cell, kind in zip(nb.cells, slides.slide_types(nb.cells)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    path = tmp_path / "09_deck.ipynb"
    nbformat.write(nb, path)
    return path


def test_export_writes_an_offline_deck(tmp_path):
    [deck] = slides.export_decks([_deck_notebook(tmp_path)], tmp_path / "decks")
    html = deck.read_text()
    assert slides.external_resources(html) == []
    assert "secret" not in html  # the skipped solution is not in the deck
    for asset in ("reveal.js/dist/reveal.js", "reveal.js/plugin/notes/notes.js", "mathjax/es5/tex-chtml-full.js",
                  "reveal.js/LICENSE", "mathjax/LICENSE"):
        assert (deck.parent / "assets" / asset).is_file(), asset
        assert asset.endswith("LICENSE") or f"assets/{asset}" in html


def test_a_chapter_exports_without_outside_resources(tmp_path):
    deck = slides.export_deck(NOTEBOOKS[0], tmp_path)
    assert slides.external_resources(deck.read_text()) == []


@pytest.mark.skipif(not have_chromium(), reason="needs /usr/bin/chromium")
def test_browser_opens_a_deck_offline(tmp_path):
    [deck] = slides.export_decks([_deck_notebook(tmp_path)], tmp_path / "decks")
    with offline_page(width=1280, height=800) as view:
        page = view.page
        page.goto(deck.as_uri())
        page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=20_000)
        assert page.evaluate("Reveal.getTotalSlides()") == 3  # title, section, "what to notice"
        page.wait_for_selector(".slides mjx-container", state="attached", timeout=20_000)  # MathJax typeset
        page.keyboard.press("ArrowRight")
        page.wait_for_function("Reveal.getIndices().h === 1", timeout=5_000)
        assert "attention" in page.inner_text(".slides section.present").lower()  # the theme capitalises headings
        assert view.blocked == [] and view.errors == [], (view.blocked, view.errors)


def test_decks_draw_widgets_from_their_saved_state(tmp_path):
    """No deck leaves a widget to a widget manager it lacks (an empty box):
    each widget output becomes static HTML drawn from the saved state."""
    from lm_course.widgets.static import STATIC_CLASS

    path = next(p for p in NOTEBOOKS if p.stem.startswith("02_"))
    nb = nbformat.read(path, as_version=4)
    assert slides.static_widgets(nb) >= 1
    views = [o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json"
             in o.get("data", {})]
    assert views == [] and "widgets" not in nb.metadata
    html = slides.export_deck(path, tmp_path).read_text()
    assert "application/vnd.jupyter.widget-view+json" not in html and STATIC_CLASS in html
    assert "white-space: pre-wrap" in html and "fitEquations" in html  # code wraps, equations are scaled
