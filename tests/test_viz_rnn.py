"""Chapter 3's plots (lm_course.viz.rnn) and the float64 gradient norms
behind the "Gradients through time" curves."""

import matplotlib
import torch

from lm_course.rnn_analysis import hidden_gradient_norms, random_recurrent_layer
from lm_course.viz.rnn import plot_clipping_runs, plot_context_resets, plot_lstm_cell

matplotlib.use("Agg")


def test_lstm_cell_diagram_draws():
    ax = plot_lstm_cell()
    assert ax.get_title() and ax.get_legend() is not None
    texts = {t.get_text() for t in ax.texts}
    assert {"$c_{t-1}$", "$c_t$", "$h_{t-1}$", "$h_t$", "$x_t$", "tanh", "σ", "+", "×"} <= texts
    assert min(t.get_fontsize() for t in ax.texts) >= 8


def test_context_reset_curves_overlay():
    ax = plot_context_resets([1, 2, 4], [3.0, 2.5, 2.4], carried=2.3, label="A: resets", colour="C0")
    plot_context_resets([1, 2, 4], [3.2, 2.6, 2.5], carried=2.35, label="B: resets", colour="C1", ax=ax,
                        title="two models")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["A: resets", "A, state carried (2.300)", "B: resets", "B, state carried (2.350)"]
    assert ax.get_title() == "two models"


def test_gradient_norms_do_not_underflow_in_the_squares():
    # a strongly contracting RNN: late gradients have entries far below 1e-19,
    # whose squares underflow float32; the float64 norm still sees them
    x = torch.randn(4, 60, 5, generator=torch.Generator().manual_seed(0))
    norms = hidden_gradient_norms(random_recurrent_layer("rnn", 5, 16, spectral_radius=0.3), x)
    assert norms.dtype == torch.float64
    tiny = norms[(norms > 0) & (norms < 1e-25)]
    assert len(tiny) > 0  # a float32 norm would have returned 0 here


def test_clipping_runs_overlay_seeds_with_one_legend_entry_each():
    seeds = [([4.0, 3.0, 9.0], [1.0, 2e3, 5.0]), ([4.0, 3.5, 7.0], [1.0, 50.0, 3.0])]
    fig = plot_clipping_runs({"no clipping": seeds, "clipped": ([4.0, 3.0, 2.9], [1.0, 2.0, 0.5])},
                             uniform_bits=5.98)
    ax_loss, ax_norm = fig.axes
    assert len(ax_loss.lines) == 4  # three runs and the uniform line
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert labels == ["no clipping (2 seeds)", "clipped", "uniform guess (5.98)"]
    assert ax_norm.get_yscale() == "log"
