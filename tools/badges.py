"""Write the two set-up cells at the top of every notebook from one address.

1. the badge cell (Open in Colab / Binder), a Markdown cell tagged ``badges``;
2. the Colab cell, a code cell tagged ``colab-setup``: when the notebook runs
   in Colab (``"google.colab" in sys.modules``) it clones the course and
   installs it; anywhere else it does nothing;

and the Colab/Binder links of the chapter table in README.md (between the
``<!-- chapter-links -->`` markers: the rows are kept, their links rewritten).

The repository's address is read from ``[project.urls] Repository`` in
pyproject.toml, the one place it is written. Run ``make badges`` (or
``python tools/badges.py``) after changing it. The script creates or replaces
those two cells and leaves every other cell alone.

    python tools/badges.py            rewrite the badge cells
    python tools/badges.py --check    exit 1 if any badge cell is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TAG = "badges"
SETUP_TAG = "colab-setup"


def repository_url() -> str:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return meta["project"]["urls"]["Repository"].rstrip("/")


def launch_urls(notebook: Path, repo: str, branch: str = "main") -> tuple[str, str]:
    """The Colab and Binder addresses that open ``notebook``."""
    if not repo.startswith("https://github.com/"):
        raise ValueError(f"the Repository URL must be on github.com, got {repo}")
    slug = repo.removeprefix("https://github.com/")
    path = notebook.relative_to(ROOT).as_posix()
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}"
    binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?labpath={path}"
    return colab, binder


def readme_with_links(readme: str, repo: str) -> str:
    """README text with each chapter row's Colab/Binder links rewritten.

    A chapter row links its notebook as ``(notebooks/NN_name.ipynb)`` and ends
    with two cells ``[open](...)``; rows between the markers are rewritten.
    """
    start, end = "<!-- chapter-links -->", "<!-- /chapter-links -->"
    if start not in readme or end not in readme:
        raise ValueError(f"README.md lacks the {start} ... {end} markers")
    head, rest = readme.split(start, 1)
    table, tail = rest.split(end, 1)
    rows = []
    for row in table.split("\n"):
        m = re.search(r"\((notebooks/[0-9]{2}_[^)]+\.ipynb)\)", row)
        if m:
            colab, binder = launch_urls(ROOT / m.group(1), repo)
            cells = row.rstrip().rstrip("|").split("|")
            row = "|".join(cells[:-2]) + f"| [open]({colab}) | [open]({binder}) |"
        rows.append(row)
    return head + start + "\n".join(rows) + end + tail


def badge_markdown(notebook: Path, repo: str) -> str:
    """Markdown for the Colab and Binder links of ``notebook``: plain links,
    no badge images, so an offline notebook loads nothing from outside hosts."""
    colab, binder = launch_urls(notebook, repo)
    return f"[Open in Colab]({colab}) · [Launch on Binder]({binder})"


def colab_setup_code(repo: str) -> str:
    """The guarded first code cell: installs the course on Colab only."""
    return (
        "import sys\n"
        'if "google.colab" in sys.modules:  # on Colab: fetch and install the course (about a minute)\n'
        f"    !git clone -q --depth 1 {repo} /content/lm-course\n"
        "    %pip install -q -e /content/lm-course\n"
        '    sys.path.insert(0, "/content/lm-course")\n'
        "    %cd /content/lm-course/notebooks\n"
        "    from google.colab import output\n"
        "    output.enable_custom_widget_manager()  # ipywidgets in Colab"
    )


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _expected_cells(notebook: Path, repo: str):
    badges = nbformat.v4.new_markdown_cell(badge_markdown(notebook, repo), metadata={"tags": [TAG]})
    setup = nbformat.v4.new_code_cell(colab_setup_code(repo), metadata={"tags": [SETUP_TAG]})
    return badges, setup


def is_current(notebook: Path, repo: str) -> bool:
    nb = nbformat.read(notebook, as_version=4)
    badges, setup = _expected_cells(notebook, repo)
    setups = [c for c in nb.cells if _tagged(c, SETUP_TAG)]
    return (bool(nb.cells) and nb.cells[0].source == badges.source and len(setups) == 1
            and setups[0].source == setup.source)


def update(notebook: Path, repo: str) -> bool:
    """Create or refresh both cells; return True if the file changed.

    The badge cell goes first; the Colab cell stays where it is if present,
    else it goes right after the notebook's title cell (the first cell that
    is neither of the two).
    """
    if is_current(notebook, repo):
        return False
    nb = nbformat.read(notebook, as_version=4)
    badges, setup = _expected_cells(notebook, repo)
    if nb.cells and _tagged(nb.cells[0], TAG):
        nb.cells[0].source = badges.source
    else:
        nb.cells.insert(0, badges)
    setups = [c for c in nb.cells if _tagged(c, SETUP_TAG)]
    if setups:
        setups[0].source = setup.source
    else:
        nb.cells.insert(min(2, len(nb.cells)), setup)
    nbformat.write(nb, notebook)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args(argv)
    repo = repository_url()
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if args.check:
            if not is_current(notebook, repo):
                stale.append(notebook.name)
        elif update(notebook, repo):
            print(f"updated {notebook.name}")
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    fresh = readme_with_links(readme, repo)
    if fresh != readme:
        if args.check:
            stale.append("README.md")
        else:
            readme_path.write_text(fresh, encoding="utf-8")
            print("updated README.md")
    if stale:
        print("badge or Colab cells out of date:", ", ".join(stale), "(run `make badges`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
