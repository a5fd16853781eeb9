"""The next-token explorer, driven without a browser, and its bar chart."""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lm_course.ngram import NGramLM  # noqa: E402
from lm_course.tokenizers import CharTokenizer  # noqa: E402
from lm_course.tokenizers.visible import visible  # noqa: E402
from lm_course.viz.distributions import plot_next_token_probs, top_tokens  # noqa: E402
from lm_course.widgets import next_token_explorer  # noqa: E402

TEXT = "the cat sat on the mat.\nthe hat is flat.\n" * 20


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def models(tok):
    ids = tok.encode(TEXT)
    kn3 = NGramLM(3).fit(ids, tok.vocab_size)
    return {"3-gram KN": kn3, "unigram add-1": kn3.variant(order=1, smoothing="add_k")}


class NeedsOneToken:
    """A model that refuses the empty context, like some neural models."""

    vocab_size = 3
    context_length = None

    def next_token_probs(self, context):
        if len(context) == 0:
            raise ValueError("give me at least one token")
        return torch.tensor([0.2, 0.3, 0.5])


def test_view_follows_the_text_and_the_model(models, tok):
    ex = next_token_explorer(models, tok, context="the c", top_k=5)
    view = ex.view()
    assert view.ok and view.model_name == "3-gram KN"
    assert view.context_ids == tok.encode("the c")[-2:]  # cropped to context_length = 2
    assert view.tokens[0][1] == "a"  # " c" is always followed by "a"
    assert len(view.tokens) == 5
    assert [p for *_, p in view.tokens] == sorted((p for *_, p in view.tokens), reverse=True)

    ex.text.value = "the m"  # typing updates what is shown
    assert ex.last_view.context == "the m" and ex.last_view.tokens[0][1] == "a"
    ex.model_choice.value = "unigram add-1"
    unigram = ex.last_view
    assert unigram.model_name == "unigram add-1" and unigram.context_ids == []
    want = models["unigram add-1"].next_token_probs([])
    assert unigram.tokens[0][2] == pytest.approx(float(want.max()))
    assert 0 < unigram.entropy < math.log2(tok.vocab_size)
    ex.top_k.value = 3
    assert len(ex.last_view.tokens) == 3


def test_view_of_another_text_leaves_the_widgets_alone(models, tok):
    ex = next_token_explorer(models, tok, context="the c")
    view = ex.view("the h", "unigram add-1")
    assert view.context == "the h" and view.model_name == "unigram add-1" and view.context_ids == []
    assert ex.text.value == "the c" and ex.model_choice.value == "3-gram KN"
    assert ex.view("the h").tokens[0][1] == "a"
    with pytest.raises(ValueError, match="unknown model"):
        ex.view("the", "4-gram")
    with pytest.raises(TypeError):
        ex.view(42)


def test_whitespace_is_visible(models, tok):
    ex = next_token_explorer(models, tok, context="the cat sat on the mat.")
    labels = [label for _, label, _ in ex.view().tokens]
    assert labels[0] == "↵"  # after "mat." comes a newline
    ex.text.value = "the"
    assert ex.last_view.tokens[0][1] == "␣"
    assert "reads the last 2 token(s)" in ex.info.value


def test_unknown_characters_show_a_message(models, tok):
    ex = next_token_explorer(models, tok, context="the")
    ex.text.value = "the ZEBRA"  # upper case is outside this vocabulary
    view = ex.last_view
    assert not view.ok and view.tokens == []
    assert "'Z'" in view.message
    assert "⚠" in ex.info.value and "&#x27;Z&#x27;" in ex.info.value  # escaped, not raw HTML
    ex.text.value = "the"  # and it recovers
    assert ex.last_view.ok


def _pngs(output):
    return [o for o in output.outputs if o["output_type"] == "display_data" and "image/png" in o["data"]]


