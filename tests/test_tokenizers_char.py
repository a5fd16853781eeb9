"""CharTokenizer and the course's character vocabulary."""

import pytest

from lm_course.data import load_shakespeare
from lm_course.corpus import corpus_tokenizer
from lm_course.tokenizers import CharTokenizer, UnknownCharacterError


def test_round_trip_on_the_validation_split():
    tok = corpus_tokenizer()
    text = load_shakespeare("val")
    assert tok.decode(tok.encode(text)) == text


def test_corpus_tokenizer_is_the_vocabulary_of_the_whole_corpus():
    assert corpus_tokenizer() == CharTokenizer.from_text(load_shakespeare())
    assert corpus_tokenizer().vocab_size == 63


def test_ids_are_sorted_characters():
    tok = CharTokenizer.from_text("banana")
    assert tok.chars == ["a", "b", "n"]
    assert tok.encode("nab") == [2, 0, 1]


def test_unknown_character_is_a_clear_error():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(UnknownCharacterError, match=r"'z' \(position 2\)"):
        tok.encode("abz")


def test_bad_ids_and_inputs():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.encode(["a"])
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aa")


def test_json_round_trip():
    tok = corpus_tokenizer()
    assert CharTokenizer.from_json(tok.to_json()) == tok


def test_equal_tokenizers_hash_equal_so_they_work_as_keys():
    from lm_course.tokenizers import BPETokenizer, WordTokenizer

    for make in (lambda: CharTokenizer(list("abc")), lambda: WordTokenizer(["to", "be"]),
                 lambda: BPETokenizer(merges=[(104, 105)])):
        a, b = make(), make()
        assert a == b and hash(a) == hash(b) and len({a, b}) == 1 and {a: 1}[b] == 1
    assert CharTokenizer(list("abc")) != CharTokenizer(list("abd"))
    assert BPETokenizer(merges=[(104, 105)]) != BPETokenizer(merges=[(105, 104)])
