"""bits_per_token, the LanguageModel protocol and the unigram model."""

import math

import pytest
import torch

from lm_course.evaluate import bits_per_token, perplexity, token_log_probs
from lm_course.interface import LanguageModel
from lm_course.validation import check_distribution, check_token_ids
from lm_course.unigram import UnigramLM


class Uniform:
    """A model that knows nothing: every token equally likely."""

    def __init__(self, vocab_size):
        self.vocab_size = vocab_size

    def next_token_probs(self, context):
        return torch.full((self.vocab_size,), 1.0 / self.vocab_size)


class LastTokenRepeater:
    """p(next = previous token) = 0.9, the rest spread evenly; uses only the
    last token, and records the contexts it was asked about."""

    context_length = 1

    def __init__(self, vocab_size):
        self.vocab_size, self.seen = vocab_size, []

    def next_token_probs(self, context):
        self.seen.append(list(context))
        p = torch.full((self.vocab_size,), 0.1 / (self.vocab_size - 1))
        p[context[-1]] = 0.9
        return p


@pytest.mark.parametrize("V", [2, 27, 63, 1000])
def test_uniform_model_scores_log2_V(V):
    ids = torch.randint(V, (200,), generator=torch.Generator().manual_seed(0)).tolist()
    assert bits_per_token(Uniform(V), ids) == pytest.approx(math.log2(V))
    assert perplexity(Uniform(V), ids) == pytest.approx(V)


def test_first_token_is_context_only():
    model = LastTokenRepeater(5)
    assert token_log_probs(model, [1, 1, 2]).tolist() == pytest.approx([math.log(0.9), math.log(0.025)])


def test_context_is_cropped_to_context_length():
    model = LastTokenRepeater(5)
    bits_per_token(model, [0, 1, 2, 3, 4])
    assert model.seen == [[0], [1], [2], [3]]


def test_zero_probability_gives_infinity():
    model = UnigramLM(3).fit([0, 1, 0, 1])
    assert bits_per_token(model, [0, 2]) == math.inf


def test_unigram_fast_path_equals_slow_path():
    ids = torch.randint(10, (300,), generator=torch.Generator().manual_seed(1)).tolist()
    model = UnigramLM(10, k=0.5).fit(ids)

    class Slow:
        vocab_size = 10
        next_token_probs = model.next_token_probs

    assert bits_per_token(model, ids) == pytest.approx(bits_per_token(Slow(), ids))
    assert isinstance(model, LanguageModel)
    check_distribution(model.next_token_probs([1, 2]), 10)


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 tokens"):
        bits_per_token(Uniform(4), [1])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        bits_per_token(Uniform(4), [1, 4])
    with pytest.raises(TypeError, match="encode the text first"):
        bits_per_token(Uniform(4), "abc")
    with pytest.raises(TypeError):
        check_token_ids([0.5], 4)
    with pytest.raises(RuntimeError, match="fit"):
        UnigramLM(4).next_token_probs([])
    with pytest.raises(ValueError, match="k must be"):
        UnigramLM(4, k=-1)
    with pytest.raises(ValueError, match="sums to"):
        check_distribution(torch.ones(4), 4)
