"""Drive a course notebook in JupyterLab or the classic Notebook 7, as a
student does: open it, Run All, wait for the kernel, then find the cells and
widgets to act on. Used by the tests of ``tests/browser/``.

The notebook's state (which cell ran, which output is an error, whether the
kernel is busy) is read from the front end's own model through
``window.jupyterapp`` (the servers of :func:`browser_util.jupyter_server`
expose it); what a student *sees* (a widget or its text, a chart, bertviz's
lines) is read from the page.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from browser_util import accept_kernel_dialog, jupyter_server, offline_page

#: The last line of a course widget's text form (lm_course.widgets.display.FALLBACK_NOTE):
#: a page that shows it shows the text instead of the widget.
from lm_course.widgets.display import FALLBACK_NOTE

__all__ = ["CourseNotebook", "FALLBACK_NOTE", "REPORT", "Report", "open_and_run_all",
           "cell_index", "copy_for_run", "letters", "saved_outputs", "widget_outputs", "shut_down_kernels", "WidgetDriver", "NotebookRunner", "FrontEnds"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
VIEW_CLASS = "lm-course-attention-view"  # lm_course.attention_view.framed


@dataclass
class Report:
    """What the browser tests did, printed at the end of the run (conftest.py)."""

    timings: dict = field(default_factory=dict)  # (front end, notebook) -> (Run All s, whole notebook s)
    actions: list[str] = field(default_factory=list)  # "notebook · widget: action -> change"
    screenshots: list[Path] = field(default_factory=list)


REPORT = Report()

# The notebook model as the front end holds it: per cell its type, execution
# count, whether it is running or queued, and its error outputs.
_STATE_JS = """([widgetMime, fallbackNote, viewClass]) => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) { return null; }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.map((cell, i) => {
    cell.node.setAttribute('data-lmc-cell', String(i));  // so that tests can find cell i on the page
    const m = cell.model;
    if (m.type !== 'code') { return {code: false}; }
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    const outputs = m.outputs.toJSON();
    const data = outputs.map(o => o.data || {});
    const kinds = [];  // what the cell shows: course widgets, other widgets, attention views
    for (const d of data) {
      const text = [].concat(d['text/plain'] || []).join('');
      const html = [].concat(d['text/html'] || []).join('');
      if (widgetMime in d) { kinds.push(text.includes(fallbackNote) ? 'course widget' : 'widget'); }
      if (html.includes(viewClass)) { kinds.push('attention view'); }
    }
    return {code: true, count: m.executionCount, kinds: kinds,
            busy: m.executionState === 'running' || (prompt !== null && prompt.textContent.includes('*')),
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)};
  });
  return {kernel: kernel ? kernel.status : 'none', cells: cells};
}"""


@dataclass
class CourseNotebook:
    """A course notebook after Run All in a browser page."""

    name: str  # e.g. "01_ngrams"
    path: Path  # the copy the server serves
    page: object  # the Playwright page
    view: object  # the browser_util.OfflinePage around it (blocked requests, JavaScript errors)
    seconds: float  # Run All, from the click to the idle kernel
    cells: list  # the notebook's cells (nbformat), as in the committed file
    state: dict  # the front end's model after the run (see _STATE_JS)
    front_end: str = "lab"  # the server's app: "lab" (JupyterLab) or "notebook" (Notebook 7)
    before: dict = field(default_factory=dict)  # the saved widget outputs as first shown (saved_outputs)
    before_errors: list = field(default_factory=list)  # JavaScript errors raised by then

    @property
    def label(self) -> str:
        """How failure messages name it: "01_ngrams" (in JupyterLab), "04_attention in Notebook 7"."""
        return self.name if self.front_end == "lab" else f"{self.name} in Notebook 7"

    @property
    def slug(self) -> str:
        """The start of its screenshots' names."""
        return self.name if self.front_end == "lab" else f"notebook7-{self.name}"

    def cell(self, index: int):
        """The page's element of cell ``index`` (a Playwright locator)."""
        return self.page.locator(f".jp-Cell[data-lmc-cell='{index}']")

    def errors(self) -> list[str]:
        """"cell N: Ename: message" for every error output of the run."""
        return [f"cell {i}: {e}" for i, c in enumerate(self.state["cells"]) for e in c.get("errors", [])]

    def not_run(self) -> list[int]:
        """Indices of the code cells that have no execution count."""
        return [i for i, c in enumerate(self.state["cells"]) if c["code"] and c["count"] is None]


