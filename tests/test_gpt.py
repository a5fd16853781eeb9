"""The GPT of chapter 5 (lm_course.gpt)."""

import math

import pytest
import torch

from lm_course.evaluate import bits_per_token
from lm_course.gpt import GPT, GPTConfig, GPTOutput
from lm_course.interface import LanguageModel
from lm_course.validation import check_distribution
from lm_course.train import TrainConfig, train

V, BLOCK = 23, 16


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _model(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=4, n_embd=32)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


def _ids(B, T, seed=1):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("bad", [
    dict(n_embd=30, n_head=4),  # not divisible
    dict(n_layer=0),
    dict(vocab_size=-1),
    dict(block_size=2.5),
    dict(dropout=1.0),
])
def test_config_is_validated(bad):
    cfg = dict(vocab_size=V, block_size=BLOCK, n_layer=1, n_head=2, n_embd=8)
    cfg.update(bad)
    with pytest.raises(ValueError):
        GPTConfig(**cfg)


def test_shapes_and_output_fields():
    m = _model()
    x = _ids(3, 10)
    out = m(x)
    assert isinstance(out, GPTOutput)
    assert out.logits.shape == (3, 10, V)
    assert out.past_key_values is None and out.attentions is None and out.hidden_states is None
    out = m(x, use_cache=True, output_attentions=True, output_hidden_states=True)
    assert len(out.past_key_values) == 2
    for k, v in out.past_key_values:
        assert k.shape == v.shape == (3, 4, 10, 8)
    assert [a.shape for a in out.attentions] == [(3, 4, 10, 10)] * 2
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(3, 4, 10), atol=1e-5)
    assert len(out.hidden_states) == 3 and out.hidden_states[0].shape == (3, 10, 32)


def test_weights_are_tied_and_counted_once():
    m = _model()
    assert m.lm_head.weight is m.transformer.wte.weight
    assert m.lm_head.weight.data_ptr() == m.transformer.wte.weight.data_ptr()
    C, L = 32, 2
    per_block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C)
    assert m.num_parameters() == V * C + BLOCK * C + L * per_block + 2 * C
    assert m.num_parameters(non_embedding=True) == L * per_block + 2 * C


def test_hugging_face_parameter_names():
    names = set(_model().state_dict())
    for n in ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
              "transformer.h.1.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
              "transformer.h.0.attn.c_proj.bias", "transformer.h.0.ln_2.weight",
              "transformer.h.0.mlp.c_fc.weight", "transformer.h.1.mlp.c_proj.weight", "lm_head.weight"]:
        assert n in names


def test_causal_a_future_token_never_changes_earlier_logits():
    m = _model()
    x = _ids(2, BLOCK)
    base = m(x).logits
    for t in [0, 5, BLOCK - 1]:
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % V
        changed = m(y).logits
        assert torch.allclose(changed[:, :t], base[:, :t], atol=1e-6)
        assert not torch.allclose(changed[:, t], base[:, t])


def test_attention_weights_path_equals_the_fast_path():
    m = _model(n_layer=3)
    x = _ids(2, BLOCK)
    fast = m(x).logits
    slow = m(x, output_attentions=True)
    assert torch.allclose(fast, slow.logits, atol=1e-5)
    for w in slow.attentions:  # causal: nothing above the diagonal
        assert torch.all(w.triu(diagonal=1) == 0)


