"""A Hugging Face cache holding a randomly initialised GPT-2 and GPT-2's real
tokenizer: what a Colab student's cache holds after the first download, minus
the trained weights.

    python tools/random_gpt2_cache.py /tmp/hf-cache            # the real 124M shape
    python tools/random_gpt2_cache.py /tmp/hf-cache --small    # 2 layers, width 64 (code paths only)
    HF_HUB_CACHE=/tmp/hf-cache HF_HUB_OFFLINE=1 jupyter lab    # chapters 6 and 7 now take the GPT-2 path

The layout is the hub cache's (``models--gpt2/refs/main`` names a snapshot,
``models--gpt2/snapshots/<commit>/`` holds ``config.json``,
``model.safetensors``, ``vocab.json``, ``merges.txt``), so
``lm_course.gpt.GPT.from_pretrained("gpt2")``, ``gpt2_tokenizer()`` and
``transformers.GPT2LMHeadModel.from_pretrained("gpt2")`` all find the files
there with no network. The weights are ``transformers``' own random
initialisation (seeded), so every number a chapter prints from them is
meaningless as a fact about GPT-2: this cache tests code paths, budgets and
memory (``tests/test_colab_path.py``, ``bench/run.py``), never results.
The tokenizer files are the course's offline copy (``lm_course/shipped_data/gpt2/``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "gpt2"
COMMIT = "0" * 40  # a made-up revision: the cache only needs refs/main to name a snapshot

#: GPT-2 small's shape (the hub's ``gpt2/config.json``): 124,439,808 parameters.
REAL_SHAPE = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)
#: The same vocabulary and tokenizer, a tiny body: only the code path matters.
SMALL_SHAPE = dict(n_layer=2, n_head=2, n_embd=64, n_positions=1024)


def make_random_gpt2_cache(cache_dir: str | Path, small: bool = False, seed: int = 0) -> Path:
    """Write a random GPT-2 (GPT-2's vocabulary of 50,257 and its tokenizer)
    into the Hugging Face cache ``cache_dir`` (what ``HF_HUB_CACHE`` points
    to). Returns the snapshot directory."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    repo = Path(cache_dir) / f"models--{REPO}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)

    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=50257, bos_token_id=50256, eos_token_id=50256,
                        **(SMALL_SHAPE if small else REAL_SHAPE))
    GPT2LMHeadModel(config).save_pretrained(snapshot)  # config.json + model.safetensors
    (snapshot / "generation_config.json").unlink(missing_ok=True)  # the hub's gpt2 has one; not needed
    for name in ("vocab.json", "merges.txt"):
        shutil.copyfile(ROOT / "lm_course" / "shipped_data" / "gpt2" / name, snapshot / name)
    return snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache_dir", help="the directory HF_HUB_CACHE will point to")
    parser.add_argument("--small", action="store_true", help="2 layers of width 64 instead of GPT-2 small's shape")
    args = parser.parse_args(argv)
    snapshot = make_random_gpt2_cache(args.cache_dir, small=args.small)
    print(f"random GPT-2 ({'small body' if args.small else '124M shape'}) and GPT-2's tokenizer in {snapshot}")
    print(f"use it with: HF_HUB_CACHE={Path(args.cache_dir).resolve()} HF_HUB_OFFLINE=1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
