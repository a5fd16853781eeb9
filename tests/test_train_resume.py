"""A resumable training run (``TrainConfig.state_path``) gives the weights,
the history and the random draws of one uninterrupted run."""

import math

import pytest
import torch

from lm_course.gpt import GPT, GPTConfig
from lm_course.train import TrainConfig, train

V = 11
DATA = torch.arange(3000) * 7 % V  # a learnable periodic stream
VAL = torch.arange(500) * 7 % V
CFG = dict(steps=9, batch_size=4, block_size=16, lr=3e-3, warmup_steps=2, eval_interval=2, eval_batches=2,
           progress=False, autocast="bfloat16", seed=5)


class Interrupted(Exception):
    pass


def _model() -> GPT:
    torch.manual_seed(0)
    # dropout on the residual branches draws from torch's global generator: the state must carry it
    return GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.2))


def _interrupt_after(calls: int):
    from lm_course.train import lm_loss
    count = 0

    def loss_fn(model, x, y):
        nonlocal count
        count += 1
        if count > calls:
            raise Interrupted
        return lm_loss(model, x, y)
    return loss_fn


# interrupted in step 1 (no state saved yet), in step 4 (saved at step 3), in step 8 (saved at 3 and 6)
@pytest.mark.parametrize("interrupt_after, resumed_at", [(5, []), (12, [3]), (25, [6])])
def test_a_resumed_run_gives_the_uninterrupted_weights_and_history(tmp_path, interrupt_after, resumed_at):
    straight = _model()
    h_straight = train(straight, DATA, VAL, TrainConfig(**CFG))

    state = tmp_path / "state.pt"
    resumed = _model()
    with pytest.raises(Interrupted):
        train(resumed, DATA, VAL, TrainConfig(**CFG, state_path=str(state), state_interval=3),
              loss_fn=_interrupt_after(interrupt_after))
    torch.manual_seed(123)  # a later sitting: other global random state, a freshly built model
    resumed = _model()
    h_resumed = train(resumed, DATA, VAL, TrainConfig(**CFG, state_path=str(state), state_interval=3))

    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert h_resumed.train_loss == h_straight.train_loss
    assert h_resumed.val_loss == h_straight.val_loss and h_resumed.eval_steps == h_straight.eval_steps
    assert h_resumed.lr == h_straight.lr and h_resumed.steps == h_straight.steps
    assert h_resumed.resumed_at == resumed_at  # the last save before the interruption
    assert h_resumed.seconds > 0 and h_resumed.cpu_seconds > 0


def test_a_state_of_another_configuration_is_refused(tmp_path):
    state = tmp_path / "state.pt"
    train(_model(), DATA, VAL, TrainConfig(**CFG, state_path=str(state), state_interval=3))
    assert state.exists()
    with pytest.raises(ValueError, match="another configuration.*'lr'"):
        train(_model(), DATA, VAL, TrainConfig(**{**CFG, "lr": 1e-3}, state_path=str(state), state_interval=3))
    # progress and the save interval may change between sittings
    h = train(_model(), DATA, VAL, TrainConfig(**{**CFG, "progress": False}, state_path=str(state),
                                               state_interval=4))
    assert h.resumed_at == [6] and math.isfinite(h.val_loss[-1])


def test_a_file_that_is_not_a_training_state_is_refused(tmp_path):
    bogus = tmp_path / "state.pt"
    torch.save({"model": {}}, bogus)
    with pytest.raises(ValueError, match="not a training state"):
        train(_model(), DATA, VAL, TrainConfig(**CFG, state_path=str(bogus)))


def test_a_state_of_another_model_shape_is_refused(tmp_path):
    state = tmp_path / "state.pt"
    train(_model(), DATA, VAL, TrainConfig(**CFG, state_path=str(state), state_interval=3))
    torch.manual_seed(0)
    wider = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.2))
    with pytest.raises(ValueError, match="another model.*size mismatch.*delete it"):
        train(wider, DATA, VAL, TrainConfig(**CFG, state_path=str(state)))
