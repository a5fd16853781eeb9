"""The course's own notebooks in JupyterLab, as a student uses them, offline.

For each notebook that holds a widget or an attention view: JupyterLab
(served on a free localhost port) opens a copy of it in the system's
headless Chromium with every non-local request blocked. First, as a reader
sees it on opening, nothing run: every saved widget output is drawn either
as the widget (from the widget state saved in the notebook) or as its text
form, never "Error displaying widget". Then Run All; the kernel
must go idle with no error output and every code cell run. Then, for every
widget of the notebook: it is a live widget (never its text form), and a
student's action changes what it shows (typing, a slider, a dropdown, a
button); every bertviz view draws its lines and scrolls or fits at 1280 px;
the slider readouts are not clipped; no JavaScript error and no request that
would leave the machine. A screenshot of each widget after use goes to
build/browser-screenshots/ (listed at the end of the run, with what each
action changed and the time per notebook).

The notebooks run one at a time, each in its own kernel, in the order of the
course, with a new course cache (see conftest.py). The copies (outputs as
committed, execution counts removed) are served from a temporary folder: the
committed notebooks are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_page import FALLBACK_NOTE, REPORT, CourseNotebook, FrontEnds, WidgetDriver, cell_index, letters

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
WIDTH, HEIGHT = 1280, 800  # a laptop's window: the layout must hold at this width
TIMEOUT_MS = 120_000  # any single page action; the Run All timeout is open_and_run_all's

TEXTAREA = ".widget-textarea textarea"
CHART_AND_INFO = ".widget-output img, .widget-html"


# --------------------------------------------------------------------------- what is driven
def _explorer(w: WidgetDriver, text: str, other_model: str) -> None:
    """The next-token explorer (chapters 1 and 3): typing, the model
    dropdown, the top-k slider, then a character the model cannot read."""
    w.respond(f"typed {text!r} in the context box", w.type_into(TEXTAREA, text), CHART_AND_INFO,
              "the chart of the top next tokens and the info line")
    w.respond(f"picked {other_model!r} in the model dropdown", w.choose(".widget-dropdown select", other_model),
              CHART_AND_INFO, "the chart and the info line")
    w.respond("dragged the top-k slider to the middle", w.drag(".widget-slider", 0.5), ".widget-output img",
              "the chart (more bars)")
    w.respond("typed '€' (not in the vocabulary)", w.type_into(TEXTAREA, "€"), CHART_AND_INFO,
              "the chart and the info line")
    assert w.area.locator(".widget-output img").count() == 0, f"{w.where()} keeps a chart beside its message"
    assert "Cannot read this context" in w.text(".widget-html"), f"{w.where()} shows no message for '€'"


def _welcome_report(w: WidgetDriver) -> None:
    w.respond("typed 'Juliet' in the text box", w.type_into(".widget-text input", "Juliet"), ".widget-output",
              "the bits-per-character report")
    w.respond("dragged the add-k slider near its right end (k = 10^7.8)", w.drag(".widget-slider", 0.9),
              ".widget-output", "the report")


def _bpe_explorer(w: WidgetDriver) -> None:
    tokens = ".widget-html >> nth=0"
    w.respond("typed 'Wherefore art thou Romeo?'", w.type_into(TEXTAREA, "Wherefore art thou Romeo?"),
              ".widget-html", "the tokens and the merge steps")
    before = w.area.locator(tokens).locator("span").count()
    w.respond("dragged the vocabulary slider near its left end", w.drag(".widget-slider", 0.03), tokens,
              "the tokens")
    after = w.area.locator(tokens).locator("span").count()
    assert after > before, f"{w.where()}: fewer merges should cut the text into more tokens ({before} -> {after})"


def _attention_explorer(w: WidgetDriver) -> None:
    w.respond("dragged the layer slider to layer 1", w.drag(".widget-slider", 1.0), ".widget-output img",
              "the attention map")
    w.respond("picked 'head 1'", w.choose(".widget-dropdown select", "head 1"), ".widget-output img",
              "the attention map")
    w.respond("typed 'hgfedcba' and Enter", w.type_into(".widget-text input", "hgfedcba", enter=True),
              ".widget-output img", "the attention map")


def _query_explorer(w: WidgetDriver) -> None:
    w.respond("dragged the 'query x' slider to the right", w.drag(".widget-slider >> nth=0", 0.85), CHART_AND_INFO,
              "the weights chart and the weights line")
    w.respond("ticked 'divide by √d'", w.click(".widget-checkbox input"), CHART_AND_INFO,
              "the weights chart and the weights line")


def _playground(w: WidgetDriver) -> None:
    w.respond("dragged the temperature slider to about 1.5", w.drag(".widget-slider >> nth=0", 0.6),
              ".widget-output img", "the next-token chart")
    w.respond("pressed Generate", w.click(".widget-button:has-text('Generate')"), ".widget-html >> nth=1",
              "the generated text")
    w.respond("picked 'greedy'", w.click(".widget-toggle-button:has-text('greedy')"), CHART_AND_INFO,
              "the chart and the info line")


def _genre_box(w: WidgetDriver) -> None:
    w.respond("typed a comic line", w.type_into(TEXTAREA, "What, shall we dance? Come, a merry jig, sweet wench!"),
              ".widget-html", "the comedy/tragedy bars")
    w.respond("typed '€' (not in the vocabulary)", w.type_into(TEXTAREA, "€"), ".widget-html", "the bars")
    assert "€" in w.text(".widget-html"), f"{w.where()} shows no message naming the unknown character"


@dataclass(frozen=True)
class Widget:
    notebook: str
    name: str
    cell: str  # a piece of the source of the cell that shows it
    drive: object  # (WidgetDriver) -> None: the student's actions
    course: bool = True  # a widget of lm_course.widgets (False: made in the notebook with ipywidgets)

    def __str__(self) -> str:
        return f"{self.notebook}-{self.name.replace(' ', '-')}"


@dataclass(frozen=True)
class View:
    notebook: str
    name: str
    cell: str

    def __str__(self) -> str:
        return f"{self.notebook}-{self.name.replace(' ', '-')}"


WIDGETS = [
    Widget("00_welcome", "add-k report", "k_slider = widgets.FloatLogSlider", _welcome_report,
           course=False),
    Widget("01_ngrams", "next-token explorer", "next_token_explorer(explorer_models",
           lambda w: _explorer(w, "To be, or not to b", "2-gram Kneser-Ney")),
    Widget("02_tokens_and_embeddings", "BPE explorer", "bpe_explorer(bpe", _bpe_explorer),
    Widget("03_rnns", "next-token explorer", "next_token_explorer({",
           lambda w: _explorer(w, "ROMEO:\nO", "GRU (small)")),
    Widget("04_attention", "attention explorer", "attention_explorer(deep", _attention_explorer),
    Widget("04_attention", "query explorer", "query_explorer()", _query_explorer),
    Widget("06_gpt2_sampling", "sampling playground", "sampling_playground(model", _playground),
    Widget("07_finetuning", "genre box", "genre_box(headline", _genre_box),
]
VIEWS = [
    View("04_attention", "head view", "head_view(toy_out.attentions"),
    View("04_attention", "model view", "model_view(deep_out.attentions"),
    View("05_transformer", "head view", "head_view(out.attentions"),
    View("06_gpt2_sampling", "head view", "head_view(attentions, view_tokens"),
    View("06_gpt2_sampling", "model view", "model_view(attentions, view_tokens"),
]
COURSE = sorted({w.notebook for w in WIDGETS} | {v.notebook for v in VIEWS})
# Requests the pages may make that would leave the machine, each with its reason: none.
ALLOWED_BLOCKED: dict[str, str] = {}
# JavaScript errors a front end raises by itself, each with its reason.
ALLOWED_PAGE_ERRORS: dict[str, dict[str, str]] = {
    "notebook": {
        "Cannot read properties of undefined (reading 'schema')":
            "Notebook 7.6.5 raises it while loading its keyboard-shortcut settings, on any page, also for an "
            "empty notebook opened by a plain `jupyter notebook`: not the course's doing",
    },
}
# Also run in the classic Notebook 7 (classrooms use both): chapter 4 has two
# course widgets (the attention and query explorers) and two bertviz views.
CLASSIC = ["04_attention"]


# --------------------------------------------------------------------------- the notebook run
@pytest.fixture(scope="module")
def front_ends(tmp_path_factory, kernel_env):
    """JupyterLab and Notebook 7 on localhost (each started when first
    needed), and the one course notebook open in them."""
    servers = FrontEnds(tmp_path_factory.mktemp("course"), kernel_env, NOTEBOOKS, WIDTH, HEIGHT, TIMEOUT_MS)
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def notebook(request, front_ends) -> CourseNotebook:
    """``request.param`` = (front end, notebook name): the notebook after Run
    All. The tests are ordered by it (conftest.py): each notebook runs once
    per front end, one at a time."""
    return front_ends.get(*request.param)


def _in(front_end: str, items) -> list:
    """Test parameters: each item of ``items`` (a widget or a view) in its
    notebook in ``front_end``."""
    return [pytest.param((front_end, item.notebook), item, id=f"{front_end}-{item}") for item in items
            if front_end == "lab" or item.notebook in CLASSIC]


def _notebooks(front_end: str, names) -> list:
    return [pytest.param((front_end, name), id=f"{front_end}-{name}") for name in names]


RUNS = _notebooks("lab", COURSE) + _notebooks("notebook", CLASSIC)
WIDGET_RUNS = _in("lab", WIDGETS) + _in("notebook", WIDGETS)
VIEW_RUNS = _in("lab", VIEWS) + _in("notebook", VIEWS)


@pytest.mark.parametrize("notebook", RUNS, indirect=True)
def test_saved_widgets_show_before_a_kernel_runs(notebook):
    """As committed, before Run All: each saved widget output is drawn from
    the notebook's saved widget state or shows its saved text form (for a
    course widget, a readable summary ending in FALLBACK_NOTE); no "Error
    displaying widget", no JavaScript error by then."""
    label = f"{notebook.label} (as committed, nothing run)"
    assert notebook.before, f"{label}: no saved widget output found"
    for i, out in notebook.before.items():
        assert out is not None, f"{label}: cell {i} shows no outputs"
        assert "Error displaying widget" not in out["text"], f"{label}: cell {i} shows {out['text'][:300]!r}"
        if out["widgets"] < len(out["saved"]):  # not drawn from the saved state: then its text form
            for text in filter(str.strip, out["saved"]):
                last = text.strip().splitlines()[-1]
                assert letters(last) in letters(out["text"]), (
                    f"{label}: cell {i} shows neither its saved widget nor its text form {last!r}: "
                    f"{out['text'][:300]!r}")
    if any(w.notebook == notebook.name and w.course for w in WIDGETS):
        assert any(FALLBACK_NOTE in t for out in notebook.before.values() if out for t in out["saved"]), \
            f"{label}: no course widget was saved with its readable text form (ending {FALLBACK_NOTE!r})"
    errors = [e for e in notebook.before_errors if e not in ALLOWED_PAGE_ERRORS.get(notebook.front_end, {})]
    assert errors == [], f"{label}: JavaScript errors: {errors}"


