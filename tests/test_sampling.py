"""lm_course.sampling: filter_logits against transformers' logits processors,
generate (greedy, sampling, KV cache), beam_search, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_course.gpt import GPT, GPTConfig
from lm_course.sampling import beam_search, filter_logits, generate, generation_timings


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def model() -> GPT:
    """A tiny GPT with weights large enough for peaked, varied distributions
    (GPT-2's std-0.02 init gives nearly uniform ones)."""
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.3)
    return m.eval()


def hf_processors(temperature=1.0, top_k=None, top_p=None, repetition_penalty=1.0):
    """transformers' processors in the order generate() applies them."""
    from transformers.generation.logits_process import (
        LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
        TopKLogitsWarper, TopPLogitsWarper)

    procs = LogitsProcessorList()
    if repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(float(repetition_penalty)))
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(float(temperature)))
    if top_k is not None:
        procs.append(TopKLogitsWarper(top_k))
    if top_p is not None and top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    return procs


def assert_same_logits(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs)), "different tokens removed"
    kept = torch.isfinite(theirs)
    assert torch.allclose(ours[kept], theirs[kept], atol=1e-5, rtol=1e-5)


# ---- filter_logits -----------------------------------------------------

SETTINGS = [
    dict(temperature=0.7),
    dict(temperature=1.9),
    dict(top_k=1),
    dict(top_k=5),
    dict(top_k=500),  # more than the vocabulary: nothing removed
    dict(top_p=0.05),
    dict(top_p=0.5),
    dict(top_p=0.9),
    dict(top_p=1.0),
    dict(repetition_penalty=1.3),
    dict(repetition_penalty=0.7),  # < 1 rewards repeats
    dict(temperature=0.8, top_k=20, top_p=0.9, repetition_penalty=1.2),
    dict(temperature=1.5, top_k=3, top_p=0.3, repetition_penalty=2.0),
]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_filter_logits_matches_transformers(kwargs):
    gen = torch.Generator().manual_seed(1)
    for trial in range(20):
        logits = torch.randn(4, 100, generator=gen) * (1 + trial % 4)  # (B, V): from flat to peaked
        prev = torch.randint(0, 100, (4, 12), generator=gen)  # (B, T) with repeats
        theirs = hf_processors(**kwargs)(prev, logits.clone())
        ours = filter_logits(logits, prev_tokens=prev, **kwargs)
        assert_same_logits(ours, theirs)


def test_filter_logits_one_row_and_defaults():
    logits = torch.randn(50)  # (V,)
    assert torch.equal(filter_logits(logits), logits)
    out = filter_logits(logits, top_k=3, temperature=0.5)
    assert out.shape == (50,) and int(torch.isfinite(out).sum()) == 3
    assert torch.equal(out, filter_logits(logits[None], top_k=3, temperature=0.5)[0])
    assert not torch.equal(logits, out)  # a new tensor, the input untouched
    assert torch.equal(logits, logits.clone())


def test_top_p_hand_example():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])  # sorted: 0.5, 0.3, 0.15, 0.05
    logits = probs.log()
    kept = lambda p: set(torch.isfinite(filter_logits(logits, top_p=p)).nonzero().flatten().tolist())  # noqa: E731
    assert kept(0.01) == {1}  # always at least the top token
    assert kept(0.49) == {1}
    assert kept(0.6) == {1, 3}
    assert kept(0.79) == {1, 3}
    assert kept(0.81) == {1, 3, 2}
    assert kept(0.96) == {0, 1, 2, 3}
    assert kept(1.0) == {0, 1, 2, 3}


def test_top_p_with_ties_keeps_the_greedy_token():
    logits = torch.zeros(17)  # (V,): every token equally likely
    keep = torch.isfinite(filter_logits(logits, top_p=0.5))
    assert bool(keep[logits.argmax()])  # greedy decoding's choice survives
    assert int(keep.sum()) == 9  # 9/17 is the first multiple of 1/17 to reach 0.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-6, 6), min_size=2, max_size=30), st.floats(0.01, 0.99))
def test_top_p_keeps_the_smallest_set_reaching_p(values, p):
    logits = torch.tensor(values, dtype=torch.float64)  # (V,)
    probs = torch.softmax(logits, -1)
    keep = torch.isfinite(filter_logits(logits, top_p=p))
    assert keep.sum() >= 1
    assert bool(keep[probs.argmax()])
    assert float(probs[keep].sum()) >= p - 1e-9  # the kept set reaches p ...
    weakest = probs[keep].min()
    assert float(probs[keep].sum() - weakest) < p + 1e-9  # ... and would not without its weakest token
    assert float(probs[~keep].max()) <= float(weakest) if (~keep).any() else True  # it is a top set


