"""The browser test: JupyterLab served on localhost, driven by Playwright in
the system's Chromium with the network cut off, runs a notebook and checks
that an ipywidgets widget and an offline bertviz view really render.

This is what a student sees: a live kernel, widget JavaScript from the
jupyterlab_widgets extension, bertviz HTML whose scripts JupyterLab runs.
Skipped only when /usr/bin/chromium is absent (`.ci/run` installs it).
Set ``LM_COURSE_SCREENSHOTS=/some/dir`` to keep the screenshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from browser_util import accept_kernel_dialog, have_chromium, jupyter_server, offline_page

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs /usr/bin/chromium (apt-get install chromium)")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 180_000  # JupyterLab's first start on a busy 2-core machine is slow

CELLS = [
    # an ipywidgets slider that reacts in Python: the label shows value ** 2
    "import ipywidgets as widgets\n"
    "slider = widgets.IntSlider(value=3, min=0, max=10, description='x')\n"
    "label = widgets.Label(value='square: 9')\n"
    "slider.observe(lambda ch: setattr(label, 'value', f'square: {ch.new ** 2}'), names='value')\n"
    "widgets.VBox([slider, label])",
    # an offline bertviz head view of a small attention pattern (anti-diagonal)
    "import torch\n"
    "from lm_course.attention_view import head_view\n"
    "T = 5\n"
    "anti = torch.eye(T).flip(1) * 0.9 + 0.02\n"
    "head_view([anti[None, None]], list('abcde'))",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with one notebook, check.ipynb."""
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "check.ipynb")
    with jupyter_server(root, "lab", timeout_s=TIMEOUT_MS / 1000) as server:
        yield server


def test_widget_and_bertviz_render_in_jupyterlab(lab, tmp_path):
    with offline_page(width=1280, height=1600) as view:
        page = view.page
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(lab.notebook_url("check.ipynb"))
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        # JupyterLab may ask which kernel to use: accept the notebook's own (Python 3)
        accept_kernel_dialog(page)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached")
        accept_kernel_dialog(page)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        # the widget: a real slider rendered by the widget manager, wired to the kernel
        slider = page.locator(".widget-slider .slider").first
        slider.wait_for()
        assert page.locator(".widget-label:has-text('square: 9')").count() == 1
        handle = page.locator(".widget-slider .ui-slider-handle, .widget-slider .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")  # 3 -> 4: the kernel recomputes the label
        page.wait_for_selector(".widget-label:has-text('square: 16')")

        # the bertviz view: its JavaScript ran offline and drew the attention lines
        page.wait_for_selector("#attention line", state="attached")
        assert page.locator("#attention line").count() == 5 * 5
        strong = page.eval_on_selector_all(
            "#attention line",
            "ls => ls.filter(l => parseFloat(l.getAttribute('stroke-opacity')) > 0.5)"
            ".map(l => [+l.getAttribute('left-token-index'), +l.getAttribute('right-token-index')])")
        assert sorted(map(tuple, strong)) == [(i, 4 - i) for i in range(5)]  # the anti-diagonal

        folder = Path(os.environ.get("LM_COURSE_SCREENSHOTS", tmp_path))
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "jupyterlab.png"), full_page=True)
        assert not [u for u in view.blocked if "cdn" in u or "unpkg" in u], view.blocked
        assert view.errors == [], view.errors


def test_rise_presents_a_chapter_as_slides(lab):
    """RISE (jupyterlab-rise) serves a notebook as a reveal.js deck, using the
    slide metadata that lm_course.slides wrote: chapter 0's slides, offline."""
    chapter = Path(__file__).resolve().parent.parent / "notebooks" / "00_welcome.ipynb"
    (lab.root / "slides.ipynb").write_bytes(chapter.read_bytes())
    wanted = sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide"
                 for c in nbformat.read(chapter, as_version=4).cells)
    with offline_page(width=1280, height=800) as view:
        page = view.page
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{lab.url}/rise/slides.ipynb?token={lab.token}")
        accept_kernel_dialog(page)
        page.wait_for_selector(".reveal .slides > section", state="attached")
        assert page.locator(".reveal .slides > section").count() == wanted
        assert "chapter 0" in page.inner_text(".reveal .slides > section.present").lower()
        page.wait_for_selector(".reveal.ready", state="attached")  # reveal.js listens to the keys from now on
        page.keyboard.press("ArrowRight")
        page.wait_for_selector(".reveal .slides > section.present:nth-child(2)", state="attached")
        assert view.errors == [], view.errors