def copy_for_run(source: Path, folder: Path) -> Path:
    """A copy of ``source`` in ``folder`` with its outputs as committed and
    every execution count removed: the page first shows what a reader sees
    on opening the chapter (:func:`saved_outputs`), and a cell that Run All
    did not reach has no count (:meth:`CourseNotebook.not_run`). The
    committed notebook is never touched."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = None
            for out in cell.outputs:
                if "execution_count" in out:
                    out.execution_count = None
    path = folder / source.name
    nbformat.write(nb, path)
    return path


def widget_outputs(cells) -> dict[int, list[str]]:
    """{cell index: the saved text form of each widget output} of a notebook's cells (nbformat)."""
    found = {}
    for i, cell in enumerate(cells):
        texts = ["".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", [])
                 if WIDGET_MIME in o.get("data", {})]
        if texts:
            found[i] = texts
    return found


def letters(text: str) -> str:
    """The letters and digits of ``text``: JupyterLab draws a text output with its own spacing and bar glyphs."""
    return re.sub(r"[\W_]+", "", text)


# For cells i: the text of the outputs and how many ipywidgets elements are drawn there.
_OUTPUTS_JS = """(indices) => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) { return null; }
  return indices.map(i => {
    const cell = panel.content.widgets[i];
    const area = cell && cell.node.querySelector('.jp-OutputArea');
    return area ? {text: area.textContent, widgets: area.querySelectorAll('.jupyter-widgets').length} : null;
  });
}"""


def saved_outputs(page, cells, timeout_s: float = 30.0) -> dict[int, dict | None]:
    """What the page shows, before anything runs, in each cell that was saved
    with widget outputs: ``{index: {"text", "widgets", "saved"}}`` once each
    such output is drawn, either as the widget (from the widget state saved
    in the notebook) or as its saved text form (or after ``timeout_s``)."""
    saved = widget_outputs(cells)

    def drawn(shown) -> bool:
        return shown is not None and all(
            s is not None and (s["widgets"] >= len(saved[i]) or all(
                letters(t.strip().splitlines()[-1]) in letters(s["text"]) for t in saved[i] if t.strip()))
            for i, s in zip(saved, shown))

    deadline = time.monotonic() + timeout_s
    shown = page.evaluate(_OUTPUTS_JS, list(saved))
    while not drawn(shown) and time.monotonic() < deadline:
        time.sleep(0.3)
        shown = page.evaluate(_OUTPUTS_JS, list(saved))
    time.sleep(0.5)  # anything drawn late (an error display would come now)
    shown = page.evaluate(_OUTPUTS_JS, list(saved)) or [None] * len(saved)
    return {i: None if s is None else {**s, "saved": saved[i]} for i, s in zip(saved, shown)}


def cell_index(cells, needle: str) -> int:
    """The index of the one code cell whose source contains ``needle``."""
    found = [i for i, c in enumerate(cells) if c.cell_type == "code" and needle in c.source]
    if len(found) != 1:
        raise LookupError(f"{len(found)} code cells contain {needle!r} (expected exactly one)")
    return found[0]


def _state(page) -> dict | None:
    return page.evaluate(_STATE_JS, [WIDGET_MIME, FALLBACK_NOTE, VIEW_CLASS])


def _wait_state(page, ready, what: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        state = _state(page)
        if state is not None and ready(state):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout_s:.0f} s; last state: kernel "
                               f"{state and state['kernel']}, "
                               f"{state and sum(c.get('busy', False) for c in state['cells'])} cells running or queued")
        time.sleep(0.5)


def open_and_run_all(page, server, path: Path, timeout_s: float = 600.0,
                     before=lambda page: None) -> tuple[float, dict]:
    """Open ``path`` (in the server's root) in ``server``'s front end, wait
    for an idle kernel, call ``before(page)`` (e.g. to read the saved
    outputs), click Run > Run All Cells and wait until no cell is running or
    queued and the kernel is idle again (Run All stops at the first error).
    Returns (seconds from the click to the end, final state)."""
    page.goto(server.notebook_url(path.name))
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    dialog = page.locator(".jp-Dialog .jp-mod-accept")

    def kernel_ready(s: dict) -> bool:
        if dialog.count():  # JupyterLab may ask which kernel: the notebook's own (Python 3)
            accept_kernel_dialog(page)
            return False
        return s["kernel"] == "idle"

    _wait_state(page, kernel_ready, f"{path.name}: the kernel did not start", 180)
    before(page)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    start = time.monotonic()
    _wait_state(page, lambda s: any(c.get("busy") or c.get("count") is not None for c in s["cells"]),
                f"{path.name}: Run All started nothing", 60)

    def finished(s: dict) -> bool:
        return s["kernel"] == "idle" and not any(c.get("busy") for c in s["cells"])

    _wait_state(page, finished, f"{path.name}: Run All did not finish", timeout_s)
    seconds = time.monotonic() - start
    time.sleep(1.0)  # the last outputs (widget views, bertviz's script) attach after the idle message
    return seconds, _wait_state(page, finished, f"{path.name}: Run All did not finish", 30)


