"""Every chapter's offline deck (``make slides``) in headless Chromium at
1280x800, from ``file://`` with the network cut: every slide is visited, and
none has an element wider than the slide (code lines wrap, equations and
pictures are scaled to fit), no widget is an empty box (each is drawn from
the notebook's saved widget state), every attention view is drawn by its
inlined scripts, and nothing is requested from outside the machine.

A screenshot of each widget's and attention view's slide goes to
``LM_COURSE_SCREENSHOTS`` (default build/browser-screenshots/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_util import offline_page
from lm_course import slides
from lm_course.widgets.static import STATIC_CLASS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDTH, HEIGHT = 1280, 800

# For the slide on screen: elements wider than the slide or sticking out on
# the right (ignoring those inside a box that scrolls or clips sideways), empty
# static widgets, undrawn attention views. Coordinates are the page's (after
# reveal.js scales the slide).
_MEASURE = """(cls) => {
  const slide = Reveal.getCurrentSlide();
  const box = slide.getBoundingClientRect();
  // The nearest box between el and the slide that clips or scrolls sideways
  // (el itself included when self is true); null when only the slide does.
  const clipper = (el, self) => {
    for (let a = self ? el : el.parentElement; a && a !== slide; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a;
    }
    return null;
  };
  const scrolls = (a) => a && ['auto', 'scroll'].includes(getComputedStyle(a).overflowX)
    && a.getBoundingClientRect().right <= box.right + 2;
  const name = (el) => el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className
    ? '.' + el.className.split(' ')[0] : '');
  const wide = [];
  for (const el of slide.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // an equation or a drawing is measured as a whole (its svg or mjx-container), not by its parts
    if (el.parentElement.closest('svg, mjx-container')) continue;
    const text = (el.textContent || '').trim().slice(0, 60);
    if (!text && !el.querySelector('img, svg, canvas') && !['IMG', 'SVG', 'CANVAS'].includes(el.tagName.toUpperCase())) {
      continue;  // nothing to see: e.g. the spaces that end a wrapped code line
    }
    if (r.right > box.right + 2 && !scrolls(clipper(el, false))) {
      const past = Math.round(r.right - box.right);
      wide.push(`${name(el)} ${Math.round(r.width)}px wide, ${past}px past the slide: ${text}`);
    } else if (el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0 && !scrolls(clipper(el, true))) {
      wide.push(`${name(el)}: ${el.scrollWidth - el.clientWidth}px of its content cut at its right edge: ${text}`);
    }
  }
  const empty = [...slide.querySelectorAll('.' + cls)].filter(
    (w) => w.querySelectorAll('img').length === 0 && w.innerText.trim().split(/\\s+/).length < 8)
    .map((w) => w.innerText.trim().slice(0, 80));
  const views = [...slide.querySelectorAll('.lm-course-attention-view')].map(
    (v) => v.querySelectorAll('svg *').length > 0 && !v.innerText.includes('it is drawn by JavaScript'));
  const raw = slide.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  return {wide: wide.slice(0, 5), empty, views, raw, widgets: slide.querySelectorAll('.' + cls).length};
}"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("decks")
    return {p.stem: p for p in slides.export_decks(NOTEBOOKS, out)}


@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_every_slide_fits_and_shows_its_widgets(decks, name, screenshot_dir):
    deck = decks[f"{name}.slides"] if f"{name}.slides" in decks else decks[name]
    problems, widgets, views = [], 0, 0
    with offline_page(width=WIDTH, height=HEIGHT) as view:
        page = view.page
        page.goto(deck.as_uri())
        page.wait_for_function("window.Reveal && Reveal.isReady() && window.MathJax && MathJax.typesetPromise",
                               timeout=60_000)
        positions = page.evaluate("Reveal.getSlides().map((s) => Reveal.getIndices(s))")
        for k, pos in enumerate(positions):
            page.evaluate("([h, v]) => Reveal.slide(h, v)", [pos["h"], pos.get("v") or 0])
            page.evaluate("() => MathJax.typesetPromise([Reveal.getCurrentSlide()])"
                          ".then(() => window.fitEquations && fitEquations(Reveal.getCurrentSlide()))")
            page.wait_for_timeout(150)  # the attention views' scripts and the transition
            found = page.evaluate(_MEASURE, STATIC_CLASS)
            where = f"{name} slide {k} ({pos['h']}/{pos.get('v') or 0})"
            problems += [f"{where}: {w}" for w in found["wide"]]
            problems += [f"{where}: an empty widget box: {e!r}" for e in found["empty"]]
            problems += [f"{where}: an attention view not drawn" for ok in found["views"] if not ok]
            if found["raw"]:
                problems.append(f"{where}: {found['raw']} widget view(s) left for a widget manager the deck lacks")
            if found["widgets"] or found["views"]:
                widgets, views = widgets + found["widgets"], views + len(found["views"])
                page.evaluate("(cls) => Reveal.getCurrentSlide().querySelector(`.${cls}, .lm-course-attention-view`)"
                              ".scrollIntoView({block: 'start'})", STATIC_CLASS)  # a tall slide scrolls
                page.screenshot(path=str(screenshot_dir / f"deck-{name}-slide{k:02d}.png"))
        assert view.blocked == [], f"{name}: requests that would leave the machine: {view.blocked[:3]}"
        assert view.errors == [], f"{name}: JavaScript errors: {view.errors[:3]}"
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])
    print(f"{name}: {len(positions)} slides, {widgets} widgets, {views} attention views, all fit")