@pytest.mark.parametrize("notebook", RUNS, indirect=True)
def test_run_all_without_error(notebook):
    """Run All: every code cell ran, no error output, and the cells that show
    a course widget or an attention view are exactly those driven below."""
    assert notebook.errors() == [], f"{notebook.label}: error outputs after Run All: {notebook.errors()}"
    assert notebook.not_run() == [], f"{notebook.label}: cells not run by Run All: {notebook.not_run()}"
    shown = {(i, kind) for i, c in enumerate(notebook.state["cells"]) for kind in c.get("kinds", ())
             if kind in ("course widget", "attention view")}
    driven = {(cell_index(notebook.cells, w.cell), "course widget") for w in WIDGETS
              if w.notebook == notebook.name and w.course}
    driven |= {(cell_index(notebook.cells, v.cell), "attention view") for v in VIEWS if v.notebook == notebook.name}
    assert not driven - shown, (f"{notebook.label}: no course widget or attention view is shown by "
                                f"{sorted(driven - shown)} after Run All (the cell index and what it should show)")
    assert not shown - driven, (f"{notebook.label}: {sorted(shown - driven)} show a course widget or an "
                                "attention view that this test does not drive: add them to WIDGETS or VIEWS")
    page_text = notebook.page.locator(".jp-Notebook").first.text_content()  # also the cells not drawn yet
    assert "Error displaying widget" not in page_text, f"{notebook.label}: a widget failed to display"


