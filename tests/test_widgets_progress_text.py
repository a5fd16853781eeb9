"""tools/progress_text.py: saved tqdm bars get their final line as text/plain
(what readers without the widget see), read from the saved widget state."""

import copy
from pathlib import Path

import nbformat
import pytest
from tool_util import load_tool

ROOT = Path(__file__).resolve().parent.parent
progress_text = load_tool("progress_text")


def _notebook(value: float, total: float = 400.0):
    """One cell with one saved tqdm bar, as nbclient stores it."""
    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {
        "box": model("HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]),
        "left": model("HTMLModel", value="training:\u2007100%"),
        "bar": model("FloatProgressModel", value=value, max=total, min=0.0, bar_style="success"),
        "right": model("HTMLModel", value="\u2007400/400\u2007[00:03&lt;00:00,\u2007116.13it/s,\u2007loss=1.933]"),
    }
    out = nbformat.v4.new_output("display_data", data={
        "text/plain": "training:   0%|          | 0/400 [00:00<?, ?it/s]",
        progress_text.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0}})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("train()", outputs=[out])])
    nb.metadata["widgets"] = {progress_text.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_a_finished_bar_reads_its_final_line():
    nb = _notebook(400.0)
    assert progress_text.finalize(nb) == 1
    text = nb.cells[0].outputs[0].data["text/plain"]
    assert text == "training: 100%|██████████| 400/400 [00:03<00:00, 116.13it/s, loss=1.933]"
    assert progress_text.finalize(nb) == 0  # already final: nothing to do


def test_the_bar_is_as_long_as_the_percentage_it_shows():
    nb = _notebook(200.0)
    left = nb.metadata["widgets"][progress_text.WIDGET_STATE]["state"]["left"]["state"]
    left["value"] = "training:\u200750%"
    progress_text.finalize(nb)
    assert nb.cells[0].outputs[0].data["text/plain"].startswith("training: 50%|█████     |")
    nb = _notebook(300.0)
    left = nb.metadata["widgets"][progress_text.WIDGET_STATE]["state"]["left"]["state"]
    left["value"] = "no percentage here"  # then the progress model's value says how far it got
    progress_text.finalize(nb)
    assert "|███████▌  |" in nb.cells[0].outputs[0].data["text/plain"]


def test_other_widgets_are_left_alone():
    nb = _notebook(400.0)
    nb.cells[0].outputs[0].data["text/plain"] = "VBox(children=(Text(value='x'),))"
    assert progress_text.finalize(nb) == 0
    nb = _notebook(400.0)
    nb.metadata["widgets"][progress_text.WIDGET_STATE]["state"]["bar"]["model_name"] = "IntSliderModel"
    assert progress_text.finalize(nb) == 0


@pytest.mark.parametrize("name", ["03_rnns.ipynb", "05_transformer.ipynb"])
def test_the_committed_bars_have_final_values_to_show(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    fixed = copy.deepcopy(nb)
    progress_text.finalize(fixed)
    texts = [o.data["text/plain"] for c in fixed.cells for o in c.get("outputs", [])
             if progress_text.WIDGET_VIEW in o.get("data", {}) and "it/s" in o.data["text/plain"]]
    assert texts and all("100%|██████████|" in t for t in texts), texts
    assert all(" 0/" not in t for t in texts)
