"""Every benchmark of the course (issue 17), and the report ``bench/RESULTS.md``.

    python bench/run.py                              every section (``make bench``)
    python bench/run.py --only generation,bpe        some sections
    python bench/run.py --quick                      tiny shapes, 1 round: checks that everything runs
    python bench/run.py notebooks/03_rnns.ipynb      the notebook budgets of some notebooks only

Sections (``--only`` names): ``notebooks`` (the budgets), ``generation``
(``bench/generation.py``), ``responsiveness`` (``bench/responsiveness.py``),
``ngram`` (``bench/ngram_vs_nltk.py``), ``bpe`` (``bench/bpe_vs_libraries.py``),
``training`` (``bench/training_throughput.py``). Each module also runs on its
own (``python bench/generation.py --quick``). The measuring rule is
``bench/timing.py``: cases interleaved A B A B ..., the median of per-round
ratios against a reference measured in the same run, with its range.

Notebook budgets (design: "Budgets"): wall-clock time to execute each
notebook top to bottom in a fresh kernel (as nbval does) and the kernel's
peak resident memory (VmHWM from /proc, Linux only). Budgets on the course's
reference machine (2 CPU cores): under 120 s per notebook, under 600 s for
the whole course, under 1.5 GB per kernel. By default the kernels run with
torch on one thread (``OMP_NUM_THREADS=1`` in the kernel's environment: what
Binder's single CPU gives, and how ``make notebooks`` executes them);
``--notebook-threads 1,default`` adds a pass with torch's default thread
count (about 6 more minutes). Seconds depend on the machine, so each time is
also a ratio to a fixed reference workload (a small PyTorch training loop,
:func:`reference_workload`, on the same thread count) measured before and
after the pass.

Output: a full run (not ``--quick``) rewrites the measured sections of
``bench/RESULTS.md`` (sections not run keep their previous text, each block
says when it was measured) and its plots in ``bench/figures/`` (small PNGs,
committed with RESULTS.md so the report shows them). ``--quick`` writes
``bench/results/RESULTS-quick.md`` and ``bench/results/figures/`` instead
(git-ignored: quick numbers mean nothing). Every number also goes to
``bench/results/<section>-<timestamp>.json`` (git-ignored). Nothing here
asserts on time: the report says which targets are met. The exit status is 1
when a section failed or an identity check (same tokens, same ids) did not
hold.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import (Section, Table, Target, machine_info, render_machine, render_section,  # noqa: E402
                          timed_section)

sys.path.insert(0, str(ROOT / "tools"))
from execute_notebooks import run_notebook  # noqa: E402  (a script of tools/, shared with the tests)

NOTEBOOK_BUDGET_S = 120.0
COURSE_BUDGET_S = 600.0
MEMORY_BUDGET_MB = 1536.0
GPT2_CHAPTERS = ("06_", "07_")  # the chapters that use GPT-2 when it is cached: also run with it

#: --only name -> module (None: the notebook budgets, defined here), in report order
SECTIONS: dict[str, str | None] = {
    "generation": "bench.generation",
    "responsiveness": "bench.responsiveness",
    "ngram": "bench.ngram_vs_nltk",
    "bpe": "bench.bpe_vs_libraries",
    "training": "bench.training_throughput",
    "notebooks": None,
}
ALIASES = {"ngram_vs_nltk": "ngram", "bpe_vs_libraries": "bpe", "training_throughput": "training",
           "kv_cache": "generation", "budgets": "notebooks"}
#: rough seconds of each full section on the course's 2-core machine, for the up-front estimate (the
#: notebooks: per notebook and pass, from the committed notebooks' cell timings, 352 s for all 8 on 1 thread)
ESTIMATE_S = {"generation": 480, "responsiveness": 60, "ngram": 90, "bpe": 50, "training": 80, "notebooks": 55}
QUICK_ESTIMATE_S = {"generation": 10, "responsiveness": 10, "ngram": 10, "bpe": 10, "training": 10, "notebooks": 15}
QUICK_NOTEBOOK = "00_welcome.ipynb"  # --quick executes only this notebook


# ---- the notebook budgets ------------------------------------------------------

def reference_workload(repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds of a fixed CPU workload: 200 AdamW steps of a
    2-layer MLP on random data (about 1 s on the reference machine)."""
    import torch

    times = []
    for _ in range(repeats):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Tanh(), torch.nn.Linear(512, 64))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x, y = torch.randn(256, 256), torch.randint(64, (256,))
        start = time.perf_counter()
        for _ in range(200):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return min(times)


def _parse_threads(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "default":
            out.append(None)
        elif part.isdigit() and int(part) >= 1:
            out.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"--notebook-threads takes numbers >= 1 and 'default', got {part!r}")
    return out


