"""lm_course.toy_attention: the reversal task, its model, and that training
really learns the anti-diagonal (and cannot without positions)."""

import pytest
import torch

from lm_course.toy_attention import (ToyAttentionModel, ToyConfig, attention_on_targets, make_batch,
                                     target_positions, toy_accuracy, train_toy)


@pytest.fixture(scope="module")
def reverser():
    model, losses = train_toy(ToyConfig(), steps=300, progress=False)
    return model, losses


def test_batches_are_reversed_or_copied():
    g = torch.Generator().manual_seed(0)
    x, y = make_batch(ToyConfig(), 5, g)
    assert x.shape == y.shape == (5, 8) and x.dtype == torch.long
    assert torch.equal(y, x.flip(1)) and 0 <= x.min() and x.max() < 10
    x, y = make_batch(ToyConfig(task="copy", seq_len=4, n_symbols=3), 2, g)
    assert torch.equal(x, y) and x.max() < 3
    assert target_positions(ToyConfig(seq_len=4)).tolist() == [3, 2, 1, 0]
    a = make_batch(ToyConfig(), 3, torch.Generator().manual_seed(7))[0]
    assert torch.equal(a, make_batch(ToyConfig(), 3, torch.Generator().manual_seed(7))[0])


def test_reversal_is_learned_with_a_readable_anti_diagonal(reverser):
    model, losses = reverser
    acc = toy_accuracy(model)
    assert acc.symbols == 1.0 and acc.sequences == 1.0, acc
    assert losses[-1] < 0.01 < losses[0]
    assert attention_on_targets(model) > 0.9  # near 1: a sharp anti-diagonal
    w = model(model.encode("abcdefgh"), output_attentions=True).attentions[0][0, 0]  # (T, T)
    assert w.argmax(-1).tolist() == [7, 6, 5, 4, 3, 2, 1, 0]
    assert model.predict("abcdefgh") == "hgfedcba" and model.predict("aabbccdj") == "jdccbbaa"


def test_training_is_seeded_and_restores_the_thread_count():
    threads = torch.get_num_threads()
    _, a = train_toy(ToyConfig(), steps=5, progress=False, seed=3)
    _, b = train_toy(ToyConfig(), steps=5, progress=False, seed=3)
    _, c = train_toy(ToyConfig(), steps=5, progress=False, seed=4)
    assert a == b and a != c
    assert torch.get_num_threads() == threads


def test_without_positions_the_model_is_permutation_equivariant_and_cannot_reverse():
    torch.manual_seed(0)
    model = ToyAttentionModel(ToyConfig(positions="none")).eval()
    x, _ = make_batch(model.config, 4, torch.Generator().manual_seed(1))
    perm = torch.randperm(8)
    torch.testing.assert_close(model(x[:, perm]).logits, model(x).logits[:, perm], atol=1e-5, rtol=1e-5)
    trained, _ = train_toy(ToyConfig(positions="none"), steps=150, progress=False)
    assert toy_accuracy(trained).sequences < 0.05
    assert attention_on_targets(trained) < 0.3
    # equal symbols give equal outputs: each output depends on its own symbol and the set of inputs
    pred = trained.predict("beachbag")
    assert pred[0] == pred[5] and pred[2] == pred[6]


def test_without_positions_copying_is_still_learned_by_content():
    # copying commutes with shuffling, so a permutation-equivariant model can do it
    trained, _ = train_toy(ToyConfig(task="copy", positions="none"), steps=150, progress=False)
    assert toy_accuracy(trained).sequences > 0.95
    w = trained(trained.encode("abcdefgh"), output_attentions=True).attentions[0][0, 0]  # (T, T)
    assert w.argmax(-1).tolist() == list(range(8))  # no repeats: the only key with the query's symbol


def test_attentions_have_the_course_format():
    model = ToyAttentionModel(ToyConfig(n_layers=2, n_heads=2, d_model=16))
    out = model(torch.zeros(3, 8, dtype=torch.long), output_attentions=True)
    assert out.logits.shape == (3, 8, 10)
    assert len(out.attentions) == 2 and all(a.shape == (3, 2, 8, 8) for a in out.attentions)
    assert model(torch.zeros(1, 8, dtype=torch.long)).attentions is None


def test_bad_input_is_refused():
    model = ToyAttentionModel(ToyConfig())
    with pytest.raises(ValueError, match="exactly 8"):
        model(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="0..9"):
        model(torch.full((1, 8), 10))
    with pytest.raises(ValueError, match="torch.long"):
        model(torch.zeros(1, 8))
    with pytest.raises(ValueError, match="not in this tokenizer"):
        model.predict("abcdefgz")
    with pytest.raises(ValueError, match="task"):
        ToyConfig(task="sort")
    with pytest.raises(ValueError, match="positions"):
        ToyConfig(positions="rotary")
    with pytest.raises(ValueError, match="divisible"):
        ToyConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="n_symbols"):
        ToyConfig(n_symbols=27)
    with pytest.raises(ValueError, match="seq_len"):
        ToyConfig(seq_len=0)
    with pytest.raises(ValueError, match="steps"):
        train_toy(steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        make_batch(ToyConfig(), 0)
