"""Write the two set-up cells at the top of every notebook from one address.

1. the badge cell (Open in Colab / Binder), a Markdown cell tagged ``badges``;
2. the Colab cell, a code cell tagged ``colab-setup``: when the notebook runs
   in Colab (``"google.colab" in sys.modules``) it pip-installs the course *at
   one pinned release* (``lm-course @ git+<repo>@<ref>``: the package carries
   its checkpoints and tokenizer files), without the JupyterLab server stack and
   keeping Colab's torch and transformers; anywhere else it does nothing;

and the Colab/Binder links of the chapter table in README.md (between the
``<!-- chapter-links -->`` markers: the rows are kept, their links rewritten).

The repository's address is read from ``[project.urls] Repository`` in
pyproject.toml, the one place it is written. Run ``make badges`` (or
``python tools/badges.py``) after changing it. The script creates or replaces
those two cells and leaves every other cell alone.

The pinned release: every link and the Colab cell name one git ref, by default
the tag ``v<version>`` of pyproject.toml's ``version`` (``v0.1.0``), so a Colab
session runs the very code its notebook was written for, not whatever the
default branch holds that day. ``--ref`` names another tag or a commit (a full
40-hex-digit sha); push the tag (``git tag v0.1.0 && git push --tags``) before
publishing the links.

    python tools/badges.py                 rewrite the badge cells (ref v<version>)
    python tools/badges.py --ref <sha>     ... pinned to a commit instead
    python tools/badges.py --check         exit 1 if any badge cell is out of date
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


def release_ref() -> str:
    """The default pinned ref: ``v`` + pyproject.toml's version (a release tag)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return "v" + meta["project"]["version"]


_REF = re.compile(r"[0-9a-f]{40}|v?[0-9]+(\.[0-9]+)*([.-]?[A-Za-z0-9]+)*")


def check_ref(ref: str) -> str:
    """``ref`` if it pins one version: a release tag (``v0.1.0``) or a full
    commit sha; a branch name such as ``main`` moves, so it is refused."""
    if not isinstance(ref, str) or not _REF.fullmatch(ref) or ref in ("main", "master", "HEAD"):
        raise ValueError(f"pin the Colab cell to a release tag (v1.2.3) or a full 40-hex-digit commit sha, "
                         f"got {ref!r}")
    return ref


def launch_urls(notebook: Path, repo: str, branch: str | None = None) -> tuple[str, str]:
    """The Colab and Binder addresses that open ``notebook`` at ``branch``
    (default: the pinned release, :func:`release_ref`)."""
    branch = release_ref() if branch is None else branch
    if not repo.startswith("https://github.com/"):
        raise ValueError(f"the Repository URL must be on github.com, got {repo}")
    slug = repo.removeprefix("https://github.com/")
    path = notebook.relative_to(ROOT).as_posix()
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/{path}"
    binder = f"https://mybinder.org/v2/gh/{slug}/{branch}?labpath={path}"
    return colab, binder


def readme_with_links(readme: str, repo: str, ref: str | None = None) -> str:
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
            colab, binder = launch_urls(ROOT / m.group(1), repo, ref)
            cells = row.rstrip().rstrip("|").split("|")
            row = "|".join(cells[:-2]) + f"| [open]({colab}) | [open]({binder}) |"
        rows.append(row)
    return head + start + "\n".join(rows) + end + tail


def badge_markdown(notebook: Path, repo: str, ref: str | None = None) -> str:
    """Markdown for the Colab and Binder links of ``notebook``: plain links,
    no badge images, so an offline notebook loads nothing from outside hosts."""
    colab, binder = launch_urls(notebook, repo, ref)
    return f"[Open in Colab]({colab}) · [Launch on Binder]({binder})"


def colab_requirement(repo: str, ref: str | None = None) -> str:
    """The pip requirement of the pinned release: ``lm-course @ git+<repo>@<ref>``
    (a tag or a commit). The wheel pip builds from it carries the shipped
    checkpoints, GPT-2's tokenizer files and the chapters (``lm_course/shipped_data``)."""
    ref = check_ref(release_ref() if ref is None else ref)
    return f"lm-course @ git+{repo}@{ref}"


def colab_setup_code(repo: str, ref: str | None = None) -> str:
    """The guarded first code cell: installs the course on Colab only, at the
    pinned ``ref``, as a package (no clone, no editable install). It installs the
    package's dependencies alone: not the ``[lab]`` extra (Colab has its own
    front end, so no JupyterLab server or RISE), and Colab's preinstalled torch
    and transformers satisfy the package's ranges, so pip keeps them.
    ``tests/test_colab_path.py`` runs this cell in a venv holding Colab's versions."""
    return (
        "import sys\n"
        'if "google.colab" in sys.modules:  # on Colab: install the course\'s pinned release\n'
        f'    %pip install -q "{colab_requirement(repo, ref)}"\n'
        "    from google.colab import output\n"
        "    output.enable_custom_widget_manager()  # ipywidgets 8 in Colab"
    )


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _expected_cells(notebook: Path, repo: str, ref: str | None = None):
    badges = nbformat.v4.new_markdown_cell(badge_markdown(notebook, repo, ref), metadata={"tags": [TAG]})
    setup = nbformat.v4.new_code_cell(colab_setup_code(repo, ref), metadata={"tags": [SETUP_TAG]})
    return badges, setup


def is_current(notebook: Path, repo: str, ref: str | None = None) -> bool:
    nb = nbformat.read(notebook, as_version=4)
    badges, setup = _expected_cells(notebook, repo, ref)
    setups = [c for c in nb.cells if _tagged(c, SETUP_TAG)]
    return (bool(nb.cells) and nb.cells[0].source == badges.source and len(setups) == 1
            and setups[0].source == setup.source)


def update(notebook: Path, repo: str, ref: str | None = None) -> bool:
    """Create or refresh both cells; return True if the file changed.

    The badge cell goes first; the Colab cell stays where it is if present,
    else it goes right after the notebook's title cell (the first cell that
    is neither of the two).
    """
    nb = nbformat.read(notebook, as_version=4)
    badges, setup = _expected_cells(notebook, repo, ref)
    setups = [c for c in nb.cells if _tagged(c, SETUP_TAG)]
    if nb.cells and nb.cells[0].source == badges.source and len(setups) == 1 and setups[0].source == setup.source:
        return False
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
    parser.add_argument("--ref", default=None, help="the tag or full commit sha to pin (default: v<version>)")
    args = parser.parse_args(argv)
    repo = repository_url()
    try:
        ref = check_ref(release_ref() if args.ref is None else args.ref)
    except ValueError as err:
        parser.error(str(err))
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if args.check:
            if not is_current(notebook, repo, ref):
                stale.append(notebook.name)
        elif update(notebook, repo, ref):
            print(f"updated {notebook.name}")
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    fresh = readme_with_links(readme, repo, ref)
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
