"""bertviz attention views that render with no network.

Explained in ``04_attention.ipynb`` ("The same maps in bertviz"); used again
for the GPT of chapters 5 and 6.

bertviz (Vig 2019) draws two interactive views of attention: the *head view*
(tokens on the left attend to tokens on the right; one colour per head) and
the *model view* (a thumbnail per layer and head). Its HTML loads require.js,
d3 and jQuery from a CDN, so offline (a classroom, a train, this course's test
machines) it shows an empty box. :func:`head_view` and :func:`model_view` call
bertviz, then inline the libraries vendored in ``lm_course/vendor/`` (see its
README for versions and licences) and drop every CDN reference: the result is
one self-contained HTML fragment that works in JupyterLab, VS Code and Colab,
or as a standalone page (:func:`save_html`). The fragment sits in a box that
scrolls (:func:`framed`), since bertviz draws at a fixed size.

Accepted attention formats (the course's own models and bertviz's):

* a list or tuple with one ``(B, n_head, T, S)`` tensor per layer, as returned
  by ``GPT(..., output_attentions=True).attentions`` (chapter 5) or the toy
  model of :mod:`lm_course.toy_attention`;
* an object with such an ``.attentions`` attribute (the model output itself);
* a single tensor: ``(T, S)`` (one head), ``(n_head, T, S)`` (one layer) or
  ``(B, n_head, T, S)`` (one layer, a batch).

NumPy arrays work wherever tensors do.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lm_course.fileio import atomic_write_text
from lm_course.tokenizers.visible import visible
from lm_course.validation import is_int, require_positive

__all__ = ["head_view", "model_view", "save_html", "offline_html", "framed", "stack_attention", "visible_tokens",
           "VENDOR_DIR", "VENDORED_SCRIPTS", "FRAME_STYLE"]

VENDOR_DIR = Path(__file__).with_name("vendor")

# The d3 v5 modules bertviz needs, in dependency order: each one's UMD header
# reads the modules it depends on from the shared ``d3`` namespace.
_D3_MODULES = ("d3-array", "d3-collection", "d3-color", "d3-format", "d3-interpolate", "d3-time",
               "d3-time-format", "d3-scale", "d3-scale-chromatic", "d3-selection")
VENDORED_SCRIPTS: tuple[Path, ...] = tuple(VENDOR_DIR / m / f"{m}.min.js" for m in _D3_MODULES) + (
    VENDOR_DIR / "jquery" / "jquery.slim.min.js",
)

# The box a view is drawn in. bertviz draws at a fixed size (the model view is
# 970 px wide, and about 3,500 px tall for chapter 6's GPT): the box scrolls in
# both directions instead of cutting the view off at the notebook's edge.
FRAME_STYLE = "overflow:auto;max-width:100%;max-height:80vh"

_PLACEHOLDER = ("(attention view: it is drawn by JavaScript when the cell runs; if this text stays, "
                "re-run the cell or trust the notebook)")


# --------------------------------------------------------------------------- attention input

def _to_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch
        np = None
    if np is not None and isinstance(x, np.ndarray):
        return torch.from_numpy(np.asarray(x, dtype=np.float64))
    raise TypeError(f"{what} must be a torch.Tensor or a NumPy array, got {type(x).__name__}")


def stack_attention(attention: Any, batch_index: int = 0) -> torch.Tensor:
    """Any accepted attention format (module docstring) as one float64 tensor
    ``(n_layer, n_head, T, S)`` for example ``batch_index`` of the batch."""
    if hasattr(attention, "attentions") and not isinstance(attention, (torch.Tensor, list, tuple)):
        if attention.attentions is None:
            raise ValueError("this model output has no attentions: call the model with output_attentions=True")
        attention = attention.attentions
    if isinstance(attention, (list, tuple)):
        if not attention:
            raise ValueError("attention is an empty list: expected one (B, n_head, T, S) tensor per layer")
        layers = [_to_tensor(a, f"attention[{i}]") for i, a in enumerate(attention)]
    else:
        layers = [_to_tensor(attention, "attention")]
    out = []
    for i, a in enumerate(layers):
        if a.dim() == 4:
            if not is_int(batch_index) or not -a.size(0) <= batch_index < a.size(0):
                raise ValueError(f"batch_index {batch_index!r} is out of range for a batch of {a.size(0)}")
            a = a[batch_index]  # (H, T, S)
        elif a.dim() == 2:
            a = a[None]  # (1, T, S): a single head
        elif a.dim() != 3:
            raise ValueError(f"attention (layer {i}) has shape {tuple(a.shape)}: expected (T, S), (n_head, T, S), "
                             "(B, n_head, T, S) or a list of (B, n_head, T, S), one per layer")
        if 0 in a.shape:
            raise ValueError(f"attention (layer {i}) is empty: shape {tuple(a.shape)}")
        out.append(a)  # (H, T, S)
    if len({a.shape for a in out}) != 1:
        raise ValueError("every layer must have the same (n_head, T, S) shape, got "
                         + ", ".join(str(tuple(a.shape)) for a in out))
    stacked = torch.stack(out)  # (L, H, T, S)
    if not torch.isfinite(stacked).all():
        raise ValueError("attention weights contain NaN or infinity")
    return stacked


def visible_tokens(tokens: Sequence[str] | str) -> list[str]:
    """Token labels with spaces and newlines drawn as ␣ and ↵ (see
    :func:`lm_course.tokenizers.visible.visible`), never blank."""
    return [visible(t) for t in tokens]


def _split_tokens(tokens: Sequence[str] | str, key_tokens: Sequence[str] | str | None, T: int, S: int,
                  show_whitespace: bool) -> tuple[list[str], list[str]]:
    """Query tokens (``T``) and key tokens (``S``) as displayable strings."""
    if tokens is None:
        raise ValueError("tokens are required: one string per position")
    queries = list(tokens)
    if key_tokens is not None:
        keys = list(key_tokens)
    elif len(queries) == S and S > T:
        # queries are the last T of S positions (generation with a KV cache)
        queries, keys = queries[S - T:], queries
    else:
        keys = queries
    if len(queries) != T or len(keys) != S:
        raise ValueError(
            f"the attention has {T} queries and {S} keys but {len(queries)} query tokens and {len(keys)} key "
            "tokens were given (pass key_tokens when queries and keys differ)")
    if not all(isinstance(t, str) for t in queries + keys):
        raise TypeError("tokens must be strings (decode the ids first)")
    if show_whitespace:
        queries, keys = visible_tokens(queries), visible_tokens(keys)
    return queries, keys


def _bertviz_args(attention: Any, tokens: Any, key_tokens: Any, batch_index: int, decimals: int,
                  show_whitespace: bool) -> dict[str, Any]:
    """Keyword arguments for bertviz: self-attention when queries and keys are
    the same tokens, else bertviz's encoder-decoder "cross" form."""
    require_positive(decimals, "decimals")
    stacked = stack_attention(attention, batch_index)  # (L, H, T, S)
    T, S = stacked.shape[-2:]
    queries, keys = _split_tokens(tokens, key_tokens, T, S, show_whitespace)
    # Rounded float64 keeps the embedded JSON short: 0.1234, not 0.12340000271797180
    layers = list(torch.round(stacked, decimals=decimals)[:, None])  # L x (1, H, T, S)
    if queries is keys or (T == S and queries == keys):
        return {"attention": layers, "tokens": queries}
    return {"cross_attention": layers, "decoder_tokens": queries, "encoder_tokens": keys}


