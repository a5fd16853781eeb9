"""Mixtures of language models (lm_course.mixture)."""

import math

import pytest
import torch

from lm_course.evaluate import bits_per_token
from lm_course.interface import LanguageModel
from lm_course.mixture import InterpolatedLM
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.ngram import NGramLM

V = 7
IDS = torch.tensor([(i * 3 + i // 4) % V for i in range(400)])


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    mlp = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=3, n_embd=4, n_hidden=8))
    kn = NGramLM(3).fit(IDS[:300], V)
    return mlp, kn


def test_is_a_language_model(models):
    mix = InterpolatedLM(models, [0.3, 0.7])
    assert isinstance(mix, LanguageModel)
    assert mix.vocab_size == V and mix.context_length == 3
    p = mix.next_token_probs([1, 2, 3, 4])
    assert p.shape == (V,) and math.isclose(float(p.sum()), 1.0, rel_tol=1e-5)


def test_fast_scores_match_the_weighted_probabilities(models):
    mlp, kn = models
    mix = InterpolatedLM(models, [0.3, 0.7])
    ids = IDS[300:360]
    fast = mix.token_log_probs(ids)
    slow = torch.tensor([math.log(0.3 * float(mlp.next_token_probs(ids[:t])[ids[t]])
                                  + 0.7 * float(kn.next_token_probs(ids[:t])[ids[t]]))
                         for t in range(1, len(ids))], dtype=torch.float64)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def test_extreme_weights_give_one_model(models):
    mlp, kn = models
    ids = IDS[300:]
    assert math.isclose(bits_per_token(InterpolatedLM(models, [1.0, 0.0]), ids), bits_per_token(mlp, ids),
                        rel_tol=1e-6)
    assert math.isclose(bits_per_token(InterpolatedLM(models, [0.0, 1.0]), ids), bits_per_token(kn, ids),
                        rel_tol=1e-6)


def test_mixture_is_no_worse_than_the_worse_model(models):
    ids = IDS[300:]
    scores = [bits_per_token(m, ids) for m in models]
    assert bits_per_token(InterpolatedLM(models, [0.5, 0.5]), ids) <= max(scores)  # log is concave


def test_bad_inputs(models):
    with pytest.raises(ValueError, match="sum to 1"):
        InterpolatedLM(models, [0.5, 0.6])
    with pytest.raises(ValueError, match="non-negative"):
        InterpolatedLM(models, [-0.5, 1.5])
    with pytest.raises(ValueError, match="2 models but 1 weights"):
        InterpolatedLM(models, [1.0])
    with pytest.raises(ValueError, match="at least one"):
        InterpolatedLM([], [])
    other = NGramLM(2).fit([0, 1, 2, 3, 4, 5, 6, 7, 8], 9)
    with pytest.raises(ValueError, match="vocabulary sizes"):
        InterpolatedLM([models[0], other], [0.5, 0.5])
