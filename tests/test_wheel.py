"""The course as a package: a built wheel carries everything it needs at run
time, and installed into a fresh venv outside the clone it works.

The wheel is built from the clone's tracked files; the venv gets torch 2.13.0
(the CPU build; a newer torch would be a CUDA download) and the wheel, with the
other dependencies at requirements-lock.txt's pins (``-c``): the package's own
dependencies only, not the ``[lab]`` extra. From a folder outside the clone,
with its own home (so the cache is ``~/.cache/lm_course``), it runs
``python -m lm_course info`` and ``workspace``, loads every shipped model and
GPT-2's tokenizer, and runs chapter 0 top to bottom. Sizes and times are
printed (``pytest -s``), not asserted.
"""

from __future__ import annotations

import email.parser
import json
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from venv_util import ROOT, TORCH, build_wheel, make_venv, outside_env, run_cells, size_mb, versions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # a venv takes minutes (more under load)


def _tracked(folder: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in out.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def test_the_wheel_carries_what_the_course_reads(wheel):
    with zipfile.ZipFile(wheel) as z:
        infos = z.infolist()
        meta = email.parser.Parser().parsestr(z.read(next(n for n in z.namelist()
                                                         if n.endswith(".dist-info/METADATA"))).decode())
    names = {i.filename for i in infos}
    sizes, counts = Counter(), Counter()
    for i in infos:
        top = "/".join(i.filename.split("/")[:2]) if i.filename.startswith("lm_course/") else "other"
        sizes[top] += i.file_size
        counts[top] += 1
    print(f"\n{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MB, {len(infos)} files; unpacked, the largest parts:")
    for top, size in sizes.most_common(5):
        print(f"  {size / 2**20:6.2f} MB  {counts[top]:3d} files  {top}")
    for folder in ("lm_course/shipped_data", "lm_course/templates", "lm_course/vendor"):
        missing = set(_tracked(folder)) - names
        assert _tracked(folder) and not missing, f"{folder}: not in the wheel: {sorted(missing)[:5]}"
    chapters = {f"lm_course/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert len(chapters) >= 9 and chapters <= names, "the chapters (for python -m lm_course workspace)"
    assert not [n for n in names if "cache" in n.split("/") or n.endswith(".pyc") or n.startswith("tests/")]
    assert all(n.startswith(("lm_course/", "lm_course-")) for n in names)
    assert (meta["Name"], meta["Version"], meta["Requires-Python"]) == ("lm-course", "0.1.0", ">=3.11")
    assert {"lab", "test", "bench", "docs"} <= set(meta.get_all("Provides-Extra"))
    always = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert not [r for r in always if r.startswith(("jupyterlab", "pytest", "playwright"))], always


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel-venv")
    python, seconds = make_venv(tmp / "venv", TORCH, str(wheel), "-c", str(ROOT / "requirements-lock.txt"))
    have = versions(python, "lm-course", "torch", "jupyterlab", "pytest")
    print(f"\nthe wheel's venv: {size_mb(tmp / 'venv'):.0f} MB, installed in {seconds:.0f} s "
          f"(pip's cache here; load-dependent); {have}")
    assert have["lm-course"] == "0.1.0" and have["torch"].startswith("2.13.0")
    assert have["jupyterlab"] is None and have["pytest"] is None  # the package's dependencies only
    outside = tmp / "outside"
    outside.mkdir()
    return python, outside, outside_env(tmp)


def _run(python: Path, cwd: Path, env: dict, *args: str) -> str:
    result = subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{args}: rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


_LOAD_EVERYTHING = """
import json, sys
from pathlib import Path
import lm_course
from lm_course.data import cache_dir, clone_root, data_dir, expected_checksums, load_shakespeare
from lm_course.corpus import corpus_tokenizer
from lm_course.reference import load_reference
from lm_course.tokenizers.bpe import BPETokenizer
gpt, tok = load_reference("gpt")[0], corpus_tokenizer()
small, _ = load_reference("gpt-small")
mlp, _ = load_reference("mlp")
lstm, _ = load_reference("lstm")
bpe = BPETokenizer.from_gpt2()
print(json.dumps({"package": lm_course.__file__, "data": str(data_dir()), "cache": str(cache_dir()),
                  "clone": clone_root() and str(clone_root()), "splits": sorted(expected_checksums()),
                  "val": len(load_shakespeare("val")), "gpt": sum(p.numel() for p in gpt.parameters()),
                  "vocab": tok.vocab_size, "gpt2_ids": bpe.encode("Hello world")}))
"""


def test_info_workspace_and_the_shipped_models_outside_the_clone(installed):
    python, outside, env = installed
    info = _run(python, outside, env, "-m", "lm_course", "info")
    assert "2.13.0" in info and "missing" not in info and "the [lab] extra" in info, info
    work = outside / "work"
    _run(python, outside, env, "-m", "lm_course", "workspace", str(work))
    assert sorted(p.name for p in work.glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    got = json.loads(_run(python, outside, env, "-c", _LOAD_EVERYTHING).strip().splitlines()[-1])
    site = str(python.parent.parent)
    assert got["package"].startswith(site) and got["data"].startswith(site) and got["clone"] is None, got
    assert got["cache"] == str(Path(env["HOME"]) / ".cache" / "lm_course")
    assert got["splits"] == ["test", "train", "val"] and got["val"] > 100_000 and got["gpt"] > 0
    assert got["gpt2_ids"] == [15496, 995]  # GPT-2's ids of "Hello world", from the shipped files


def test_chapter_0_runs_outside_the_clone(installed):
    python, outside, env = installed
    chapter = outside / "ch0"
    chapter.mkdir()
    shutil.copyfile(ROOT / "notebooks" / "00_welcome.ipynb", chapter / "00_welcome.ipynb")
    import nbformat
    nb = nbformat.read(chapter / "00_welcome.ipynb", as_version=4)
    result = run_cells(python, [c.source for c in nb.cells if c.cell_type == "code"], chapter, env)
    print(f"\nchapter 0 in the wheel's venv: {result['seconds']:.0f} s (load-dependent)")
