"""The BPE explorer of chapter 2, driven without a browser."""

import pytest

from lm_course.tokenizers import BPETokenizer
from lm_course.widgets import bpe_explorer
from lm_course.widgets.display import FALLBACK_NOTE

TEXT = "low lower lowest newer newest wider widest\n" * 30


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(TEXT, vocab_size=270)


def test_tokens_are_the_tokenizers_and_follow_the_text(bpe):
    ex = bpe_explorer(bpe, text="the newest lower")
    view = ex.last_view
    assert view.ok and view.vocab_size == bpe.vocab_size == 270
    assert view.ids == bpe.encode("the newest lower") and "".join(view.pieces) == "the newest lower"
    assert view.chunks == ["the", " newest", " lower"]
    assert " newe" in view.pieces and "t" in view.pieces  # a learned piece, and a letter never merged here
    ex.text.value = "widest"
    assert ex.last_view.ids == bpe.encode("widest")
    assert 'title="token ' in ex.tokens.value and "6 characters → " in ex.tokens.value


def test_the_vocabulary_slider_uses_the_first_merges(bpe):
    ex = bpe_explorer(bpe, text="lowest newest")
    ex.vocab.value = 256  # bytes only
    assert ex.last_view.ids == list(b"lowest newest") and "256 bytes + 0 merges" in ex.tokens.value
    lengths = []
    for size in (256, 258, 262, 266, 270):
        ex.vocab.value = size
        assert ex.last_view.ids == bpe.truncated(size).encode("lowest newest")
        assert all(i < size for i in ex.last_view.ids)
        lengths.append(len(ex.last_view.ids))
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]  # more merges, fewer tokens
    assert ex.view("lowest", vocab_size=260).ids == bpe.truncated(260).encode("lowest")
    assert ex.vocab.value == 270 and ex.text.value == "lowest newest"  # view() leaves the widgets alone


def test_merge_steps_are_shown_chunk_by_chunk(bpe):
    ex = bpe_explorer(bpe, text="lowest lowest newest", max_chunks=2)
    steps = ex.steps.value
    for chunk in ("lowest", " lowest"):  # the distinct chunks, in order; at most max_chunks of them
        for line in bpe.show_merge_steps(chunk).splitlines():
            assert line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in steps
    assert bpe.show_merge_steps(" newest").splitlines()[-1] not in steps
    assert "1 more chunk" in steps
    ex.vocab.value = 256
    assert "#" not in ex.steps.value.split("<pre")[1]  # no merge to apply: only the bytes line


def test_text_it_cannot_encode_shows_a_message(bpe):
    ex = bpe_explorer(bpe, text="lowest")
    assert ex.last_view.ok and ex.steps.value
    ex.text.value = "low\ud800"  # a lone surrogate has no UTF-8 bytes
    view = ex.last_view
    assert not view.ok and "surrogate" in view.message and view.ids == []
    assert "⚠" in ex.tokens.value and "title=" not in ex.tokens.value and ex.steps.value == ""
    ex.text.value = ""
    assert "Type some text" in ex.last_view.message
    ex.text.value = "Ἀρχὴ 😀"  # never seen in training: byte tokens, never unknown
    assert ex.last_view.ok and bpe.decode(ex.last_view.ids) == "Ἀρχὴ 😀"
    ex.text.value = "<b>low</b>"  # shown escaped, never as HTML
    assert "<b>" not in ex.tokens.value and ">&lt;</span>" in ex.tokens.value


def test_long_text_is_cropped_and_said_so(bpe):
    ex = bpe_explorer(bpe, text="lowest " * 50, max_chars=20)
    assert ex.last_view.cropped and ex.last_view.n_chars == 20
    assert "only the first 20 characters" in ex.tokens.value


def test_summary_is_the_text_fallback(bpe, monkeypatch):
    ex = bpe_explorer(bpe, text="newest wider")
    text = ex.summary()
    assert "tokens: " + "|".join(p.replace(" ", "␣") for p in ex.last_view.pieces) in text
    assert bpe.show_merge_steps(" wider") in text and "vocabulary 270" in text
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    ex._ipython_display_()
    (bundle, raw), = shown
    assert raw and bundle["text/plain"] == f"{text}\n{FALLBACK_NOTE}"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ex.widget.model_id


def test_bad_arguments(bpe):
    with pytest.raises(TypeError, match="BPETokenizer"):
        bpe_explorer("not a tokenizer")
    with pytest.raises(TypeError, match="text"):
        bpe_explorer(bpe, text=3)
    with pytest.raises(ValueError, match="256..270"):
        bpe_explorer(bpe, vocab_size=300)
    with pytest.raises(ValueError, match="256..270"):
        bpe_explorer(bpe).view("low", vocab_size=100)
    with pytest.raises(ValueError, match="max_chunks"):
        bpe_explorer(bpe, max_chunks=0)


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    rgb = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def test_every_chip_sets_a_text_colour_readable_on_its_background(bpe):
    """A dark theme's white text on the pastel chips was unreadable: each chip
    names its own text colour, with WCAG contrast >= 4.5 on every background."""
    import re

    from lm_course.widgets.bpe import _COLOURS, CHIP_TEXT

    ex = bpe_explorer(bpe, text="the newest lower widest " * 3)
    chips = re.findall(r'<span title="token \d+" style="([^"]*)"', ex.tokens.value)
    assert len(chips) == len(ex.last_view.ids)
    assert all(f"color:{CHIP_TEXT}" in style for style in chips)
    for background in _COLOURS:
        light, dark = sorted((_luminance(background), _luminance(CHIP_TEXT)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, background
