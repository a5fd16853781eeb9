"""The Colab path: the set-up cell as Colab runs it, and chapters 6 and 7 with
GPT-2 in the Hugging Face cache.

``test_the_colab_cell_in_colab_s_versions`` (slow): a fresh venv holds the
versions Colab ships (``tests/colab_versions.txt``, from Colab's own
pip-freeze; torch stays 2.13.0, the only build here), a stub ``google.colab``
is imported as Colab does at start, and one kernel runs the set-up cell of
``tools/badges.py`` (its git URL replaced by the wheel built from this clone),
then the chapter's first cells up to its first model load. The cell must keep
Colab's torch and transformers and install no JupyterLab server.

``test_chapter_runs_with_gpt2_in_the_cache``: the whole chapter, in this venv.

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

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from tool_util import load_tool
from venv_util import ROOT, TORCH, build_wheel, make_venv, outside_env, run_cells, size_mb, versions

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MEMORY_MB = 1536.0  # the design's memory budget per notebook


@pytest.fixture(scope="module")
def gpt2_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache")
    load_tool("random_gpt2_cache").make_random_gpt2_cache(cache)
    return cache


@pytest.mark.kernel
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


# ---------------------------------------------------------------- the set-up cell as Colab runs it
_FIRST_MODEL = re.compile(r"GPT\.from_pretrained\(|load_reference\(")
_STUB = {"google/colab/__init__.py": "",  # Colab imports google.colab at start: the cell's guard is true
         "google/colab/output.py": "def enable_custom_widget_manager():\n    pass\n"}


def _first_cells(notebook: Path) -> list[str]:
    """The code cells after the Colab cell, up to the first that loads a model."""
    cells = [c for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    setup = next(i for i, c in enumerate(cells) if "colab-setup" in c.metadata.get("tags", []))
    end = next(i for i, c in enumerate(cells) if i > setup and _FIRST_MODEL.search(c.source))
    return [c.source for c in cells[setup + 1:end + 1]]


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colab")
    python, seconds = make_venv(tmp / "venv", TORCH, "-r", str(ROOT / "tests" / "colab_versions.txt"))
    print(f"\nColab's preinstalled set: {size_mb(tmp / 'venv'):.0f} MB in {seconds:.0f} s")
    for name, text in _STUB.items():
        (tmp / "stub" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "stub" / name).write_text(text)
    return python, tmp, build_wheel(tmp / "dist")


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a venv takes minutes (more under load)
@pytest.mark.parametrize("name", ["06_gpt2_sampling.ipynb", "07_finetuning.ipynb"])
def test_the_colab_cell_in_colab_s_versions(name, colab, gpt2_cache):
    python, tmp, wheel = colab
    badges = load_tool("badges")
    repo = badges.repository_url()
    cell = badges.colab_setup_code(repo)
    assert badges.colab_requirement(repo) in cell
    cell = cell.replace(badges.colab_requirement(repo), str(wheel))  # no network to GitHub here
    before = versions(python, "torch", "transformers", "ipywidgets")
    env = outside_env(tmp)
    env.update({"PYTHONPATH": str(tmp / "stub"), "HF_HUB_CACHE": str(gpt2_cache)})
    work = tmp / name.removesuffix(".ipynb")
    work.mkdir()
    result = run_cells(python, ["import google.colab", cell, *_first_cells(ROOT / "notebooks" / name)], work, env)
    after = versions(python, "torch", "transformers", "ipywidgets", "jupyterlab", "jupyterlab-rise", "lm-course")
    print(f"\n{name} on Colab's versions: the cell and the first cells in {result['seconds']:.0f} s; {after}")
    assert after["lm-course"] == "0.1.0"
    assert (after["torch"], after["transformers"]) == (before["torch"], before["transformers"]), "reinstalled"
    assert after["jupyterlab"] is None and after["jupyterlab-rise"] is None, "the server stack was installed"
    assert int(after["ipywidgets"].split(".")[0]) >= 8
    text = "".join(result["text"])
    assert re.search(r"in Colab\s+True", text), text[-2000:]  # environment_report saw the (stub) Colab
    assert "NOT available" not in text and "not in the local Hugging Face cache" not in text, text[-2000:]
