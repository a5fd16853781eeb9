"""The sampling playground, driven from code as a reader would click it."""

from __future__ import annotations

import pytest
import torch

from lm_course.gpt import GPT, GPTConfig
from lm_course.sampling import generate
from lm_course.tokenizers import CharTokenizer
from lm_course.widgets import sampling_playground
from lm_course.widgets.playground import CONTROL_WIDTH, DESCRIPTION_WIDTH, SamplingPlayground


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


def test_the_info_line_reads_right_for_greedy_and_for_one_token_left(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abc")
    assert "sampling picks among 10 of the 10 tokens" in pg.info.value
    pg.top_k.value = 1
    assert "the filters leave 1 of the 10 tokens, so sampling always picks it" in pg.info.value
    pg.top_k.value = 0
    pg.mode.value = "greedy"
    assert "greedy decoding takes the most probable of the 10 tokens" in pg.info.value
    assert "of 1 of" not in pg.info.value and "top one of" not in pg.info.value


def test_a_message_replaces_the_chart(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abc")
    assert len(pg.chart.outputs) == 1 and "image/png" in pg.chart.outputs[0]["data"]
    pg.prompt.value = "abZ"
    assert pg.chart.outputs == () and "⚠" in pg.info.value  # no chart of "abc" beside the message
    pg.prompt.value = "ab"
    assert len(pg.chart.outputs) == 1


def _px(width: str) -> int:
    assert width.endswith("px"), width
    return int(width[:-2])


def test_sliders_keep_room_for_their_description_and_readout(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abc")
    sliders = (pg.temperature, pg.top_k, pg.top_p, pg.repetition_penalty, pg.max_new_tokens)
    for s in sliders:
        # a fixed width that flexbox cannot shrink (the readouts were clipped when it did)
        assert s.layout.width == s.layout.min_width == CONTROL_WIDTH
        assert s.style.description_width == DESCRIPTION_WIDTH
        assert 7.5 * len(s.description) <= _px(DESCRIPTION_WIDTH)  # ~7.5 px a character at 13 px
        # a readout format that shows every value whole, in at most 4 characters (0.95, 2.50, 500)
        assert s.readout_format == (".2f" if isinstance(s.value, float) else "d")
        assert max(len(format(v, s.readout_format)) for v in (s.min, s.max, s.step)) <= 4
        assert _px(CONTROL_WIDTH) - _px(DESCRIPTION_WIDTH) >= 200  # room for the track and the readout
    assert format(0.95, pg.top_p.readout_format) == "0.95"
    assert format(pg.top_k.value, pg.top_k.readout_format) == "0"
    row = pg.widget.children[2]
    assert "wrap" in row.layout.flex_flow  # a narrow window puts the chart under the controls
    assert row.children[0].layout.min_width == CONTROL_WIDTH


def test_summary_is_the_text_fallback(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="ab\nc", max_new_tokens=5)
    text = pg.summary()
    assert "ab↵c" in text and "temperature 1.00" in text and "top next tokens:" in text
    label, p = pg.next_token_view().tokens[0][1:]
    assert f"{label} {p:.3f}" in text
    pg.generate()
    assert f"last generated: {pg.last_text}" in pg.summary()
    pg.prompt.value = "Z"
    assert "'Z'" in pg.summary()


def test_a_keystroke_reuses_the_prompt_before_it(setup):
    from lm_course.viz.distributions import top_tokens

    model, tok = setup
    pg = sampling_playground(model, tok, prompt="abc de", top_n=5)
    first = pg.next_token_view()
    ran = []  # the tokens each forward pass of the model reads
    hook = model.register_forward_hook(lambda module, args, out: ran.append(args[0].shape[-1]))
    try:
        pg.prompt.value = "abc def"  # one character typed
        typed = pg.next_token_view()
    finally:
        hook.remove()
    assert ran and set(ran) == {1}  # only the newest character runs: "abc de" comes from the cache
    with torch.no_grad():
        logits = model(torch.tensor([tok.encode("abc def")])).logits[0, -1]  # (V,)
    expected = top_tokens(torch.softmax(logits, -1), tokenizer=tok, top_k=pg.top_n)
    assert [t[0] for t in typed.tokens] == [t[0] for t in expected]
    assert all(abs(a[2] - b[2]) < 1e-6 for a, b in zip(typed.tokens, expected))
    assert first.tokens != typed.tokens


class FakeTimer:
    """A fake clock for the debounce: ``timer(delay, fn)`` schedules, ``advance(s)`` runs what is due."""

    def __init__(self):
        self.now, self.due = 0.0, []

    def __call__(self, delay, fn):
        entry = [self.now + delay, fn, False]
        self.due.append(entry)

        class Handle:
            def cancel(self_inner):
                entry[2] = True
        return Handle()

    def advance(self, seconds):
        end = self.now + seconds
        for entry in sorted((e for e in self.due if e[0] <= end and not e[2]), key=lambda e: e[0]):
            if not entry[2]:  # not cancelled by an earlier run
                self.now, entry[2] = entry[0], True
                entry[1]()
        self.now = end


def test_debouncer_runs_once_after_the_last_call():
    from lm_course.widgets.debounce import Debouncer

    clock, calls = FakeTimer(), []
    d = Debouncer(lambda: calls.append(clock.now), delay=0.25, timer=clock)
    for _ in range(5):  # five keystrokes 0.1 s apart: never a 0.25 s pause
        d()
        clock.advance(0.1)
    assert calls == [] and d.pending
    clock.advance(0.2)  # 0.25 s after the last keystroke
    assert calls == [pytest.approx(0.65)] and d.runs == 1 and not d.pending
    clock.advance(5)
    assert len(calls) == 1  # nothing more without a new call
    d()
    d.flush()  # runs the pending action now
    assert len(calls) == 2 and not d.pending
    d.flush()
    assert len(calls) == 2  # nothing pending: flush does nothing
    with pytest.raises(ValueError):
        Debouncer(lambda: None, delay=-1)


def test_debouncer_without_an_event_loop_runs_at_once():
    from lm_course.widgets.debounce import Debouncer

    calls = []
    d = Debouncer(lambda: calls.append(1))
    d()
    assert calls == [1] and not d.pending


def test_debouncer_on_a_running_loop_waits_for_the_pause():
    import asyncio

    from lm_course.widgets.debounce import Debouncer

    async def main():
        calls = []
        d = Debouncer(lambda: calls.append(1), delay=0.05)
        for _ in range(3):
            d()
            await asyncio.sleep(0.01)
        assert calls == [] and d.pending
        await asyncio.sleep(0.2)
        return calls

    assert asyncio.run(main()) == [1]


def test_the_prompt_box_follows_typing_debounced(setup):
    model, tok = setup
    clock = FakeTimer()
    pg = SamplingPlayground(model, tok, prompt="abc", top_n=5, timer=clock)
    assert pg.prompt.continuous_update  # every keystroke reaches the kernel
    before = pg.chart.outputs
    for text in ("abcd", "abcde", "abcdef"):  # typing fast
        pg.prompt.value = text
        clock.advance(0.1)
    assert pg.chart.outputs == before and pg.typing.runs == 0  # no redraw while typing
    clock.advance(0.2)
    assert pg.typing.runs == 1 and pg.chart.outputs != before  # one redraw, of the whole text
    assert "f" in pg.figure(pg.next_token_view()).axes[0].get_title()
    pg.prompt.value = "abcdefg"
    pg.generate()  # Generate first redraws what is pending, then samples from the typed prompt
    assert pg.typing.runs == 2 and not pg.typing.pending and "abcdefg" in pg.result.value


def test_generated_text_sits_above_the_chart_and_greedy_disables_its_knobs(setup):
    model, tok = setup
    pg = sampling_playground(model, tok, prompt="ab", max_new_tokens=5)
    right = pg.widget.children[2].children[1]
    assert list(right.children) == [pg.result, pg.chart]  # the text is above the chart, beside the button
    first = pg.generate()
    pg.seed.value = 7
    second = pg.generate()
    assert pg.result.value.count("<pre") == 1 and second in pg.result.value  # the new text replaces the old
    assert first == second or first not in pg.result.value.replace("ab", "", 1)
    pg.mode.value = "greedy"
    assert pg.temperature.disabled and pg.top_k.disabled and pg.top_p.disabled
    assert not pg.repetition_penalty.disabled
    pg.mode.value = "sample"
    assert not pg.temperature.disabled
