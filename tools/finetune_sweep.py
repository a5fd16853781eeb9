"""Chapter 7's sweeps: every choice made on the validation plays, every variant over ten seeds.

    python tools/finetune_sweep.py            # about 40 CPU minutes on one thread;
                                              # writes lm_course/shipped_data/finetune_sweep.json
    python tools/finetune_sweep.py --only seeds control   # recompute parts of the existing file
    python tools/finetune_sweep.py --quick --out /tmp/sweep.json   # a smoke test (tiny grids)

``07_finetuning.ipynb`` ("Three ways to use the same architecture" and "The
held-out test") prints what this writes and trains each chosen setting once,
with the reader's own seed. The task itself is fixed: the genre dataset is
drawn with :data:`GENRE_TASK_SEED` (the task's definition, like the split by
play; never shifted by ``LM_COURSE_SEED``). For each classifier variant
(linear probe, full fine-tuning, from scratch), each normalisation of the
pooled features (none, or ``BatchNorm1d`` without affine parameters) and
the notebook's budget (120 steps of 16 passages), part ``variants``:

1. the peak learning rate runs over the ladder 1e-4, 3e-4, 1e-3, 3e-3, ...
   from a starting grid, which is **widened one rung at a time until the
   best value is strictly inside it** (best = highest final validation
   accuracy; ties go to the lower validation cross-entropy);
2. the normalisation with the better validation accuracy is the variant's
   choice;
3. the chosen settings are scored on the test plays once, and the
   per-passage correctness is stored.

The other parts:

* ``lpft``: the two-stage recipe (Kumar et al. 2022) that the notebook's
  GPT-2 section uses: the chosen linear probe, then the whole network
  fine-tuned from the probe's head for 120 more steps, at a body rate
  chosen on validation on the same widened ladder;
* ``control``: a linear probe fitted to convergence
  (:func:`lm_course.logistic_probe.fit_logistic_probe`, L2 strength chosen on
  validation) on the frozen pre-trained features; the same probe on the
  features of a *randomly initialised* body is in ``seeds``;
* ``ngram``: the per-class n-gram baseline, its order chosen on validation
  (no seed: counting has no randomness);
* ``seeds``: every chosen variant (probe, full fine-tuning, scratch, the
  two-stage recipe, the converged probe on a random body) with the training
  seeds :data:`SEEDS`, each with its per-passage correctness on the test
  plays (from which the notebook computes per-play and per-class tables);
* ``last_token`` (exercise 2's experiment: the probe with last-token
  pooling) and ``scratch_long`` (from scratch for 600 steps, validation
  every 50, the parameters of the lowest validation loss kept, with its own
  learning-rate grid, widened the same way).

``--only PART ...`` recomputes those parts and updates the file in place; a
full run recomputes everything and gives the same numbers. Everything runs
on one torch thread, so a re-run with the same versions on the same CPU
gives the same numbers; another CPU rounds differently, and the notebook
shows where its own run falls among the seeds stored here."""

from __future__ import annotations

import argparse
import copy
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
from lm_course import classifier  # noqa: E402
from lm_course import finetune_sweep  # noqa: E402
from lm_course import logistic_probe  # noqa: E402
from lm_course import genre_data, genre_eval  # noqa: E402
from lm_course.corpus import corpus_tokenizer  # noqa: E402
from lm_course.reference import load_reference  # noqa: E402

#: The seed that draws the genre dataset's passages: part of the task's
#: definition (like the split by play), so it is fixed, not a training seed,
#: and never shifted by LM_COURSE_SEED.
GENRE_TASK_SEED = genre_data.GENRE_TASK_SEED
#: The notebook's protocol (it asserts that it uses the same).
PROTOCOL = {"steps": 120, "batch_size": 16, "warmup_steps": 15, "min_lr_ratio": 0.1, "weight_decay": 0.01,
            "grad_clip": 1.0, "pooling": "mean", "seed": 0,
            "data": {"max_chars": 96, "n_train_per_class": 500, "n_val_per_class": 200,
                     "n_test_per_class": 1000, "seed": GENRE_TASK_SEED}}
