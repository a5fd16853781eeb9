"""Widgets drawn as static HTML from a notebook's saved widget state (the
offline decks' form of every widget), without a browser."""

from pathlib import Path

import nbformat
import pytest

from lm_course.widgets.static import STATIC_CLASS, static_widget_html, widget_state

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VIEW = "application/vnd.jupyter.widget-view+json"


def _model(name, **state):
    return {"model_name": name, "state": {"_model_name": name, **state}}


def test_a_box_of_widgets_shows_each_value():
    state = {
        "box": _model("VBoxModel", children=["IPY_MODEL_text", "IPY_MODEL_slider", "IPY_MODEL_row"]),
        "text": _model("TextareaModel", description="prompt", value="To be <or> not"),
        "slider": _model("FloatSliderModel", description="temperature", value=0.8, min=0.05, max=2.5,
                         readout_format=".2f"),
        "row": _model("HBoxModel", children=["IPY_MODEL_mode", "IPY_MODEL_button", "IPY_MODEL_chart",
                                              "IPY_MODEL_html", "IPY_MODEL_log"]),
        "mode": _model("ToggleButtonsModel", description="decoding", _options_labels=["sample", "greedy"], index=1),
        "button": _model("ButtonModel", description="Generate"),
        "chart": _model("OutputModel", outputs=[{"output_type": "display_data",
                                                 "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}]),
        "html": _model("HTMLModel", value="<b>bold</b>"),
        "log": _model("FloatLogSliderModel", description="add-k", value=-3.0, base=10, min=-6, max=8),
    }
    drawn = static_widget_html("box", state)
    assert drawn.startswith(f'<div class="{STATIC_CLASS}"')
    assert "To be &lt;or&gt; not" in drawn  # typed text is escaped, never interpreted
    assert "temperature" in drawn and "0.80" in drawn and "0.001" in drawn
    assert "greedy" in drawn and "Generate" in drawn and "<b>bold</b>" in drawn
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in drawn
    assert drawn.count(STATIC_CLASS) == 1  # one outer box, the children inline


def test_a_widget_not_saved_draws_nothing():
    assert static_widget_html("missing", {}) == ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_saved_widget_of_the_course_draws_with_content(path):
    nb = nbformat.read(path, as_version=4)
    state = widget_state(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if VIEW in out.get("data", {}):
                drawn = static_widget_html(out["data"][VIEW]["model_id"], state)
                assert drawn and (len(drawn) > 400 or "<img" in drawn), f"{path.stem}: {drawn[:200]}"
