"""What the browser tests of the course's notebooks share: whether they can
run here, the offline kernel environment, and the report printed at the end
(time per notebook, every widget driven with what changed, the screenshots).

Without /usr/bin/chromium or Playwright these tests are skipped, except
under ``CI=true``, where they fail: CI must run them (``.ci/run`` installs
Chromium).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import course_page
from browser_util import browser_missing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _needs_browser():
    reason = browser_missing()
    if reason and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser tests, but this machine {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory) -> dict[str, str]:
    """The kernels' environment: no hub look-up (HF_HUB_OFFLINE), a new,
    empty course cache (a student's first run; the developer's data/cache
    and its scoreboard are left alone), and torch on one thread, as the
    committed notebooks are run: Chromium and the server share the two cores
    with the kernel, and a second torch thread then only waits (chapter 5's
    Run All: 210 s on two threads, 52 s on one)."""
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1",
            "LM_COURSE_CACHE": str(tmp_path_factory.mktemp("lm_course_cache"))}


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where the widgets' screenshots go: build/browser-screenshots/ (git-ignored),
    or ``LM_COURSE_SCREENSHOTS``."""
    folder = Path(os.environ.get("LM_COURSE_SCREENSHOTS", ROOT / "build" / "browser-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pytest_collection_modifyitems(items):
    """Order this folder's tests by notebook (in course order), keeping the
    order of the test functions within a notebook: every notebook then runs
    once, and the last test of each sees the page after all the others."""
    here = [i for i, item in enumerate(items) if Path(str(item.path)).parent == Path(__file__).parent
            and "notebook" in getattr(getattr(item, "callspec", None), "params", {})]
    ordered = sorted((items[i] for i in here), key=lambda item: (str(item.path), item.callspec.params["notebook"]))
    for i, item in zip(here, ordered):
        items[i] = item


def pytest_terminal_summary(terminalreporter):
    report = course_page.REPORT
    if not (report.timings or report.actions or report.screenshots):
        return
    write = terminalreporter.write_line
    terminalreporter.section("course notebooks in the browser")
    for (front_end, name), (run, total) in report.timings.items():
        write(f"{front_end}: {name}: Run All {run:.1f} s, with opening and every widget {total:.1f} s")
    if report.timings:
        write(f"total: {sum(t for _, t in report.timings.values()):.1f} s for {len(report.timings)} notebooks")
    write("widgets and views driven (action -> what changed):")
    for line in report.actions:
        write(f"  {line}")
    write(f"screenshots ({len(report.screenshots)}):")
    for path in report.screenshots:
        write(f"  {path}")
