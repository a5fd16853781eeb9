"""What the course widgets share (lm_course/widgets/display.py): a chart that
replaces what an Output holds, the red message line, and the plain-text
fallback every widget displays with (the genre box's included)."""

import base64

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from lm_course.widgets.display import (FALLBACK_NOTE, display_widget, error_html, figure_output,  # noqa: E402
                                       shorten, show_figure)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    plt.close(fig)
    return fig


def test_show_figure_replaces_what_the_output_holds():
    out = widgets.Output()
    out.append_stdout("an old line\n")
    show_figure(out, _figure())
    (only,) = out.outputs
    assert only["output_type"] == "display_data"
    assert base64.b64decode(only["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    show_figure(out, None)
    assert out.outputs == ()
    with pytest.raises(ValueError, match="no axes"):
        figure_output(plt.figure())


def test_error_html_escapes():
    assert error_html("bad <b>'x'</b>") == '<span style="color:#b00020">⚠ bad &lt;b&gt;&#x27;x&#x27;&lt;/b&gt;</span>'
    assert "'x'" in error_html("'x'", quote=False)


def test_shorten_keeps_the_end_visible():
    assert shorten("") == "∅" and shorten("a b\n") == "a␣b↵"
    assert shorten("x" * 100 + "end", n=5) == "…xxend"


def test_display_widget_gives_a_readable_text_form(monkeypatch):
    box = widgets.VBox([widgets.Text("hi")])
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    display_widget(box, "what it shows")
    (bundle, raw), = shown
    assert raw and bundle["text/plain"] == f"what it shows\n{FALLBACK_NOTE}"
    assert "VBox" not in bundle["text/plain"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id


def test_genre_box_summary():
    from lm_course.classifier import make_classifier
    from lm_course.corpus import corpus_tokenizer
    from lm_course.gpt import GPT, GPTConfig
    from lm_course.widgets import genre_box

    torch.manual_seed(0)
    model = make_classifier("full", GPT(GPTConfig(vocab_size=63, block_size=24, n_layer=1, n_head=2,
                                                     n_embd=16)).eval())
    box = genre_box({"tiny": model}, corpus_tokenizer(), text="Ay me!")
    p = box.last_view.probs["tiny"]
    assert box.summary().splitlines()[1] == f"tiny: P(comedy) = {p['comedy']:.2f}, P(tragedy) = {p['tragedy']:.2f}"
    box.text.value = "5 * 5"
    assert "not in this tokenizer" in box.summary() and "P(comedy)" not in box.summary()
