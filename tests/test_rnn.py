"""Chapter 3: the hand-written RNN cell, the RNN/LSTM/GRU language models,
gradient analysis and plots."""

import math

import matplotlib
import pytest
import torch
import torch.nn as nn

from lm_course.evaluate import bits_per_token
from lm_course.interface import LanguageModel
from lm_course.checkpoints import CheckpointError, load_model, save_model
from lm_course.rnn import KINDS, RNNCell, RNNConfig, RNNLanguageModel, UnrolledRNN
from lm_course.rnn_analysis import (bits_with_context_resets, hidden_gradient_norms, lstm_gates, random_recurrent_layer,
                                    set_spectral_radius, spectral_radius, text_features,
                                    units_tracking)
from lm_course.train import TrainConfig, train

matplotlib.use("Agg")


def _model(kind="lstm", V=11, H=16, layers=1, seed=0):
    torch.manual_seed(seed)
    return RNNLanguageModel(RNNConfig(V, H, kind, num_layers=layers, embed_size=8)).eval()


# ------------------------------------------------------------------ the cell by hand
def test_hand_cell_matches_torch_rnn():
    torch.manual_seed(0)
    ref = nn.RNN(5, 7, batch_first=True)
    cell = RNNCell(5, 7).load_from_torch(ref)
    x = torch.randn(3, 12, 5)
    h0 = torch.randn(3, 7)
    hs, ys = UnrolledRNN(cell)(x, h0)
    want, h_n = ref(x, h0[None])
    assert ys is None and hs.shape == (3, 12, 7)
    assert torch.allclose(hs, want, atol=1e-6, rtol=0)
    assert torch.allclose(hs[:, -1], h_n[0], atol=1e-6, rtol=0)


def test_cell_equation_and_readout():
    torch.manual_seed(1)
    cell = RNNCell(4, 6, output_size=3)
    x, h = torch.randn(2, 4), torch.randn(2, 6)
    h1 = cell(x, h)
    assert torch.allclose(h1, torch.tanh(cell.W_hh @ h.T + cell.W_xh @ x.T + cell.b_h[:, None]).T)
    assert torch.allclose(cell.readout(h1), h1 @ cell.W_hy.T + cell.b_y)
    hs, ys = UnrolledRNN(cell)(torch.randn(2, 5, 4))
    assert ys.shape == (2, 5, 3)


def test_cell_bad_inputs():
    with pytest.raises(ValueError, match="hidden_size"):
        RNNCell(3, 0)
    cell = RNNCell(3, 4)
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        cell(torch.randn(2, 5))
    with pytest.raises(ValueError, match="h_prev"):
        cell(torch.randn(2, 3), torch.randn(2, 5))
    with pytest.raises(RuntimeError, match="no output layer"):
        cell.readout(torch.randn(2, 4))
    with pytest.raises(ValueError, match="one-layer"):
        cell.load_from_torch(nn.RNN(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="shape mismatch"):
        cell.load_from_torch(nn.RNN(3, 5))
    with pytest.raises(ValueError, match="time"):
        UnrolledRNN(cell)(torch.randn(4, 3))


def test_gradient_flows_through_time_in_the_hand_rnn():
    torch.manual_seed(0)
    cell = RNNCell(3, 4, output_size=2)
    x = torch.randn(1, 6, 3, requires_grad=True)
    h0 = torch.zeros(1, 4, requires_grad=True)
    _, ys = UnrolledRNN(cell)(x, h0)
    ys[0, -1].sum().backward()  # the loss at the last step only
    assert x.grad[0, 0].abs().sum() > 0  # reached the first input ...
    assert h0.grad.abs().sum() > 0  # ... and the initial state
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cell.parameters())


# ------------------------------------------------------------------ the language model
@pytest.mark.parametrize("kind,layers", [("rnn", 1), ("lstm", 1), ("gru", 1), ("lstm", 2)])
def test_step_by_step_equals_batched_forward(kind, layers):
    m = _model(kind, layers=layers)
    assert isinstance(m, LanguageModel) and m.context_length is None
    ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    logits = m(torch.tensor([ids]))  # (1, T, V)
    assert logits.shape == (1, len(ids), 11)
    batched = torch.softmax(logits[0], dim=-1)  # (T, V)
    for t in (1, 4, len(ids)):
        p = m.next_token_probs(ids[:t])
        assert p.shape == (11,) and abs(float(p.sum()) - 1) < 1e-5
        assert torch.allclose(p, batched[t - 1], atol=1e-6)


