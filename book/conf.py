"""Sphinx configuration of the course's website (``make book``; ``tools/build_book.py``).

The chapters are the committed, executed notebooks, rendered by myst-nb
without running them. Everything the pages need is served with them: the
theme's assets, MathJax (the course's vendored copy), the attention views'
JavaScript (inlined in the notebooks' outputs by ``lm_course.attention_view``).
Nothing is fetched from another site at build or view time.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent  # the assembled source folder (build/book-src)

project = "From n-grams to GPT-2"
author = "the lm-course authors"
copyright = "the lm-course authors; Shakespeare's plays are in the public domain"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# The notebooks are rendered as committed: never executed here.
nb_execution_mode = "off"
# Widgets cannot run in a static page: show each one's text form (the course's
# widgets print a readable summary of their state), never the widget view,
# and load no widget JavaScript (it would come from a CDN).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
nb_ipywidgets_js = {}
nb_merge_streams = True

# MathJax from the course's own copy (lm_course/vendor/mathjax), not a CDN.
html_static_path = ["_static"]
mathjax_path = "mathjax/es5/tex-chtml-full.js"
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]}}

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {
    "repository_url": "",  # filled in by tools/build_book.py
    "use_repository_button": False,
    "use_download_button": True,
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

sys.path.insert(0, str(HERE))
try:  # written by tools/build_book.py: the repository address, the one source make badges reads
    from site_settings import REPOSITORY_URL
except ImportError:
    REPOSITORY_URL = ""
html_theme_options["repository_url"] = REPOSITORY_URL
html_theme_options["use_repository_button"] = bool(REPOSITORY_URL)
# The offline slide decks (python -m lm_course slides --export), copied beside the pages.
html_extra_path = ["_extra"] if (HERE / "_extra").is_dir() else []
