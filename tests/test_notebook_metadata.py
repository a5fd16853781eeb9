"""Every committed chapter names its kernel, so opening it in JupyterLab does not modify it."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_the_python3_kernelspec(path):
    spec = json.loads(path.read_text())["metadata"].get("kernelspec")
    assert spec == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}, (
        f"{path.name}: kernelspec {spec!r}; re-execute it with tools/execute_notebooks.py")