# --------------------------------------------------------------------------- offline HTML

@functools.lru_cache(maxsize=1)
def _vendored_libraries_js() -> str:
    """The vendored libraries, each run in a private scope.

    ``define``, ``module``, ``exports``, ``require`` and ``globalThis`` are
    shadowed, so no AMD/CommonJS loader of the page (classic Jupyter has
    require.js) claims them and nothing lands on ``window``: the d3 modules
    fill ``lib.d3`` (their browser-global branch with ``this = lib``); jQuery,
    given a bare ``module`` object, returns itself through ``module.exports``.
    """
    parts = ["var lib = {};"]
    for path in VENDORED_SCRIPTS[:-1]:
        code = path.read_text(encoding="utf-8")
        parts.append(f"(function (define, module, exports, require, globalThis) {{\n{code}\n}}).call(lib);")
    jquery = VENDORED_SCRIPTS[-1].read_text(encoding="utf-8")
    parts.append("var jqueryModule = {exports: {}};\n"
                 f"(function (define, module, exports, require, globalThis) {{\n{jquery}\n}})"
                 ".call(lib, undefined, jqueryModule, jqueryModule.exports);")
    js = "\n".join(parts)
    if re.search(r"</script|<!--", js, flags=re.IGNORECASE):  # would end the inline <script> early
        raise RuntimeError("a vendored script contains '</script' or '<!--' and cannot be inlined")
    return js


_LOADER = """
var modules = {d3: lib.d3, jquery: jqueryModule.exports};
// bertviz's code asks for its libraries through require.js; hand over the vendored ones.
function requirejs(names, callback) {
  callback.apply(null, names.map(function (name) {
    if (!(name in modules)) { throw new Error("lm_course offline bertviz: no vendored module " + name); }
    return modules[name];
  }));
}
"""

_REQUIRE_CONFIG = re.compile(r"require\.config\(\s*\{.*?\}\s*\);", re.DOTALL)
_INLINE_SCRIPT = re.compile(r"<script type=\"text/javascript\">(.*)</script>", re.DOTALL)
_SCRIPT_WITH_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>", re.IGNORECASE)


