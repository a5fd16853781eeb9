"""Presenting chapters 1, 4 and 6 live in JupyterLab, as a teacher would.

Why not RISE: jupyterlab-rise 0.43.1 (the newest on PyPI) builds its slide
view as a separate JupyterLab app whose shared modules are older than the
widget manager needs, so the manager never loads there: in its ``/rise/``
view widgets show only their text form and the console logs "Exception
opening new comm", and with ipywidgets 8 its Alt+R preview panel stays
blank (jupyterlab-contrib/rise issues 119 and 126, open). The course
therefore presents with JupyterLab's own Presentation Mode (View ▸
Appearance ▸ Presentation Mode: larger text, no clutter) plus the Simple
Interface (one notebook, full width), in the same live notebook, where every
widget works (docs/teaching.md, section "Slides").

Each test: Run All in JupyterLab (offline, as a student would), switch both
modes on through the View menu, move to the widget's section, use the widget
as a teacher would in class and see it respond, with no "Exception opening
new comm" in the console. A screenshot of each widget's slide goes to
``LM_COURSE_SCREENSHOTS`` (default build/browser-screenshots/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_page import CourseNotebook, FrontEnds, WidgetDriver, cell_index

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
WIDTH, HEIGHT = 1280, 800  # a projector's window
TIMEOUT_MS = 120_000
COMM_ERROR = "Exception opening new comm"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, kernel_env):
    servers = FrontEnds(tmp_path_factory.mktemp("present"), kernel_env, NOTEBOOKS, WIDTH, HEIGHT, TIMEOUT_MS)
    try:
        yield servers
    finally:
        servers.close()


def _menu(page, *path: str) -> None:
    """Click through the main menu: ``_menu(page, "View", "Appearance", "Presentation Mode")``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=path[0]).first.click()
    for label in path[1:-1]:
        page.locator(".lm-Menu-itemLabel", has_text=label).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=path[-1]).last.click()


def present(nb: CourseNotebook) -> None:
    """Presentation Mode and the Simple Interface, from the View menu, and the
    left sidebar closed (Ctrl+B)."""
    page = nb.page
    _menu(page, "View", "Appearance", "Presentation Mode")
    page.wait_for_selector(".jp-mod-presentationMode", state="attached", timeout=10_000)
    if not page.evaluate("document.querySelector('#jp-main-dock-panel').dataset.mode === 'single-document'"):
        _menu(page, "View", "Appearance", "Simple Interface")
        page.wait_for_function("document.querySelector('#jp-main-dock-panel').dataset.mode === 'single-document'",
                               timeout=10_000)
    left = "document.querySelector('#jp-left-stack')"
    if page.evaluate(f"!{left}.classList.contains('lm-mod-hidden')"):
        page.keyboard.press("Control+b")  # the file browser's sidebar away (View > Appearance > Show Left Sidebar)
        page.wait_for_function(f"{left}.classList.contains('lm-mod-hidden')", timeout=10_000)


def _type_keeping_focus(w: WidgetDriver, selector: str, text: str):
    """An action: click at the end of the box and type ``text`` key by key,
    never leaving the box (the chart must follow the typing itself)."""
    def do():
        box = w.area.locator(selector).first
        box.click()
        box.press("End")
        box.press_sequentially(text, delay=60)
    return do


def _explorer(w: WidgetDriver) -> None:
    w.respond("typed ' to be' in the context box", _type_keeping_focus(w, ".widget-textarea textarea", " to be"),
              ".widget-output img, .widget-html", "the next-token chart")


def _attention(w: WidgetDriver) -> None:
    w.respond("dragged the layer slider to layer 1", w.drag(".widget-slider", 1.0), ".widget-output img",
              "the attention map")


def _playground(w: WidgetDriver) -> None:
    w.respond("typed ' wherefore' in the prompt", _type_keeping_focus(w, ".widget-textarea textarea", " wherefore"),
              ".widget-output img", "the next-token chart")
    focused = w.page.evaluate("document.activeElement && document.activeElement.tagName")
    assert focused == "TEXTAREA", f"{w.where()}: the chart changed only after the prompt box lost focus"


CASES = [
    ("01_ngrams", "next-token explorer", "next_token_explorer(explorer_models", _explorer),
    ("04_attention", "attention explorer", "attention_explorer(deep", _attention),
    ("06_gpt2_sampling", "sampling playground", "sampling_playground(model", _playground),
]


@pytest.mark.parametrize("name, widget, source, drive", CASES, ids=[c[0] for c in CASES])
def test_present_and_use_a_widget(lab, name, widget, source, drive, screenshot_dir):
    nb = lab.get("lab", name)
    assert not nb.errors(), f"{name}: Run All raised {nb.errors()[:3]}"
    present(nb)
    w = WidgetDriver(nb, widget, cell_index(nb.cells, source))
    w.area.scroll_into_view_if_needed()
    w.assert_live()
    drive(w)
    nb.page.wait_for_timeout(500)
    nb.page.screenshot(path=str(screenshot_dir / f"present-{name}.png"))
    comm = [line for line in nb.view.console if COMM_ERROR in line]
    assert not comm, f"{name}: {len(comm)} × {COMM_ERROR!r} in the console: {comm[:2]}"
    assert nb.view.blocked == [], f"{name}: requests that would leave the machine: {nb.view.blocked[:3]}"
