"""The course's BPETokenizer loaded with GPT-2's merges (BPETokenizer.from_gpt2):
GPT-2's ids exactly, against Hugging Face's GPT2TokenizerFast and tiktoken, both
built from the files shipped in lm_course/shipped_data/gpt2/ (no network)."""

import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_course import hub
from lm_course.data import load_shakespeare
from lm_course.tokenizers import BPETokenizer, GPT2TokenizerUnavailable, gpt2_tokenizer
from lm_course.tokenizers.bpe import GPT2_SPLIT_PATTERN, SPLIT_PATTERN, bytes_to_unicode
from lm_course.tokenizers.gpt2 import shipped_gpt2_dir

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def ours():
    return BPETokenizer.from_gpt2()


@pytest.fixture(scope="module")
def hf():
    return gpt2_tokenizer()  # GPT2TokenizerFast on the shipped files


@pytest.fixture(scope="module")
def tik():
    """tiktoken's GPT-2 encoding, built from the shipped vocab.json: a token's
    rank is its id (mergeable_ranks: token bytes -> rank)."""
    tiktoken = pytest.importorskip("tiktoken")
    back = {c: b for b, c in bytes_to_unicode().items()}
    vocab = json.loads((shipped_gpt2_dir() / "vocab.json").read_text(encoding="utf-8"))
    ranks = {bytes(back[c] for c in name): i for name, i in vocab.items() if name != EOT}
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: 50256}, explicit_n_vocab=50257)


HARD_CASES = [
    "",
    # non-Latin scripts
    "Ἀρχὴ τοῦ λόγου", "Съешь же ещё этих мягких французских булок", "北京欢迎你，东京也欢迎你。",
    "مرحبا بالعالم", "नमस्ते दुनिया", "안녕하세요 세계", "שָׁלוֹם", "ภาษาไทย",
    # emoji, combining marks
    "😀", "a 😀😀 b", "👩‍👩‍👧‍👦 family", "🇫🇷🇯🇵", "👍🏽", "e\u0301te\u0301", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    # digits: runs, decimals, other scripts' numbers, \p{N} that are not \d
    "1234567890123456789", "3.14159 2,000,000", "in 1599, 1600 and 1601", "٣٤٥ ๑๒๓", "x² ½ Ⅻ ⅓",
    # contractions (GPT-2's are lower case only)
    "I'll", "don't", "'S", "'s", "we've they're I'm he'd", "O'Neil's", "''", "it''s", "'''", "DON'T I'LL",
    # whitespace runs
    "a  b", "a   b", "\t\tx", "\n\n\n", "trailing   ", "   ", " \n ", "\r\n\r\n", "x\u00a0y", "x\u3000y",
    " leading", "tab\tand\ttabs\t\t", "end\n", "  \n\n  two\n", "\v\f", "\n\n\x1c", "a \x1cb",
    # punctuation and odd symbols
    "__init__ == 'x'", "hello!!! ... ?!", "<|endoftext|", "a\x00b\x7f", "\ufeffBOM", "\U0010ffff",
]


def test_the_tokenizer_is_gpt2s(ours):
    assert ours.vocab_size == 50257 and len(ours.merges) == 50000
    assert ours.special_tokens == {EOT: 50256} and ours.pattern == GPT2_SPLIT_PATTERN
    assert sorted(ours.byte_ids) == list(range(256)) and ours.byte_ids != list(range(256))
    assert ours.byte_ids[ord("!")] == 0 and ours.byte_ids[ord(" ")] == 220  # "Ġ" is token 220
    assert ours.encode("Hello world") == [15496, 995] and ours.encode(" the") == [262]
    for k in (0, 1, 12345, 49999):  # merge k makes token 256 + k, as in a tokenizer trained here
        a, b = ours.merges[k]
        assert ours.vocab[256 + k] == ours.vocab[a] + ours.vocab[b]
    assert ours.token_str(50256) == EOT and ours.decode([50256]) == EOT


def test_the_handwritten_byte_table_is_gpt2s():
    from transformers.convert_slow_tokenizer import bytes_to_unicode as theirs

    assert bytes_to_unicode() == theirs()


def test_same_ids_on_the_validation_split(ours, hf, tik):
    text = load_shakespeare("val")[:20_000]
    ids = ours.encode(text)
    assert ids == hf.encode(text) == tik.encode_ordinary(text)
    assert ours.decode(ids) == text == hf.decode(ids)


@pytest.mark.parametrize("text", HARD_CASES)
def test_same_ids_on_hard_cases(ours, hf, tik, text):
    ids = ours.encode(text)
    assert ids == hf.encode(text) == tik.encode_ordinary(text)
    assert ours.decode(ids) == text


