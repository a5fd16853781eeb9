"""Byte-level BPE trained from scratch (lm_course.tokenizers.bpe)."""

import re
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_course.data import load_shakespeare
from lm_course.tokenizers import BPETokenizer
from lm_course.tokenizers.bpe import SPLIT_PATTERN, bytes_to_unicode, merge_pair

TEXT = load_shakespeare("train")[:200_000]


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(TEXT, 400)


def naive_train(text, vocab_size):
    """The textbook algorithm: recount every pair after every merge."""
    words = Counter(re.findall(SPLIT_PATTERN, text))
    seqs = {w: list(w.encode("utf-8")) for w in words}
    merges = []
    for new_id in range(256, vocab_size):
        counts = Counter()
        for w, f in words.items():
            for p in zip(seqs[w], seqs[w][1:]):
                counts[p] += f
        if not counts or max(counts.values()) < 2:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest pair
        merges.append(best)
        seqs = {w: merge_pair(s, best, new_id) for w, s in seqs.items()}
    return merges


def test_merge_pair():
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert merge_pair([5, 5, 5], (5, 5), 7) == [7, 5]  # left to right, no overlap
    assert merge_pair([], (1, 2), 9) == []


def test_incremental_counts_match_a_full_recount():
    text = TEXT[:20_000]
    assert BPETokenizer.train(text, 330).merges == naive_train(text, 330)


def test_exact_first_merges(tok):
    # regression values: the first merges learned on the first 200,000 training characters
    firsts = [tok.token_str(i) for i in range(256, 264)]
    assert firsts == ["th", " th", " a", "ou", "er", " s", " m", " h"]
    assert tok.merge_counts[:3] == [4249, 2914, 2734]
    assert tok.vocab_size == 400 and len(tok.merges) == 144


def test_training_is_deterministic(tok):
    assert BPETokenizer.train(TEXT, 400).merges == tok.merges


def test_merge_counts_do_not_increase(tok):
    assert all(a >= b for a, b in zip(tok.merge_counts, tok.merge_counts[1:]))


def test_truncated_equals_training_smaller(tok):
    assert tok.truncated(300).merges == BPETokenizer.train(TEXT, 300).merges
    with pytest.raises(ValueError, match="vocab_size"):
        tok.truncated(401)


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_round_trip_any_unicode(s):
    tok = _SMALL
    assert tok.decode(tok.encode(s)) == s


_SMALL = BPETokenizer.train(TEXT[:30_000], 300)


def test_round_trip_unseen_characters(tok):
    s = "Ἀρχὴ 中文 😀 naïve\tcafé\r\n\u200b end"
    ids = tok.encode(s)
    assert tok.decode(ids) == s
    assert tok.encode("😀") == list("😀".encode("utf-8"))  # never seen: stays 4 byte tokens


def test_round_trip_the_validation_split(tok):
    val = load_shakespeare("val")[:50_000]
    ids = tok.encode(val)
    assert tok.decode(ids) == val
    assert len(ids) < 0.6 * len(val.encode("utf-8"))  # it compresses


def test_merge_steps_show_the_work(tok):
    steps = tok.merge_steps(" Wherefore")
    assert steps[0] == (None, list(b" Wherefore"))
    assert steps[-1][1] == tok.encode(" Wherefore")
    ranks = [r for r, _ in steps[1:]]
    assert ranks == sorted(ranks)  # earliest-learned merges first
    for (_, before), (_, after) in zip(steps, steps[1:]):
        assert len(after) < len(before)
    shown = tok.show_merge_steps(" Wherefore")
    assert shown.splitlines()[0].startswith("bytes") and "␣" in shown


def test_encode_verbose_prints(tok, capsys):
    assert tok.encode("to be", verbose=True) == tok.encode("to be")
    assert "bytes" in capsys.readouterr().out


def test_split_chunks_cover_the_text(tok):
    s = "He said: 'tis 42 o'clock__x  \n\n  ok!"
    assert "".join(tok.split_chunks(s)) == s


def test_json_round_trip(tok, tmp_path):
    path = tmp_path / "bpe.json"
    tok.save(path)
    assert path.read_text().startswith("{")
    again = BPETokenizer.load(path)
    assert again == tok and again.merge_counts == tok.merge_counts
    assert again.encode(TEXT[:2000]) == tok.encode(TEXT[:2000])
    with pytest.raises(ValueError, match="byte_bpe"):
        BPETokenizer.from_json('{"type": "char"}')


def test_bad_merges_rejected():
    with pytest.raises(ValueError, match="does not exist"):
        BPETokenizer([(300, 1)])


def test_bytes_to_unicode_is_a_bijection():
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ"  # GPT-2's famous "Ġ"


@pytest.mark.parametrize("vocab_size", [0, 100, 255])
def test_vocab_size_below_256(vocab_size):
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("hello", vocab_size)


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="empty"):
        BPETokenizer.train("", 300)
    with pytest.raises(TypeError, match="str"):
        BPETokenizer.train(b"bytes", 300)
    with pytest.raises(TypeError, match="int"):
        BPETokenizer.train("hello", 300.0)
    with pytest.raises(TypeError, match="str"):
        tok.encode(["a", "b"])
    with pytest.raises(ValueError, match="surrogate"):
        tok.encode("a\ud800b")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, 400])
    with pytest.raises(TypeError):
        tok.decode("abc")


def test_too_little_text_warns():
    with pytest.warns(UserWarning, match="stopped at"):
        small = BPETokenizer.train("abab", 1000)
    assert small.vocab_size == 257  # only "ab" occurs twice


def test_bad_utf8_decodes_to_replacement(tok):
    assert tok.decode(list("é".encode("utf-8"))[:1]) == "\ufffd"
    assert tok.decode_bytes(list("é".encode("utf-8"))[:1]) == b"\xc3"


def test_training_is_fast():
    text = load_shakespeare("train")[:1_000_000]
    start = time.perf_counter()
    BPETokenizer.train(text, 1000)
    assert time.perf_counter() - start < 20  # about 1 s on an idle 2-core laptop