def shut_down_kernels(page) -> None:
    """Shut down the kernel of the open notebook (the next notebook then has
    both cores)."""
    page.evaluate("""async () => {
      const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
      if (panel && panel.sessionContext) { await panel.sessionContext.shutdown(); }
    }""")


# The state of part of a widget, to tell whether an action changed it: the
# source of each picture (a chart is a base64 PNG) and the text of the rest.
_SNAPSHOT_JS = """els => els.length + ':' + els.map(e => e.tagName === 'IMG' ? e.src : e.textContent).join('\\n')"""


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class WidgetDriver:
    """One widget (or attention view) of a course notebook on the page: check
    that it is live, act on it as a student would, see that it responds.

    ``name`` names it in failure messages and in the report, together with
    the notebook: "04_attention: the attention explorer did not respond to ...".
    """

    def __init__(self, notebook: CourseNotebook, name: str, index: int, timeout_s: float = 90.0):
        self.nb, self.name, self.index, self.timeout_s = notebook, name, index, timeout_s
        self.page = notebook.page
        self.area = notebook.cell(index).locator(".jp-OutputArea").first  # the cell's outputs
        self.area.scroll_into_view_if_needed()

    def where(self) -> str:
        return f"{self.nb.label} (cell {self.index}): the {self.name}"

    def assert_live(self) -> None:
        """It is drawn by the widget manager (ipywidgets' DOM in the cell's
        outputs), never as its text form or an "Error displaying widget"."""
        text = self.area.text_content()  # all of it: innerText skips what content-visibility has not drawn
        assert "Error displaying widget" not in text, f"{self.where()} shows an error: {_short(text, 300)}"
        assert FALLBACK_NOTE not in text, f"{self.where()} shows its text form, not the widget: {_short(text, 300)}"
        widgets = self.area.locator(".jupyter-widgets")
        assert widgets.count() > 0 and widgets.first.is_visible(), \
            f"{self.where()} is not a live widget (no .jupyter-widgets element): {_short(text, 300)}"

    def snapshot(self, watch: str, js: str = _SNAPSHOT_JS) -> str:
        """``js`` (a function of the elements, returning "count:content") on
        the elements ``watch`` selects in the outputs."""
        return self.area.locator(watch).evaluate_all(js)

    def respond(self, action: str, do, watch: str, what: str, js: str = _SNAPSHOT_JS) -> str:
        """Do ``action`` (``do()``), then wait until the part ``watch`` (a CSS
        selector inside the outputs) changes (as seen by :meth:`snapshot`);
        ``what`` says what it is ("the chart"). Fails, naming the notebook and
        the widget, if it does not change within the timeout. Returns the new
        snapshot."""
        before = self.snapshot(watch, js)
        do()
        deadline = time.monotonic() + self.timeout_s
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.25)
            after = self.snapshot(watch, js)
        shown = before.split(":", 1)[1]
        shown = "the same picture" if shown.startswith("data:image") else repr(_short(shown, 200))
        assert after != before, (f"{self.where()} did not respond to {action}: {what} ({watch}) unchanged after "
                                 f"{self.timeout_s:.0f} s: {shown}")
        shown = after.split(":", 1)[1]
        change = "a new picture" if shown.startswith("data:image") else f"now {_short(shown)!r}"
        REPORT.actions.append(f"{self.nb.label} · {self.name}: {action} -> {what} changed ({change})")
        return after

    def text(self, selector: str) -> str:
        return self.area.locator(selector).first.text_content()

    def screenshot(self, folder: Path, slug: str) -> Path:
        path = folder / f"{self.nb.slug}-{slug}.png"
        self.area.screenshot(path=str(path))
        REPORT.screenshots.append(path)
        return path

    # ---- what a student does -------------------------------------------------------
    def type_into(self, selector: str, text: str, enter: bool = False):
        """An action: replace the text of the box ``selector`` with ``text``
        (then Enter, for a box that updates on Enter)."""
        def do():
            box = self.area.locator(selector).first
            box.fill(text)
            if enter:
                box.press("Enter")
        return do

    def drag(self, slider: str, fraction: float):
        """An action: drag the handle of the slider ``slider`` to ``fraction``
        of its track, with the mouse."""
        def do():
            target = self.area.locator(slider).locator(".noUi-target").first
            target.scroll_into_view_if_needed()
            handle = target.locator(".noUi-handle").first.bounding_box()
            track = target.bounding_box()
            self.page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            self.page.mouse.down()
            self.page.mouse.move(track["x"] + fraction * track["width"], track["y"] + track["height"] / 2, steps=8)
            self.page.mouse.up()
        return do

    def choose(self, selector: str, label: str):
        """An action: pick ``label`` in the dropdown ``selector``."""
        return lambda: self.area.locator(selector).first.select_option(label=label)

    def click(self, selector: str):
        return lambda: self.area.locator(selector).first.click()


