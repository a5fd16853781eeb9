"""The KV cache's speed-up on GPT-2's 124M configuration (random weights).

    python bench/kv_cache.py                       # 128 new tokens after a 16-token prompt
    python bench/kv_cache.py --new-tokens 256 --prompt 64 --threads 2

Builds ``GPT(GPTConfig(50257, 1024, 12, 12, 768))`` (GPT-2 small's shape;
the weights are random, which does not change the arithmetic), then times
greedy :func:`lm_course.sampling.generate` token by token
(:func:`lm_course.sampling.generation_timings`), batch 1, with and without
the KV cache. Prints tokens per second after n tokens and the ratio
cache / no cache (the ratio is the number to compare across machines), then
the time of single steps: the prompt step against a one-token step with the
cache (a many-position step costs far less per position: a one-token step is
bound by reading the weights from memory), and the last step without it.
Nothing here asserts on time. Results also go to
``bench/results/kv_cache-<timestamp>.json`` (git-ignored).

Explained in ``06_gpt2_sampling.ipynb``, section "The KV cache".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lm_course.gpt import GPT, GPTConfig  # noqa: E402
from lm_course.sampling import generate, generation_timings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-tokens", type=int, default=128, help="tokens to generate (default 128)")
    parser.add_argument("--prompt", type=int, default=16, help="prompt length in tokens (default 16)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.prompt + args.new_tokens > 1024:
        parser.error("prompt + new tokens must fit GPT-2's context of 1024")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    model = GPT(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)).eval()
    print(f"GPT-2 124M configuration, random weights: {model.num_parameters():,} parameters "
          f"(built in {time.perf_counter() - start:.1f} s); {args.threads} thread(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    prompt = torch.randint(0, 50257, (1, args.prompt), generator=torch.Generator().manual_seed(args.seed))
    generate(model, prompt, 2)  # warm-up
    same = torch.equal(generate(model, prompt, 8), generate(model, prompt, 8, use_cache=False))
    timings = {}
    for use_cache in (True, False):
        timings[use_cache] = generation_timings(model, prompt, args.new_tokens, use_cache=use_cache)
    checkpoints = sorted({n for n in (1, 8, 16, 32, 64, 128, 256, 512, args.new_tokens) if n <= args.new_tokens})
    print(f"\nprompt {args.prompt} tokens; same tokens with and without the cache: {same}")
    print(f"{'n new tokens':>12} | {'cache tok/s':>11} | {'no cache tok/s':>14} | {'speed-up':>8}")
    rows = []
    for n in checkpoints:
        fast, slow = n / float(timings[True][n - 1]), n / float(timings[False][n - 1])
        rows.append({"n": n, "cache_tokens_per_s": fast, "no_cache_tokens_per_s": slow, "speed_up": fast / slow})
        print(f"{n:>12} | {fast:>11.2f} | {slow:>14.2f} | {fast / slow:>7.2f}x")
    step_ms = {c: 1000 * torch.diff(timings[c], prepend=torch.zeros(1, dtype=torch.float64)) for c in timings}
    one_token_ms = float(step_ms[True][1:].median()) if args.new_tokens > 1 else float("nan")
    print(f"\nwith the cache: the prompt step ({args.prompt} positions) {float(step_ms[True][0]):.0f} ms, "
          f"a one-token step {one_token_ms:.0f} ms (median)")
    last = args.prompt + args.new_tokens - 1  # positions of the last no-cache step
    print(f"without it: the last step ({last} positions) {float(step_ms[False][-1]):.0f} ms")
    out = ROOT / "bench" / "results" / f"kv_cache-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "config": "GPT-2 124M shape, random weights, batch 1, greedy", "prompt_tokens": args.prompt,
        "new_tokens": args.new_tokens, "threads": args.threads, "load_average": os.getloadavg()[0],
        "same_tokens": same, "rows": rows, "torch": torch.__version__, "machine": platform.machine(),
        "cumulative_seconds": {"cache": timings[True].tolist(), "no_cache": timings[False].tolist()},
    }, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
