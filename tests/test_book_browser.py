"""The course as a website (make book): every page opens offline in Chromium, complete.

Builds the site from the committed notebooks (tools/build_book.py, a minute or
two), serves it on localhost and opens every page with the network cut off:
no request may leave the machine, no JavaScript error, every figure loaded,
math typeset by the vendored MathJax, the attention views drawn, a Colab and
a Binder link on every chapter, search working.
"""

import contextlib
import functools
import http.server
import importlib.util
import json
import sys
import threading
from pathlib import Path

import pytest

from tests.browser_util import browser_missing, free_port, offline_page

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

pytestmark = [
    pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "ok"),
    pytest.mark.skipif(importlib.util.find_spec("myst_nb") is None,
                       reason="needs the website's packages (pip install -r requirements-docs.txt)"),
]

CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Chapters whose committed outputs hold a bertviz view (lm_course.attention_view).
VIEWS = {"04_attention": 2, "05_transformer": 1, "06_gpt2_sampling": 2}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test's output
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import build_book

    out = tmp_path_factory.mktemp("book")
    build_book.build(out, tmp_path_factory.mktemp("book-src"))
    handler = functools.partial(_QuietHandler, directory=str(out))
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}", out
    finally:
        with contextlib.suppress(Exception):
            server.shutdown()


def _figures(chapter: str) -> int:
    """How many figures (image outputs) the committed notebook holds."""
    nb = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    return sum(any(k.startswith("image/") for k in out.get("data", {}))
               for cell in nb["cells"] for out in cell.get("outputs", []))


def _open(view, url: str) -> None:
    view.page.goto(url, wait_until="load", timeout=120_000)


def _images_loaded(page) -> tuple[int, list[str]]:
    return page.evaluate("""() => {
        const imgs = [...document.querySelectorAll('article img')];
        return [imgs.length, imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)];
    }""")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page_is_complete_offline(site, chapter):
    base, _ = site
    with offline_page(1280, 800) as view:
        _open(view, f"{base}/{chapter}.html")
        page = view.page
        page.wait_for_selector("mjx-container", state="attached", timeout=60_000)  # MathJax ran
        count, broken = _images_loaded(page)
        figures = _figures(chapter)
        assert count >= figures and not broken, f"{chapter}: {count} of {figures} figures, not loaded: {broken}"
        links = page.evaluate("() => [...document.querySelectorAll('article a')].map(a => a.href)")
        assert any("colab.research.google.com" in h for h in links), f"{chapter}: no Colab link"
        assert any("mybinder.org" in h for h in links), f"{chapter}: no Binder link"
        assert "google.colab" not in page.inner_text("article")  # the Colab set-up cell is not on the page
        if chapter in VIEWS:
            page.wait_for_selector("svg line", state="attached", timeout=60_000)
            assert page.locator("svg line").count() > 100, f"{chapter}: an attention view drew nothing"
        assert page.locator("mjx-merror").count() == 0, f"{chapter}: MathJax could not typeset a formula"
        assert view.blocked == [], f"{chapter}: requests that would leave the machine: {view.blocked[:5]}"
        assert view.errors == [], f"{chapter}: JavaScript errors: {view.errors[:5]}"


def test_home_guide_slides_and_search_work_offline(site):
    base, out = site
    with offline_page(1280, 800) as view:
        _open(view, f"{base}/index.html")
        text = view.page.inner_text("article")
        for chapter in CHAPTERS:
            assert (out / f"{chapter}.html").exists() and (out / "slides" / f"{chapter}.slides.html").exists()
        assert "Chapter 7" in text and "guide" in text, text[:2000]
        _open(view, f"{base}/teaching.html")
        assert "Chapter 0" in view.page.inner_text("article")
        _open(view, f"{base}/search.html?q=Kneser")
        view.page.wait_for_selector("#search-results li", timeout=60_000)
        assert "n-gram" in view.page.inner_text("#search-results").lower()
        assert view.blocked == [] and view.errors == [], (view.blocked[:5], view.errors[:5])
