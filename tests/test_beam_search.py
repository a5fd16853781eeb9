"""lm_course.sampling with an end-of-text token: greedy, sampling and beam
search stop where ``transformers``' ``generate`` stops, and beam search ranks
the finished hypotheses with its ``length_penalty`` (06_gpt2_sampling.ipynb,
"Beam search").

The pair of models: a tiny, randomly initialised ``GPT2LMHeadModel`` (built by
``tests/test_gpt2_weights.py``'s ``hf_gpt2``) and the course's GPT loaded from
its ``save_pretrained`` directory, so both compute the same distributions.
"""

from __future__ import annotations

import warnings

import pytest
import torch

# tests/ is on sys.path under pytest's default ("prepend") import mode
from test_gpt2_weights import hf_gpt2

from lm_course.gpt import GPT
from lm_course.sampling import beam_search, generate

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

N = 20  # new tokens at most
PENALTIES = (1.0, 0.0, 2.0)  # transformers' default; raw sums (favour ending early); longer ones favoured


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(transformers' model, the course's GPT with the same weights)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    hf = hf_gpt2(vocab_size=50, n_positions=40, n_embd=32, n_layer=2, n_head=4)
    directory = tmp_path_factory.mktemp("tiny_gpt2")
    hf.save_pretrained(directory)
    ours = GPT.from_pretrained(directory)
    yield hf, ours
    mp.undo()


@pytest.fixture(scope="module")
def prompts() -> torch.Tensor:
    return torch.randint(0, 50, (2, 4), generator=torch.Generator().manual_seed(0))  # (B, T)


@pytest.fixture(scope="module", params=[0, 1], ids=["eos=most-frequent", "eos=second-most-frequent"])
def eos(pair, prompts, request) -> int:
    """An end-of-text id the model really emits: the token its greedy
    continuations (without an EOS) emit most often, or second most often
    (with it, the early stop of a prompt whose hypotheses cannot be beaten
    decides the result for length_penalty=2)."""
    _, ours = pair
    new = generate(ours, prompts, N)[:, prompts.size(1):].flatten()  # (B * N,)
    counts = torch.bincount(new, minlength=ours.vocab_size)  # (V,)
    return int(counts.argsort(descending=True, stable=True)[request.param])


def hf_generate(hf, idx, **kwargs) -> torch.Tensor:
    with warnings.catch_warnings():  # e.g. "length_penalty is not used" for num_beams=1
        warnings.simplefilter("ignore")
        return hf.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=N, **kwargs)


def new_lengths(out: torch.Tensor, prompt_len: int, eos: int) -> list[int]:
    """Per row: new tokens up to and including the first EOS (N if none)."""
    lengths = []
    for row in out[:, prompt_len:]:
        hits = (row == eos).nonzero()
        lengths.append(int(hits[0]) + 1 if len(hits) else N)
    return lengths


# ---- beam search against transformers --------------------------------------

def test_beam_search_with_eos_equals_transformers(pair, prompts, eos):
    hf, ours = pair
    results = {}
    for length_penalty in PENALTIES:
        for k in (1, 2, 3, 4):
            theirs = hf_generate(hf, prompts, num_beams=k, do_sample=False, eos_token_id=eos, pad_token_id=eos,
                                 length_penalty=length_penalty)
            got = beam_search(ours, prompts, N, num_beams=k, eos_token_id=eos, length_penalty=length_penalty)
            assert got.shape == theirs.shape and torch.equal(got, theirs), (k, length_penalty)
            results[k, length_penalty] = got
    # the comparison has teeth: hypotheses end at different lengths, in one output and across settings ...
    lengths = {kl: new_lengths(out, prompts.size(1), eos) for kl, out in results.items()}
    assert any(1 < n < N for ls in lengths.values() for n in ls), lengths  # a beam ended early, not at once
    assert any(len(set(ls)) > 1 for ls in lengths.values()), lengths  # rows of different lengths: padding
    assert len({tuple(ls) for ls in lengths.values()}) >= 2, lengths  # the settings end differently
    # ... the length penalty changes the winner, and the winner is not just a beam of the search
    # without an EOS cut at its first EOS (finished hypotheses compete with the running beams)
    assert any(not torch.equal(results[k, 1.0], results[k, 0.0]) for k in (2, 3, 4))
    cut_only = True
    for (k, length_penalty), out in results.items():
        plain = beam_search(ours, prompts, N, k)  # (B, T + N)
        for row, n in enumerate(lengths[k, length_penalty]):
            cut_only &= torch.equal(out[row, :4 + n], plain[row, :4 + n])
    assert not cut_only