@timed_section
def notebooks_section(notebooks: list[Path], passes: list[int | None]) -> Section:
    """The notebook budgets: every notebook once per thread setting in ``passes``."""
    import torch

    default_threads = torch.get_num_threads()
    table = Table("Notebook budgets: seconds in a fresh kernel, as a ratio to the reference workload (same "
                  "threads), and the kernel's peak memory",
                  ["threads", "notebook", "seconds", "x reference", "peak MB", "budget"])
    raw: dict = {"passes": {}}
    targets, notes = [], []
    runs = [(str(t) if t is not None else f"default ({default_threads})", t, {}, notebooks) for t in passes]
    gpt2_notebooks = [nb for nb in notebooks if nb.name.startswith(GPT2_CHAPTERS)]
    cache = tempfile.TemporaryDirectory(prefix="bench_gpt2_cache_")
    if gpt2_notebooks:  # the Colab path: GPT-2 in the cache (random weights of the real 124M shape)
        sys.path.insert(0, str(ROOT / "tools"))
        from random_gpt2_cache import make_random_gpt2_cache

        make_random_gpt2_cache(cache.name)
        runs.append((f"default ({default_threads}), GPT-2 124M cached", None,
                     {"HF_HUB_CACHE": cache.name, "HF_HUB_OFFLINE": "1"}, gpt2_notebooks))
    for label, threads, env, run_list in runs:
        torch.set_num_threads(threads or default_threads)
        ref_before = reference_workload()
        results = []
        for nb in run_list:
            print(f"  notebooks ({label} thread(s)): {nb.name}", flush=True)
            results.append(run_notebook(nb, threads, env=env))
        ref_after = reference_workload()
        torch.set_num_threads(default_threads)
        ref = (ref_before + ref_after) / 2
        total = sum(r["seconds"] for r in results)
        over = []
        for r in results:
            r["ratio_to_reference"] = r["seconds"] / ref
            ok_time = r["seconds"] < NOTEBOOK_BUDGET_S
            ok_mem = r["peak_rss_mb"] is None or r["peak_rss_mb"] < MEMORY_BUDGET_MB
            if not (ok_time and ok_mem):
                over.append(r["notebook"])
            peak = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] is not None else "n/a"
            verdict = "ok" if ok_time and ok_mem else " ".join(
                (["**over time**"] if not ok_time else []) + (["**over memory**"] if not ok_mem else []))
            table.add(label, r["notebook"], f"{r['seconds']:.1f}", f"{r['ratio_to_reference']:.1f}", peak, verdict)
        if run_list is notebooks:
            table.add(label, "whole course", f"{total:.1f}", f"{total / ref:.1f}", "",
                      "ok" if total < COURSE_BUDGET_S else "**over time**")
        targets.append(Target(f"{label} thread(s): every notebook under {NOTEBOOK_BUDGET_S:.0f} s and "
                              f"{MEMORY_BUDGET_MB:.0f} MB", not over, ", ".join(over) if over else ""))
        if run_list is notebooks:
            targets.append(Target(f"{label} thread(s): the whole course under {COURSE_BUDGET_S:.0f} s",
                                  total < COURSE_BUDGET_S, f"{total:.0f} s"))
        drift = abs(ref_after - ref_before) / min(ref_before, ref_after)
        notes.append(f"{label} thread(s): reference workload {ref_before:.3f} s before, {ref_after:.3f} s after "
                     f"({drift:.0%} drift; more than ~20% means the machine was busy)")
        raw["passes"][label] = {"reference_seconds": {"before": ref_before, "after": ref_after},
                                "notebooks": results, "total_seconds": total}
    cache.cleanup()
    raw["budgets"] = {"notebook_s": NOTEBOOK_BUDGET_S, "course_s": COURSE_BUDGET_S, "memory_mb": MEMORY_BUDGET_MB}
    return Section(
        key="notebooks", title="Notebook budgets",
        intro=("Each notebook executed top to bottom in a fresh kernel (as nbval does). "
               "`OMP_NUM_THREADS=1` in the kernel's environment is what Binder's single CPU gives; the ratio to "
               "the reference workload (a fixed small PyTorch training loop) is what compares across machines. "
               "The chapters that use GPT-2 when it is cached run once more with a Hugging Face cache holding "
               "a randomly initialised GPT-2 of the real 124M shape (`tools/random_gpt2_cache.py`): a Colab "
               "student's path, with torch's default threads."),
        tables=[table], targets=targets, notes=notes, raw=raw)


# ---- RESULTS.md ----------------------------------------------------------------

_BLOCK = re.compile(r"<!-- section:(\w+) -->\n(.*?)<!-- /section:\1 -->\n", re.S)
_TARGET_LINE = re.compile(r"^- (.+)$", re.M)


def _blocks(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(text)}


def _targets_of(block: str) -> list[str]:
    """The target lines of a rendered section block (the list after "Targets (issue 17):")."""
    if "Targets (issue 17):" not in block:
        return []
    tail = block.split("Targets (issue 17):", 1)[1].lstrip("\n")
    lines = []
    for line in tail.splitlines():
        if not line.startswith("- "):
            break
        lines.append(line)
    return lines


