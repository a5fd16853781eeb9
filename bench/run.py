"""Benchmarks of the course's budgets (design: "Budgets").

    python bench/run.py                      every notebook
    python bench/run.py notebooks/03_rnns.ipynb

For each notebook: wall-clock time to execute it top to bottom in a fresh
kernel (as nbval does), and the kernel's peak resident memory (VmHWM from
/proc, Linux only). Budgets on the course's reference machine (2 CPU cores):
under 120 s per notebook, under 600 s for the whole course, under 1.5 GB per
kernel.

Seconds depend on the machine, so each time is also reported as a ratio to a
fixed reference workload measured in the same run (a small PyTorch training
loop, ``reference_workload``): the ratio is what to compare across machines
and over time. The budget in ratio units is derived from the reference
machine, where the reference workload takes about REFERENCE_SECONDS.

Results go to bench/results/<timestamp>.json (git-ignored) and a table to
stdout. Nothing here asserts on time: the table says which budgets are met.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_BUDGET_S = 120.0
COURSE_BUDGET_S = 600.0
MEMORY_BUDGET_MB = 1536.0


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


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_notebook(path: Path) -> dict:
    """Execute ``path`` in a fresh kernel; return seconds and peak memory."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        process = getattr(client.km.provisioner, "process", None)
        peak = _peak_rss_mb(process.pid) if process is not None else None
    return {"notebook": path.name, "seconds": seconds, "peak_rss_mb": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

    ref_before = reference_workload()
    results = [run_notebook(nb) for nb in notebooks]
    ref_after = reference_workload()
    ref = (ref_before + ref_after) / 2

    print(f"reference workload: {ref_before:.3f} s before, {ref_after:.3f} s after "
          f"(a drift > 20% means the machine was busy)")
    print(f"{'notebook':<34}{'seconds':>9}{'x ref':>9}{'peak MB':>9}  budget")
    total = 0.0
    for r in results:
        total += r["seconds"]
        r["ratio_to_reference"] = r["seconds"] / ref
        ok_time = r["seconds"] < NOTEBOOK_BUDGET_S
        ok_mem = r["peak_rss_mb"] is None or r["peak_rss_mb"] < MEMORY_BUDGET_MB
        peak = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] is not None else "n/a"
        verdict = "ok" if ok_time and ok_mem else ("OVER TIME " if not ok_time else "") + ("OVER MEMORY" if not ok_mem else "")
        print(f"{r['notebook']:<34}{r['seconds']:>9.1f}{r['ratio_to_reference']:>9.2f}{peak:>9}  {verdict}")
    print(f"{'whole course':<34}{total:>9.1f}{total / ref:>9.2f}{'':>9}  "
          f"{'ok' if total < COURSE_BUDGET_S else 'OVER TIME'} (budget {COURSE_BUDGET_S:.0f} s)")

    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"notebooks-{stamp}.json").write_text(json.dumps({
        "reference_seconds": {"before": ref_before, "after": ref_after},
        "cpu_count": os.cpu_count(), "notebooks": results, "total_seconds": total,
        "budgets": {"notebook_s": NOTEBOOK_BUDGET_S, "course_s": COURSE_BUDGET_S,
                    "memory_mb": MEMORY_BUDGET_MB},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