def test_top_k_keeps_ties():
    logits = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0])
    assert torch.isfinite(filter_logits(logits, top_k=1)).tolist() == [True, False, True, False, False]
    assert torch.isfinite(filter_logits(logits, top_k=3)).tolist() == [True, False, True, True, False]


def test_repetition_penalty_by_hand():
    logits = torch.tensor([2.0, -2.0, 1.0, 0.5])
    out = filter_logits(logits, repetition_penalty=2.0, prev_tokens=[0, 1, 1])
    assert out.tolist() == [1.0, -4.0, 1.0, 0.5]  # positive halved, negative doubled, once each
    with pytest.raises(ValueError, match="prev_tokens"):
        filter_logits(logits, repetition_penalty=2.0)


@pytest.mark.parametrize("kwargs, error", [
    (dict(temperature=0), "temperature must be > 0"),
    (dict(temperature=-1.0), "temperature must be > 0"),
    (dict(temperature=float("nan")), "finite number"),
    (dict(top_k=0), "top_k must be >= 1"),
    (dict(top_k=2.5), "top_k must be an int"),
    (dict(top_p=0.0), r"top_p must be in \(0, 1\]"),
    (dict(top_p=1.5), r"top_p must be in \(0, 1\]"),
    (dict(top_p=-0.1), r"top_p must be in \(0, 1\]"),
    (dict(repetition_penalty=0.0), "repetition_penalty must be > 0"),
    (dict(repetition_penalty=-1.2), "repetition_penalty must be > 0"),
])
def test_filter_logits_bad_settings(kwargs, error):
    with pytest.raises((ValueError, TypeError), match=error):
        filter_logits(torch.randn(10), **kwargs)


def test_filter_logits_bad_tensors():
    with pytest.raises(ValueError, match="float tensor"):
        filter_logits(torch.arange(10))
    with pytest.raises(ValueError, match="float tensor"):
        filter_logits(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        filter_logits(torch.randn(10), repetition_penalty=1.2, prev_tokens=[3, 10])
    with pytest.raises(ValueError, match="rows"):
        filter_logits(torch.randn(2, 10), repetition_penalty=1.2, prev_tokens=torch.zeros(3, 4, dtype=torch.long))


# ---- generate ----------------------------------------------------------

def test_generate_shapes_and_greedy_by_hand(model):
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = generate(model, idx, 5)
    assert out.shape == (2, 8) and out.dtype == torch.long
    assert torch.equal(out[:, :3], idx)
    ids = idx.clone()  # greedy, written out: argmax of a full forward pass each step
    for _ in range(5):
        ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, ids)
    assert torch.equal(generate(model, idx, 0), idx)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(repetition_penalty=1.5),
    dict(do_sample=True),
    dict(do_sample=True, temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=1.3),
])
def test_kv_cache_gives_the_same_tokens(model, kwargs):
    """Past block_size (16) too: the cached run restarts on the cropped window."""
    idx = torch.randint(0, 40, (3, 5), generator=torch.Generator().manual_seed(2))
    with_cache = generate(model, idx, 30, use_cache=True, generator=torch.Generator().manual_seed(7), **kwargs)
    without = generate(model, idx, 30, use_cache=False, generator=torch.Generator().manual_seed(7), **kwargs)
    assert torch.equal(with_cache, without)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(do_sample=True, temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=1.3),
])
def test_generate_equals_the_plain_loop_over_full_logits(model, kwargs):
    """The fast-decoding steps (no mask for one query, the head at the last
    position only) change no token: generate, with and without the cache,
    gives the ids of the plain loop that runs the whole cropped context and
    the head at every position each step (what generate did before them),
    greedy and seeded sampling, past block_size too."""
    from lm_course.draws import draw_tokens

    idx = torch.randint(0, 40, (2, 4), generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(11)
    ids = idx.clone()
    with torch.no_grad():
        for _ in range(25):
            logits = model(ids[:, -model.config.block_size:]).logits[:, -1]  # (B, V): all positions' head
            logits = filter_logits(logits, kwargs.get("temperature", 1.0), kwargs.get("top_k"), kwargs.get("top_p"),
                                   kwargs.get("repetition_penalty", 1.0), ids)
            nxt = draw_tokens(torch.softmax(logits, -1), gen) if kwargs.get("do_sample") \
                else logits.argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)  # (B, T + 1)
    for use_cache in (True, False):
        out = generate(model, idx, 25, use_cache=use_cache, generator=torch.Generator().manual_seed(11), **kwargs)
        assert torch.equal(out, ids), use_cache


