"""Build the course as a static website (``make book``): every chapter, offline.

    python tools/build_book.py                 # writes build/book/ (open build/book/index.html)
    python tools/build_book.py --out DIR

Sphinx with myst-nb and sphinx-book-theme (``requirements-docs.txt``) renders
the committed, executed notebooks as they are (nothing is re-executed), with
the theme's navigation and search, math typeset by the course's vendored
MathJax, every figure, each widget in its text form, the attention views
drawn by the JavaScript the notebooks carry inline, an "Open in Colab" and a
"Launch on Binder" link per chapter (the badge cell, written by
``make badges`` from the one address in pyproject.toml), the offline slide
decks (``slides/``) and the teacher's guide. No page loads anything from
another site (``tests/test_book_browser.py`` checks every page in Chromium
with the network cut off).

The source folder is assembled in ``build/book-src``: ``book/`` (the
configuration and the home page), copies of ``notebooks/*.ipynb`` (the Colab
set-up cell, which does nothing outside Colab, is left out of the page) and
``docs/teaching.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from badges import repository_url  # noqa: E402  (a sibling script: the one address)


def chapter_title(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return notebook.stem


def _page_copy(notebook: Path, target: Path) -> None:
    """The notebook as the site shows it: the Colab set-up cell removed from the page."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "colab-setup" in tags and "remove-cell" not in tags:
            cell.setdefault("metadata", {})["tags"] = tags + ["remove-cell"]
    target.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")


def assemble(src: Path) -> list[Path]:
    """Fill ``src`` with everything Sphinx reads; return the chapters in order."""
    import lm_course
    from lm_course.slides import export_decks

    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(ROOT / "book", src)
    chapters = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for notebook in chapters:
        _page_copy(notebook, src / notebook.name)
    guide = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    (src / "teaching.md").write_text(guide, encoding="utf-8")
    vendor = Path(lm_course.__file__).resolve().parent / "vendor"
    shutil.copytree(vendor / "mathjax", src / "_static" / "mathjax", dirs_exist_ok=True)
    export_decks(chapters, src / "_extra" / "slides")
    (src / "site_settings.py").write_text(f"REPOSITORY_URL = {repository_url()!r}\n", encoding="utf-8")
    rows = "\n".join(f"| {i} | [{chapter_title(nb)}]({nb.stem}) | "
                     f"<a href=\"slides/{nb.stem}.slides.html\">slides</a> |"
                     for i, nb in enumerate(chapters))
    toc = "\n".join(nb.stem for nb in chapters)
    home = (src / "index.md").read_text(encoding="utf-8")
    home = home.replace("{{ chapter_rows }}", rows).replace("{{ chapter_toc }}", toc)
    (src / "index.md").write_text(home, encoding="utf-8")
    return chapters


def build(out: Path, src: Path) -> float:
    start = time.perf_counter()
    assemble(src)
    if out.exists():
        shutil.rmtree(out)
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "2", str(src), str(out)],
                   check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    parser.add_argument("--src", type=Path, default=ROOT / "build" / "book-src")
    args = parser.parse_args(argv)
    seconds = build(args.out, args.src)
    print(f"built {args.out / 'index.html'} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
