"""The chapter-7 checkers accept right answers and reject wrong ones (never raising)."""

import torch

from lm_course.exercises import ch07
from lm_course.finetune import GPTClassifier
from lm_course.gpt import GPT, GPTConfig


def test_target_counts(capsys):
    assert ch07.check_target_counts((127, 19.2))
    assert ch07.check_target_counts([127, 0.15 * 128])
    assert not ch07.check_target_counts((128, 19.2))
    assert "first token" in capsys.readouterr().out
    assert not ch07.check_target_counts((127, 0.8 * 0.15 * 128))
    assert "random token" in capsys.readouterr().out
    assert not ch07.check_target_counts((127, 128))
    assert not ch07.check_target_counts(None)
    assert not ch07.check_target_counts(127)
    assert not ch07.check_target_counts(("a", "b"))


def test_prefix_lm_mask(capsys):
    def right(T, P):
        s = torch.arange(T)
        return (s[None, :] < P) | (s[None, :] <= s[:, None])

    assert ch07.check_prefix_lm_mask(right)
    assert not ch07.check_prefix_lm_mask(lambda T, P: torch.ones(T, T, dtype=torch.bool).tril())
    assert "plain causal mask" in capsys.readouterr().out
    assert not ch07.check_prefix_lm_mask(lambda T, P: right(T, P).T)
    assert "transpose" in capsys.readouterr().out
    assert not ch07.check_prefix_lm_mask(lambda T, P: right(T, P).int())
    assert not ch07.check_prefix_lm_mask(lambda T, P: 1 / 0)  # never raises
    assert not ch07.check_prefix_lm_mask(None)
    assert not ch07.check_prefix_lm_mask(42)


def test_masked_mean(capsys):
    def right(h, lengths):
        mask = (torch.arange(h.size(1))[None, :] < lengths[:, None]).float()
        return (h * mask[..., None]).sum(1) / lengths[:, None]

    assert ch07.check_masked_mean(right)
    assert not ch07.check_masked_mean(lambda h, lengths: h.mean(1))
    assert "padding" in capsys.readouterr().out
    assert not ch07.check_masked_mean(lambda h, lengths: h.sum(1))
    assert not ch07.check_masked_mean(lambda h: h)  # wrong signature: reported, not raised
    assert not ch07.check_masked_mean(None)

    # the checker agrees with the package's own mean pooling
    gpt = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4))
    clf = GPTClassifier(gpt, 2, pooling="mean")
    idx, lengths = torch.randint(0, 10, (3, 6)), torch.tensor([6, 2, 4])
    h = gpt(idx, output_hidden_states=True).hidden_states[-1]
    assert torch.allclose(right(h, lengths), clf.features(idx, lengths), atol=1e-6)


def test_probe_parameters(capsys):
    C = ch07._reference_width()
    assert ch07.check_probe_parameters(2 * C + 2)
    assert not ch07.check_probe_parameters(2 * C)
    assert "bias" in capsys.readouterr().out
    assert not ch07.check_probe_parameters(817_792)
    assert not ch07.check_probe_parameters(None)
    assert not ch07.check_probe_parameters("few")
