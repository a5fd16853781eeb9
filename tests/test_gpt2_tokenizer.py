"""GPT-2's tokenizer (lm_course.tokenizers.gpt2): offline, the clear error;
from a local directory, Hugging Face's BPE agrees with ours on the same merges."""

import subprocess
import sys
import time

import pytest

from lm_course.data import load_shakespeare
from lm_course.tokenizers import BPETokenizer, GPT2TokenizerUnavailable, gpt2_tokenizer
from lm_course import hub


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path


def test_offline_and_uncached_fails_fast_with_instructions(empty_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(GPT2TokenizerUnavailable) as info:
        gpt2_tokenizer()
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "python -m lm_course download gpt2" in message
    assert "hf download gpt2" in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_fails_fast(empty_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(GPT2TokenizerUnavailable, match="cannot be reached"):
        gpt2_tokenizer()


def test_local_files_only_flag(empty_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: pytest.fail("no network"))
    with pytest.raises(GPT2TokenizerUnavailable, match="offline"):
        gpt2_tokenizer(local_files_only=True)


def test_incomplete_directory(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(GPT2TokenizerUnavailable, match="merges.txt"):
        gpt2_tokenizer(str(tmp_path))


def test_hugging_face_bpe_agrees_with_ours(tmp_path):
    text = load_shakespeare("train")[:100_000]
    ours = BPETokenizer.train(text, 500)
    hf = gpt2_tokenizer(str(ours.save_gpt2_format(tmp_path / "tok")))
    sample = load_shakespeare("val")[:20_000] + " Hello, wörld! __init__ 3.14 😀"
    assert hf.encode(sample) == ours.encode(sample)
    assert hf.decode(ours.encode(sample)) == sample


def test_real_gpt2_when_cached():
    try:
        tok = gpt2_tokenizer(local_files_only=True)
    except GPT2TokenizerUnavailable:
        pytest.skip("GPT-2's tokenizer is not in the Hugging Face cache (offline machine)")
    assert len(tok) == 50257
    assert tok.encode("Hello world") == [15496, 995]


def test_package_import_does_not_load_transformers():
    code = "import sys, lm_course.tokenizers; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