def test_bfloat16_decoding(model, monkeypatch):
    """Fast-decoding step 3: bfloat16_copy(model) runs end to end, the
    decoders see float32 logits, and its greedy tokens agree with float32's
    (teacher-forced: given float32's text, bfloat16 picks the same next token
    at all 112 steps here, measured, and free-running greedy text is
    identical; asserted: >= 90% and the first token)."""
    from lm_course import sampling
    from lm_course.gpt_decoding import bfloat16_copy

    half = bfloat16_copy(model)
    assert half is not model and next(model.parameters()).dtype == torch.float32
    idx = torch.randint(0, 40, (8, 3), generator=torch.Generator().manual_seed(4))  # (8, 3)
    with torch.no_grad():
        assert half(idx, use_cache=True).past_key_values[0][0].dtype == torch.bfloat16  # the cache stays bf16
    seen, filter_logits = [], sampling.filter_logits  # the logits each decoding step hands to the filters

    def spy(logits, *args):
        seen.append(logits)
        return filter_logits(logits, *args)

    monkeypatch.setattr(sampling, "filter_logits", spy)
    generate(half, idx, 3)
    assert len(seen) == 3 and all(t.dtype == torch.float32 and t.shape == (8, 40) for t in seen)
    monkeypatch.undo()
    sampled = generate(half, idx, 20, do_sample=True, top_p=0.9, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (8, 23) and sampled.dtype == torch.long
    assert beam_search(half, idx[:2], 5, 3).shape == (2, 8)
    assert half.next_token_probs([1, 2]).dtype == torch.float32
    N = 14  # prompt + N - 1 = 16 = block_size: the cached path throughout
    greedy = generate(model, idx, N)  # (8, 3 + N), float32
    assert torch.equal(generate(half, idx, N, use_cache=False)[:, :4], greedy[:, :4])  # the first new token
    with torch.no_grad():
        forced = half(greedy[:, :-1], logits_to_keep=N).logits.float().argmax(-1)  # (8, N): bf16's pick each step
    agreement = (forced == greedy[:, 3:]).float().mean().item()
    assert agreement >= 0.9, agreement


def test_batch_rows_are_independent(model):
    idx = torch.tensor([[1, 2, 3], [7, 8, 9]])
    both = generate(model, idx, 12)
    for row in range(2):
        assert torch.equal(both[row], generate(model, idx[row:row + 1], 12)[0])


def test_sampling_is_seeded_and_varied(model):
    idx = torch.tensor([[1, 2, 3]])
    a = generate(model, idx, 20, do_sample=True, generator=torch.Generator().manual_seed(3))
    b = generate(model, idx, 20, do_sample=True, generator=torch.Generator().manual_seed(3))
    c = generate(model, idx, 20, do_sample=True, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_top_k_1_and_tiny_top_p_equal_greedy(model):
    idx = torch.tensor([[3, 1, 4], [1, 5, 9]])
    greedy = generate(model, idx, 15)
    for kwargs in (dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, temperature=3.0)):
        sampled = generate(model, idx, 15, do_sample=True, generator=torch.Generator().manual_seed(0), **kwargs)
        assert torch.equal(sampled, greedy), kwargs


def test_low_temperature_approaches_greedy(model):
    idx = torch.tensor([[3, 1, 4]])
    cold = generate(model, idx, 15, do_sample=True, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, generate(model, idx, 15))


def test_generate_restores_training_mode(model):
    model.train()
    generate(model, torch.tensor([[1]]), 2)
    assert model.training
    model.eval()


def test_generate_bad_input(model):
    ok = torch.tensor([[1, 2]])
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.tensor([1, 2]), 3)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, [[1, 2]], 3)
    with pytest.raises(TypeError, match="integer token ids"):
        generate(model, torch.tensor([[1.0, 2.0]]), 3)
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, ok, -1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, ok, 2.0)
    with pytest.raises(ValueError, match="block_size"):
        generate(model, torch.ones(1, 17, dtype=torch.long), 3)
    out = generate(model, torch.ones(1, 17, dtype=torch.long), 3, use_cache=False)  # crops instead
    assert out.shape == (1, 20)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, ok, 3, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, ok, 3, do_sample=True, top_p=0)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, ok, 3, do_sample=True, top_k=0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        generate(model, ok, 3, repetition_penalty=0)
    with pytest.raises(ValueError, match="vocabulary"):
        generate(model, torch.tensor([[1, 40]]), 3)


