"""The MLP language model of Bengio et al. 2003 (lm_course.mlp)."""

import math

import pytest
import torch

from lm_course.evaluate import bits_per_token
from lm_course.interface import LanguageModel
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.train import train

V = 11


@pytest.fixture
def model():
    torch.manual_seed(0)
    return MLPLanguageModel(MLPConfig(vocab_size=V, context_length=3, n_embd=4, n_hidden=16))


def by_hand(model, window):
    """The textbook computation: concatenate, tanh layer, softmax."""
    e = torch.cat([model.embedding.weight[i] for i in window])  # (n*d,)
    h = torch.tanh(model.hidden.weight @ e + model.hidden.bias)  # (H,)
    return torch.softmax(model.output.weight @ h + model.output.bias, dim=-1)  # (V,)


def test_shapes_and_interface(model):
    x = torch.randint(V, (2, 7))
    assert model(x).shape == (2, 7, V)
    assert isinstance(model, LanguageModel)
    assert model.vocab_size == V and model.context_length == 3 and model.pad_id == V
    assert model.num_parameters() == (V + 1) * 4 + (3 * 4 * 16 + 16) + (16 * V + V)


def test_forward_is_the_textbook_formula(model):
    x = torch.tensor([[4, 7, 1, 9, 2]])
    probs = torch.softmax(model(x), dim=-1)[0]  # (T, V)
    pad = model.pad_id
    windows = [[pad, pad, 4], [pad, 4, 7], [4, 7, 1], [7, 1, 9], [1, 9, 2]]
    for t, w in enumerate(windows):
        torch.testing.assert_close(probs[t], by_hand(model, w))


def test_lookup_training_is_opt_in_and_only_while_training(model, monkeypatch):
    """forward is the formula (training too) unless the model is built with lookup_training=True; then
    training steps use fast_logits (the same logits up to rounding) and evaluation stays on the formula."""
    x = torch.tensor([[4, 7, 1, 9, 2], [0, 0, 3, 5, 8]])
    fast = MLPLanguageModel(model.config, lookup_training=True)
    fast.load_state_dict(model.state_dict())
    calls = []
    monkeypatch.setattr(MLPLanguageModel, "fast_logits",
                        lambda self, w: calls.append(self) or MLPLanguageModel.logits_by_formula(self, w) + 0)
    for m in (model, fast):
        m.eval()
        m(x)
        m.train()
        m(x)
    assert calls == [fast]  # once: the opt-in model, in training mode
    monkeypatch.undo()
    torch.testing.assert_close(fast.fast_logits(fast.windows(x)), model.logits_by_formula(model.windows(x)))


def test_each_position_sees_exactly_its_window(model):
    x = torch.randint(V, (1, 10))
    base = model(x)
    y = x.clone()
    y[0, 4] = (y[0, 4] + 1) % V
    changed = (model(y) - base).abs().amax(-1)[0] > 0  # (T,)
    assert changed.tolist() == [t in (4, 5, 6) for t in range(10)]  # positions t with t-2 <= 4 <= t


def test_next_token_probs(model):
    p = model.next_token_probs([])
    assert p.shape == (V,) and math.isclose(float(p.sum()), 1.0, rel_tol=1e-5)
    torch.testing.assert_close(p, by_hand(model, [V, V, V]))
    long = [1, 2, 3, 4, 5, 6]
    torch.testing.assert_close(model.next_token_probs(long), model.next_token_probs(long[-3:]))
    x = torch.tensor([3, 8, 5, 0])
    from_forward = torch.softmax(model(x[None])[0], dim=-1)  # (T, V)
    for t in range(len(x)):
        torch.testing.assert_close(model.next_token_probs(x[: t + 1]), from_forward[t])


def test_token_log_probs_matches_the_slow_path(model):
    ids = torch.randint(V, (50,), generator=torch.Generator().manual_seed(1))
    fast = model.token_log_probs(ids, batch_size=7)  # several batches
    slow = torch.tensor([math.log(float(model.next_token_probs(ids[max(0, t - 3): t])[ids[t]]))
                         for t in range(1, 50)], dtype=torch.float64)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    assert fast.dtype == torch.float64 and fast.shape == (49,)
    assert math.isclose(bits_per_token(model, ids), float(-slow.mean() / math.log(2)), rel_tol=1e-5)


def test_initial_loss_is_near_uniform(model):
    x = torch.randint(V, (4, 16))
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), x.reshape(-1))
    assert abs(loss.item() - math.log(V)) < 0.1


