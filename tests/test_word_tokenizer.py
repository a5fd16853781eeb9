"""Word-level tokenizer with an unknown token (lm_course.tokenizers.word)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_course.data import load_shakespeare
from lm_course.tokenizers import WordTokenizer


def test_split_covers_the_text_and_keeps_apostrophes():
    s = "O'er the hill, 'tis  42\n\nROMEO:\nne'er_x!"
    pieces = WordTokenizer.split(s)
    assert "".join(pieces) == s
    assert "O'er" in pieces and "ne'er" in pieces and "42" in pieces and "\n\n" in pieces


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_split_covers_any_text(s):
    assert "".join(WordTokenizer.split(s)) == s


def test_round_trip_and_unknown_words():
    tok = WordTokenizer.from_text("to be or not to be")
    assert tok.decode(tok.encode("not to be")) == "not to be"
    ids = tok.encode("to be, Horatio")
    assert ids.count(tok.unk_id) == 2  # "," and "Horatio"
    assert tok.decode(ids) == "to be<unk> <unk>"  # the unknown word is lost


def test_min_count_and_max_size():
    text = "a a a b b c"
    assert WordTokenizer.from_text(text, min_count=2).tokens == ["<unk>", " ", "a", "b"]
    top = WordTokenizer.from_text(text, max_size=3)  # <unk> + the two most frequent pieces
    assert top.tokens == ["<unk>", " ", "a"] and top.vocab_size == 3
    assert top.unknown_rate("a b") == pytest.approx(1 / 3)


def test_custom_unknown_token():
    tok = WordTokenizer.from_text("hello world", unk_token="[UNK]")
    assert tok.decode(tok.encode("hello moon")) == "hello [UNK]"


def test_shakespeare_vocabulary():
    train = load_shakespeare("train")
    tok = WordTokenizer.from_text(train, min_count=2)
    val = load_shakespeare("val")
    assert 10_000 < tok.vocab_size < 30_000
    assert 0.005 < tok.unknown_rate(val) < 0.05
    assert len(tok.encode(val)) < len(val) / 2  # spaces and punctuation are tokens too


def test_json_round_trip():
    tok = WordTokenizer.from_text("the cat sat on the mat", min_count=1)
    assert WordTokenizer.from_json(tok.to_json()) == tok
    with pytest.raises(ValueError, match="word"):
        WordTokenizer.from_json('{"type": "char"}')


def test_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        WordTokenizer.from_text("")
    with pytest.raises(ValueError, match="min_count"):
        WordTokenizer.from_text("a b", min_count=0)
    with pytest.raises(ValueError, match="max_size"):
        WordTokenizer.from_text("a b", max_size=1)
    with pytest.raises(ValueError, match="unknown token"):
        WordTokenizer(["<unk>", "a"])
    with pytest.raises(ValueError, match="repeated"):
        WordTokenizer(["a", "a"])
    tok = WordTokenizer.from_text("a b")
    with pytest.raises(TypeError, match="str"):
        tok.encode(["a"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([99])
    with pytest.raises(TypeError):
        tok.decode("a")
