"""The Colab path: chapters 6 and 7 with GPT-2 in the Hugging Face cache.

On Colab (network) ``GPT.from_pretrained("gpt2")`` finds GPT-2, and the
chapters take their GPT-2 branches, which the committed (offline) runs never
execute. Here a temporary cache holds a randomly initialised GPT-2 of the real
124M shape plus GPT-2's real tokenizer (``tools/random_gpt2_cache.py``), and
each chapter runs top to bottom in a fresh kernel with ``HF_HUB_OFFLINE=1``:
every cell must finish without an error and the kernel must stay under
1.5 GB. The numbers the chapters print from random weights mean
nothing; the code that prints them is what is tested. The time is printed,
not asserted (a test machine's speed is not a student's): ``bench/run.py``
measures chapter 6's time against its budget with the same cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tool_util import load_tool

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MEMORY_MB = 1536.0  # the design's memory budget per notebook


@pytest.fixture(scope="module")
def gpt2_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache")
    load_tool("random_gpt2_cache").make_random_gpt2_cache(cache)
    return cache


@pytest.mark.parametrize("name", ["06_gpt2_sampling.ipynb", "07_finetuning.ipynb"])
def test_chapter_runs_with_gpt2_in_the_cache(name, gpt2_cache, tmp_path):
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copyfile(NOTEBOOKS / name, work / name)  # the committed file stays as it is
    env = {"HF_HUB_CACHE": str(gpt2_cache), "HF_HUB_OFFLINE": "1"}
    result = load_tool("execute_notebooks").run_notebook(work / name, threads=2, env=env, timeout=600)
    slowest = sorted(enumerate(result["cell_seconds"]), key=lambda c: -c[1])[:5]
    print(f"{name} with a random GPT-2 124M in the cache: {result['seconds']:.1f} s, peak "
          f"{result['peak_rss_mb']:.0f} MB; slowest cells "
          + ", ".join(f"[{i}] {s:.1f} s" for i, s in slowest))
    assert result["peak_rss_mb"] is None or result["peak_rss_mb"] < MEMORY_MB, (
        f"{name} peaked at {result['peak_rss_mb']:.0f} MB with GPT-2 124M (budget {MEMORY_MB:.0f} MB)")