# ---- beam search -------------------------------------------------------

def sequence_log_prob(model, ids: torch.Tensor, prompt_len: int) -> float:
    with torch.no_grad():
        logp = torch.log_softmax(model(ids[None, :-1]).logits[0], -1)  # (T-1, V)
    return float(logp[prompt_len - 1:].gather(-1, ids[prompt_len:, None]).sum())


def test_beam_search_one_beam_is_greedy(model):
    idx = torch.tensor([[3, 1, 4], [2, 7, 1]])
    assert torch.equal(beam_search(model, idx, 10, num_beams=1), generate(model, idx, 10))


def test_beam_search_cache_and_no_cache_agree(model):
    idx = torch.tensor([[3, 1, 4], [2, 7, 1]])
    assert torch.equal(beam_search(model, idx, 20, 4), beam_search(model, idx, 20, 4, use_cache=False))


def test_more_beams_find_likelier_text(model):
    idx = torch.tensor([[5, 9, 2]])
    scores = [sequence_log_prob(model, beam_search(model, idx, 8, k)[0], 3) for k in (1, 3, 8)]
    assert scores[0] <= scores[1] + 1e-5 and scores[1] <= scores[2] + 1e-5
    assert scores[2] > scores[0]  # beams beat greedy somewhere on this model


def test_beam_search_bad_input(model):
    with pytest.raises(ValueError, match="num_beams"):
        beam_search(model, torch.tensor([[1]]), 3, 0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        beam_search(model, torch.tensor([[1]]), -2, 2)


# ---- devices -----------------------------------------------------------
# No GPU here: what a CPU can check is that generators are made where asked
# and that a draw happens on the generator's device, its ids coming back to
# the model's (a CUDA model with the playground's CPU generator).

def test_sampling_generator_on_the_models_device(model, monkeypatch):
    from lm_course.draws import sampling_generator

    g = sampling_generator(5, device=model.device)
    assert g.device.type == model.device.type == "cpu"
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=torch.Generator().manual_seed(5)))
    assert sampling_generator(5).device == torch.device("cpu")  # the default: the CPU

    class FakeGenerator:  # this torch cannot make a CUDA generator; record what is asked for
        def __init__(self, device="cpu"):
            self.device = torch.device(device)

        def manual_seed(self, seed):
            self.seed = seed
            return self

    monkeypatch.setattr(torch, "Generator", FakeGenerator)
    monkeypatch.setattr(GPT, "device", property(lambda self: torch.device("cuda", 0)))
    g = sampling_generator(7, device=model.device)
    assert isinstance(g, FakeGenerator) and g.device == torch.device("cuda", 0) and g.seed == 7


def test_draw_tokens_draws_where_the_generator_is(monkeypatch):
    from lm_course.draws import draw_tokens

    probs = torch.softmax(torch.randn(3, 10, generator=torch.Generator().manual_seed(0)) * 3, -1)  # (B, V)
    same = draw_tokens(probs, torch.Generator().manual_seed(1))  # (B, 1)
    assert torch.equal(same, torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(1)))
    assert draw_tokens(probs[0], torch.Generator().manual_seed(1)).shape == (1,)

    class Elsewhere:  # a generator on another device than the probabilities
        device = torch.device("meta")

    seen = []

    def spy(p, n, generator=None):
        seen.append((p.device, p.shape, generator))
        return torch.zeros(p.shape[:-1] + (n,), dtype=torch.long)  # stands for ids drawn there

    monkeypatch.setattr(torch, "multinomial", spy)
    out = draw_tokens(probs, Elsewhere())
    assert seen[0][0] == torch.device("meta") and seen[0][1] == (3, 10) and isinstance(seen[0][2], Elsewhere)
    assert out.device == probs.device and out.shape == (3, 1)  # the ids come back to the model's device