def test_kv_cache_step_by_step_equals_the_full_forward():
    m = _model()
    x = _ids(2, 12)
    full = m(x).logits  # (2, 12, V)
    out = m(x[:, :4], use_cache=True)  # a prompt of 4, then one token at a time
    assert torch.allclose(out.logits, full[:, :4], atol=1e-5)
    past = out.past_key_values
    for t in range(4, 12):
        out = m(x[:, t:t + 1], past_key_values=past, use_cache=True,
                output_attentions=(t % 2 == 0))  # both attention paths with a cache
        past = out.past_key_values
        assert torch.allclose(out.logits[:, 0], full[:, t], atol=1e-5)
        assert past[0][0].shape == (2, 4, t + 1, 8)
    # several new tokens at once after a cache: the mask sits at the end
    out = m(x[:, :5], use_cache=True)
    out = m(x[:, 5:], past_key_values=out.past_key_values, output_attentions=True)
    assert torch.allclose(out.logits, full[:, 5:], atol=1e-5)
    assert out.attentions[0].shape == (2, 4, 7, 12)


def test_logits_to_keep_runs_the_head_on_the_last_positions_only():
    """Fast-decoding step 2: the same numbers as the last rows of the full
    logits, shape (B, min(n, T), V); 0 keeps every position."""
    m = _model()
    x = _ids(2, 9)
    full = m(x).logits  # (2, 9, V)
    assert torch.equal(m(x, logits_to_keep=0).logits, full)
    rows = []
    hook = m.lm_head.register_forward_hook(lambda mod, args, out: rows.append(args[0].size(1)))
    try:
        for n, kept in ((1, 1), (4, 4), (9, 9), (50, 9)):
            out = m(x, logits_to_keep=n, use_cache=True)
            assert out.logits.shape == (2, kept, V)
            assert torch.allclose(out.logits, full[:, -kept:], atol=1e-6)
            assert out.past_key_values[0][0].shape == (2, 4, 9, 8)  # the cache still holds every position
    finally:
        hook.remove()
    assert rows == [1, 4, 9, 9]  # the head saw only the kept positions
    past = m(x[:, :5], use_cache=True).past_key_values  # after a cache, too
    step = m(x[:, 5:], past_key_values=past, logits_to_keep=2).logits
    assert torch.allclose(step, full[:, -2:], atol=1e-5)
    for bad, error in ((-1, ValueError), (True, TypeError), (1.0, TypeError), (None, TypeError)):
        with pytest.raises(error, match="logits_to_keep"):
            m(x, logits_to_keep=bad)


def test_next_token_probs_runs_the_head_on_one_position():
    m = _model()
    rows = []
    hook = m.lm_head.register_forward_hook(lambda mod, args, out: rows.append(tuple(args[0].shape)))
    try:
        p = m.next_token_probs([1, 2, 3, 4, 5])
    finally:
        hook.remove()
    assert rows == [(1, 1, 32)]
    assert torch.allclose(p, torch.softmax(m(torch.tensor([[1, 2, 3, 4, 5]])).logits[0, -1], -1), atol=1e-6)


def test_attention_mask_none_for_one_query_and_built_once_per_forward(monkeypatch):
    """Fast-decoding step 1: a one-token step builds no mask; several new
    tokens after a cache build one (T, S) mask for all layers."""
    import lm_course.gpt_block as gpt
    from lm_course.attention import causal_mask

    assert gpt.attention_mask(1, 7) is None  # one query sees all 7 keys
    assert gpt.attention_mask(5, 5) is None  # the fused kernel's is_causal
    assert torch.equal(gpt.attention_mask(5, 5, fused=False), causal_mask(5, 5))  # chapter 4's attention
    assert torch.equal(gpt.attention_mask(2, 5), causal_mask(2, 5))
    m = _model(n_layer=3)
    x = _ids(1, 8)
    full = m(x).logits  # (1, 8, V)
    built = []
    monkeypatch.setattr(gpt, "causal_mask", lambda *a, **k: built.append(a) or causal_mask(*a, **k))
    past = m(x[:, :5], use_cache=True).past_key_values
    assert built == []  # S == T: is_causal, no tensor
    out = m(x[:, 5:7], past_key_values=past, use_cache=True)
    assert built == [(2, 7)]  # once, not once per layer
    assert torch.allclose(out.logits, full[:, 5:7], atol=1e-5)
    step = m(x[:, 7:], past_key_values=out.past_key_values, output_attentions=True)
    assert built == [(2, 7)]  # a one-token step: no mask, on both attention paths
    assert torch.allclose(step.logits[:, 0], full[:, 7], atol=1e-5)
    assert all(torch.allclose(w.sum(-1), torch.ones(1)) and w.shape == (1, 4, 1, 8) for w in step.attentions)


