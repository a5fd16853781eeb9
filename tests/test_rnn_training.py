"""Chapter 3, "Random windows or a carried state?": stateful truncated BPTT
(lm_course.rnn_training)."""

import pytest
import torch

from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.rnn_training import StatefulLoss, consecutive_lanes
from lm_course.train import TrainConfig, lm_loss, train


def test_consecutive_lanes_cut_the_stream_in_order():
    x, y = consecutive_lanes(list(range(23)), batch_size=3)  # L = 22 // 3 = 7
    assert x.shape == y.shape == (3, 7)
    assert x[1].tolist() == list(range(7, 14)) and (y == x + 1).all()
    with pytest.raises(ValueError, match="batch_size"):
        consecutive_lanes(list(range(10)), 0)
    with pytest.raises(ValueError, match="too few"):
        consecutive_lanes([1, 2], 3)
    with pytest.raises(ValueError, match="1-D"):
        consecutive_lanes(torch.zeros(2, 5, dtype=torch.long), 2)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_the_state_is_carried_and_detached(kind):
    torch.manual_seed(0)
    ids = torch.randint(11, (200,))
    model = RNNLanguageModel(RNNConfig(11, 16, kind, embed_size=8)).train()
    loss_fn = StatefulLoss(ids, batch_size=4, block_size=5)  # lanes of 49 tokens
    first = loss_fn(model, None, None)
    first.backward()
    state = loss_fn.state
    leaves = state if isinstance(state, tuple) else (state,)
    assert all(not s.requires_grad for s in leaves)  # the gradient is cut
    # the second chunk continues the first lane and starts from the carried state
    lanes = ids[: 4 * 49].view(4, 49)
    _, want = model(lanes[:, :5], None, return_state=True)
    h = leaves[0]
    assert torch.allclose(h, (want[0] if isinstance(want, tuple) else want).detach(), atol=1e-6)
    xs, _ = loss_fn.next_chunk()
    assert (xs == lanes[:, 5:10]).all() and loss_fn.position == 10


def test_a_new_epoch_starts_from_a_zero_state():
    loss_fn = StatefulLoss(list(range(33)), batch_size=2, block_size=7)  # lanes of 16: two chunks
    loss_fn.next_chunk(), loss_fn.next_chunk()
    loss_fn.state = torch.ones(1, 2, 3)
    xs, _ = loss_fn.next_chunk()
    assert loss_fn.epochs == 1 and loss_fn.state is None and xs[0].tolist() == list(range(7))


def test_evaluation_scores_the_windows_it_is_given_from_zero():
    torch.manual_seed(1)
    model = RNNLanguageModel(RNNConfig(11, 16, "lstm", embed_size=8)).eval()
    x, y = torch.randint(11, (3, 9)), torch.randint(11, (3, 9))
    loss_fn = StatefulLoss(torch.randint(11, (100,)), batch_size=2, block_size=4)
    with torch.no_grad():
        assert torch.allclose(loss_fn(model, x, y), lm_loss(model, x, y))
    assert loss_fn.position == 0  # evaluation did not consume a training chunk


def test_stateful_training_learns_a_tiny_text():
    text = "to be or not to be, that is the question.\n" * 40
    chars = sorted(set(text))
    ids = [chars.index(c) for c in text]
    torch.manual_seed(0)
    model = RNNLanguageModel(RNNConfig(len(chars), 32, "lstm", embed_size=8))
    cfg = TrainConfig(steps=60, batch_size=8, block_size=16, lr=1e-2, eval_interval=30, eval_batches=2,
                      warmup_steps=5, progress=False)
    hist = train(model, ids, ids, cfg, loss_fn=StatefulLoss(ids, 8, 16))
    assert hist.val_loss[-1] < hist.val_loss[0] - 1.0, hist.val_loss


def test_bad_block_size():
    with pytest.raises(ValueError, match="block_size"):
        StatefulLoss(list(range(100)), 2, 0)
    with pytest.raises(ValueError, match="shorter"):
        StatefulLoss(list(range(21)), 2, 11)