def test_gpt_forward_names_a_device_mismatch(model, monkeypatch):
    """A prompt left on the CPU for a model on cuda (the playground's chart
    calls the model directly) gets an error that says what to do."""
    monkeypatch.setattr(GPT, "device", property(lambda self: torch.device("cuda", 0)))
    with pytest.raises(ValueError, match=r"idx is on cpu but the model is on cuda:0; .*idx.to\(model.device\)"):
        model(torch.tensor([[1, 2]]))


def test_generate_checks_the_generator(model):
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        generate(model, torch.tensor([[1, 2]]), 3, do_sample=True, generator=7)


# ---- timings -----------------------------------------------------------

def test_generation_timings(model):
    t = generation_timings(model, torch.tensor([[1, 2]]), 6)
    assert t.shape == (6,) and bool((t[1:] >= t[:-1]).all()) and float(t[0]) > 0
    assert math.isfinite(float(t[-1]))


# ---- the plots of lm_course.viz.sampling --------------------------------

def test_plots_draw_what_the_filters_do():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lm_course import viz

    logits = torch.tensor([3.0, 2.0, 1.5, 1.0, 0.0, -1.0, -2.0])  # (V,)
    labels = list("abcdefg")
    ax = viz.plot_temperature(logits, temperatures=(0.5, 2.0), labels=labels, top_n=5)
    assert len(ax.patches) == 10 and ax.get_legend() is not None
    ax = viz.plot_filtered_probs(logits, labels=labels, top_k=2)
    assert "2 of 7 tokens left" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["before", "after (renormalised)", "removed (-inf)"]
    ax = viz.plot_filtered_probs(logits, labels=labels, repetition_penalty=1.5, prev_tokens=[0, 3])
    assert sum(bool(p.get_hatch()) for p in ax.patches) == 2  # the two tokens already in the text
    ax = viz.plot_top_p_cut(logits, top_p=0.8, labels=labels)
    blue = [p for p in ax.patches if p.get_facecolor()[:3] == matplotlib.colors.to_rgb("tab:blue")]
    assert len(blue) == int(torch.isfinite(filter_logits(logits, top_p=0.8)).sum())
    ax = viz.plot_kept_counts({"top-p": [1, 5, 2], "top-k": [3, 3, 3]}, text="abc")
    assert len(ax.lines) == 2
    fig = viz.plot_generation_speed({"cache": [0.1, 0.2, 0.3], "no cache": [0.1, 0.3, 0.6]})
    assert len(fig.axes) == 2
    plt.close("all")
    with pytest.raises(ValueError, match="1-D"):
        viz.plot_temperature(torch.randn(2, 5))
    with pytest.raises(ValueError, match="top_n"):
        viz.plot_filtered_probs(logits, top_n=0)
    with pytest.raises(ValueError, match="empty"):
        viz.plot_generation_speed({})


def test_named_filters_compose_to_filter_logits():
    from lm_course.sampling import apply_repetition_penalty, apply_temperature, top_k_filter, top_p_filter

    g = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 40, generator=g)
    prev = torch.randint(0, 40, (3, 7), generator=g)
    by_steps = top_p_filter(top_k_filter(apply_temperature(
        apply_repetition_penalty(logits, prev, 1.3), 0.7), 12), 0.8)
    assert torch.equal(by_steps, filter_logits(logits, temperature=0.7, top_k=12, top_p=0.8,
                                               repetition_penalty=1.3, prev_tokens=prev))
    one = logits[0]
    assert top_k_filter(one, 3).shape == (40,) and torch.isfinite(top_k_filter(one, 3)).sum() == 3
    assert torch.equal(top_p_filter(one, 1.0), one)
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(one, 0.0)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(one, 0)
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(one, -1.0)
    with pytest.raises(ValueError, match="logits"):
        top_k_filter(torch.zeros(2, 3, 4), 1)


def test_plot_cumulative_log_prob():
    import matplotlib

    matplotlib.use("Agg")
    from lm_course.viz import plot_cumulative_log_prob

    ax = plot_cumulative_log_prob({"greedy": [-0.5, -1.0, -0.2], "4 beams": [-1.0, -0.1, -0.1]})
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    assert [line.get_ydata()[-1] for line in ax.get_lines()[:2]] == pytest.approx([-1.7, -1.2])
    with pytest.raises(ValueError, match="empty"):
        plot_cumulative_log_prob({})