def test_a_batch_longer_than_block_size_is_a_clear_error_a_context_is_cropped():
    m = _model()
    with pytest.raises(ValueError, match="block_size"):
        m(_ids(1, BLOCK + 1))
    past = m(_ids(1, BLOCK - 2), use_cache=True).past_key_values
    m(_ids(1, 2), past_key_values=past)  # exactly full: fine
    with pytest.raises(ValueError, match="cached"):
        m(_ids(1, 3), past_key_values=past)
    long = [1, 2, 3] * BLOCK  # next_token_probs crops to the last block_size tokens (the protocol's rule)
    assert torch.equal(m.next_token_probs(long), m.next_token_probs(long[-BLOCK:]))


def test_bad_input_is_a_clear_error():
    m = _model()
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        m(torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 5))
    with pytest.raises(ValueError, match="vocabulary"):
        m(torch.full((1, 3), V))
    with pytest.raises(ValueError, match="at least one token"):
        m.next_token_probs([])
    with pytest.raises(TypeError):
        m.next_token_probs("abc")
    with pytest.raises(TypeError):
        GPT({"vocab_size": V})


def test_language_model_interface():
    m = _model()
    assert isinstance(m, LanguageModel)
    assert m.vocab_size == V and m.context_length == BLOCK
    ctx = [1, 2, 3, 4]
    p = check_distribution(m.next_token_probs(ctx), V)
    expected = torch.softmax(m(torch.tensor([ctx])).logits[0, -1], -1)
    assert torch.allclose(p, expected, atol=1e-6)


def test_token_log_probs_short_text_is_one_forward():
    m = _model()
    x = _ids(1, 10)[0]
    logp = torch.log_softmax(m(x[None, :-1]).logits[0], -1)  # (9, V)
    expected = logp.gather(-1, x[1:, None])[:, 0]
    assert torch.allclose(m.token_log_probs(x), expected.double(), atol=1e-5)


def test_token_log_probs_sliding_windows():
    m = _model()
    ids = _ids(1, 50, seed=7)[0].tolist()
    got = m.token_log_probs(ids)  # block 16, stride 8
    assert got.shape == (49,) and torch.isfinite(got).all()

    def logp(t, start):  # ln p(ids[t] | ids[start:t])
        return math.log(float(m.next_token_probs(ids[start:t])[ids[t]]))

    # windows start at 0, 8, 16, 24, 32 and 33 (the one that ends the text):
    # window 0 scores targets 1..16, window 8 scores 17..24, ..., window 33 scores 49
    for t, start in [(1, 0), (16, 0), (17, 8), (24, 8), (25, 16), (41, 32), (48, 32), (49, 33)]:
        assert got[t - 1] == pytest.approx(logp(t, start), abs=1e-5)
    # stride 1: every token sees the full window, as the slow evaluation path does
    exact = m.token_log_probs(ids, stride=1)
    slow = [logp(t, max(0, t - BLOCK)) for t in range(1, 50)]
    assert torch.allclose(exact, torch.tensor(slow, dtype=torch.float64), atol=1e-5)
    # the batch size changes nothing
    assert torch.allclose(m.token_log_probs(ids, batch_size=2), got, atol=1e-6)
    with pytest.raises(ValueError, match="stride"):
        m.token_log_probs(ids, stride=0)
    with pytest.raises(ValueError, match="at least 2"):
        m.token_log_probs(ids[:1])