#: Starting grids (rungs of the ladder); widened until the optimum is inside.
START = {"probe": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "full": (3e-5, 1e-4, 3e-4, 1e-3, 3e-3),
         "scratch": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)}
LONG_STEPS, LONG_EVAL = 600, 50
SEEDS = tuple(range(10))  # the training seeds of part "seeds"
LPFT_START = (3e-5, 1e-4, 3e-4, 1e-3)  # the second stage's rates (the body's), widened like the others
L2_GRID = logistic_probe.L2_GRID  # strengths of the converged probe (widened until the best is inside)
NGRAM_ORDERS = tuple(range(1, 8))
PARTS = ("variants", "last_token", "scratch_long", "ngram", "control", "lpft", "seeds")
MAX_WIDEN = 4  # rungs added on either side at most
FORMAT = finetune_sweep.SWEEP_FORMAT


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
        self.gpt, self.tok = load_reference("gpt-small")[0], corpus_tokenizer()
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
            model = classifier.make_classifier("probe", self.gpt, pooling=pooling)
            self.features[pooling, split] = classifier.pooled_features(model, self.enc[split])
        return self.features[pooling, split]

    def train(self, variant: str, lr: float, normalize: bool, pooling: str = "mean", seed: int = 0,
              steps: int | None = None, eval_interval: int | None = None, restore_best: bool = False):
        model = classifier.make_classifier(variant, self.gpt, pooling=pooling, seed=seed, normalize=normalize)
        return self.train_model(model, lr, pooling, seed, steps, eval_interval, restore_best)

    def train_model(self, model, lr: float, pooling: str = "mean", seed: int = 0, steps: int | None = None,
                    eval_interval: int | None = None, restore_best: bool = False):
        steps = steps or self.steps
        extra = {}
        if model.body_frozen:
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
    """Exercise 2's experiment: the probe with last-token pooling."""
    last = {}
    for normalize in (False, True):
        row, lr, model = sw.grid("probe", start["probe"], normalize, log, pooling="last")
        row.update(sw.test("probe", model, pooling="last"))
        last["batchnorm" if normalize else "none"] = row
    return last


def outcome(sw: Sweep, predictions: torch.Tensor, val_acc: float) -> dict:
    """What the notebook needs of one classifier's test predictions: the accuracy, per play and per
    class, the share of passages it called each class, and the per-passage correctness."""
    test = sw.data["test"]
    y = torch.tensor(test.labels)  # (N,)
    right = predictions == y  # (N,)
    plays = {p: torch.tensor([q == p for q in test.plays]) for p in test.play_counts()}
    return {"val_acc": round(val_acc, 4), "test_acc": round(right.double().mean().item(), 4),
            "test_per_play": {p: round(right[m].double().mean().item(), 4) for p, m in plays.items()},
            "test_per_class": {c: round(right[y == k].double().mean().item(), 4) for k, c in enumerate(test.classes)},
            "predicted_share": {c: round((predictions == k).double().mean().item(), 4)
                                for k, c in enumerate(test.classes)},
            "test_correct": bits(right)}


def model_outcome(sw: Sweep, variant: str, model, val_acc: float) -> dict:
    feats = sw.probe_features("mean", "test") if variant == "probe" else None
    ev = genre_eval.evaluate(model, sw.enc["test"], sw.data["test"].labels, features=feats)
    return outcome(sw, ev.predictions, val_acc)


def run_ngram(sw: Sweep, log) -> dict:
    """The per-class n-gram baseline, its order chosen on validation (no seed: it only counts)."""
    train, val, test = sw.data["train"], sw.data["val"], sw.data["test"]
    y_val = torch.tensor(val.labels)
    val_acc, models = {}, {}
    for order in NGRAM_ORDERS:
        models[order] = genre_eval.NGramGenreClassifier(order=order).fit(train.texts, train.labels, sw.tok)
        val_acc[order] = (models[order].predict_proba(val.texts).argmax(-1) == y_val).double().mean().item()
        log(f"  {order}-gram per class: validation {val_acc[order]:.4f}")
    best = max(NGRAM_ORDERS, key=lambda n: (val_acc[n], -n))  # ties: the smaller model
    row = {"val_acc_by_order": {str(n): round(a, 4) for n, a in val_acc.items()}, "chosen_order": best}
    row.update(outcome(sw, models[best].predict_proba(test.texts).argmax(-1), val_acc[best]))
    return row