def offline_html(bertviz_html: str) -> str:
    """Rewrite the HTML that bertviz returns (``html_action="return"``) so it
    loads nothing: drop the ``<script src=...>`` tags, drop require.js's CDN
    paths, and inline the vendored libraries around bertviz's own code."""
    html = _SCRIPT_WITH_SRC.sub("", bertviz_html)
    match = _INLINE_SCRIPT.search(html)
    if match is None:
        raise RuntimeError("unexpected bertviz HTML: no inline <script type=\"text/javascript\"> found")
    vis_js, n = _REQUIRE_CONFIG.subn("", match.group(1), count=1)
    if n != 1 or re.search(r"[\"'](https?:)?//", vis_js):
        raise RuntimeError("unexpected bertviz code: its require.config(...) CDN paths were not found; "
                           "this bertviz version needs lm_course.attention_view updating")
    vis_js = vis_js.replace("</", "<\\/")  # a token such as '</script>' must not end the script early
    script = ("<script type=\"text/javascript\">\n(function () {\n" + _vendored_libraries_js() + _LOADER
              + vis_js + "\n})();\n</script>")
    # Shown until the script draws (bertviz empties #vis first): says why a view can stay blank.
    placeholder = f"<div id='vis'>{html_lib.escape(_PLACEHOLDER)}</div>"
    body = html[: match.start()].replace("<div id='vis'></div>", placeholder)
    return body + script + html[match.end():]


def _render(kind: str, bertviz_kwargs: dict[str, Any]):
    from bertviz import head_view as bv_head_view
    from bertviz import model_view as bv_model_view
    from IPython.display import HTML

    view = {"head": bv_head_view, "model": bv_model_view}[kind]
    raw = view(**bertviz_kwargs, html_action="return")
    return HTML(framed(offline_html(raw.data), kind))


def framed(fragment: str, kind: str = "view") -> str:
    """``fragment`` inside a box that scrolls when the view is larger than
    the notebook (:data:`FRAME_STYLE`), classed ``lm-course-attention-view``
    and ``lm-course-{kind}-view`` so a page (or a browser test) can find it."""
    return (f'<div class="lm-course-attention-view lm-course-{html_lib.escape(kind)}-view" '
            f'style="{FRAME_STYLE}">\n{fragment}\n</div>')


def head_view(attention: Any, tokens: Sequence[str] | str, key_tokens: Sequence[str] | str | None = None, *,
              layer: int | None = None, heads: Sequence[int] | None = None,
              include_layers: Sequence[int] | None = None, batch_index: int = 0, decimals: int = 4,
              show_whitespace: bool = True):
    """bertviz's head view, self-contained: returns an ``IPython.display.HTML``
    (the last line of a cell displays it; ``.data`` is the HTML string).

    Args:
        attention: see the module docstring (one ``(B, H, T, S)`` tensor per layer...).
        tokens: the ``T`` query tokens (a ``str`` counts as its characters). When
            ``S > T`` and ``len(tokens) == S``, the queries are the last ``T``
            tokens (a model that used a KV cache).
        key_tokens: the ``S`` key tokens when they differ from the queries
            (e.g. output positions attending to input positions).
        layer: the layer shown first; heads: the heads selected first.
        include_layers: show only these layers (long inputs stay responsive).
        batch_index: which example of the batch to show.
        decimals: weights are rounded to this many decimals in the page.
        show_whitespace: draw spaces and newlines as ␣ and ↵.
    """
    kwargs = _bertviz_args(attention, tokens, key_tokens, batch_index, decimals, show_whitespace)
    kwargs.update(layer=layer, heads=None if heads is None else list(heads), prettify_tokens=False,
                  include_layers=None if include_layers is None else list(include_layers))
    return _render("head", kwargs)


def model_view(attention: Any, tokens: Sequence[str] | str, key_tokens: Sequence[str] | str | None = None, *,
               include_layers: Sequence[int] | None = None, include_heads: Sequence[int] | None = None,
               display_mode: str = "light", batch_index: int = 0, decimals: int = 4,
               show_whitespace: bool = True):
    """bertviz's model view (every layer and head as a thumbnail; click one to
    enlarge it), self-contained. Arguments as in :func:`head_view`;
    ``display_mode`` is ``"light"`` or ``"dark"``."""
    if display_mode not in ("light", "dark"):
        raise ValueError(f"display_mode must be 'light' or 'dark', got {display_mode!r}")
    kwargs = _bertviz_args(attention, tokens, key_tokens, batch_index, decimals, show_whitespace)
    kwargs.update(display_mode=display_mode, prettify_tokens=False,
                  include_layers=None if include_layers is None else list(include_layers),
                  include_heads=None if include_heads is None else list(include_heads))
    return _render("model", kwargs)


def save_html(view: Any, path: str | Path, title: str = "Attention view") -> Path:
    """Write a view from :func:`head_view`/:func:`model_view` (or its HTML
    string) as a standalone page that opens in any browser, offline."""
    fragment = view if isinstance(view, str) else getattr(view, "data", None)
    if not isinstance(fragment, str):
        raise TypeError(f"expected a view from head_view/model_view or an HTML string, got {type(view).__name__}")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html_lib.escape(title)}</title>\n</head>\n<body>\n{fragment}\n</body>\n</html>\n")
    return atomic_write_text(path, page)