def test_bits_per_token_uses_the_fast_path():
    m = _model()
    ids = _ids(1, 200, seed=3)[0].tolist()
    bits = bits_per_token(m, ids)
    assert bits == pytest.approx(float(-m.token_log_probs(ids).mean()) / math.log(2), rel=1e-6)
    assert 3.5 < bits < 5.5  # near log2(23) = 4.52 for an untrained model


def test_the_training_loop_trains_a_tiny_gpt():
    g = torch.Generator().manual_seed(0)
    pattern = torch.randint(V, (7,), generator=g)  # a repeating 7-token pattern, some noise
    stream = pattern.repeat(300)
    noise = torch.rand(len(stream), generator=g) < 0.1
    stream = torch.where(noise, torch.randint(V, stream.shape, generator=g), stream)
    m = _model().train()
    hist = train(m, stream[:1800], stream[1800:],
                 TrainConfig(steps=80, batch_size=16, block_size=BLOCK, lr=3e-3, warmup_steps=10,
                             eval_interval=40, eval_batches=2, progress=False))
    assert hist.val_loss[-1] < hist.val_loss[0] - 1.0
    assert not m.training


def test_dropout_only_in_training():
    m = _model(dropout=0.5)
    x = _ids(2, 8)
    assert torch.equal(m(x).logits, m(x).logits)  # eval: deterministic
    m.train()
    torch.manual_seed(0)
    assert not torch.allclose(m(x).logits, m(x).logits)
    out = m(x, output_attentions=True)  # the weights path also drops out in training
    assert out.logits.shape == (2, 8, V)


# ---- the widgets' prefix cache ----------------------------------------------

def test_prefix_cache_equals_next_token_probs_while_typing():
    from lm_course.gpt_decoding import PrefixCache

    model = _model()
    cache = PrefixCache(model)
    rng = torch.Generator().manual_seed(3)
    text = torch.randint(0, model.vocab_size, (20,), generator=rng).tolist()
    edits = [text[:1], text[:2], text[:12], text[:13], text[:13],  # typing, then the same text again
             text[:9],  # backspaces
             text[:5] + [7, 7, 7] + text[8:13],  # a change in the middle
             [text[1]] + text[1:13],  # a change at the start: nothing can be reused
             text[:15], text[:16]]  # typing again, to the whole window
    reused = []
    for context in edits:
        expected = model.next_token_probs(context)  # (V,)
        got = cache.next_token_probs(context)
        assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-6), context
        reused.append(cache.reused)
    assert reused == [0, 1, 2, 12, 12, 8, 5, 0, 0, 15]  # only the tail after the shared prefix ran


def test_prefix_cache_never_answers_with_old_weights():
    from lm_course.gpt_decoding import PrefixCache

    model = _model()
    cache = PrefixCache(model)
    context = [1, 2, 3, 4, 5]
    cache.next_token_probs(context[:4])
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight.mul_(3.0)  # in place: the same tensor, new values
    assert cache.next_token_probs(context).allclose(model.next_token_probs(context), atol=1e-6)
    assert cache.reused == 0
    model.load_state_dict(_model(seed=5).state_dict())  # loaded in place
    assert cache.next_token_probs(context).allclose(model.next_token_probs(context), atol=1e-6)
    assert cache.reused == 0


def test_prefix_cache_checks_its_input():
    from lm_course.gpt_decoding import PrefixCache

    model = _model()
    cache = PrefixCache(model)
    with pytest.raises(ValueError, match="at least one token"):
        cache.next_token_probs([])
    long = [1, 2] * model.config.block_size  # cropped to its last block_size tokens, as the model crops it
    assert torch.allclose(cache.next_token_probs(long), model.next_token_probs(long[-model.config.block_size:]),
                          atol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        cache.next_token_probs([model.vocab_size])
    with pytest.raises(TypeError, match="course GPT"):
        PrefixCache(torch.nn.Linear(2, 2))
    model.train()
    cache.next_token_probs([1, 2])
    assert model.training  # the caller's mode is restored
