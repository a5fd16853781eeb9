"""Re-run the two budget tables of ``05_transformer.ipynb`` (sections "Training
on a CPU" and "Against chapter 3's LSTM, at the same budget").

    python tools/gpt_budget_sweep.py                      # both tables: 21 runs, about 12 min of one core
    python tools/gpt_budget_sweep.py --table gpt --configs 1,2
    python tools/gpt_budget_sweep.py --table lstm --configs 1
    python tools/gpt_budget_sweep.py --quick              # a few seconds: 3 steps per run (a smoke test)
    python tools/gpt_budget_sweep.py --calibrate 30       # choose each row's steps for 30 CPU seconds here

Every row is one training run with the notebook's loop
(:func:`lm_course.train.train`: AdamW, linear warm-up over the first tenth of
the steps, cosine decay to a tenth of the peak, gradient clipping at 1),
``seed_everything(0)`` before the model is built and ``seed=0`` for the
batches, on one torch thread. Each row trains for a *fixed* number of steps:
the step counts of the tables were chosen once so that each run took about 30
CPU seconds on the course's build machine (measured step time x steps), so
the bits per character are reproducible while the seconds are not. The
validation bits per character is :func:`lm_course.evaluate.bits_per_token`
on the whole validation split (``--val-chars`` scores a prefix only).
``--calibrate SECONDS`` times a few steps of each configuration on this
machine first and trains for as many steps as fit in ``SECONDS`` of CPU:
the numbers then depend on the machine, as the tables' did.

Prints the table in Markdown (the notebook's columns, with the CPU seconds
measured now); ``--json PATH`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lm_course.data import load_shakespeare  # noqa: E402
from lm_course.seeds import seed_everything  # noqa: E402
from lm_course.evaluate import bits_per_token  # noqa: E402
from lm_course.gpt import GPT, GPTConfig  # noqa: E402
from lm_course.rnn import RNNConfig, RNNLanguageModel  # noqa: E402
from lm_course.corpus import corpus_tokenizer  # noqa: E402
from lm_course.train import TrainConfig, train  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One configuration of a table (a comment per field)."""

    model: str  # "gpt" or "lstm"
    steps: int  # optimiser steps (the table's budget: about 30 CPU seconds each)
    lr: float  # peak learning rate
    batch_size: int = 32  # windows per batch
    block_size: int = 64  # characters per window (the GPT's context)
    n_layer: int = 1  # GPT: blocks
    n_head: int = 4  # GPT: heads per block
    n_embd: int = 64  # GPT: width C
    hidden_size: int = 128  # LSTM: units
    embed_size: int = 64  # LSTM: embedding width


# the table of "Training on a CPU", in the notebook's order (best first)
GPT_TABLE = [
    Row("gpt", 902, 0.01, n_layer=1, n_embd=64),
    Row("gpt", 1738, 0.01, n_layer=1, n_embd=64, block_size=32),
    Row("gpt", 624, 0.01, n_layer=1, n_embd=96),
    Row("gpt", 627, 0.006, n_layer=1, n_embd=96),
    Row("gpt", 942, 0.02, n_layer=1, n_embd=64),
    Row("gpt", 991, 0.01, n_layer=2, n_embd=64, block_size=32),
    Row("gpt", 602, 0.01, n_layer=2, n_head=2, n_embd=64),
    Row("gpt", 579, 0.01, n_layer=2, n_embd=64),
    Row("gpt", 534, 0.02, n_layer=2, n_embd=64),
    Row("gpt", 709, 0.01, n_layer=2, n_embd=48),
    Row("gpt", 920, 0.006, n_layer=2, n_embd=64, batch_size=16),
    Row("gpt", 571, 0.006, n_layer=2, n_embd=64),
    Row("gpt", 329, 0.006, n_layer=2, n_embd=96),
    Row("gpt", 360, 0.006, n_layer=3, n_embd=64),
    Row("gpt", 484, 0.003, n_layer=2, n_embd=64),
    Row("gpt", 409, 0.003, n_layer=3, n_embd=64),
    Row("gpt", 470, 0.006, n_layer=2, n_embd=64, block_size=128, batch_size=16),
]
# the table of "Against chapter 3's LSTM": three LSTMs and the chapter's GPT (GPT_TABLE[0])
LSTM_TABLE = [
    Row("lstm", 860, 0.01, hidden_size=128),
    Row("lstm", 388, 0.01, hidden_size=256),
    Row("lstm", 328, 0.005, hidden_size=256),
    GPT_TABLE[0],
]


def build(row: Row, vocab_size: int) -> torch.nn.Module:
    """The model of ``row``, initialised after ``seed_everything(0)`` as in the notebook."""
    seed_everything(0)
    if row.model == "gpt":
        return GPT(GPTConfig(vocab_size=vocab_size, block_size=row.block_size, n_layer=row.n_layer,
                             n_head=row.n_head, n_embd=row.n_embd))
    if row.model == "lstm":
        return RNNLanguageModel(RNNConfig(vocab_size, hidden_size=row.hidden_size, kind="lstm",
                                          embed_size=row.embed_size))
    raise ValueError(f"Row.model must be 'gpt' or 'lstm', got {row.model!r}")


