"""The scaling study behind the reference GPT's recipe (``lm_course/shipped_data/README.md``,
"The reference GPT"; the plot is in ``05_transformer.ipynb``).

Trains several GPT sizes and context lengths for a few minutes each on both
cores (bfloat16 autocast, as the reference run), records the validation loss
on fixed validation windows against the training compute actually spent
(CPU-seconds of wall time x threads, and the usual 6 x parameters x tokens
FLOP count), and writes ``lm_course/shipped_data/reference_scaling.json``::

    python tools/reference_scaling.py               # about 12 minutes on 2 cores
    python tools/reference_scaling.py --long-only   # only refresh the long runs

The two long runs (the shipped reference GPTs, small and main) are read from
the records in their checkpoints (validation curve, recipe), not re-trained.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from lm_course.data import data_dir, load_shakespeare
from lm_course.seeds import seed_everything
from lm_course.gpt import GPT, GPTConfig
from lm_course.reference import reference_info
from lm_course.corpus import corpus_tokenizer
from lm_course.train import TrainConfig, train

# (name, n_layer, n_embd, block_size, steps, lr): steps chosen for about 2.5 minutes each on 2 cores
RUNS = [
    ("4x128, context 128", 4, 128, 128, 500, 5e-3),
    ("4x128, context 256", 4, 128, 256, 360, 5e-3),
    ("6x192, context 256", 6, 192, 256, 150, 3e-3),
    ("6x256, context 256", 6, 256, 256, 110, 2e-3),
]
BATCH = 32
THREADS = 2


def run_one(name: str, n_layer: int, n_embd: int, block_size: int, steps: int, lr: float) -> dict:
    tok = corpus_tokenizer()
    train_ids = torch.tensor(tok.encode(load_shakespeare("train")))  # (N_train,)
    val_ids = torch.tensor(tok.encode(load_shakespeare("val")))  # (N_val,)
    seed_everything(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=n_layer,
                          n_head=max(4, n_embd // 64), n_embd=n_embd, dropout=0.0))
    cfg = TrainConfig(steps=steps, batch_size=BATCH, block_size=block_size, lr=lr, warmup_steps=max(10, steps // 20),
                      eval_interval=max(1, steps // 5), eval_batches=8, seed=0, progress=False,
                      autocast="bfloat16", device="cpu")
    start = time.perf_counter()
    history = train(model, train_ids, val_ids, cfg)
    seconds = time.perf_counter() - start
    n = model.num_parameters()
    per_step = seconds / steps
    return {
        "name": name, "long": False, "n_layer": n_layer, "n_embd": n_embd, "block_size": block_size, "parameters": n,
        "steps": steps, "lr": lr, "seconds": round(seconds, 1), "tokens_per_second": round(BATCH * block_size / per_step),
        "curve": [{"step": s, "tokens": s * BATCH * block_size, "seconds": round(s * per_step, 1),
                   "flops": 6.0 * n * s * BATCH * block_size, "val_bits": round(v / math.log(2), 4)}
                  for s, v in zip(history.eval_steps, history.val_loss)],
    }


def long_run(small: bool) -> dict:
    """A shipped reference GPT's run, from its checkpoint's record."""
    info = reference_info("gpt-small" if small else "gpt")
    r, c = info["recipe"], info["config"]
    n, per_step = info["parameters"], r["batch_size"] * r["block_size"]
    seconds_per_step = info["training_seconds"] / r["steps"]
    return {
        "name": f"{c['n_layer']}x{c['n_embd']}, context {c['block_size']}, {r['steps']:,} steps "
                f"({'chapter 7' if small else 'the reference'})",
        "long": True, "n_layer": c["n_layer"], "n_embd": c["n_embd"], "block_size": c["block_size"], "parameters": n,
        "steps": r["steps"], "lr": r["lr"], "threads": r["threads"], "autocast": r.get("autocast"),
        "seconds": info["training_seconds"], "tokens_per_second": round(per_step / seconds_per_step),
        "val_bpc": info["val_bpc"], "test_bpc": info["test_bpc"],
        "curve": [{"step": int(s), "tokens": int(s) * per_step, "seconds": round(int(s) * seconds_per_step, 1),
                   "flops": 6.0 * n * int(s) * per_step, "val_bits": v}
                  for s, v in info["val_loss_bits_curve"].items()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(data_dir() / "reference_scaling.json"))
    parser.add_argument("--long-only", action="store_true", help="keep the short runs in --out, refresh the long ones")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    out = Path(args.out)
    if args.long_only:
        results = [r for r in json.loads(out.read_text())["runs"] if not r.get("long")]
    else:
        results = []
        for spec in RUNS:
            results.append(run_one(*spec))
            r = results[-1]
            print(f"{r['name']}: {r['parameters']:,} params, {r['seconds']:.0f} s, {r['tokens_per_second']:,} "
                  f"tokens/s, val {r['curve'][-1]['val_bits']:.3f} bits", flush=True)
    results += [long_run(small=True), long_run(small=False)]
    out.write_text(json.dumps({"threads": THREADS, "batch_size": BATCH, "autocast": "bfloat16",
                               "torch": torch.__version__, "runs": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
