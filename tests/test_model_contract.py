"""The one contract every model of the course keeps (``lm_course.interface``).

Parametrized over every model class (fresh, small) and every shipped
checkpoint: ``next_token_probs`` is a ``(vocab_size,)`` distribution, the same
twice even when the model was left in training mode (dropout on), the
caller's mode is restored, ``token_log_probs`` is float64 and agrees with
``next_token_probs``, and bad input gets a clear error.
"""

from __future__ import annotations

import math

import pytest
import torch

from lm_course.evaluate import bits_per_token
from lm_course.gpt import GPT, GPTConfig
from lm_course.interface import LanguageModel, inference
from lm_course.mixture import InterpolatedLM
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.ngram import NGramLM
from lm_course.rnn import RNNConfig, RNNLanguageModel
from lm_course.unigram import UnigramLM

pytestmark = pytest.mark.usefixtures("one_thread")

V = 11
_TRAIN = torch.randint(0, V, (3000,), generator=torch.Generator().manual_seed(0)).tolist()
_TEXT = torch.randint(0, V, (300,), generator=torch.Generator().manual_seed(1)).tolist()


def _seeded(build):
    torch.manual_seed(0)
    return build()


def _unigram():
    return UnigramLM(k=1.0).fit(_TRAIN, V)  # the vocabulary goes to fit, as for NGramLM


def _ngram(smoothing):
    return lambda: NGramLM(3, smoothing=smoothing).fit(_TRAIN, V)


def _mlp():  # dropout on: a model left in training mode must still answer the same way twice
    return _seeded(lambda: MLPLanguageModel(MLPConfig(vocab_size=V, context_length=4, n_embd=8,
                                                      n_hidden=32, dropout=0.5)))


def _rnn(kind):
    return lambda: _seeded(lambda: RNNLanguageModel(RNNConfig(V, hidden_size=16, kind=kind, num_layers=2,
                                                              embed_size=8, dropout=0.5)))


def _gpt():
    return _seeded(lambda: GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2,
                                         n_embd=16, dropout=0.5)))


def _mixture():
    return InterpolatedLM([_ngram("kneser_ney")(), _mlp()], [0.6, 0.4])


FRESH = {
    "unigram": _unigram,
    "ngram-mle+addk": _ngram("add_k"),
    "ngram-interpolated": _ngram("interpolated"),
    "ngram-kneser-ney": _ngram("kneser_ney"),
    "mlp": _mlp,
    "rnn": _rnn("rnn"),
    "gru": _rnn("gru"),
    "lstm": _rnn("lstm"),
    "gpt": _gpt,
    "mixture": _mixture,
}


def _shipped(name):
    from lm_course.reference import load_reference
    return load_reference(name)[0]


SHIPPED = ("mlp", "lstm", "gpt", "gpt-small")


@pytest.fixture(scope="module", params=[f"fresh:{k}" for k in FRESH] + [f"shipped:{k}" for k in SHIPPED])
def model(request):
    kind, name = request.param.split(":")
    return FRESH[name]() if kind == "fresh" else _shipped(name)


def _context(model, n=5):
    return _TEXT[:n] if model.vocab_size == V else list(range(1, n + 1))


def _text(model):
    if model.vocab_size == V:
        return _TEXT
    from lm_course.data import load_shakespeare
    from lm_course.corpus import corpus_tokenizer
    return corpus_tokenizer().encode(load_shakespeare("val")[:300])


def test_is_a_language_model(model):
    assert isinstance(model, LanguageModel)
    assert isinstance(model.vocab_size, int) and model.vocab_size > 1


def test_next_token_probs_is_a_distribution(model):
    p = model.next_token_probs(_context(model))
    assert p.shape == (model.vocab_size,)
    assert torch.isfinite(p).all() and (p >= 0).all()
    assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-5)


def test_same_answer_twice_even_in_training_mode(model):
    ctx = _context(model)
    if isinstance(model, torch.nn.Module):
        model.eval()
        expected = model.next_token_probs(ctx)
        model.train()  # as after a student's own training loop: dropout on
        first, second = model.next_token_probs(ctx), model.next_token_probs(ctx)
        assert model.training, "the caller's training mode must be restored"
        model.eval()
    else:
        expected = model.next_token_probs(ctx)
        first, second = model.next_token_probs(ctx), model.next_token_probs(ctx)
    assert torch.equal(first, second)
    assert torch.allclose(first, expected, atol=1e-6)


def test_mixture_members_in_training_mode_answer_the_same():
    mix = _mixture()
    mix.models[1].train()
    ctx = _TEXT[:6]
    assert torch.equal(mix.next_token_probs(ctx), mix.next_token_probs(ctx))
    assert mix.models[1].training


def test_no_gradients_are_recorded(model):
    ctx = _context(model)
    p = model.next_token_probs(ctx)
    assert not p.requires_grad
    if hasattr(model, "token_log_probs"):
        assert not model.token_log_probs(_text(model)[:40]).requires_grad