def converged_probe(sw: Sweep, feats: dict[str, torch.Tensor]) -> dict:
    """The L-BFGS logistic regression on these features, its L2 strength chosen on validation like a
    learning rate (:func:`lm_course.logistic_probe.select_logistic_probe`)."""
    probe, runs = logistic_probe.select_logistic_probe(feats["train"], sw.data["train"].labels, feats["val"],
                                           sw.data["val"].labels, L2_GRID, MAX_WIDEN)
    grid = sorted(runs)
    row = {"val_acc_by_l2": {f"{l2:g}": round(runs[l2]["val_acc"], 4) for l2 in grid},
           "val_loss_by_l2": {f"{l2:g}": round(runs[l2]["val_loss"], 4) for l2 in grid}, "chosen_l2": probe.l2,
           "optimum_inside_grid": grid[0] < probe.l2 < grid[-1], "converged": probe.converged}
    row.update(outcome(sw, probe.predict(feats["test"]), runs[probe.l2]["val_acc"]))
    return row


def random_body_features(sw: Sweep, seed: int) -> dict[str, torch.Tensor]:
    """Pooled features of the reference architecture with random weights (seeded), frozen."""
    body = classifier.make_classifier("scratch", sw.gpt, seed=seed)
    return {split: classifier.pooled_features(body, sw.enc[split]) for split in ("train", "val", "test")}


def run_control(sw: Sweep, log) -> dict:
    """The converged probe on the pre-trained features (deterministic: no seed)."""
    row = converged_probe(sw, {s: sw.probe_features("mean", s) for s in ("train", "val", "test")})
    log(f"  converged probe, pre-trained body: l2 {row['chosen_l2']:g}, {row['val_acc']} / {row['test_acc']}")
    return row


def lpft(sw: Sweep, chosen: dict, body_lr: float, seed: int, log=None):
    """The two-stage recipe: the chosen probe (stage 1), then everything from its head (stage 2)."""
    normalize, lr = chosen["probe"]
    model, _ = sw.train("probe", lr, normalize, seed=seed)
    model.freeze_body(False)
    return sw.train_model(model, body_lr, seed=seed)


def run_lpft(sw: Sweep, chosen: dict, start, log) -> dict:
    """The second stage's learning rate, on the ladder, widened until inside (seed 0)."""
    normalize, lr = chosen["probe"]
    stage1, _ = sw.train("probe", lr, normalize, seed=0)
    runs, models = {}, {}
    todo, lo, hi = list(start), 0, 0
    while True:
        for body_lr in todo:
            model = copy.deepcopy(stage1).freeze_body(False)
            models[body_lr], runs[body_lr] = sw.train_model(model, body_lr, seed=0)
            log(f"  lp-ft stage 2 lr={body_lr:<7g} {runs[body_lr]}")
        lrs, best = sorted(runs), best_of(runs)
        if best == lrs[0] and lo < MAX_WIDEN:
            todo, lo = [rung(rung_index(lrs[0]) - 1)], lo + 1
        elif best == lrs[-1] and hi < MAX_WIDEN:
            todo, hi = [rung(rung_index(lrs[-1]) + 1)], hi + 1
        else:
            break
    lrs = sorted(runs)
    return {"probe_normalization": "batchnorm" if normalize else "none", "probe_lr": lr, "grid": lrs,
            "runs": {f"{x:g}": runs[x] for x in lrs}, "chosen_lr": best, "optimum_inside_grid": lrs[0] < best < lrs[-1]}