def test_all_hard_cases_at_once(ours, hf, tik):
    text = " ".join(HARD_CASES) + "\n".join(HARD_CASES)  # the cases run into each other
    assert ours.encode(text) == hf.encode(text) == tik.encode_ordinary(text)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
def test_same_ids_on_random_text(ours, hf, tik, text):
    ids = ours.encode(text)
    assert ids == tik.encode_ordinary(text) == hf.encode(text)
    assert ours.decode(ids) == text


def test_gpt2s_pattern_is_needed(ours, hf):
    """The course's re-pattern splits differently: "²" is a letter for re (it sticks
    to the x), and the separator \\x1c is whitespace for re, not for Unicode, so the
    two newlines before it stay in one chunk and become the one token "\\n\\n" where
    GPT-2 gives two "\\n". Hence from_gpt2 uses GPT-2's own pattern."""
    text = "x² and ½\n\n\x1c"
    with_course_pattern = BPETokenizer(ours.merges, pattern=SPLIT_PATTERN, byte_ids=ours.byte_ids,
                                       special_tokens=ours.special_tokens)
    assert with_course_pattern.split_chunks(text) != ours.split_chunks(text)
    assert with_course_pattern.encode(text) != hf.encode(text) == ours.encode(text)


def test_end_of_text(ours, hf, tik):
    assert ours.encode(EOT) == tik.encode(EOT, disallowed_special=()) == [27, 91, 437, 1659, 5239, 91, 29]
    for text in (EOT, f"a{EOT} b", f"{EOT}{EOT}\n{EOT}", f"one.{EOT}Two"):
        ids = ours.encode(text, allowed_special="all")
        assert ids == ours.encode(text, allowed_special={EOT}) == hf.encode(text) == tik.encode(text, allowed_special="all")
        assert ours.decode(ids) == text
    assert ours.encode(EOT, allowed_special="all") == [50256]


def test_bad_input(ours):
    for bad in (123, b"Hello", None, ["Hello"]):
        with pytest.raises(TypeError, match="text must be a str"):
            ours.encode(bad)
    with pytest.raises(TypeError):
        ours.decode("Hello")
    with pytest.raises(ValueError, match="0 .. 50256|outside"):
        ours.decode([50257])
    with pytest.raises(ValueError, match="not special tokens"):
        ours.encode("x", allowed_special={"<|im_start|>"})
    with pytest.raises(ValueError, match="not special tokens"):
        BPETokenizer.train("low lower lowest " * 3, 260).encode("x", allowed_special={EOT})


def test_damaged_files(tmp_path):
    folder = tmp_path / "gpt2"
    shutil.copytree(shipped_gpt2_dir(), folder)
    lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    lines[5], lines[6] = lines[6], lines[5]  # two merges out of GPT-2's order
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="merge 4 in .* does not make token 260"):
        BPETokenizer.from_gpt2(str(folder))
    (folder / "merges.txt").unlink()
    with pytest.raises(GPT2TokenizerUnavailable, match="merges.txt"):
        BPETokenizer.from_gpt2(str(folder))


def test_offline_from_a_directory(tmp_path, monkeypatch, ours):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: pytest.fail("no network"))
    assert BPETokenizer.from_gpt2() == ours
    folder = shutil.copytree(shipped_gpt2_dir(), tmp_path / "gpt2")
    assert BPETokenizer.from_gpt2(str(folder)) == ours


def test_save_and_load(ours, tmp_path):
    assert BPETokenizer.from_json(ours.to_json()) == ours
    written = ours.save_gpt2_format(tmp_path / "again")  # GPT-2's files again
    for name in ("vocab.json", "merges.txt"):
        parse = json.loads if name == "vocab.json" else str.splitlines
        assert parse((written / name).read_text(encoding="utf-8")) == \
            parse((shipped_gpt2_dir() / name).read_text(encoding="utf-8"))
    small = ours.truncated(1000)  # GPT-2's first 744 merges, GPT-2's byte ids
    assert small.byte_ids == ours.byte_ids and small.special_tokens == {}
    assert small.decode(small.encode("Hello, world")) == "Hello, world"


def test_a_trained_tokenizer_is_unchanged():
    tok = BPETokenizer.train("low lower lowest " * 10, vocab_size=260)
    assert tok.byte_ids == list(range(256)) and tok.special_tokens == {}
    assert tok.merge_steps(" low")[0] == (None, list(b" low"))
    old = json.dumps({"type": "byte_bpe", "version": 1, "pattern": SPLIT_PATTERN,  # saved before byte_ids
                      "merges": [list(p) for p in tok.merges], "merge_counts": tok.merge_counts})
    assert BPETokenizer.from_json(old) == tok
