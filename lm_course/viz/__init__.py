"""Plots of the course, one module per kind of picture.

Names are imported lazily (matplotlib loads only when a plot is drawn).
To add a plot: write it in the module that fits (or a new one) and list its
name in ``_WHERE`` below.
"""

from __future__ import annotations

from lm_course._lazy import lazy_exports

_WHERE = {
    # corpus tour (chapter 0)
    "plot_play_lengths": "lm_course.viz.corpus",
    "plot_char_frequencies": "lm_course.viz.corpus",
    "plot_zipf": "lm_course.viz.corpus",
    # scoreboard (every chapter)
    "plot_scoreboard": "lm_course.viz.scoreboard",
    # next-token distributions (chapters 1, 6 and the widgets)
    "plot_next_token_probs": "lm_course.viz.distributions",
    # n-grams (chapter 1)
    "plot_bigram_counts": "lm_course.viz.ngrams",
    "plot_bpc_vs_order": "lm_course.viz.ngrams",
    "plot_bpc_vs_discount": "lm_course.viz.ngrams",
    # training (chapters 2, 3, 5, 7)
    "plot_loss_curves": "lm_course.viz.curves",
    "plot_scaling_study": "lm_course.viz.curves",
    # embeddings (chapter 2)
    "plot_mlp_architecture": "lm_course.viz.embeddings",
    "plot_embeddings_2d": "lm_course.viz.embeddings",
    "plot_vocab_vs_length": "lm_course.viz.tokens",
    "plot_mixture_weight": "lm_course.viz.mixture",
    # recurrent networks (chapter 3)
    "plot_lstm_cell": "lm_course.viz.rnn",
    "plot_unrolled_rnn": "lm_course.viz.rnn",
    "plot_gradient_norms": "lm_course.viz.rnn",
    "plot_gate_histograms": "lm_course.viz.rnn",
    "plot_hidden_heatmap": "lm_course.viz.rnn",
    "plot_clipping_runs": "lm_course.viz.rnn",
    "plot_context_resets": "lm_course.viz.rnn",
    # attention maps (chapters 4, 5, 6)
    "plot_attention": "lm_course.viz.attention",
    # the heads of a Transformer (chapter 5)
    "plot_head_scores": "lm_course.viz.transformer",
    # decoding strategies and the KV cache (chapter 6)
    "plot_temperature": "lm_course.viz.sampling",
    "plot_filtered_probs": "lm_course.viz.sampling",
    "plot_top_p_cut": "lm_course.viz.sampling",
    "plot_cumulative_log_prob": "lm_course.viz.sampling",
    "plot_kept_counts": "lm_course.viz.sampling",
    "plot_generation_speed": "lm_course.viz.sampling",
    # pre-training objectives and fine-tuning (chapter 7)
    "plot_lm_masks": "lm_course.viz.finetune",
    "plot_accuracy_curves": "lm_course.viz.finetune",
    "plot_confusion_matrix": "lm_course.viz.finetune",
    "plot_class_probs": "lm_course.viz.finetune",
    "plot_seed_spread": "lm_course.viz.finetune",
}

__all__, __getattr__, __dir__ = lazy_exports("lm_course.viz", _WHERE)
