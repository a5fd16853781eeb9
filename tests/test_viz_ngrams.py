"""Chapter 1's plots: the bigram heatmap and bits per character against the order."""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lm_course import viz  # noqa: E402


def test_bigram_heatmap_labels_and_annotations():
    counts = torch.tensor([[0, 3, 1], [2, 0, 0], [5, 1, 0]])
    ax = viz.plot_bigram_counts(counts, [".", "a", " "])
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == [".", "a", "␣"]  # (and again on top)
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "2", "3", "5"]  # non-zero cells only
    assert ax.get_xlabel() == "next character" and ax.get_ylabel() == "current character"
    assert "12 bigrams" in ax.get_title()
    assert len(ax.figure.axes) == 2  # the colour bar
    assert len(viz.plot_bigram_counts(counts, [".", "a", "b"], annotate=False).texts) == 0
    with pytest.raises(ValueError, match="square"):
        viz.plot_bigram_counts(torch.zeros(2, 3), ["a", "b"])
    with pytest.raises(ValueError, match="labels"):
        viz.plot_bigram_counts(counts, ["a", "b"])


def test_bpc_vs_order_draws_lines_infinities_and_sparsity():
    results = {"add-one": {1: 4.8, 2: 3.6, 3: 3.9}, "MLE": {1: 4.8, 2: math.inf, 3: math.inf}}
    ax = viz.plot_bpc_vs_order(results, vocab_size=63, unseen_fraction={1: 0.0, 2: 0.01, 3: 0.2})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "add-one" in labels and "MLE: infinite (zero probability)" in labels
    assert any(label.startswith("uniform guess") for label in labels)
    assert any("unseen" in label for label in labels)
    assert ax.get_ylim()[1] > math.log2(63)
    assert ax.get_xlabel().startswith("order")
    with pytest.raises(ValueError, match="empty"):
        viz.plot_bpc_vs_order({})
    with pytest.raises(ValueError, match="infinite"):
        viz.plot_bpc_vs_order({"MLE": {2: math.inf}})