@pytest.mark.parametrize("notebook, widget", WIDGET_RUNS, indirect=["notebook"])
def test_widget_responds(notebook, widget, screenshot_dir):
    w = WidgetDriver(notebook, widget.name, cell_index(notebook.cells, widget.cell))
    w.assert_live()
    widget.drive(w)
    w.screenshot(screenshot_dir, widget.name.replace(" ", "-"))


# What a head view changes when the reader hovers a token or picks a layer:
# each line's visibility (a hovered token shows only its own lines) and opacity.
_LINES_JS = """ls => ls.length + ':' + ls.map(
    l => (l.getAttribute('visibility') || '') + (l.getAttribute('stroke-opacity') || '')).join(',')"""


@pytest.mark.parametrize("notebook, view", VIEW_RUNS, indirect=["notebook"])
def test_attention_view_draws(notebook, view, screenshot_dir):
    """bertviz's JavaScript ran offline: the view has drawn its lines; a head
    view shows only a token's lines when the reader hovers it, and redraws
    them for another layer picked in its dropdown (when it has several)."""
    w = WidgetDriver(notebook, f"bertviz {view.name}", cell_index(notebook.cells, view.cell))
    frame = w.area.locator(".lm-course-attention-view")
    assert frame.count() == 1, f"{w.where()} is missing ({w.area.text_content()[:300]!r})"
    lines = frame.locator("svg line")
    try:
        lines.first.wait_for(state="attached", timeout=30_000)
    except Exception:
        pytest.fail(f"{w.where()} drew no lines: {frame.text_content()[:300]!r}")
    REPORT.actions.append(f"{notebook.label} · bertviz {view.name}: ran offline -> {lines.count():,} lines drawn")
    if view.name == "head view":
        token = frame.locator("#left text").last
        w.respond(f"hovered the last query token {token.text_content()!r}", token.hover, "svg line", "the lines",
                  js=_LINES_JS)
        select = frame.locator("select#layer")
        values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
        if len(values) > 1:
            other = next(v for v in values if v != select.input_value())
            w.respond(f"picked layer {other} in its dropdown", lambda: select.select_option(other), "svg line",
                      "the lines", js=_LINES_JS)
    w.screenshot(screenshot_dir, view.name.replace(" ", "-"))


