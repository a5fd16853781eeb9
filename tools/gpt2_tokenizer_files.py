"""Rebuild GPT-2's tokenizer files (``vocab.json``, ``merges.txt``) offline,
from the byte-level BPE ranks that ship in a PyPI package.

    python tools/gpt2_tokenizer_files.py            # pip-downloads the sdist, writes
                                                    # lm_course/shipped_data/gpt2/
    python tools/gpt2_tokenizer_files.py --sdist openai_whisper-20250625.tar.gz

Source: the sdist of ``openai-whisper==20250625`` (MIT licence) holds
``whisper/assets/gpt2.tiktoken``: GPT-2's 50,256 byte-level tokens as lines
``base64(token bytes) rank``. Nothing of whisper is imported or installed
(``pip download --no-deps --no-binary :all:`` fetches the source archive
alone and this script reads that one file from it).

From the ranks:

* ``vocab.json`` maps each token, written with GPT-2's byte-to-unicode table
  (Radford et al. 2019, ``encoder.py``'s ``bytes_to_unicode``), to its rank,
  plus ``<|endoftext|>`` = 50256;
* ``merges.txt`` lists, in rank order, the two tokens each merged token is
  made of. A token's pair is found by running BPE on its bytes with only the
  merges of lower rank: it stops at exactly two parts (minbpe's
  ``recover_merges`` does the same). The script checks that every token
  splits into two.

Used by :func:`lm_course.tokenizers.gpt2_tokenizer` as the offline copy of
GPT-2's tokenizer; lm_course/shipped_data/README.md records the files' sha256.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SDIST = "openai-whisper==20250625"
MEMBER = "whisper/assets/gpt2.tiktoken"
EOT = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def read_ranks(sdist: Path) -> dict[bytes, int]:
    """``{token bytes: rank}`` from the sdist's ``gpt2.tiktoken``."""
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(MEMBER))
        text = tar.extractfile(member).read().decode("ascii")
    ranks = {}
    for line in text.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _split(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """BPE of ``token``'s bytes using only merges of rank below ``max_rank``."""
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[1]):
                best = (i, r)
        if best is None:
            return parts
        i = best[0]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def build(ranks: dict[bytes, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's ``vocab.json`` table and its merges, in rank order."""
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError("the ranks are not 0..N-1")
    byte_char = bytes_to_unicode()
    show = lambda b: "".join(byte_char[x] for x in b)  # noqa: E731
    vocab = {show(token): rank for token, rank in ranks.items()}
    vocab[EOT] = len(ranks)
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        pair = _split(ranks, token, rank)
        if len(pair) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) does not split into two lower-ranked tokens")
        merges.append((show(pair[0]), show(pair[1])))
    return vocab, merges


def write(vocab: dict[str, int], merges: list[tuple[str, str]], out: Path) -> dict[str, str]:
    """Write both files into ``out``; returns their sha256."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in ("vocab.json", "merges.txt")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help=f"the {SDIST} source archive (default: pip download it)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "lm_course" / "shipped_data" / "gpt2")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist
        if sdist is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            SDIST, "-d", tmp], check=True)
            sdist = next(Path(tmp).glob("*.tar.gz"))
        vocab, merges = build(read_ranks(sdist))
    digests = write(vocab, merges, args.out)
    print(f"{len(vocab):,} tokens, {len(merges):,} merges written to {args.out}")
    for name, digest in digests.items():
        print(f"sha256 {name}: {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
