"""The offline bertviz views really draw in a browser with no network:
headless system Chromium opens a standalone page made by
``lm_course.attention_view`` and we count the lines bertviz draws.

Skipped only when /usr/bin/chromium is absent (CI installs it). Set
``LM_COURSE_SCREENSHOTS=/some/dir`` to keep the screenshots.
"""

import os
from pathlib import Path

import pytest
import torch

from browser_util import have_chromium, offline_page
from lm_course.attention_view import head_view, model_view, save_html

pytestmark = pytest.mark.skipif(not have_chromium(), reason="needs /usr/bin/chromium (apt-get install chromium)")

T = 6
TOKENS = ["</script>", "b", " ", "d", "e", "f"]  # a tag-like token and a space must not break the page


def _toy_attention():
    """Two layers, two heads, with weights we can recognise on the page:
    layer 0 reverses (anti-diagonal), layer 1 copies (diagonal); a little
    uniform weight elsewhere so every line exists but is faint."""
    anti = torch.eye(T).flip(1) * 0.94 + 0.01  # (T, T)
    diag = torch.eye(T) * 0.94 + 0.01  # (T, T)
    return [torch.stack([anti, anti])[None], torch.stack([diag, diag])[None]]  # 2 x (1, H=2, T, T)


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("LM_COURSE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000  # a real picture, not an empty page
    return path


def _strong_lines(page) -> list[tuple[int, int]]:
    """(query index, key index) of the head view's lines drawn with weight > 0.5."""
    return page.eval_on_selector_all(
        "#attention line",
        """lines => lines
            .filter(l => parseFloat(l.getAttribute('stroke-opacity')) > 0.5 / 2)  // 2 active heads halve opacity
            .map(l => [+l.getAttribute('left-token-index'), +l.getAttribute('right-token-index')])""")


def test_head_view_draws_lines_offline(tmp_path):
    page_file = save_html(head_view(_toy_attention(), TOKENS), tmp_path / "head_view.html")
    with offline_page() as view:
        page = view.page
        page.goto(page_file.as_uri())
        page.wait_for_selector("#attention line", state="attached", timeout=15_000)
        assert page.locator("#attention line").count() == 2 * T * T  # heads x queries x keys, layer 0
        assert sorted(set(map(tuple, _strong_lines(page)))) == [(i, T - 1 - i) for i in range(T)]  # the anti-diagonal
        left = page.eval_on_selector_all("#left text", "els => els.map(e => e.textContent)")
        assert left == ["</script>", "b", "␣", "d", "e", "f"]
        _screenshot(page, tmp_path, "head_view_layer0.png")

        page.select_option("#layer", "1")  # jQuery's change handler redraws layer 1
        page.wait_for_timeout(200)
        assert sorted(set(map(tuple, _strong_lines(page)))) == [(i, i) for i in range(T)]  # the diagonal
        assert view.blocked == [] and view.errors == [], (view.blocked, view.errors)


def test_model_view_draws_every_head_offline(tmp_path):
    page_file = save_html(model_view(_toy_attention(), TOKENS), tmp_path / "model_view.html")
    with offline_page() as view:
        view.page.goto(page_file.as_uri())
        view.page.wait_for_selector("#vis svg line", state="attached", timeout=15_000)
        assert view.page.locator("#vis svg line").count() == 2 * 2 * T * T  # layers x heads x T x T
        _screenshot(view.page, tmp_path, "model_view.png")
        assert view.blocked == [] and view.errors == [], (view.blocked, view.errors)


def test_views_survive_a_page_with_an_amd_loader(tmp_path):
    """Classic Jupyter pages carry require.js: a global ``define.amd``. The
    vendored libraries must not register with it (nor fail)."""
    amd = ("<script>window.define = function () { throw new Error('define() was called'); };"
           "window.define.amd = {}; window.$ = 'page jQuery';</script>\n")
    page_file = tmp_path / "with_amd.html"
    views = head_view(_toy_attention(), TOKENS).data + "\n" + model_view(_toy_attention(), TOKENS).data
    page_file.write_text(amd + views, encoding="utf-8")
    with offline_page() as view:
        view.page.goto(page_file.as_uri())
        view.page.wait_for_selector("#attention line", state="attached", timeout=15_000)
        assert view.page.locator("svg line").count() == 2 * T * T + 2 * 2 * T * T  # both views drew
        assert view.page.evaluate("window.$") == "page jQuery"  # the page's globals are untouched
        assert view.page.evaluate("typeof window.d3") == "undefined"
        assert view.blocked == [] and view.errors == [], (view.blocked, view.errors)
