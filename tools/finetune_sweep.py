"""Chapter 7's hyper-parameter sweeps: every choice made on the validation plays.

    python tools/finetune_sweep.py            # about 20 CPU minutes on one thread;
                                              # writes data/finetune_sweep.json
    python tools/finetune_sweep.py --quick --out /tmp/sweep.json   # a smoke test (tiny grids)

``07_finetuning.ipynb`` ("Three ways to use the same architecture") prints
the table this writes and then trains only the chosen settings. For each
classifier variant (linear probe, full fine-tuning, from scratch), each
normalisation of the pooled features (none, or ``BatchNorm1d`` without
affine parameters) and the notebook's budget (120 steps of 16 passages):

1. the peak learning rate runs over the ladder 1e-4, 3e-4, 1e-3, 3e-3, ...
   from a starting grid, which is **widened one rung at a time until the
   best value is strictly inside it** (best = highest final validation
   accuracy; ties go to the lower validation cross-entropy);
2. the normalisation with the better validation accuracy is the variant's
   choice;
3. the chosen settings are scored on the test plays once, and the
   per-passage correctness is stored so that the notebook can compute
   paired differences.

Also: the linear probe with last-token pooling (exercise 3's experiment),
the chosen settings with two more seeds (how much the training seed moves a
test accuracy), and a longer, early-stopped scratch run (600 steps,
validation every 50, the parameters of the lowest validation loss kept),
with its own learning-rate grid, widened the same way.

``--only scratch_long`` (or ``last_token``, ``seeds``) recomputes one part
and updates the file in place; a full run recomputes everything and gives
the same numbers.

Everything runs on one torch thread, so a re-run on the same versions gives
the same numbers; the notebook runs on the default thread count and asserts
that it agrees with this file within a tolerance.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lm_course import finetune as ft  # noqa: E402
from lm_course import genre_data, genre_eval  # noqa: E402
from lm_course.gpt import load_reference_model  # noqa: E402

#: The notebook's protocol (it asserts that it uses the same).
PROTOCOL = {"steps": 120, "batch_size": 16, "warmup_steps": 15, "min_lr_ratio": 0.1, "weight_decay": 0.01,
            "grad_clip": 1.0, "pooling": "mean", "seed": 0,
            "data": {"max_chars": 96, "n_train_per_class": 500, "n_val_per_class": 200,
                     "n_test_per_class": 1000, "seed": 0}}
#: Starting grids (rungs of the ladder); widened until the optimum is inside.
START = {"probe": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "full": (3e-5, 1e-4, 3e-4, 1e-3, 3e-3),
         "scratch": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)}
LONG_STEPS, LONG_EVAL = 600, 50
EXTRA_SEEDS = (1, 2)
MAX_WIDEN = 4  # rungs added on either side at most


def rung(i: int) -> float:
    """The ladder 1e-4 (i = -8), 3e-4, 1e-3, 3e-3, 1e-2, ... (i = 0 is 1.0)."""
    return float(f"{(1 if i % 2 == 0 else 3) * 10.0 ** (i // 2):.0e}")


def rung_index(lr: float) -> int:
    for i in range(-20, 4):
        if math.isclose(rung(i), lr, rel_tol=1e-9):
            return i
    raise ValueError(f"{lr} is not on the ladder 1e-4, 3e-4, 1e-3, ...")


def best_of(runs: dict[float, dict]) -> float:
    """The learning rate with the highest validation accuracy (ties: lower validation loss)."""
    def key(lr: float) -> tuple[float, float]:
        loss = runs[lr]["val_loss"]
        return runs[lr]["val_acc"], -(math.inf if loss is None else loss)

    return max(runs, key=key)


def bits(correct: torch.Tensor) -> str:
    return "".join("1" if c else "0" for c in correct.tolist())


class Sweep:
    def __init__(self, quick: bool):
        self.quick = quick
        self.gpt, self.tok = load_reference_model(small=True)
        self.data = genre_data.genre_datasets(**PROTOCOL["data"])
        self.enc = {s: d.encode(self.tok, self.gpt.config.block_size) for s, d in self.data.items()}
        self.steps = 12 if quick else PROTOCOL["steps"]
        if quick:  # a few passages, to test the script in seconds
            for s, n in (("train", 64), ("val", 32), ("test", 32)):
                self.enc[s], self.data[s] = self.enc[s][:n], genre_data.GenreDataset(
                    self.data[s].texts[:n], self.data[s].labels[:n], self.data[s].plays[:n])
        self.features: dict[tuple[str, str], torch.Tensor] = {}

    def probe_features(self, pooling: str, split: str) -> torch.Tensor:
        if (pooling, split) not in self.features:
            model = ft.make_classifier("probe", self.gpt, pooling=pooling)
            self.features[pooling, split] = ft.pooled_features(model, self.enc[split])
        return self.features[pooling, split]

    def train(self, variant: str, lr: float, normalize: bool, pooling: str = "mean", seed: int = 0,
              steps: int | None = None, eval_interval: int | None = None, restore_best: bool = False):
        steps = steps or self.steps
        model = ft.make_classifier(variant, self.gpt, pooling=pooling, seed=seed, normalize=normalize)
        extra = {}
        if variant == "probe":
            extra = {"train_features": self.probe_features(pooling, "train"),
                     "val_features": self.probe_features(pooling, "val")}
        p = PROTOCOL
        t0 = time.process_time()
        try:
            h = ft.fine_tune(model, self.enc["train"], self.data["train"].labels, self.enc["val"],
                             self.data["val"].labels, steps=steps, batch_size=p["batch_size"], lr=lr,
                             warmup_steps=min(p["warmup_steps"], steps), min_lr_ratio=p["min_lr_ratio"],
                             weight_decay=p["weight_decay"], grad_clip=p["grad_clip"],
                             eval_interval=eval_interval or steps, seed=seed, progress=False,
                             restore_best=restore_best, **extra)
        except FloatingPointError:  # diverged: as bad as chance
            return model, {"val_acc": 0.0, "val_loss": None, "diverged": True}
        i = h.eval_steps.index(h.best_step) if restore_best else -1
        row = {"val_acc": round(h.val_acc[i], 4), "val_loss": round(h.val_loss[i], 4),
               "train_acc_last30": round(sum(h.train_acc[-30:]) / len(h.train_acc[-30:]), 4),
               "cpu_seconds": round(time.process_time() - t0, 1)}
        if restore_best:
            row["best_step"] = h.best_step
            row["val_acc_curve"] = {str(s): round(a, 4) for s, a in zip(h.eval_steps, h.val_acc)}
            row["val_loss_curve"] = {str(s): round(x, 4) for s, x in zip(h.eval_steps, h.val_loss)}
        return model, row

    def test(self, variant: str, model, pooling: str = "mean") -> dict:
        feats = self.probe_features(pooling, "test") if variant == "probe" else None
        ev = genre_eval.evaluate(model, self.enc["test"], self.data["test"].labels, features=feats)
        return {"test_acc": round(ev.accuracy, 4), "test_stderr": round(ev.stderr, 4),
                "test_per_play": {k: round(v, 4) for k, v in ev.per_group(self.data["test"].plays).items()},
                "test_correct": bits(ev.correct)}

    def grid(self, variant: str, start, normalize: bool, log, **kw) -> tuple[dict, float, object]:
        """Widen the grid until its best learning rate is strictly inside."""
        runs, models = {}, {}
        todo = list(start)
        lo = hi = 0
        while True:
            for lr in todo:
                models[lr], runs[lr] = self.train(variant, lr, normalize, **kw)
                log(f"  {variant:8} norm={normalize!s:5} lr={lr:<7g} {runs[lr]}")
            lrs = sorted(runs)
            best = best_of(runs)
            if best == lrs[0] and lo < MAX_WIDEN:
                todo, lo = [rung(rung_index(lrs[0]) - 1)], lo + 1
            elif best == lrs[-1] and hi < MAX_WIDEN:
                todo, hi = [rung(rung_index(lrs[-1]) + 1)], hi + 1
            else:
                break
        inside = sorted(runs)[0] < best < sorted(runs)[-1]
        return {"grid": sorted(runs), "runs": {f"{lr:g}": runs[lr] for lr in sorted(runs)}, "chosen_lr": best,
                "optimum_inside_grid": inside}, best, models[best]


def run_variants(sw: Sweep, start: dict, log) -> dict:
    out = {}
    for variant in ("probe", "full", "scratch"):
        entry = {}
        for normalize in (False, True):
            row, lr, model = sw.grid(variant, start[variant], normalize, log)
            row.update(sw.test(variant, model))
            entry["batchnorm" if normalize else "none"] = row
        pick = max(("none", "batchnorm"), key=lambda k: (entry[k]["runs"][f"{entry[k]['chosen_lr']:g}"]["val_acc"],
                                                         k == "none"))
        entry["chosen_normalization"] = pick
        out[variant] = entry
        log(f"{variant}: chose norm={pick}, lr={entry[pick]['chosen_lr']:g}, test {entry[pick]['test_acc']}")
    return out


def chosen_settings(variants: dict) -> dict[str, tuple[bool, float]]:
    return {v: (e["chosen_normalization"] == "batchnorm", e[e["chosen_normalization"]]["chosen_lr"])
            for v, e in variants.items()}


def run_last_token(sw: Sweep, start: dict, log) -> dict:
    """Exercise 3's experiment: the probe with last-token pooling."""
    last = {}
    for normalize in (False, True):
        row, lr, model = sw.grid("probe", start["probe"], normalize, log, pooling="last")
        row.update(sw.test("probe", model, pooling="last"))
        last["batchnorm" if normalize else "none"] = row
    return last


