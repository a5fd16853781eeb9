"""Checkers of the chapter 2 exercises: a right answer passes, wrong ones fail
with a hint, and nothing raises."""

from functools import partial

import torch
import torch.nn.functional as F

from lm_course.exercises import ch02
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.tokenizers.bpe import merge_pair
from lm_course.train import training_step


def test_check_merge(capsys):
    assert ch02.check_merge(merge_pair)
    assert "✅" in capsys.readouterr().out

    def overlapping(ids, pair, new_id):  # merges [5, 5, 5] into [7, 7]: wrong
        out = []
        for i, x in enumerate(ids):
            if i + 1 < len(ids) and (x, ids[i + 1]) == pair:
                out.append(new_id)
            elif not (i > 0 and (ids[i - 1], x) == pair):
                out.append(x)
        return out

    assert not ch02.check_merge(overlapping)
    assert "❌" in capsys.readouterr().out
    assert not ch02.check_merge(lambda ids, pair, new_id: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch02.check_merge(None)
    assert not ch02.check_merge(lambda ids, pair, new_id: None)  # the notebook's placeholder
    assert "return a list" in capsys.readouterr().out


def test_check_first_merge(capsys):
    assert ch02.check_first_merge("ug")
    assert ch02.check_first_merge(("u", "g"))
    assert ch02.check_first_merge((117, 103))
    assert not ch02.check_first_merge("hu")
    assert not ch02.check_first_merge(None)
    assert not ch02.check_first_merge((1000, -1))
    out = capsys.readouterr().out
    assert out.count("✅") == 3 and out.count("❌") == 3


def test_check_mlp_parameters(capsys):
    right = MLPLanguageModel(MLPConfig(**ch02.MLP_EXERCISE_CONFIG)).num_parameters()
    assert ch02.check_mlp_parameters(right)
    assert not ch02.check_mlp_parameters(right - ch02.MLP_EXERCISE_CONFIG["n_embd"])  # no padding row
    assert "padding" in capsys.readouterr().out
    assert not ch02.check_mlp_parameters("many")
    assert not ch02.check_mlp_parameters(None)


def test_check_char_perplexity(capsys):
    s = ch02.BPE_SCORE
    bpc = s["bits_per_token"] * s["tokens"] / s["characters"]
    assert ch02.check_char_perplexity(2 ** bpc)
    assert "✅" in capsys.readouterr().out
    assert not ch02.check_char_perplexity(2 ** (s["bits_per_token"] * s["characters"] / s["tokens"]))
    assert "upside down" in capsys.readouterr().out
    assert not ch02.check_char_perplexity(bpc)  # bits, not a perplexity
    assert "2 to the power" in capsys.readouterr().out
    assert not ch02.check_char_perplexity(2 ** s["bits_per_token"] * s["tokens"] / s["characters"])
    assert "linearly" in capsys.readouterr().out
    assert not ch02.check_char_perplexity(None)
    assert not ch02.check_char_perplexity("many")


def _step(model, optimizer, x, y, grad_clip=1.0, *, zero=True, clip="before", step=True):
    """The notebook's solution of Exercise 5, and wrong versions of it."""
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    if zero:
        optimizer.zero_grad()
    loss.backward()
    if clip == "before" and grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if clip == "each" and grad_clip is not None:
        for p in model.parameters():
            torch.nn.utils.clip_grad_norm_([p], grad_clip)
    if step:
        optimizer.step()
    if clip == "after" and grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    return loss.item()


def test_check_training_step_passes_the_solution_and_the_package(capsys):
    assert ch02.check_training_step(_step)
    assert ch02.check_training_step(training_step)
    assert capsys.readouterr().out.count("✅") == 2


def test_check_training_step_names_the_mistake(capsys):
    for wrong, words in [(partial(_step, zero=False), "zero_grad() before"),
                         (partial(_step, clip=None), "not clipped"),
                         (partial(_step, clip="after"), "not clipped"),
                         (partial(_step, clip="each"), "on its own"),
                         (partial(_step, step=False), "never change")]:
        assert not ch02.check_training_step(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, out

    def wrong_loss(model, optimizer, x, y, grad_clip=1.0):  # scores x against itself
        return _step(model, optimizer, x, x, grad_clip)

    assert not ch02.check_training_step(wrong_loss)
    assert "first batch" in capsys.readouterr().out

    def always_clips(model, optimizer, x, y, grad_clip=1.0):
        return _step(model, optimizer, x, y, grad_clip if grad_clip is not None else 1e-3)

    assert not ch02.check_training_step(always_clips)
    assert "grad_clip=None" in capsys.readouterr().out


def test_check_training_step_never_raises(capsys):
    def stub(model, optimizer, x, y, grad_clip=1.0):
        raise NotImplementedError

    assert not ch02.check_training_step(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: None)
    assert "return" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: "loss")
    assert "float" in capsys.readouterr().out
    assert not ch02.check_training_step(None)


def test_check_training_step_leaves_the_random_state_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ch02.check_training_step(training_step)
    assert torch.equal(torch.get_rng_state(), before)
