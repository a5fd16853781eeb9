"""tools/badges.py: the Colab cell and the links are pinned to one release (a tag or a commit)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("badges", ROOT / "tools" / "badges.py")
badges = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(badges)

REPO = "https://github.com/lm-course/lm-course"


def test_the_colab_cell_installs_the_pinned_release_as_a_package():
    code = badges.colab_setup_code(REPO)
    ref = badges.release_ref()
    assert ref.startswith("v") and ref[1:].split(".")[0].isdigit()  # v<version of pyproject.toml>
    assert f'%pip install -q "lm-course @ git+{REPO}@{ref}"' in code
    assert "git clone" not in code  # a clone would take whatever the default branch holds that day
    assert " -e " not in code and "sys.path.insert" not in code  # the wheel carries the data: no clone needed
    assert "[lab]" not in code and "jupyterlab" not in code  # Colab has its own front end
    assert "torch" not in code and "transformers" not in code  # Colab's preinstalled ones are kept
    assert code.splitlines()[1].startswith('if "google.colab" in sys.modules:')  # nothing runs elsewhere


def test_a_commit_can_be_pinned_and_a_branch_cannot():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert f"git+{REPO}@{sha}" in badges.colab_setup_code(REPO, sha)
    for moving in ("main", "master", "HEAD", "abc123", "", "v1.0; rm -rf /"):
        with pytest.raises(ValueError, match="release tag"):
            badges.colab_setup_code(REPO, moving)


def test_the_links_open_the_notebook_of_the_same_release():
    notebook = ROOT / "notebooks" / "00_welcome.ipynb"
    colab, binder = badges.launch_urls(notebook, REPO)
    ref = badges.release_ref()
    assert f"/blob/{ref}/notebooks/00_welcome.ipynb" in colab and f"/{ref}?labpath=" in binder
    assert f"/blob/{ref}/" in badges.badge_markdown(notebook, REPO)
    assert "/blob/main/" not in badges.badge_markdown(notebook, REPO)
