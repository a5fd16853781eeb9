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
        gpt2_tokenizer("distilgpt2")
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "python -m lm_course download gpt2" in message
    assert "hf download gpt2" in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_fails_fast(empty_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(GPT2TokenizerUnavailable, match="cannot be reached"):
        gpt2_tokenizer("distilgpt2")


def test_local_files_only_flag(empty_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: pytest.fail("no network"))
    with pytest.raises(GPT2TokenizerUnavailable, match="offline"):
        gpt2_tokenizer("distilgpt2", local_files_only=True)


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


GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SHIPPED_SHA256 = {"merges.txt": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
                  "vocab.json": "03087853bc70c618b66e7c7a43e787d2db4c469416beac9a483e53dad1f72f27"}


def _naive_gpt2_encode(text, vocab, ranks):
    """GPT-2's encoder written out (encoder.py of Radford et al.): pre-split,
    bytes to GPT-2's characters, then merge the lowest-ranked pair until none is left."""
    import regex

    from lm_course.tokenizers.bpe import bytes_to_unicode

    table = bytes_to_unicode()
    ids = []
    for chunk in regex.findall(GPT2_PATTERN, text):
        parts = [table[b] for b in chunk.encode("utf-8")]
        while len(parts) > 1:
            pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids += [vocab[p] for p in parts]
    return ids


def test_shipped_gpt2_tokenizer_is_gpt2s(monkeypatch):
    import hashlib
    import json

    from lm_course.tokenizers.gpt2 import shipped_gpt2_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the shipped copy needs no network and no cache
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: pytest.fail("no network"))
    folder = shipped_gpt2_dir()
    for name, digest in SHIPPED_SHA256.items():  # as recorded in lm_course/shipped_data/README.md
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    tok = gpt2_tokenizer()
    assert len(tok) == 50257 and tok.eos_token == "<|endoftext|>" and tok.eos_token_id == 50256
    assert tok.encode("Hello world") == [15496, 995]  # GPT-2's well-known ids
    assert tok.encode(" the") == [262] and tok.encode("<|endoftext|>") == [50256]
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
    ranks = {tuple(line.split(" ")): r for r, line in enumerate(merges)}
    assert len(vocab) == 50257 and len(ranks) == 50000
    sample = load_shakespeare("val")[:20_000] + " Hello, wörld! __init__ 3.14 😀  spaces\n\n"
    assert tok.encode(sample) == _naive_gpt2_encode(sample, vocab, ranks)
    assert tok.decode(tok.encode(sample)) == sample


def test_the_tool_rebuilds_the_shipped_files(tmp_path):
    """tools/gpt2_tokenizer_files.py turns GPT-2's ranks into exactly the shipped
    files (here on ranks recovered from the shipped vocab: the same table)."""
    import base64
    import io
    import json
    import tarfile

    from lm_course.tokenizers.bpe import bytes_to_unicode
    from lm_course.tokenizers.gpt2 import shipped_gpt2_dir

    from tool_util import load_tool

    tool = load_tool("gpt2_tokenizer_files")
    back = {c: b for b, c in bytes_to_unicode().items()}
    vocab = json.loads((shipped_gpt2_dir() / "vocab.json").read_text(encoding="utf-8"))
    lines = "".join(f"{base64.b64encode(bytes(back[c] for c in tok)).decode()} {r}\n"
                    for tok, r in sorted(vocab.items(), key=lambda kv: kv[1]) if tok != "<|endoftext|>")
    sdist = tmp_path / "fake.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        data = lines.encode("ascii")
        info = tarfile.TarInfo("openai-whisper-x/whisper/assets/gpt2.tiktoken")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    digests = tool.write(*tool.build(tool.read_ranks(sdist)), tmp_path / "out")
    assert digests == SHIPPED_SHA256
    with pytest.raises(ValueError, match="not 0..N-1"):
        tool.build({b"a": 0, b"b": 2})


def test_package_import_does_not_load_transformers():
    code = "import sys, lm_course.tokenizers; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
