"""Chapter 1's plots (the bigram heatmap, bits per character against the
order and against the discount), and readable ticks in chapter 0's corpus plots."""

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
    assert "circled: each method's best order" in labels  # the best-order circles are explained
    assert ax.get_ylim()[1] > math.log2(63)
    assert ax.get_xlabel().startswith("order")
    with pytest.raises(ValueError, match="empty"):
        viz.plot_bpc_vs_order({})
    with pytest.raises(ValueError, match="infinite"):
        viz.plot_bpc_vs_order({"MLE": {2: math.inf}})


def test_bpc_vs_discount_marks_best_chosen_and_estimate():
    from lm_course.viz.ngrams import plot_bpc_vs_discount

    ax = plot_bpc_vs_discount({0.5: 2.3, 0.9: 2.19, 0.95: 2.18, 0.99: 2.2}, chosen=0.9, estimate=0.67)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("lowest: D = 0.95" in label for label in labels)
    assert any("chosen" in label and "0.9" in label for label in labels)
    assert any("0.670" in label for label in labels)
    assert ax.get_xlabel() == "discount D" and "bits" in ax.get_ylabel() and ax.get_title()
    with pytest.raises(ValueError, match="empty"):
        plot_bpc_vs_discount({})
    with pytest.raises(ValueError, match="finite"):
        plot_bpc_vs_discount({0.5: math.inf})


def test_tick_labels_are_readable():
    from lm_course.viz.corpus import plot_char_frequencies, plot_play_lengths

    ax = plot_char_frequencies("to be or not to be\n")
    assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 8
    ax = plot_play_lengths({"a": "xx", "b": "xxx"}, {"a": "train", "b": "val"})
    assert min(t.get_fontsize() for t in ax.get_yticklabels()) >= 8