def test_beam_search_with_eos_row_by_row_and_without_cache(pair, prompts, eos):
    """A prompt's answer does not depend on its batch mates (other rows may
    keep the loop going after it is done), nor on the KV cache."""
    _, ours = pair
    for k in (2, 4):
        both = beam_search(ours, prompts, N, k, eos_token_id=eos)
        assert torch.equal(beam_search(ours, prompts, N, k, use_cache=False, eos_token_id=eos), both)
        for row in range(prompts.size(0)):
            alone = beam_search(ours, prompts[row:row + 1], N, k, eos_token_id=eos)[0]  # (T + n,)
            assert torch.equal(both[row, :len(alone)], alone)
            assert bool((both[row, len(alone):] == eos).all())  # the rest is padding


def test_beam_search_without_eos_is_unchanged(pair, prompts):
    """eos_token_id=None keeps every beam to N tokens; the length penalty is
    then irrelevant (transformers agrees: no EOS in its config)."""
    hf, ours = pair
    plain = beam_search(ours, prompts, N, 3)
    assert plain.shape == (2, 4 + N)
    assert torch.equal(beam_search(ours, prompts, N, 3, length_penalty=-2.0), plain)
    assert torch.equal(plain, hf_generate(hf, prompts, num_beams=3, do_sample=False, pad_token_id=0))


def test_zero_new_tokens(pair, prompts, eos):
    _, ours = pair
    for k in (1, 3):
        assert torch.equal(beam_search(ours, prompts, 0, k, eos_token_id=eos), prompts)
    assert torch.equal(generate(ours, prompts, 0, eos_token_id=eos), prompts)


# ---- greedy and sampling ---------------------------------------------------

def test_greedy_with_eos_equals_transformers(pair, prompts, eos):
    hf, ours = pair
    got = generate(ours, prompts, N, eos_token_id=eos)
    theirs = hf_generate(hf, prompts, do_sample=False, eos_token_id=eos, pad_token_id=eos)
    assert torch.equal(got, theirs)
    assert torch.equal(generate(ours, prompts, N, eos_token_id=eos, use_cache=False), got)
    plain = generate(ours, prompts, N)
    lengths = new_lengths(plain, prompts.size(1), eos)
    assert min(lengths) < N  # the EOS does stop a row
    assert got.size(1) == prompts.size(1) + max(lengths)  # the loop stops when the last row ends
    for row, n in enumerate(lengths):  # each row: the greedy text up to its EOS, then padding
        assert torch.equal(got[row, :4 + n], plain[row, :4 + n])
        assert bool((got[row, 4 + n:] == eos).all())


def test_sampling_stops_at_eos(pair, prompts, eos):
    """With the same seed, sampling with an EOS is the sample without one,
    cut after each row's first EOS (the EOS draws nothing extra)."""
    _, ours = pair
    one = prompts[:1]
    for seed in range(6):
        plain = generate(ours, one, N, do_sample=True, generator=torch.Generator().manual_seed(seed))
        cut = generate(ours, one, N, do_sample=True, generator=torch.Generator().manual_seed(seed),
                       eos_token_id=eos)
        n = new_lengths(plain, 4, eos)[0]
        assert torch.equal(cut, plain[:, :4 + n]), seed


def test_sampling_with_eos_equals_transformers(pair, prompts, eos):
    """Both draw with torch's global generator, one torch.multinomial per step."""
    hf, ours = pair
    ended = 0
    for seed in range(4):
        torch.manual_seed(seed)
        theirs = hf_generate(hf, prompts, do_sample=True, top_k=0, eos_token_id=eos, pad_token_id=eos)
        torch.manual_seed(seed)
        got = generate(ours, prompts, N, do_sample=True, eos_token_id=eos)
        assert torch.equal(got, theirs), seed
        ended += sum(n < N for n in new_lengths(got, 4, eos))
    assert ended > 0  # some sample did end at the EOS


# ---- clear errors ------------------------------------------------------------

@pytest.mark.parametrize("bad, error", [(-1, ValueError), (50, ValueError), (10**6, ValueError),
                                        (2.0, TypeError), (True, TypeError), ("50256", TypeError)])
def test_bad_eos_token_id(pair, prompts, bad, error):
    _, ours = pair
    match = "outside the vocabulary 0..49" if error is ValueError else "eos_token_id must be an int"
    with pytest.raises(error, match=match):
        beam_search(ours, prompts, 3, 2, eos_token_id=bad)
    with pytest.raises(error, match=match):
        generate(ours, prompts, 3, eos_token_id=bad)
    with pytest.raises(error, match=match):
        ours.generate([1, 2], 3, eos_token_id=bad)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None, "4"])
def test_bad_num_beams(pair, prompts, bad):
    _, ours = pair
    with pytest.raises(ValueError, match="num_beams must be an integer >= 1"):
        beam_search(ours, prompts, 3, bad, eos_token_id=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1.0", None, True])
def test_bad_length_penalty(pair, prompts, bad):
    _, ours = pair
    with pytest.raises(ValueError, match="length_penalty must be a finite number"):
        beam_search(ours, prompts, 3, 2, eos_token_id=0, length_penalty=bad)