def test_a_message_replaces_the_chart_of_the_previous_text(models, tok):
    ex = next_token_explorer(models, tok, context="the c")
    assert len(_pngs(ex.output)) == 1 and len(ex.output.outputs) == 1  # one chart, nothing else
    before = ex.output.outputs
    ex.text.value = "the ZEBRA"
    assert ex.output.outputs == ()  # the chart titled with "the c" is gone, only the message is left
    assert "⚠" in ex.info.value
    ex.text.value = "the m"
    assert len(_pngs(ex.output)) == 1 and ex.output.outputs != before  # a new chart, for the new text


def test_summary_is_the_text_fallback(models, tok):
    ex = next_token_explorer(models, tok, context="the c", top_k=3)
    text = ex.summary()
    assert "3-gram KN" in text and "the␣c" in text
    label, p = ex.last_view.tokens[0][1:]
    assert f"{label} {p:.3f}" in text and "bits" in text
    ex.text.value = "ZZ"
    assert "'Z'" in ex.summary() and "bits" not in ex.summary()


def test_typed_text_is_never_evaluated(models, tok):
    ex = next_token_explorer(models, tok)
    ex.text.value = "__import__('os').system('false')"
    assert not ex.last_view.ok  # just unknown characters for this tokenizer
    ex.text.value = "<b>the</b>"
    assert "<b>" not in ex.info.value


def test_a_model_that_refuses_a_context(tok):
    small = CharTokenizer("abc")
    ex = next_token_explorer({"picky": NeedsOneToken()}, small)
    assert not ex.last_view.ok and "at least one token" in ex.last_view.message
    ex.text.value = "ab"
    assert ex.last_view.ok and ex.last_view.tokens[0] == (2, "c", pytest.approx(0.5))


def test_empty_context_and_long_text(models, tok):
    ex = next_token_explorer(models, tok)
    assert ex.view().ok and ex.view().context_ids == []
    ex.text.value = TEXT * 5
    assert ex.last_view.ok and len(ex.last_view.context_ids) == 2


def test_a_single_model_and_bad_arguments(models, tok):
    ex = next_token_explorer(models["3-gram KN"], tok)
    assert list(ex.models) == ["NGramLM"]
    with pytest.raises(ValueError, match="non-empty"):
        next_token_explorer({}, tok)
    with pytest.raises(TypeError, match="not a LanguageModel"):
        next_token_explorer({"x": object()}, tok)
    with pytest.raises(ValueError, match="vocab_size"):
        next_token_explorer({"x": NeedsOneToken()}, tok)
    with pytest.raises(ValueError, match="top_k"):
        next_token_explorer(models, tok, top_k=0)
    with pytest.raises(TypeError, match="encode"):
        next_token_explorer(models, "not a tokenizer")


def test_figure_draws_the_view(models, tok):
    ex = next_token_explorer(models, tok, context="the h", top_k=4)
    fig = ex.figure(ex.view())
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "a"  # the top bar
    assert "3-gram KN" in ax.get_title()


# ---------------------------------------------------------------- the bar chart
def test_visible():
    assert visible(" the") == "␣the"
    assert visible("\n") == "↵"
    assert visible("\t\x07") == "⇥\\x07"
    assert visible("") == "∅"
    assert visible("abc") == "abc"


def test_top_tokens_and_plot():
    probs = torch.tensor([0.1, 0.5, 0.0, 0.4])
    assert top_tokens(probs, labels=["a", " ", "c", "\n"], top_k=2) == [(1, "␣", 0.5), (3, "↵", pytest.approx(0.4))]
    assert top_tokens([0.5, 0.5], top_k=5) == [(0, "#0", 0.5), (1, "#1", 0.5)]
    ax = plot_next_token_probs(probs, labels=["a", " ", "c", "\n"], top_k=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["␣", "↵", "a"]  # top to bottom
    assert [t.get_position()[1] for t in ax.get_yticklabels()] == [2, 1, 0]
    assert "100%" in ax.get_title() and ax.get_xlabel() == "probability"
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match="labels"):
        top_tokens(probs, labels=["a"])
    with pytest.raises(ValueError, match="non-negative"):
        top_tokens(torch.tensor([-1.0, 2.0]))
    with pytest.raises(ValueError, match="1-D"):
        top_tokens(torch.ones(2, 2))
    with pytest.raises(ValueError, match="top_k"):
        top_tokens(probs, top_k=0)