def test_token_log_probs_is_float64_and_agrees(model):
    ids = _text(model)[:60]
    fast = model.token_log_probs(ids)
    assert fast.dtype == torch.float64 and fast.shape == (len(ids) - 1,)
    window = getattr(model, "context_length", None)
    for t in (1, 2, 10, 40, 59):
        start = 0 if window is None else max(0, t - window)
        slow = math.log(float(model.next_token_probs(ids[start:t])[ids[t]]))
        # an RNN scores long texts in parallel streams with a warm-up (its
        # documented approximation); on 60 tokens every stream is exact
        assert fast[t - 1].item() == pytest.approx(slow, abs=2e-4), t


def test_bits_per_token_in_training_mode_is_the_eval_number(model):
    ids = _text(model)[:200]
    if not isinstance(model, torch.nn.Module):
        pytest.skip("no training mode")
    model.eval()
    expected = bits_per_token(model, ids)
    model.train()
    try:
        assert bits_per_token(model, ids) == pytest.approx(expected, abs=1e-9)
        assert model.training
    finally:
        model.eval()


def test_bad_context_gets_a_clear_error(model):
    with pytest.raises(TypeError, match="string"):
        model.next_token_probs("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.next_token_probs([0, model.vocab_size])
    with pytest.raises(ValueError, match="1-D"):
        model.next_token_probs(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        model.next_token_probs(torch.zeros(3))


def test_too_short_text_to_score_gets_a_clear_error(model):
    with pytest.raises(ValueError, match="at least 2 tokens"):
        bits_per_token(model, _text(model)[:1])


def test_a_context_longer_than_the_window_is_cropped_by_every_model(model):
    """The protocol's one rule: next_token_probs keeps the last context_length tokens
    (a GPT's forward, which takes raw batches, still refuses a longer one)."""
    n = getattr(model, "context_length", None)
    if not n:
        pytest.skip("no window: the whole context is used")
    text = _text(model)
    long, cropped = text[: n + 5], text[5: n + 5]
    assert torch.allclose(model.next_token_probs(long), model.next_token_probs(cropped), atol=1e-6)


def test_every_model_answers_in_float32(model):
    assert model.next_token_probs(_text(model)[:3]).dtype == torch.float32


@pytest.mark.parametrize("make", [lambda: UnigramLM(k=1.0), lambda: NGramLM(2)], ids=["unigram", "ngram"])
def test_the_count_models_take_the_vocabulary_the_same_way(make):
    """The vocabulary rule: a count model gets its vocabulary with the data, fit(ids, vocab_size)."""
    model = make().fit([0, 1, 2, 1], 5)
    assert model.vocab_size == 5 and model.next_token_probs([1]).shape == (5,)
    with pytest.raises(ValueError, match="outside"):
        make().fit([0, 7], 5)


def test_the_older_unigram_spelling_means_the_same():
    old, new = UnigramLM(V, k=1.0).fit(_TRAIN), _unigram()
    assert torch.equal(old.next_token_probs([]), new.next_token_probs([]))
    with pytest.raises(ValueError, match="disagrees"):
        UnigramLM(V).fit(_TRAIN, V + 1)
    with pytest.raises(ValueError, match="vocabulary size"):
        UnigramLM().fit(_TRAIN)


def test_a_gpt_forward_refuses_a_batch_longer_than_its_block_size():
    gpt = _gpt()
    with pytest.raises(ValueError, match="longer than the model's"):
        gpt(torch.zeros(1, 17, dtype=torch.long))


def test_inference_restores_the_mode_after_an_error():
    net = torch.nn.Dropout(0.5)
    net.train()
    with pytest.raises(RuntimeError):
        with inference(net):
            assert not net.training and not torch.is_grad_enabled()
            raise RuntimeError("boom")
    assert net.training and torch.is_grad_enabled()


def test_one_parameter_count_and_one_device_property(model):
    if not isinstance(model, torch.nn.Module):
        pytest.skip("not a neural network")
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    assert model.device == next(model.parameters()).device


# ---------------------------------------------------------------- one generate
def test_one_generate_signature(model):
    """Every model: ``generate(context, max_new_tokens, *, temperature, top_k,
    top_p, seed, generator)`` returns the context followed by the new ids."""
    import inspect

    params = list(inspect.signature(model.generate).parameters)
    assert params == ["context", "max_new_tokens", "temperature", "top_k", "top_p", "seed", "generator",
                      "eos_token_id"]
    out = model.generate([1, 2], 7, seed=3)
    assert out[:2] == [1, 2] and len(out) == 9 and all(0 <= t < model.vocab_size for t in out)
    assert model.generate([1, 2], 0) == [1, 2]


def test_generate_seeding_rule(model):
    a = model.generate([1, 2], 20, seed=5)
    assert a == model.generate([1, 2], 20, seed=5)
    assert a == model.generate([1, 2], 20, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(5)
    b = model.generate([1, 2], 20)  # neither: torch's global generator
    torch.manual_seed(5)
    assert b == model.generate([1, 2], 20)
    g = torch.Generator().manual_seed(5)
    first, second = model.generate([1, 2], 10, generator=g), model.generate([1, 2], 10, generator=g)
    assert first == a[:12]  # a generator's stream continues across calls
    assert len(second) == 12


def test_generate_stops_at_eos(model):
    """``eos_token_id``: the same draws, up to and including the first
    end-of-text token (kept), then nothing more, as in ``transformers``."""
    a = model.generate([1, 2], 20, seed=5)
    eos = a[4]  # a token this model does draw, third of the new ones
    first = a.index(eos, 2)  # its first appearance among the new tokens
    assert model.generate([1, 2], 20, seed=5, eos_token_id=eos) == a[:first + 1]
    assert model.generate([1, 2], 0, eos_token_id=eos) == [1, 2]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.generate([1, 2], 3, eos_token_id=model.vocab_size)
    with pytest.raises(TypeError, match="eos_token_id must be an int"):
        model.generate([1, 2], 3, eos_token_id=1.0)


def test_generate_top_k_1_is_greedy(model):
    """``top_k=1`` keeps only the most probable token (and any tied with it):
    every drawn token is a most probable one under ``next_token_probs``."""
    out = model.generate([1, 2], 6, top_k=1, seed=0)
    for t in range(2, len(out)):
        p = model.next_token_probs(out[:t])  # the whole prefix: the model crops it (the protocol's rule)
        assert float(p[out[t]]) >= float(p.max()) * (1 - 1e-6)


def test_generate_conditions_on_the_whole_of_a_context_shorter_than_the_window():
    """A context shorter than the window is used whole: the crop once written in
    Generates (``ids[len(ids) - n:]``) kept only the last ``n - len(ids)`` tokens
    when ``n / 2 < len(ids) < n`` (a 5-gram given 3 tokens used 1)."""
    model = NGramLM(5, smoothing="kneser_ney").fit(_TRAIN, V)  # context_length 4
    for prompt in ([1, 2, 3], [4, 5, 6], [7, 8, 9]):
        first = model.generate(prompt, 1, top_k=1, seed=0)[-1]
        p = model.next_token_probs(prompt)
        assert float(p[first]) == float(p.max())


def test_generate_bad_arguments_get_clear_errors(model):
    for kwargs, err in (({"temperature": 0}, ValueError), ({"temperature": -1.0}, ValueError),
                        ({"top_p": 0.0}, ValueError), ({"top_p": 1.5}, ValueError), ({"top_k": 0}, ValueError),
                        ({"seed": 1, "generator": torch.Generator()}, ValueError)):
        with pytest.raises(err):
            model.generate([1, 2], 3, **kwargs)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate([1, 2], -1)
    with pytest.raises(TypeError):
        model.generate("ab", 3)
    with pytest.raises(ValueError):
        model.generate([1, model.vocab_size], 3)


NEURAL = ("mlp", "rnn", "gru", "lstm", "gpt")


@pytest.mark.parametrize("name", NEURAL)
def test_forward_refuses_bad_input_the_same_way(name):
    """Every neural model's forward checks its (B, T) ids with lm_course.validation.check_batch:
    the same error type and message for the same mistake, whichever the model."""
    model = FRESH[name]()
    with pytest.raises(TypeError, match=r"^idx must hold integer token ids, got dtype torch.float32$"):
        model(torch.zeros(1, 3))
    with pytest.raises(TypeError, match=r"^idx must hold integer token ids, got dtype torch.bool$"):
        model(torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"^idx must be a \(B, T\) tensor of token ids, got list$"):
        model([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"^idx must be a \(B, T\) tensor of token ids, got shape \(3,\)$"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=rf"^idx holds token ids outside the vocabulary 0\.\.{V - 1}$"):
        model(torch.tensor([[1, V]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[-1, 2]]))
    out = model(torch.tensor([[1, 2, 3]], dtype=torch.int32))  # any integer dtype is accepted
    logits = out.logits if hasattr(out, "logits") else out
    assert logits.shape == (1, 3, V)


@pytest.mark.parametrize("name", NEURAL)
def test_a_nan_weight_is_named_not_answered(name):
    """A NaN weight: next_token_probs and generate raise, naming the parameter, never a NaN 'distribution'."""
    model = FRESH[name]()
    first = next(n for n, p in model.named_parameters() if p.dim() == 2)
    with torch.no_grad():
        dict(model.named_parameters())[first][0, 0] = float("nan")
    from lm_course.validation import NonFiniteError
    with pytest.raises(NonFiniteError, match="NaN"):
        model.next_token_probs(_TEXT[:5])
    with pytest.raises(NonFiniteError, match="NaN"):
        model.generate(_TEXT[:5], 3, seed=0)