class NotebookRunner:
    """Keeps one course notebook open at a time in ``server``'s front end:
    :meth:`get` returns the open one if it is the one asked for, else shuts
    the open one's kernel down, closes its browser and runs the next (Run All
    in a fresh page). The tests are ordered by notebook (conftest.py), so each
    notebook runs once."""

    def __init__(self, server, notebooks: Path, width: int, height: int, timeout_ms: int):
        self.server, self.notebooks = server, notebooks
        self.width, self.height, self.timeout_ms = width, height, timeout_ms
        self.current: CourseNotebook | None = None
        self._stack: contextlib.ExitStack | None = None
        self._start = 0.0
        self.failure = ""  # why the open notebook could not be run, else ""

    def get(self, name: str) -> CourseNotebook:
        if self.current is not None and self.current.name == name:
            if self.failure:
                raise RuntimeError(f"{name} could not be run: {self.failure}")
            return self.current
        self.close()
        self._start = time.monotonic()
        self._stack = contextlib.ExitStack()
        view = self._stack.enter_context(offline_page(width=self.width, height=self.height))
        view.page.set_default_timeout(self.timeout_ms)
        path = copy_for_run(self.notebooks / f"{name}.ipynb", self.server.root)
        self.current = CourseNotebook(name, path, view.page, view, 0.0, nbformat.read(path, as_version=4).cells, {},
                                      self.server.app)
        self.failure = ""

        def read_saved_outputs(page) -> None:
            self.current.before = saved_outputs(page, self.current.cells)
            self.current.before_errors = list(view.errors)

        try:
            self.current.seconds, self.current.state = open_and_run_all(view.page, self.server, path,
                                                                        before=read_saved_outputs)
        except Exception as err:
            self.failure = f"{type(err).__name__}: {err}"
            raise
        return self.current

    def close(self) -> None:
        if self._stack is None:
            return
        try:
            if self.current is not None:
                REPORT.timings[(self.server.app, self.current.name)] = (self.current.seconds,
                                                                         time.monotonic() - self._start)
                shut_down_kernels(self.current.page)
        finally:
            self._stack.close()
            self._stack, self.current = None, None


class FrontEnds:
    """The Jupyter front ends of a test session, each started when first
    asked for (:func:`browser_util.jupyter_server` in its own folder), each
    with its :class:`NotebookRunner`; one notebook is open at a time across
    all of them."""

    def __init__(self, folder: Path, env: dict, notebooks: Path, width: int, height: int, timeout_ms: int):
        self.folder, self.env, self.notebooks = folder, env, notebooks
        self.size, self.timeout_ms = (width, height), timeout_ms
        self.runners: dict[str, NotebookRunner] = {}
        self._stack = contextlib.ExitStack()

    def get(self, front_end: str, name: str) -> CourseNotebook:
        """Notebook ``name`` after Run All in ``front_end`` ("lab" or "notebook")."""
        for other, runner in self.runners.items():
            if other != front_end:
                runner.close()
        if front_end not in self.runners:
            root = self.folder / front_end
            root.mkdir(parents=True, exist_ok=True)
            server = self._stack.enter_context(jupyter_server(root, front_end, env=self.env))
            self.runners[front_end] = NotebookRunner(server, self.notebooks, *self.size, self.timeout_ms)
        return self.runners[front_end].get(name)

    def close(self) -> None:
        try:
            for runner in self.runners.values():
                runner.close()
        finally:
            self._stack.close()