def test_state_carries_across_chunks():
    m = _model("gru")
    x = torch.randint(11, (2, 20))
    whole = m(x)
    first, state = m(x[:, :7], return_state=True)
    second = m(x[:, 7:], state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-6)


def test_token_log_probs_exact_and_streamed():
    m = _model("lstm")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(11, (300,), generator=g).tolist()
    exact = m.token_log_probs(ids, streams=1, chunk=37)
    step = torch.tensor([math.log(float(m.next_token_probs(ids[:t])[ids[t]])) for t in range(1, 40)])
    assert exact.shape == (299,) and exact.dtype == torch.float64
    assert torch.allclose(exact[:39], step.double(), atol=1e-5)
    # with a warm-up as long as the text, parallel streams change nothing
    assert torch.allclose(m.token_log_probs(ids, streams=7, warmup=300, chunk=16), exact, atol=1e-5)
    # with a short warm-up they differ only a little (the start of each stream)
    approx = m.token_log_probs(ids, streams=7, warmup=20)
    assert approx.shape == exact.shape and abs(float(approx.mean() - exact.mean())) < 0.01
    assert abs(bits_per_token(m, ids) + float(m.token_log_probs(ids).mean()) / math.log(2)) < 1e-9


def test_gradient_reaches_the_first_token():
    for kind in KINDS:
        m = _model(kind).train()
        idx = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
        m(idx)[0, -1].logsumexp(-1).backward()  # depends on the first token only through the recurrence
        assert all(p.grad is not None for p in m.parameters()), kind
        assert m.embed.weight.grad[1].abs().sum() > 0, kind  # token 1 sat at t = 0


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_learns_a_tiny_text(kind):
    text = "to be or not to be, that is the question.\n" * 30
    chars = sorted(set(text))
    ids = [chars.index(c) for c in text]
    torch.manual_seed(0)
    m = RNNLanguageModel(RNNConfig(len(chars), 32, kind, embed_size=8))
    hist = train(m, ids, ids, TrainConfig(steps=60, batch_size=8, block_size=24, lr=1e-2,
                                          eval_interval=30, eval_batches=2, warmup_steps=5,
                                          progress=False))
    assert hist.val_loss[-1] < hist.val_loss[0] - 1.0, (kind, hist.val_loss)


