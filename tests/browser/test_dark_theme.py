"""The BPE explorer's token chips in JupyterLab Dark: their text must stay
readable (WCAG contrast ratio at least 4.5 against the chip's background;
white text on the pastel chips gave 1.1 to 1.4)."""

from __future__ import annotations

import re

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from browser_util import jupyter_server, offline_page
from course_page import open_and_run_all, shut_down_kernels

SOURCE = """from lm_course.tokenizers import BPETokenizer
from lm_course.widgets import bpe_explorer

bpe = BPETokenizer.train("low lower lowest newer newest wider widest\\n" * 30, vocab_size=270)
bpe_explorer(bpe, text="the newest lower widest")"""


def _luminance(rgb: tuple[int, ...]) -> float:
    c = [v / 255 for v in rgb[:3]]
    c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def _rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", css)[:3])


def contrast(fg: str, bg: str) -> float:
    light, dark = sorted((_luminance(_rgb(fg)), _luminance(_rgb(bg))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_token_chips_are_readable_in_the_dark_theme(tmp_path, kernel_env, screenshot_dir):
    theme = tmp_path / ".settings" / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    theme.parent.mkdir(parents=True)
    theme.write_text('{"theme": "JupyterLab Dark"}\n')
    nb = new_notebook(cells=[new_code_cell(SOURCE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path = tmp_path / "dark_chips.ipynb"
    nbformat.write(nb, path)
    with jupyter_server(tmp_path, "lab", env=kernel_env) as server, offline_page(width=1280, height=800) as view:
        page = view.page
        page.set_default_timeout(120_000)
        try:
            _, state = open_and_run_all(page, server, path, timeout_s=300)
            assert page.evaluate("document.body.dataset.jpThemeLight") == "false", "the dark theme is not on"
            chips = page.locator(".jp-OutputArea .widget-html span[title^='token ']")
            chips.first.wait_for()
            styles = chips.evaluate_all(
                "els => els.map(e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor])")
            ratios = [contrast(fg, bg) for fg, bg in styles]
            page.locator(".jp-OutputArea").first.screenshot(path=str(screenshot_dir / "dark-bpe-chips.png"))
            assert len(ratios) >= 5 and min(ratios) >= 4.5, f"chip contrast ratios {sorted(ratios)[:3]} (need 4.5)"
            print(f"{len(ratios)} chips, contrast {min(ratios):.1f} to {max(ratios):.1f} in JupyterLab Dark")
        finally:
            shut_down_kernels(page)
        assert view.blocked == [], view.blocked[:3]
