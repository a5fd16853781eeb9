"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module's torch code on one thread: tiny models gain nothing
    from a second one, and on a busy 2-core machine they lose a lot to it.
    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- the fast suite and the slow one
# `make test-unit` runs `pytest tests -m "not browser and not kernel and not slow"` (a few minutes);
# `make test` runs everything. A test is marked
#   browser  when it drives Chromium (every file under tests/browser/ and every tests/test_*browser*.py,
#            marked here by path),
#   kernel   when it starts a Jupyter kernel or runs a notebook (marked in its file; in the fast suite,
#            which sets LM_COURSE_FAST_SUITE=1, a test that starts a kernel without the mark fails:
#            see _kernels_only_when_marked),
#   slow     when it builds something large (a wheel, a virtualenv) or trains for long.
# nbval's notebook items (pytest notebooks/) are marked `notebook` by the root conftest.py.
MARKERS = {
    "browser": "drives a real browser (Chromium via Playwright)",
    "kernel": "starts a Jupyter kernel or executes a notebook",
    "slow": "builds a wheel or a virtualenv, or trains for long",
    "notebook": "a notebook cell run by nbval",
}


def pytest_configure(config):
    for name, what in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")


def _is_browser_test(path) -> bool:
    parts = path.parts
    return "browser" in parts[-2:-1] or ("browser" in path.name and path.name.startswith("test_"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_browser_test(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _kernels_only_when_marked(request, monkeypatch):
    """A test that starts a Jupyter kernel must say so (``@pytest.mark.kernel``), so that
    ``make test-unit`` never waits for one: there (``LM_COURSE_FAST_SUITE=1``) an unmarked test
    that starts one fails."""
    if os.environ.get("LM_COURSE_FAST_SUITE") != "1":
        return
    if request.node.get_closest_marker("kernel") or request.node.get_closest_marker("browser"):
        return
    try:
        from jupyter_client.manager import AsyncKernelManager, KernelManager
    except ImportError:  # no Jupyter here: nothing can start a kernel
        return

    def refuse(*args, **kwargs):
        raise RuntimeError(f"{request.node.nodeid} starts a Jupyter kernel: mark it @pytest.mark.kernel "
                           "(tests/conftest.py, 'the fast suite and the slow one')")

    monkeypatch.setattr(KernelManager, "start_kernel", refuse)
    monkeypatch.setattr(AsyncKernelManager, "start_kernel", refuse)
    monkeypatch.setattr(AsyncKernelManager, "_async_start_kernel", refuse, raising=False)
