"""Run the notebooks on other seeds (and another CPU float path) and report which asserts fail.

    python tools/seed_sweep.py                       # seeds 0-9, every notebook, 2 at a time
    python tools/seed_sweep.py --seeds 1 --generic   # CI's third pass: seed 1, generic kernels
    python tools/seed_sweep.py --seeds 0-4 notebooks/03_rnns.ipynb --jobs 1

The course promises that every sentence about a result of training or
sampling is true on the student's own run (CONTRIBUTING.md, "Claims hold on
every run"): such a sentence is printed by the code, or guarded by an
``assert`` that holds on every seed and CPU. This tool is how that is
checked. Each (notebook, seed) runs in a fresh kernel with
``LM_COURSE_SEED=seed`` (:mod:`lm_course.seeds`), torch on one thread and its
own empty cache folder; ``--generic`` adds ``ATEN_CPU_CAPABILITY=default``,
PyTorch's generic kernels, so the floats round as on a CPU without AVX-512
(another student's laptop). Every cell runs even after one fails; the report
lists, per notebook and seed, each failing cell with the first line of its
error (an ``AssertionError``'s message says which claim broke).

Nothing is compared with the committed outputs: those are seed 0's. The
exit status is 1 if any cell failed. ``--out FILE`` writes the table as
Markdown (and ``FILE.json`` the raw results).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"1"`` or ``"0,3,5"`` as a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += range(int(lo), int(hi or lo) + 1)
    return seeds


def run_one(path: Path, seed: int, generic: bool, timeout: int) -> dict:
    """Execute ``path`` with ``LM_COURSE_SEED=seed`` in a fresh kernel; every cell runs.

    Returns ``{"notebook", "seed", "seconds", "peak_rss_mb", "errors": [{"cell", "error"}]}``.
    """
    from lm_course.notebook_runner import run_every_cell

    with tempfile.TemporaryDirectory(prefix="lm_course_sweep_") as cache:
        env = {**os.environ, "LM_COURSE_SEED": str(seed), "LM_COURSE_CACHE": cache,
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        if generic:
            env["ATEN_CPU_CAPABILITY"] = "default"
        run = run_every_cell(path, env=env, cell_timeout=timeout)
    return {"notebook": path.name, "seed": seed, "generic": generic, "seconds": round(run.seconds, 1),
            "peak_rss_mb": run.peak_rss_mb, "errors": [{"cell": f.cell, "error": f.error} for f in run.failures]}


def _spawn(path: Path, seed: int, generic: bool, timeout: int) -> dict:
    """Run one (notebook, seed) in its own process (nbclient wants its own event loop)."""
    cmd = [sys.executable, __file__, "--one", str(path), "--seeds", str(seed), "--timeout", str(timeout)]
    if generic:
        cmd.append("--generic")
    done = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"notebook": path.name, "seed": seed, "generic": generic, "seconds": None,
                "peak_rss_mb": None, "errors": [{"cell": None, "error": f"the run itself failed: {tail}"}]}


def report(results: list[dict], seeds: list[int]) -> str:
    """The Markdown table: one row per notebook, one column per seed (✅ or the failing cells)."""
    names = sorted({r["notebook"] for r in results})
    by = {(r["notebook"], r["seed"]): r for r in results}
    lines = ["| notebook | " + " | ".join(f"seed {s}" for s in seeds) + " | slowest |",
             "|---|" + "---|" * len(seeds) + "---|"]
    details = []
    for name in names:
        row = []
        for s in seeds:
            r = by.get((name, s))
            if r is None:
                row.append("")
            elif not r["errors"]:
                row.append("✅")
            else:
                row.append("❌ " + ", ".join(f"c{e['cell']}" for e in r["errors"]))
                details += [f"- {name}, seed {s}, cell {e['cell']}: {e['error']}" for e in r["errors"]]
        times = [by[(name, s)]["seconds"] for s in seeds if (name, s) in by and by[(name, s)]["seconds"]]
        lines.append(f"| {name} | " + " | ".join(row) + f" | {max(times, default=0):.0f} s |")
    return "\n".join(lines + ([""] + details if details else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9, 1, or 0,3,5 (default 0-9)")
    parser.add_argument("--generic", action="store_true",
                        help="PyTorch's generic CPU kernels (ATEN_CPU_CAPABILITY=default): another float path")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once (default 2)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    parser.add_argument("--out", type=Path, help="write the table as Markdown here (and FILE.json)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    if args.one:
        print(json.dumps(run_one(args.one.resolve(), seeds[0], args.generic, args.timeout)))
        return 0
    paths = [p.resolve() for p in (args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")))]
    jobs = [(p, s) for s in seeds for p in paths]
    # Longest first, so two workers finish together.
    jobs.sort(key=lambda job: -job[0].stat().st_size)
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_spawn, p, s, args.generic, args.timeout) for p, s in jobs]
        for future in futures:
            r = future.result()
            results.append(r)
            status = "ok" if not r["errors"] else f"{len(r['errors'])} failing cell(s): {r['errors'][0]}"
            print(f"{r['notebook']} seed {r['seed']}: {r['seconds']} s, {status}", flush=True)
    table = report(results, seeds)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
        args.out.with_suffix(args.out.suffix + ".json").write_text(json.dumps(results, indent=1))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
