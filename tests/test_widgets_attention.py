"""The attention and query explorers, driven without a browser."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lm_course.toy_attention import ToyAttentionModel, ToyConfig  # noqa: E402
from lm_course.widgets import attention_explorer, query_explorer  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ToyAttentionModel(ToyConfig(n_layers=2, n_heads=2, d_model=16)).eval()


def test_explorer_follows_the_text_layer_and_head(model):
    ex = attention_explorer(model, text="abcdefgh")
    view = ex.view()
    assert view.ok and view.tokens == list("abcdefgh") and view.weights.shape == (2, 8, 8)
    ex.text.value = "hgfedcba"
    ex.layer.value = 1
    ex.head.value = 1
    view = ex.last_view
    expected = model(model.encode("hgfedcba"), output_attentions=True).attentions[1][0, 1]
    torch.testing.assert_close(view.weights, expected.double())
    ex.head.value = "mean"
    torch.testing.assert_close(ex.last_view.weights.sum(-1), torch.ones(8, dtype=torch.float64))


def test_explorer_shows_a_message_for_text_it_cannot_read(model):
    ex = attention_explorer(model, text="abc")
    assert "exactly 8" in ex.last_view.message and "⚠" in ex.info.value
    ex.text.value = "abcdefg!"
    assert "not in this tokenizer" in ex.last_view.message
    ex.text.value = "__import__('os')"  # typed text is tokenized, never evaluated
    assert not ex.last_view.ok


def test_maps_are_captioned_with_their_layer_and_head(model):
    ex = attention_explorer(model, text="abcdefgh")
    ex.layer.value = 1
    fig = ex.figure(ex.last_view)  # every head of layer 1: a grid
    titles = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titles == ["layer 1, head 0", "layer 1, head 1"]
    assert "layer 1" in fig._suptitle.get_text()
    ex.head.value = 1
    maps = [ax for ax in ex.figure(ex.last_view).axes if ax.get_images()]
    assert len(maps) == 1 and maps[0].get_title() == "Attention in layer 1, head 1"
    torch.testing.assert_close(torch.tensor(maps[0].get_images()[0].get_array()), ex.last_view.weights)
    ex.head.value = "mean"
    assert "layer 1, mean of heads" in [ax for ax in ex.figure(ex.last_view).axes if ax.get_images()][0].get_title()


def test_every_head_is_a_selection_the_dropdown_can_show(model):
    ex = attention_explorer(model, text="abcdefgh")
    # a Dropdown whose value is None has no selection (the browser draws an empty box)
    assert ex.head.value is not None and ex.head.index == 0 and ex.head.label == "every head"
    assert ex.last_view.head is None and ex.last_view.weights.shape == (2, 8, 8)
    ex.head.value = 0
    ex.head.index = 0  # and back, as the reader picks it again
    assert ex.last_view.head is None and ex.last_view.weights.shape == (2, 8, 8)


def test_a_message_replaces_the_map_of_the_previous_text(model):
    ex = attention_explorer(model, text="abcdefgh")
    assert len(ex.output.outputs) == 1 and "image/png" in ex.output.outputs[0]["data"]
    ex.text.value = "abcdefg!"
    assert ex.output.outputs == () and "⚠" in ex.info.value
    ex.text.value = "hgfedcba"
    assert len(ex.output.outputs) == 1
    assert "hgfedcba" in ex.summary() and "head 1:" in ex.summary()
    ex.head.value = 0
    first = ex.summary().splitlines()[-1]  # head 0: each query and the key it attends to most
    weights = ex.last_view.weights  # (T, S)
    assert first.startswith("head 0: h→") and f"{float(weights[0].max()):.2f}" in first.split(",")[0]


def test_query_explorer_draws_and_summarises():
    ex = query_explorer()
    assert len(ex.output.outputs) == 1 and "image/png" in ex.output.outputs[0]["data"]
    assert "cat 0.465" in ex.summary() and "3.38 legs" in ex.summary()


def test_explorer_on_precomputed_weights():
    layers = [torch.softmax(torch.randn(1, 3, 4, 4), -1) for _ in range(2)]
    ex = attention_explorer(attentions=layers, tokens=list("abcd"))
    assert ex.text is None and ex.layer.max == 1
    ex.head.value = 2
    torch.testing.assert_close(ex.last_view.weights, layers[0][0, 2].double())
    with pytest.raises(ValueError, match="either a model"):
        attention_explorer()
    with pytest.raises(ValueError, match="4 keys but 3"):
        attention_explorer(attentions=layers, tokens=list("abc"))


def test_query_explorer_reproduces_section_1_by_default():
    ex = query_explorer()
    v = ex.view()
    # the notebook's section 1: keys cat/dog/car/bus, values (legs, wheels), query (1, 0), unscaled q . k
    keys = torch.tensor([[1.0, 0.2], [0.8, 0.6], [-0.9, 0.4], [-0.7, -0.8]])
    values = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    want = torch.softmax(keys @ torch.tensor([1.0, 0.0]), 0)
    torch.testing.assert_close(v.weights, want)
    torch.testing.assert_close(v.output, want @ values)
    assert [round(w, 3) for w in v.weights.tolist()] == [0.465, 0.381, 0.070, 0.085]
    assert "3.38 legs, 0.79 wheels" in ex.info.value and "cat 0.465" in ex.info.value
    ex.sharpness.value = 4.0  # section 1's "query x 4"
    torch.testing.assert_close(ex.view().weights, torch.softmax(keys @ torch.tensor([4.0, 0.0]), 0))
    ex.sharpness.value = 1.0
    ex.scaled.value = True  # scaled dot-product attention: divide by sqrt(2)
    torch.testing.assert_close(ex.view().weights, torch.softmax(keys @ torch.tensor([1.0, 0.0]) / 2 ** 0.5, 0))


def test_query_explorer_weights_follow_the_query():
    ex = query_explorer({"cat": (1.0, 0.2), "dog": (0.8, 0.6), "bus": (-0.7, -0.8)})
    v = ex.view()
    torch.testing.assert_close(v.weights.sum(), torch.tensor(1.0))
    assert ex.labels[int(v.weights.argmax())] == "cat"  # query (1, 0) is closest in direction to cat
    torch.testing.assert_close(v.output, v.weights)  # your own keys: one-hot values, the output is the weights
    ex.qx.value, ex.qy.value = -1.0, -1.0
    assert ex.labels[int(ex.view().weights.argmax())] == "bus"
    before = ex.view().weights.max()
    ex.sharpness.value = 16.0
    assert ex.view().weights.max() > before  # larger scores: a more peaked softmax
    assert "output" in ex.info.value
    with pytest.raises(ValueError, match="2-D point"):
        query_explorer({"a": (1.0, 2.0, 3.0)})
    with pytest.raises(ValueError, match="one value per key"):
        query_explorer({"a": (1.0, 2.0)}, values=torch.ones(2, 2))
    with pytest.raises(ValueError, match="value_names"):
        query_explorer({"a": (1.0, 2.0)}, values=torch.ones(1, 2), value_names=["legs"])