def _train(seed):
    torch.manual_seed(seed)
    m = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=2, n_embd=4, n_hidden=32))
    stream = torch.tensor([(i * 3 + (i // 5)) % V for i in range(3000)])  # depends on the last 2 tokens
    hist = train(m, stream[:2500], stream[2500:], steps=80, batch_size=16, block_size=16, lr=0.02,
                 eval_interval=40, eval_batches=2, warmup_steps=5, progress=False, seed=seed)
    return m, hist


def test_trains_with_the_course_loop_reproducibly():
    m1, h1 = _train(0)
    m2, h2 = _train(0)
    assert h1.val_loss[-1] < 0.5 * h1.val_loss[0]
    assert h1.train_loss == h2.train_loss
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def test_exact_regression_value():
    torch.manual_seed(0)
    m = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=3, n_embd=4, n_hidden=16))
    lp = m.token_log_probs([1, 2, 3, 4, 5, 6, 7])
    assert float(lp.sum()) == pytest.approx(-14.4410, abs=1e-3)


def test_generate(model):
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = model.generate([1, 2], 20, generator=g())
    assert a == model.generate([1, 2], 20, generator=g())
    assert len(a) == 22 and a[:2] == [1, 2] and all(0 <= i < V for i in a)
    cold = model.generate([1, 2], 20, temperature=1e-3, generator=g())
    greedy = [1, 2]
    for _ in range(20):
        greedy.append(int(model.next_token_probs(greedy).argmax()))
    assert cold == greedy


def test_bad_inputs(model):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[0, V]]))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.next_token_probs([V + 3])
    with pytest.raises(TypeError, match="string"):
        model.next_token_probs("abc")
    with pytest.raises(ValueError, match="at least 2"):
        model.token_log_probs([1])
    with pytest.raises(ValueError, match="temperature"):
        model.generate([1], 5, temperature=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate([1], -1)
    with pytest.raises(ValueError, match="context_length"):
        MLPConfig(context_length=0)


# ------------------------------------------------------------------ checkpoints
def test_save_load_round_trip(model, tmp_path):
    from lm_course.checkpoints import load_model, save_model

    x = torch.randint(V, (2, 9))
    path = save_model(model, tmp_path / "m.safetensors", {"note": "hi"})
    loaded, extra = load_model(path)
    assert extra == {"note": "hi"} and loaded.config == model.config and not loaded.training
    assert torch.equal(loaded(x), model(x))
    half = save_model(model, tmp_path / "half.safetensors", dtype=torch.float16)
    loaded, _ = load_model(half)
    assert loaded.embedding.weight.dtype == torch.float32  # stored in float16, loaded as float32
    from safetensors import safe_open

    with safe_open(str(half), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert torch.allclose(loaded(x), model(x), atol=1e-2)


def test_load_rejects_other_and_mismatched_files(model, tmp_path):
    import json

    from safetensors.torch import save_file

    from lm_course.checkpoints import CheckpointError, load_model, save_model
    from lm_course.rnn import RNNConfig, RNNLanguageModel

    def load_mlp(path):
        return load_model(path, "lm_course.mlp")

    save_model(RNNLanguageModel(RNNConfig(V, 8, "gru")), tmp_path / "rnn.safetensors")
    with pytest.raises(CheckpointError, match="not an lm_course MLP checkpoint"):
        load_mlp(tmp_path / "rnn.safetensors")
    config = {"vocab_size": V, "context_length": 3, "n_embd": 4, "n_hidden": 16}
    wrong = dict(model.state_dict(), **{"output.weight": torch.zeros(V, 17)})
    save_file(wrong, str(tmp_path / "wrong.safetensors"),
              metadata={"format": "lm_course.mlp", "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match=r"shape mismatch for output.weight: file \(11, 17\), model \(11, 16\)"):
        load_mlp(tmp_path / "wrong.safetensors")
    save_file(model.state_dict(), str(tmp_path / "bad_config.safetensors"),
              metadata={"format": "lm_course.mlp", "config": json.dumps(dict(config, n_hidden=0))})
    with pytest.raises(CheckpointError, match="invalid MLP config"):
        load_mlp(tmp_path / "bad_config.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_mlp(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        load_mlp(tmp_path / "missing.safetensors")


def test_make_reference_mlp_end_to_end(tmp_path):
    """The shipped file's recipe, shrunk to seconds: trains, saves float16, records the scores of the
    loaded file, and is reproducible."""
    from lm_course.checkpoints import load_model as load_mlp
    from lm_course.recipes import MLP_RECIPE as REFERENCE_MLP_RECIPE
    from lm_course.reference import make_reference

    small = dict(n_hidden=32, n_embd=8, steps=6, batch_size=4, block_size=16, eval_interval=3, warmup_steps=2)
    path, extra = make_reference("mlp", tmp_path / "a.safetensors", progress=False, **small)
    loaded, record = load_mlp(path)
    assert record["recipe"] == dict(vars(REFERENCE_MLP_RECIPE), **small)
    assert record["val_bpc"] == extra["val_bpc"] and 3.0 < record["val_bpc"] < 6.5
    assert len(record["history"]["train_loss"]) == 6
    again, _ = make_reference("mlp", tmp_path / "b.safetensors", progress=False, **small)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), load_mlp(again)[0].parameters()))


def test_shipped_mlp_checkpoint():
    """The shipped, longer-trained MLP: small, loads, and its recorded score is what it scores."""
    from lm_course.corpus import corpus_ids
    from lm_course.reference import load_reference, reference_path

    assert reference_path("mlp").stat().st_size < 6_000_000
    model, record = load_reference("mlp")
    assert model.context_length == 8 and model.vocab_size == 63
    assert abs(bits_per_token(model, corpus_ids("val")) - record["val_bpc"]) < 1e-4  # a few seconds
    assert record["val_bpc"] < record["history"]["val_loss"][0] / math.log(2)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    m = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=3, n_embd=4, n_hidden=64, dropout=0.5))
    x = torch.randint(V, (2, 9))
    m.eval()
    assert torch.equal(m(x), m(x))  # evaluation: deterministic, no units dropped
    m.train()
    assert not torch.equal(m(x), m(x))  # training: a fresh random mask each call
    with pytest.raises(ValueError, match="dropout"):
        MLPConfig(dropout=1.0)
