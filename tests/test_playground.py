"""The sampling playground, driven from code as a reader would click it."""

from __future__ import annotations

import pytest
import torch

from lm_course.gpt import GPT, GPTConfig
from lm_course.sampling import generate
from lm_course.tokenizers import CharTokenizer
from lm_course.widgets import sampling_playground


@pytest.fixture(scope="module")
def setup():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tok = CharTokenizer.from_text("abcdefgh \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=12, n_layer=1, n_head=2, n_embd=16)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.5)
    yield model, tok
    torch.set_num_threads(threads)


def test_chart_follows_the_sliders(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abc", top_n=5)
    view = pg.next_token_view()
    assert view.ok and view.kept == tok.vocab_size and len(view.tokens) == 5
    assert abs(sum(p for *_, p in pg.next_token_view().tokens) - 1) > 0  # top 5 of 10: not all mass
    pg.top_k.value = 3
    view = pg.next_token_view()
    assert view.kept == 3 and abs(sum(p for *_, p in view.tokens) - 1.0) < 1e-5  # renormalised over 3
    pg.top_k.value = 0
    pg.top_p.value = 0.01
    assert pg.next_token_view().kept == 1
    pg.top_p.value = 1.0
    pg.temperature.value = 0.1
    cold = pg.next_token_view().tokens[0][2]
    pg.temperature.value = 2.5
    assert pg.next_token_view().tokens[0][2] < cold
    pg.mode.value = "greedy"
    assert pg.next_token_view().kept == 1 and "greedy" in pg.info.value


def test_generate_button_is_seeded_and_equals_generate(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="ab", max_new_tokens=15, seed=3)
    pg.temperature.value, pg.top_k.value, pg.repetition_penalty.value = 0.8, 5, 1.2
    first = pg.generate()
    pg.button.click()  # what the reader does
    assert pg.last_text == first and len(first) == 15
    expected = generate(model, torch.tensor([tok.encode("ab")]), 15, do_sample=True, temperature=0.8, top_k=5,
                        repetition_penalty=1.2, generator=torch.Generator().manual_seed(3))
    assert first == tok.decode(expected[0, 2:].tolist())
    assert "ab" in pg.result.value and first.replace("\n", "") in pg.result.value.replace("\n", "")
    pg.seed.value = 4
    assert pg.generate() != first
    pg.mode.value = "greedy"
    greedy = generate(model, torch.tensor([tok.encode("ab")]), 15, repetition_penalty=1.2)
    assert pg.generate() == tok.decode(greedy[0, 2:].tolist())


def test_bad_prompts_give_messages(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="")
    assert not pg.next_token_view().ok and "Type a prompt" in pg.info.value
    pg.prompt.value = "abZ"
    view = pg.next_token_view()
    assert not view.ok and "'Z'" in view.message and "⚠" in pg.info.value
    assert pg.generate() == "" and "'Z'" in pg.result.value
    pg.prompt.value = "<script>alert(1)</script>"  # shown escaped, never run
    assert "<script>" not in pg.info.value


def test_long_prompt_is_cropped(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abcdefgh" * 3, max_new_tokens=5)
    view = pg.next_token_view()
    assert view.ok and view.cropped == 12 and "cropped" in pg.info.value
    assert len(pg.generate()) == 5 and "dropped" in pg.result.value


def test_bad_arguments(setup):
    model, tok = setup
    with pytest.raises(TypeError, match="course GPT"):
        sampling_playground(object(), tok)
    with pytest.raises(TypeError, match="encode"):
        sampling_playground(model, object())
    with pytest.raises(ValueError, match="tokenizer has"):
        sampling_playground(model, CharTokenizer.from_text("abcdefghijklmnop"))
    with pytest.raises(ValueError, match="max_new_tokens"):
        sampling_playground(model, tok, max_new_tokens=0)
    with pytest.raises(TypeError, match="prompt"):
        sampling_playground(model, tok, prompt=3)


def test_figure_draws(setup):
    import matplotlib

    matplotlib.use("Agg")
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="a\nb", top_n=4)
    fig = pg.figure(pg.next_token_view())
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and "Next token" in ax.get_title()