def train_config(row: Row, steps: int) -> TrainConfig:
    """The notebook's recipe for ``steps`` steps (warm-up: the first tenth)."""
    return TrainConfig(steps=steps, batch_size=row.batch_size, block_size=row.block_size, lr=row.lr,
                       warmup_steps=max(1, steps // 10), eval_interval=max(1, steps), eval_batches=1,
                       seed=0, progress=False)


def calibrated_steps(row: Row, ids: dict[str, torch.Tensor], vocab_size: int, seconds: float,
                     probe: int = 20) -> int:
    """Steps that fit in ``seconds`` of CPU, from the time of ``probe`` steps here."""
    model = build(row, vocab_size)
    start = time.process_time()
    train(model, ids["train"], ids["val"], train_config(row, probe))
    per_step = (time.process_time() - start) / probe
    return max(1, int(seconds / per_step))


def run(row: Row, ids: dict[str, torch.Tensor], vocab_size: int, steps: int | None = None,
        val_chars: int | None = None) -> dict:
    """Train ``row`` for ``steps`` (default: the table's) and score it on validation."""
    steps = row.steps if steps is None else steps
    model = build(row, vocab_size)
    start = time.process_time()
    train(model, ids["train"], ids["val"], train_config(row, steps))
    cpu = time.process_time() - start
    val = ids["val"] if val_chars is None else ids["val"][:val_chars]
    return dict(asdict(row), steps=steps, parameters=sum(p.numel() for p in model.parameters()),
                cpu_seconds=cpu, val_bpc=bits_per_token(model, val))


def markdown(table: str, results: list[dict]) -> str:
    """The notebook's table, with the numbers of this run."""
    if table == "gpt":
        lines = ["| layers | heads | width $C$ | context | batch | peak learning rate | parameters | steps "
                 "| CPU seconds | validation bits/char |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            lines.append(f"| {r['n_layer']} | {r['n_head']} | {r['n_embd']} | {r['block_size']} | "
                         f"{r['batch_size']} | {r['lr']:g} | {r['parameters']:,} | {r['steps']} | "
                         f"{r['cpu_seconds']:.0f} | {r['val_bpc']:.3f} |")
    else:
        lines = ["| model | parameters | steps | peak learning rate | CPU seconds | validation bits/char |",
                 "|---|---|---|---|---|---|"]
        for r in results:
            name = (f"LSTM, {r['hidden_size']} units, {r['embed_size']}-d embeddings" if r["model"] == "lstm"
                    else f"GPT, {r['n_layer']} block" + ("s" if r["n_layer"] > 1 else ""))
            lines.append(f"| {name} | {r['parameters']:,} | {r['steps']} | {r['lr']:g} | "
                         f"{r['cpu_seconds']:.0f} | {r['val_bpc']:.3f} |")
    return "\n".join(lines)


def parse_configs(text: str | None, n: int) -> list[int]:
    """``"1,3"`` -> ``[0, 2]`` (the tables number their rows from 1)."""
    if text is None:
        return list(range(n))
    try:
        picked = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--configs takes row numbers like 1,3; got {text!r}") from None
    bad = [k for k in picked if not 1 <= k <= n]
    if bad or not picked:
        raise ValueError(f"--configs: rows are numbered 1..{n}; got {text!r}")
    return [k - 1 for k in picked]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", choices=("gpt", "lstm", "both"), default="both",
                        help="which table to re-run (default both)")
    parser.add_argument("--configs", help="row numbers of the table, from 1, e.g. 1,2 (default: all rows)")
    parser.add_argument("--quick", action="store_true",
                        help="3 steps per run and 2,000 validation characters (a smoke test; "
                             "default rows: the first of each table)")
    parser.add_argument("--calibrate", type=float, metavar="SECONDS",
                        help="train each row for the steps that fit in SECONDS of CPU on this machine")
    parser.add_argument("--val-chars", type=int, help="score only this many validation characters")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as measured)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.calibrate is not None and args.calibrate <= 0:
        parser.error("--calibrate needs a positive number of seconds")
    if args.val_chars is not None and args.val_chars < 2:
        parser.error("--val-chars needs at least 2 characters")
    torch.set_num_threads(args.threads)

    tables = {"gpt": GPT_TABLE, "lstm": LSTM_TABLE}
    names = ["gpt", "lstm"] if args.table == "both" else [args.table]
    configs = args.configs if args.configs is not None or not args.quick else "1"
    try:
        picked = {name: parse_configs(configs, len(tables[name])) for name in names}
    except ValueError as err:
        parser.error(str(err))
    val_chars = args.val_chars if args.val_chars is not None else (2_000 if args.quick else None)

    tok = corpus_tokenizer()
    ids = {split: torch.tensor(tok.encode(load_shakespeare(split))) for split in ("train", "val")}
    everything = {}
    for name in names:
        results = []
        for k in picked[name]:
            row = tables[name][k]
            steps = 3 if args.quick else (calibrated_steps(row, ids, tok.vocab_size, args.calibrate)
                                          if args.calibrate else None)
            result = run(row, ids, tok.vocab_size, steps, val_chars)
            print(f"{name} row {k + 1}: {result['steps']} steps in {result['cpu_seconds']:.1f} CPU s, "
                  f"validation {result['val_bpc']:.3f} bits/char", file=sys.stderr, flush=True)
            if not math.isfinite(result["val_bpc"]):
                print(f"warning: {name} row {k + 1} scored {result['val_bpc']}", file=sys.stderr)
            results.append(dict(result, row=k + 1))
        everything[name] = results
        scored = "the whole validation split" if val_chars is None else f"the first {val_chars:,} validation characters"
        print(f"\n{'Training on a CPU' if name == 'gpt' else 'Against the LSTM'} "
              f"(seed 0, {args.threads} thread(s), bits per character on {scored}):\n")
        print(markdown(name, results))
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