def run_seeds(sw: Sweep, chosen: dict, log) -> dict:
    """The chosen settings again with other training seeds."""
    seeds = {}
    for variant, (normalize, lr) in chosen.items():
        seeds[variant] = {}
        for seed in EXTRA_SEEDS:
            model, row = sw.train(variant, lr, normalize, seed=seed)
            row.update(sw.test(variant, model))
            row.pop("test_correct")
            seeds[variant][str(seed)] = row
            log(f"  seed {seed} {variant}: {row['val_acc']} / {row['test_acc']}")
    return seeds


def run_scratch_long(sw: Sweep, chosen: dict, log) -> dict:
    """From scratch, longer and early-stopped on validation."""
    normalize, lr0 = chosen["scratch"]
    steps, every = (24, 6) if sw.quick else (LONG_STEPS, LONG_EVAL)
    i0 = rung_index(lr0)
    row, lr, model = sw.grid("scratch", [rung(i0 - 1), rung(i0), rung(i0 + 1)], normalize, log,
                             steps=steps, eval_interval=every, restore_best=True)
    row.update(sw.test("scratch", model))
    row.update({"steps": steps, "eval_interval": every, "normalization": "batchnorm" if normalize else "none"})
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "finetune_sweep.json")
    parser.add_argument("--quick", action="store_true", help="tiny grids, steps and sets: a smoke test")
    parser.add_argument("--only", choices=("last_token", "seeds", "scratch_long"),
                        help="recompute one part of an existing --out file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    sw = Sweep(args.quick)
    start = {k: (v[1:4] if args.quick else v) for k, v in START.items()}
    if args.only:
        result = json.loads(args.out.read_text())
        if result.get("quick") != args.quick or result.get("protocol") != PROTOCOL:
            raise SystemExit(f"{args.out} was made with other settings; run the whole sweep")
        chosen = chosen_settings(result["variants"])
        key = {"last_token": "probe_last_token", "seeds": "other_seeds", "scratch_long": "scratch_long"}[args.only]
        result[key] = {"last_token": lambda: run_last_token(sw, start, log),
                       "seeds": lambda: run_seeds(sw, chosen, log),
                       "scratch_long": lambda: run_scratch_long(sw, chosen, log)}[args.only]()
        result.setdefault("cpu_seconds_parts", {})[args.only] = round(time.process_time() - cpu0, 1)
    else:
        result = {"format": "lm_course.finetune_sweep/1", "command": "python tools/finetune_sweep.py",
                  "protocol": PROTOCOL, "quick": args.quick, "test_plays": sw.data["test"].play_counts()}
        result["variants"] = run_variants(sw, start, log)
        chosen = chosen_settings(result["variants"])
        result["probe_last_token"] = run_last_token(sw, start, log)
        result["other_seeds"] = run_seeds(sw, chosen, log)
        result["scratch_long"] = run_scratch_long(sw, chosen, log)
        result["cpu_seconds"] = round(time.process_time() - cpu0, 1)
        result["wall_seconds"] = round(time.perf_counter() - wall0, 1)
    result["threads"] = torch.get_num_threads()
    result["made_with"] = {"torch": torch.__version__, "python": platform.python_version(),
                           "machine": platform.machine(), "date": date.today().isoformat()}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
