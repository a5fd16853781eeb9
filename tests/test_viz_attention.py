"""lm_course.viz.plot_attention: one map or a grid, labels, colour bar, errors."""

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lm_course.attention import causal_mask  # noqa: E402
from lm_course.viz import plot_attention  # noqa: E402


def _layers(L=2, H=3, T=5):
    g = torch.Generator().manual_seed(0)
    return [torch.softmax(torch.randn(1, H, T, T, generator=g), -1) for _ in range(L)]


def test_one_head_has_token_labels_values_and_a_colour_bar():
    w = torch.softmax(torch.randn(4, 4).masked_fill(~causal_mask(4), float("-inf")), -1)
    fig = plot_attention(w, ["a", " ", "c", "\n"])
    ax, cbar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "␣", "c", "↵"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "␣", "c", "↵"]
    assert ax.get_title() == "Attention weights" and ax.get_xlabel() and ax.get_ylabel()
    assert cbar.get_ylabel() == "attention weight"
    assert len(ax.texts) == 16  # small map: every weight written in its cell
    torch.testing.assert_close(torch.tensor(ax.images[0].get_array()), w.double())


def test_a_grid_of_layers_and_heads():
    fig = plot_attention(_layers(L=2, H=3), list("hello"), title="two layers")
    maps = [a for a in fig.axes if a.images]
    assert len(maps) == 6 and fig._suptitle.get_text() == "two layers"
    assert maps[4].get_title() == "layer 1, head 1"
    for a in maps:  # readable labels: at least 8 pt, every position labelled on a small map
        assert [t.get_text() for t in a.get_xticklabels()] == list("hello")
        assert min(t.get_fontsize() for t in a.get_xticklabels() + a.get_yticklabels()) >= 8


def test_long_grids_label_fewer_positions_rather_than_shrinking_the_labels():
    fig = plot_attention(_layers(L=2, H=4, T=48))
    for a in (a for a in fig.axes if a.images):
        labels = a.get_yticklabels()
        assert min(t.get_fontsize() for t in labels) >= 8 and 1 < len(labels) < 48


def test_selecting_layer_head_and_the_mean():
    layers = _layers(L=2, H=3)
    fig = plot_attention(layers, list("hello"), layer=1, head=2)
    ax = fig.axes[0]
    assert ax.get_title() == "Attention weights: layer 1, head 2"
    torch.testing.assert_close(torch.tensor(ax.images[0].get_array()), layers[1][0, 2].double())
    fig = plot_attention(layers, list("hello"), layer=0, head="mean")
    torch.testing.assert_close(torch.tensor(fig.axes[0].images[0].get_array()), layers[0][0].mean(0).double())
    one_layer = plot_attention(layers[0][0], list("hello"), max_cols=2)  # (H, T, S): 3 heads wrap in 2 columns
    assert sum(1 for a in one_layer.axes if a.images) == 3


def test_queries_and_keys_can_differ():
    w = torch.softmax(torch.randn(2, 5), -1)
    ax = plot_attention(w, ["q1", "q2"], list("abcde")).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "q2"]
    assert len(ax.get_xticklabels()) == 5


def test_bad_input_gives_clear_errors():
    layers = _layers()
    with pytest.raises(ValueError, match="5 query positions but 3"):
        plot_attention(layers, list("abc"))
    with pytest.raises(ValueError, match="layer must be"):
        plot_attention(layers, layer=2)
    with pytest.raises(ValueError, match="head must be"):
        plot_attention(layers, head=3)
    with pytest.raises(ValueError, match="'mean'"):
        plot_attention(layers, head="max")
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="ax can hold one map"):
        plot_attention(layers, ax=ax)
    with pytest.raises(ValueError, match="NaN"):
        plot_attention(torch.full((2, 2), float("nan")))