def write_results(path: Path, sections: list[Section], info: dict, failures: dict[str, str],
                  quick: bool) -> Path:
    """Write (or update) the Markdown report: measured sections replace their
    old blocks, the others are kept; the machine block and the targets at a
    glance are rebuilt."""
    blocks = {} if quick or not path.exists() else _blocks(path.read_text(encoding="utf-8"))
    for section in sections:
        blocks[section.key] = render_section(section, info, path.parent)
    for key, error in failures.items():
        blocks[key] = (f"## {key}\n\n*Failed at {info['date']}:*\n\n```\n{error.strip()[-2000:]}\n```\n")
    ordered = [k for k in SECTIONS if k in blocks]
    glance = []
    for key in ordered:
        glance += [f"{line} [{key}]" for line in _targets_of(blocks[key])]
    title = "Benchmark results" + (" (QUICK MODE: tiny shapes, 1 round; the numbers mean nothing)" if quick else "")
    parts = [f"# {title}", "",
             "Written by `python bench/run.py` (`make bench`); do not edit by hand. Every figure is a ratio to a "
             "reference measured in the same run, cases interleaved (A B A B ...), median of per-round ratios "
             "with its range in brackets (`bench/timing.py`). Speed ratios above 1 mean the first named is "
             "faster.", "",
             "## Machine (of the latest run)", "", render_machine(info), "",
             "## Targets at a glance", ""]
    parts += glance or ["(no section with targets measured yet)"]
    parts.append("")
    for key in ordered:
        parts += [f"<!-- section:{key} -->", blocks[key].rstrip("\n"), f"<!-- /section:{key} -->", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ---- the driver ----------------------------------------------------------------

def _selected(only: str | None) -> list[str]:
    if not only:
        return list(SECTIONS)
    names = []
    for part in only.split(","):
        name = ALIASES.get(part.strip(), part.strip())
        if name not in SECTIONS:
            raise SystemExit(f"--only: unknown section {part.strip()!r}; choose from {', '.join(SECTIONS)}")
        names.append(name)
    return [k for k in SECTIONS if k in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (implies --only notebooks)")
    parser.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 1 round, one notebook: checks that it runs")
    parser.add_argument("--notebook-threads", type=_parse_threads, default=[1],
                        help="torch threads of the notebook kernels: numbers and 'default', e.g. 1,default "
                             "(default: 1)")
    args = parser.parse_args(argv)
    selected = _selected("notebooks" if args.notebooks and not args.only else args.only)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.quick and not args.notebooks:
        notebooks = [ROOT / "notebooks" / QUICK_NOTEBOOK]
    missing = [str(p) for p in notebooks if not p.is_file()]
    if "notebooks" in selected and missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")

    table = QUICK_ESTIMATE_S if args.quick else ESTIMATE_S
    estimate = sum(table[k] * (len(args.notebook_threads) * len(notebooks) if k == "notebooks" else 1)
                   for k in selected)
    info = machine_info()
    print(f"bench: sections {', '.join(selected)}{' (quick)' if args.quick else ''}; estimated "
          f"{estimate / 60:.0f} min on the course's 2-core machine (load average now "
          f"{info['load_average']:.1f}; measure on an otherwise idle machine)", flush=True)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw_dir = ROOT / "bench" / "results"
    plot_dir = raw_dir / "figures" if args.quick else ROOT / "bench" / "figures"
    sections: list[Section] = []
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for key in selected:
        print(f"== {key}", flush=True)
        try:
            if SECTIONS[key] is None:
                section = notebooks_section(notebooks, args.notebook_threads)
            else:
                section = importlib.import_module(SECTIONS[key]).run(quick=args.quick, plot_dir=plot_dir)
        except Exception:  # a failed section is reported, the others still run
            failures[key] = traceback.format_exc()
            print(failures[key], file=sys.stderr, flush=True)
            continue
        sections.append(section)
        raw_dir.mkdir(parents=True, exist_ok=True)
        (raw_dir / f"{key}-{stamp}{'-quick' if args.quick else ''}.json").write_text(
            json.dumps({"machine": info, "raw": section.raw}, indent=1, default=str) + "\n")
        for target in section.targets:
            print("  " + target.markdown()[2:], flush=True)
        for check in section.checks_failed:
            print(f"  CHECK FAILED: {check}", flush=True)
        print(f"  ({section.seconds:.0f} s)", flush=True)
    report = raw_dir / "RESULTS-quick.md" if args.quick else ROOT / "bench" / "RESULTS.md"
    write_results(report, sections, info, failures, args.quick)
    print(f"wrote {report.relative_to(ROOT)} in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    failed = bool(failures) or any(s.checks_failed for s in sections)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
