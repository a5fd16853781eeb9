"""The shared training loop."""


import pytest
import torch
import torch.nn as nn

from lm_course.train import TrainConfig, random_windows, train


class Bigram(nn.Module):
    """The smallest neural LM: a table of next-token logits."""

    def __init__(self, V):
        super().__init__()
        self.table = nn.Embedding(V, V)

    def forward(self, x):  # (B, T) -> (B, T, V)
        return self.table(x)


def _stream(n=5000, V=8, seed=0):
    # a noisy cycle 0,1,2,...: learnable, so the loss must fall
    g = torch.Generator().manual_seed(seed)
    base = torch.arange(n) % V
    noise = torch.randint(V, (n,), generator=g)
    keep = torch.rand(n, generator=g) < 0.8
    return torch.where(keep, base, noise)


def _run(seed=0, **kw):
    torch.manual_seed(seed)
    model = Bigram(8)
    data = _stream()
    cfg = TrainConfig(steps=60, batch_size=8, block_size=16, lr=0.1, eval_interval=20,
                      eval_batches=2, warmup_steps=5, progress=False, seed=seed)
    return model, train(model, data[:4000], data[4000:], cfg, **kw)


def test_loss_falls():
    _, hist = _run()
    assert hist.val_loss[-1] < hist.val_loss[0] - 0.5
    assert len(hist.train_loss) == 60 and hist.eval_steps == [0, 20, 40, 60]


def test_reproducible_with_a_seed():
    m1, h1 = _run(seed=3)
    m2, h2 = _run(seed=3)
    assert h1.train_loss == h2.train_loss
    assert torch.equal(m1.table.weight, m2.table.weight)
    _, h3 = _run(seed=4)
    assert h3.train_loss != h1.train_loss


def test_overrides_and_early_stopping():
    _, hist = _run(lr=1e-9, patience=1)  # a learning rate too small to improve
    assert hist.stopped_early and len(hist.train_loss) < 60


def test_windows_are_shifted_by_one():
    data = torch.arange(100)
    x, y = random_windows(data, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y, x + 1)


def test_bad_input():
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="a window needs"):
        train(Bigram(8), torch.arange(10) % 8, None, TrainConfig(block_size=16, progress=False))
    with pytest.raises(ValueError, match="1-D"):
        train(Bigram(8), torch.zeros(2, 100, dtype=torch.long), None, TrainConfig(progress=False))


def test_autocast_trains_in_bfloat16_and_keeps_float32_weights():
    _, plain = _run(steps=30)
    model, mixed = _run(steps=30, autocast="bfloat16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # only the matmuls are bf16
    assert mixed.train_loss[-1] < mixed.train_loss[0]  # it learns
    assert abs(mixed.train_loss[-1] - plain.train_loss[-1]) < 0.1  # and about as well
    with pytest.raises(ValueError, match="autocast"):
        TrainConfig(autocast="int8")
