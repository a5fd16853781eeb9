"""lm_course.device: CUDA, then MPS, then the CPU; LM_COURSE_DEVICE overrides. No GPU is run here:
the availability checks are monkeypatched, and only the choice is tested."""

import pytest
import torch

from lm_course import device as device_module
from lm_course.device import DEVICE_ENV, get_device, model_device, resolve_device


@pytest.fixture
def machine(monkeypatch):
    """Pretend which accelerators exist: machine(cuda=..., mps=...)."""
    monkeypatch.delenv(DEVICE_ENV, raising=False)

    def pretend(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return pretend


@pytest.mark.parametrize("cuda, mps, want", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                             (False, False, "cpu")])
def test_cuda_then_mps_then_cpu(machine, cuda, mps, want):
    machine(cuda, mps)
    assert get_device() == torch.device(want)
    assert resolve_device(None) == torch.device(want)


def test_the_environment_variable_forces_a_device(machine, monkeypatch):
    machine(True, False)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, " ")  # blank: not set
    assert get_device() == torch.device("cuda")
    monkeypatch.setenv(DEVICE_ENV, "gpu please")
    with pytest.raises(ValueError, match="LM_COURSE_DEVICE='gpu please' is not a torch device"):
        get_device()


def test_a_named_device_is_used_as_given(machine):
    machine(True, True)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_the_module_imports_nothing_of_the_package():
    """Every trainer imports it: it must stay a leaf (no import cycle)."""
    import ast
    tree = ast.parse(open(device_module.__file__, encoding="utf-8").read())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.startswith("lm_course")]


def test_fine_tune_moves_the_classifier_to_the_chosen_device(monkeypatch):
    """fine_tune, like train, asks get_device() when its config names no device, and moves the model there."""
    from lm_course.classifier import make_classifier
    from lm_course.finetune import fine_tune
    from lm_course.gpt import GPT, GPTConfig

    asked = []
    monkeypatch.setattr(device_module, "get_device", lambda: asked.append(True) or torch.device("cpu"))
    torch.manual_seed(0)
    model = make_classifier("full", GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, n_embd=8)),
                            n_classes=2)
    moved = []
    real_to = model.to
    monkeypatch.setattr(model, "to", lambda device: moved.append(torch.device(device)) or real_to(device))
    seqs, labels = [torch.tensor([1, 2, 3]), torch.tensor([4, 5])] * 4, [0, 1] * 4
    fine_tune(model, seqs, labels, steps=2, batch_size=4, progress=False)
    assert asked == [True] and moved == [torch.device("cpu")] * 2  # there, and back where it came from
    fine_tune(model, seqs, labels, steps=2, batch_size=4, progress=False, device="cpu")
    assert asked == [True] and moved[-1] == torch.device("cpu")


def _record_moves(monkeypatch, model):
    """The devices ``model.to`` is called with, in order (the moves still happen)."""
    moved, real_to = [], model.to
    monkeypatch.setattr(model, "to", lambda device: moved.append(torch.device(device)) or real_to(device))
    return moved


def _tiny_gpt():
    from lm_course.gpt import GPT, GPTConfig
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, n_embd=8))


def test_train_hands_the_model_back_after_ctrl_c(monkeypatch):
    """The hand-back is in a finally: after Ctrl-C the student's model is where it was, usable at once."""
    from lm_course.train import lm_loss, train

    model = _tiny_gpt()
    moved = _record_moves(monkeypatch, model)
    calls = []

    def interrupted(m, x, y):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return lm_loss(m, x, y)

    ids = torch.arange(200) % 12
    with pytest.raises(KeyboardInterrupt):
        train(model, ids, None, steps=10, batch_size=2, block_size=8, eval_interval=100, eval_batches=1,
              progress=False, device="cpu", loss_fn=interrupted)
    assert len(moved) == 2  # there, and back


def test_train_toy_asks_for_the_device_and_returns_a_cpu_model(monkeypatch):
    from lm_course.toy_attention import ToyConfig, train_toy

    asked = []
    monkeypatch.setattr(device_module, "get_device", lambda: asked.append(True) or torch.device("cpu"))
    model, losses = train_toy(ToyConfig(), steps=3, batch_size=4, progress=False)
    assert asked == [True] and model_device(model) == torch.device("cpu") and len(losses) == 3
    assert not model.training


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    assert model_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")