@pytest.mark.parametrize("notebook", RUNS, indirect=True)
def test_layout_at_1280px(notebook):
    """At a 1280x800 window: no slider readout is clipped (the whole text is
    shown), and every attention view fits in the notebook or scrolls."""
    page = notebook.page
    clipped = []
    for readout in page.locator(".jp-Notebook .widget-readout").all():
        readout.scroll_into_view_if_needed()
        size = readout.evaluate("e => [e.scrollWidth, e.clientWidth, e.innerText]")
        if size[0] > size[1]:
            clipped.append(f"{size[2]!r} needs {size[0]} px, shows {size[1]} px")
    assert clipped == [], f"{notebook.label}: clipped slider readouts at {WIDTH} px: {clipped}"
    for frame in page.locator(".jp-Notebook .lm-course-attention-view").all():
        frame.scroll_into_view_if_needed()
        box = frame.evaluate("""e => {
          const s = getComputedStyle(e), out = e.closest('.jp-OutputArea-output').getBoundingClientRect();
          const r = e.getBoundingClientRect();
          return {sw: e.scrollWidth, cw: e.clientWidth, sh: e.scrollHeight, ch: e.clientHeight,
                  ox: s.overflowX, oy: s.overflowY, right: r.right, outRight: out.right, kind: e.className};
        }""")
        where = f"{notebook.label}: the {box['kind'].split()[-1]} at {WIDTH} px"
        assert box["right"] <= box["outRight"] + 1, f"{where} sticks out of the notebook: {box}"
        if box["sw"] > box["cw"]:
            assert box["ox"] in ("auto", "scroll"), f"{where} is cut off on the right with no scrollbar: {box}"
        if box["sh"] > box["ch"]:
            assert box["oy"] in ("auto", "scroll"), f"{where} is cut off at the bottom with no scrollbar: {box}"


@pytest.mark.parametrize("notebook", RUNS, indirect=True)
def test_no_page_error_and_nothing_fetched(notebook):
    """After Run All and every action: no uncaught JavaScript error, no
    request that would leave the machine (other than ALLOWED_BLOCKED)."""
    view = notebook.view
    errors = [e for e in view.errors if e not in ALLOWED_PAGE_ERRORS.get(notebook.front_end, {})]
    assert errors == [], f"{notebook.label}: JavaScript errors on the page: {errors}"
    blocked = [u for u in view.blocked if not any(re.search(p, u) for p in ALLOWED_BLOCKED)]
    assert blocked == [], f"{notebook.label}: requests that would leave the machine: {blocked}"