def test_generate_is_seeded_and_checks_its_arguments():
    m = _model("gru")
    a = m.generate([1, 2], 25, temperature=0.8, seed=3)
    assert a == m.generate([1, 2], 25, temperature=0.8, seed=3)
    assert len(a) == 27 and a[:2] == [1, 2] and all(0 <= i < 11 for i in a)
    assert a != m.generate([1, 2], 25, temperature=0.8, seed=4)
    assert m.generate([1, 2], 0) == [1, 2]
    with pytest.raises(ValueError, match="temperature"):
        m.generate([1], 5, temperature=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        m.generate([1], -1)


def test_generate_regression():
    """Exact ids for a fixed seed (torch 2.x CPU): catches accidental changes
    to initialisation or sampling order."""
    m = _model("lstm", seed=0)
    assert m.generate([0], 12, seed=0) == [0, 6, 6, 0, 8, 3, 3, 8, 3, 5, 1, 5, 7]


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="unknown kind"):
        RNNLanguageModel(RNNConfig(10, 8, kind="transformer"))
    with pytest.raises(ValueError, match="hidden_size"):
        RNNLanguageModel(RNNConfig(10, 0))
    with pytest.raises(ValueError, match="vocab_size"):
        RNNLanguageModel(RNNConfig(0, 8))
    with pytest.raises(ValueError, match="dropout"):
        RNNLanguageModel(RNNConfig(10, 8, dropout=1.5))
    m = _model()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m.next_token_probs([1, 11])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m.next_token_probs([-1])
    with pytest.raises(ValueError, match="empty"):
        m.next_token_probs([])
    with pytest.raises(TypeError, match="string"):
        m.next_token_probs("hello")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m(torch.tensor([[0, 12]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        m(torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="at least 2 tokens"):
        m.token_log_probs([3])
    with pytest.raises(ValueError, match="streams"):
        m.token_log_probs([3, 4], streams=0)
    with pytest.raises(ValueError, match="memory cell"):
        _model("gru").hidden_states([1, 2], which="c")


def test_hidden_states():
    m = _model("lstm")
    ids = [1, 2, 3, 4, 5]
    h = m.hidden_states(ids)
    c = m.hidden_states(ids, which="c")
    assert h.shape == c.shape == (5, 16)
    out, (h_n, c_n) = m.rnn(m.embed(torch.tensor([ids])))
    assert torch.allclose(h[-1], h_n[0, 0], atol=1e-6) and torch.allclose(c[-1], c_n[0, 0], atol=1e-6)


def test_save_load_round_trip(tmp_path):
    from safetensors.torch import save_file

    m = _model("gru")
    path = save_model(m, tmp_path / "m.safetensors", {"note": "hi"})
    m2, extra = load_model(path)
    assert extra == {"note": "hi"} and m2.kind == "gru"
    assert torch.equal(m2(torch.tensor([[1, 2, 3]])), m(torch.tensor([[1, 2, 3]])))
    # the declared config does not fit the tensors
    bad = {k: v for k, v in m.state_dict().items()}
    bad["head.weight"] = torch.zeros(11, 99)
    save_file(bad, str(tmp_path / "bad.safetensors"),
              metadata={"format": "lm_course.rnn", "config": '{"vocab_size": 11, "hidden_size": 16, '
                        '"kind": "gru", "num_layers": 1, "embed_size": 8, "dropout": 0.0}'})
    with pytest.raises(ValueError, match="shape mismatch"):
        load_model(tmp_path / "bad.safetensors")
    save_file(m.state_dict(), str(tmp_path / "kind.safetensors"),  # an invalid config: an error naming the file
              metadata={"format": "lm_course.rnn", "config": '{"vocab_size": 11, "hidden_size": 16, "kind": "xyz"}'})
    with pytest.raises(CheckpointError, match=r"kind\.safetensors declares an invalid RNN config: .*'xyz'"):
        load_model(tmp_path / "kind.safetensors")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not an lm_course RNN checkpoint"):
        load_model(tmp_path / "other.safetensors", "lm_course.rnn")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.safetensors")


def test_reference_checkpoint_is_small_and_loads():
    from lm_course.reference import load_reference, reference_path

    assert reference_path("lstm").stat().st_size < 2_100_000
    model, record = load_reference("lstm")
    assert model.kind == "lstm" and model.vocab_size == 63
    val_loss = record["history"]["val_loss"]
    assert val_loss and val_loss[-1] < val_loss[0]


# ------------------------------------------------------------------ gradients and units
def test_spectral_radius_rescaling():
    W = torch.randn(20, 20)
    set_spectral_radius(W, 0.7)
    assert abs(spectral_radius(W) - 0.7) < 1e-5
    with pytest.raises(ValueError):
        set_spectral_radius(W, 0)


def test_gradient_norms_vanish_or_explode_with_the_radius():
    x = torch.randn(8, 40, 6, generator=torch.Generator().manual_seed(0))
    small = hidden_gradient_norms(random_recurrent_layer("rnn", 6, 16, spectral_radius=0.5), x)
    large = hidden_gradient_norms(random_recurrent_layer("rnn", 6, 16, spectral_radius=3.0), x)
    assert small.shape == (40,) and abs(float(small[-1]) - 1) < 1e-5  # unit loss gradient at h_T
    assert small[0] < 1e-6 < 1e3 < large[0]
    held = hidden_gradient_norms(random_recurrent_layer("lstm", 6, 16, forget_bias=5.0), x)
    faded = hidden_gradient_norms(random_recurrent_layer("lstm", 6, 16, forget_bias=-3.0), x)
    assert held[0] > 100 * faded[0]
    with pytest.raises(ValueError, match="spectral_radius"):
        random_recurrent_layer("gru", 6, 16, spectral_radius=1.0)
    with pytest.raises(ValueError, match="unknown kind"):
        random_recurrent_layer("cnn", 6, 16)


def test_gradient_norms_of_a_language_model_with_a_real_loss():
    m = _model("gru")
    idx = torch.randint(11, (4, 15))
    norms = hidden_gradient_norms(m.rnn, m.embed(idx), m.head, torch.randint(11, (4,)))
    assert norms.shape == (15,) and (norms > 0).all()


def test_lstm_gates_by_hand_match_torch():
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 7, batch_first=True)
    x = torch.randn(2, 9, 5)
    gates = lstm_gates(lstm, x)
    out, (h_n, c_n) = lstm(x)
    assert torch.allclose(gates["h"], out, atol=1e-6)
    assert torch.allclose(gates["c"][:, -1], c_n[0], atol=1e-6)
    assert ((gates["f"] > 0) & (gates["f"] < 1)).all()
    with pytest.raises(TypeError):
        lstm_gates(nn.GRU(5, 7, batch_first=True), x)


def test_text_features_and_unit_tracking():
    text = "HAMLET:\nTo be, or not.\n\nOPHELIA:\nGood my lord!\n"
    f = text_features(text)
    assert f["newline"].sum() == text.count("\n")
    assert f["speaker name"][:6].all() and not f["speaker name"][8:20].any()
    assert f["position in line"][8:11].tolist() == [0, 1, 2]
    assert f["inside a word"][8] == 1 and f["inside a word"][10] == 0
    assert f["end of sentence"].sum() == 2
    states = torch.randn(len(text), 6, generator=torch.Generator().manual_seed(0))
    states[:, 4] = torch.tensor(f["newline"]) * -2 + 0.01 * states[:, 4]
    (name, unit, r), *_ = units_tracking(states, {"newline": f["newline"]})
    assert (name, unit) == ("newline", 4) and r < -0.99
    with pytest.raises(ValueError):
        text_features("")
    with pytest.raises(ValueError, match="time steps"):
        units_tracking(states, {"bad": f["newline"][:-1]})


def test_bits_with_context_resets():
    m = _model("gru")
    ids = torch.randint(11, (80,), generator=torch.Generator().manual_seed(2))
    exact = -float(m.token_log_probs(ids, streams=1).mean()) / math.log(2)
    assert abs(bits_with_context_resets(m, ids, every=200) - exact) < 1e-5  # one chunk: no reset
    one = [-math.log2(float(m.next_token_probs([int(ids[t - 1])])[ids[t]])) for t in range(1, 80)]
    assert abs(bits_with_context_resets(m, ids, every=1, rows_per_batch=7) - sum(one) / 79) < 1e-5
    assert abs(bits_with_context_resets(m, ids, every=13, rows_per_batch=2)
               - bits_with_context_resets(m, ids, every=13)) < 1e-6
    with pytest.raises(ValueError, match="every"):
        bits_with_context_resets(m, ids, every=0)


# ------------------------------------------------------------------ plots
def test_plots_draw():
    import matplotlib.pyplot as plt

    from lm_course import viz

    ax = viz.plot_unrolled_rnn(3)
    assert ax.get_title() and ax.get_legend() is not None
    ax = viz.plot_gradient_norms({"a": [1e-3, 1e-2, 1.0], "b": [0.0, 0.5, 1.0]})
    assert ax.get_yscale() == "log" and ax.get_xlabel()
    ax = viz.plot_gate_histograms({k: torch.rand(50) for k in "ifo"})
    assert ax.get_legend() is not None
    text = "HAMLET:\nTo be\n"
    fig = viz.plot_hidden_heatmap(text, torch.randn(len(text), 5), [0, 3], ["a", "b"], width=8)
    assert len(fig.axes) == 3  # two rows of text + a colour bar
    with pytest.raises(ValueError):
        viz.plot_hidden_heatmap(text, torch.randn(3, 5), [0])
    fig = viz.plot_clipping_runs({"a": ([4.0, 3.0], [10.0, 1.0]), "b": ([4.0, 2.5], [1.0, 0.5])})
    assert all(ax.get_legend() is not None for ax in fig.axes)
    ax = viz.plot_context_resets([1, 4, 16], [3.0, 2.5, 2.2], carried=2.1, references={"7-gram": 2.2})
    assert ax.get_xscale() == "log" and ax.get_legend() is not None
    with pytest.raises(ValueError):
        viz.plot_context_resets([1, 2], [3.0])
    plt.close("all")