def run_seeds(sw: Sweep, result: dict, seeds, log, save) -> dict:
    """Every chosen variant with each training seed; ``save()`` after each seed."""
    chosen = chosen_settings(result["variants"])
    body_lr = result["lpft"]["chosen_lr"]
    out = {k: {} for k in ("probe", "full", "scratch", "lpft", "random_probe")}
    result["seeds"] = out
    for seed in seeds:
        t0 = time.process_time()
        for variant in ("probe", "full", "scratch"):
            normalize, lr = chosen[variant]
            model, row = sw.train(variant, lr, normalize, seed=seed)
            out[variant][str(seed)] = model_outcome(sw, variant, model, row["val_acc"])
        model, row = lpft(sw, chosen, body_lr, seed)
        out["lpft"][str(seed)] = model_outcome(sw, "lpft", model, row["val_acc"])
        out["random_probe"][str(seed)] = converged_probe(sw, random_body_features(sw, seed))
        log(f"  seed {seed}: " + "  ".join(f"{k} {v[str(seed)]['val_acc']:.3f}/{v[str(seed)]['test_acc']:.3f}"
                                           for k, v in out.items()) + f"  ({time.process_time() - t0:.0f} CPU s)")
        save()
    return out


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
    parser.add_argument("--out", type=Path, default=ROOT / "lm_course" / "shipped_data" / "finetune_sweep.json")
    parser.add_argument("--quick", action="store_true", help="tiny grids, steps, sets and two seeds: a smoke test")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="recompute these parts of an existing --out file")
    parser.add_argument("--seeds", help="the training seeds of part 'seeds': 0-9 (the default), 5-9, "
                        "or 9-5 (descending)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    sw = Sweep(args.quick)
    start = {k: (v[1:4] if args.quick else v) for k, v in START.items()}
    seeds = SEEDS[:2] if args.quick else SEEDS
    if args.seeds:
        first, _, last = args.seeds.partition("-")
        first, last = int(first), int(last or first)
        seeds = tuple(range(first, last + 1) if first <= last else range(first, last - 1, -1))  # 9-5: descending
    if args.only:
        result = json.loads(args.out.read_text())
        if result.get("quick") != args.quick or result.get("protocol") != PROTOCOL:
            raise SystemExit(f"{args.out} was made with other settings; run the whole sweep")
        parts = [p for p in PARTS if p in args.only]
    else:
        result = {"command": "python tools/finetune_sweep.py", "protocol": PROTOCOL, "quick": args.quick,
                  "test_plays": sw.data["test"].play_counts()}
        parts = list(PARTS)
    result["format"] = FORMAT
    result.pop("other_seeds", None)  # format 1's three seeds, superseded by "seeds"

    def save() -> None:
        result["threads"] = torch.get_num_threads()
        result["made_with"] = {"torch": torch.__version__, "python": platform.python_version(),
                               "machine": platform.machine(), "date": date.today().isoformat()}
        args.out.write_text(json.dumps(result, indent=1) + "\n")

    for part in parts:
        t0 = time.process_time()
        log(f"part {part}:")
        if part == "variants":
            result["variants"] = run_variants(sw, start, log)
        elif part == "last_token":
            result["probe_last_token"] = run_last_token(sw, start, log)
        elif part == "scratch_long":
            result["scratch_long"] = run_scratch_long(sw, chosen_settings(result["variants"]), log)
        elif part == "ngram":
            result["ngram"] = run_ngram(sw, log)
        elif part == "control":
            result["control"] = run_control(sw, log)
        elif part == "lpft":
            result["lpft"] = run_lpft(sw, chosen_settings(result["variants"]),
                                      LPFT_START[1:3] if args.quick else LPFT_START, log)
        elif part == "seeds":
            result["seeds"] = run_seeds(sw, result, seeds, log, save)
        result.setdefault("cpu_seconds_parts", {})[part] = round(time.process_time() - t0, 1)
        save()
    result["cpu_seconds"] = round(sum(result["cpu_seconds_parts"].get(p, 0) for p in PARTS), 1)
    if not args.only:
        result["wall_seconds"] = round(time.perf_counter() - wall0, 1)
    save()
    log(f"wrote {args.out} ({time.process_time() - cpu0:.0f} CPU s this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
