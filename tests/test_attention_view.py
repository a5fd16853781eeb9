"""lm_course.attention_view: bertviz views that reference no external URL,
carry the attention data, and accept the course's attention formats."""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from lm_course.attention_view import (FRAME_STYLE, VENDOR_DIR, VENDORED_SCRIPTS, framed, head_view, model_view,
                                      offline_html, save_html, stack_attention, visible_tokens)

# XML namespace names that d3 passes to document.createElementNS: identifiers
# that a browser never fetches.
XML_NAMESPACES = {"http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
                  "http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/"}
URL = re.compile(r"(?:https?:)?//[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}[^\s\"'`)<>]*")
COMMENT_LINE = re.compile(r"^\s*(//|/\*|\*)")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def loaded_references(html: str) -> list[str]:
    """Everything in ``html`` that would make a browser fetch something: a
    src/href-like attribute, a CSS url()/@import, a require.js path, or any
    URL in script code that is neither an XML namespace name nor inside a
    comment line (licence banners such as ``// https://d3js.org v1 ...``)."""
    parser = _Tags()
    parser.feed(html)
    found = []
    for tag, attrs in parser.tags:
        for name in ("src", "href", "srcset", "data", "action", "poster", "xlink:href", "background"):
            if attrs.get(name):
                found.append(f"<{tag} {name}={attrs[name]!r}>")
        if tag in ("link", "iframe", "embed", "object", "base", "img"):
            found.append(f"<{tag}>")
    if re.search(r"@import|url\(", html):
        found.append("CSS url()/@import")
    if re.search(r"require\.config|\bpaths\s*:", html):
        found.append("require.js configuration")
    for script in parser.scripts:
        for line in script.splitlines():
            for m in URL.finditer(line):
                url = m.group(0)
                if url in XML_NAMESPACES or COMMENT_LINE.match(line[: m.start()] or line):
                    continue
                found.append(f"URL in code: {url}")
    return found


def _params(html: str) -> dict:
    """The JSON that bertviz embeds (``const params = {...}; // HACK``)."""
    m = re.search(r"const params = (\{.*?\}); // HACK", html, flags=re.DOTALL)
    assert m, "no bertviz params in the HTML"
    return json.loads(m.group(1))  # '<\/' is a valid JSON escape for '</'


def _layers(L=2, B=1, H=3, T=5, S=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = S or T
    return [torch.softmax(torch.randn(B, H, T, S, generator=g), -1) for _ in range(L)]


# ------------------------------------------------------------------ no external URL

def test_the_check_catches_bertvizs_own_cdn_references():
    """The reference check can fail: plain bertviz output loads require.js, d3, jQuery."""
    from bertviz import head_view as bertviz_head_view

    raw = bertviz_head_view(_layers(), list("hello"), html_action="return").data
    found = loaded_references(raw)
    assert any("require.min.js" in f for f in found)
    assert any("cdnjs.cloudflare.com/ajax/libs/d3" in f for f in found)
    assert "require.js configuration" in found
    assert loaded_references('<img src="x.png">') and loaded_references("<script>fetch('https://a.io/x')</script>")
    assert not loaded_references("<script>// https://d3js.org v1\nvar a = 'http://www.w3.org/2000/svg';</script>")


@pytest.mark.parametrize("view", [head_view, model_view])
def test_views_reference_no_external_url(view):
    html = view(_layers(), list("hello")).data
    assert loaded_references(html) == []
    assert "cdnjs" not in html and "<script src" not in html


def test_the_only_urls_left_are_namespaces_and_licence_banners():
    html = head_view(_layers(), list("hello")).data
    urls = set(URL.findall(html))
    banners = {u for u in urls if u.startswith("https://d3js.org/")}
    assert urls - banners - XML_NAMESPACES == {
        "https://github.com/tensorflow/tensor2tensor/blob/master/tensor2tensor/visualization/attention.js"
    }  # bertviz's "Based on:" comment


def test_a_placeholder_explains_a_view_that_is_not_drawn():
    html = head_view(_layers(), list("hello")).data
    assert "trust the notebook" in html.split("<script", 1)[0]


def test_views_inline_every_vendored_library_and_no_loader():
    html = head_view(_layers(), list("hello")).data
    for path in VENDORED_SCRIPTS:
        assert path.read_text(encoding="utf-8")[:200] in html
    parser = _Tags()
    parser.feed(html)
    assert [t for t, _ in parser.tags if t == "script"] == ["script"]  # one inline script, no loader
    assert html.count("</script") == 1


# ------------------------------------------------------------------ the frame

class _Depth(HTMLParser):
    """The outermost element and whether it stays open until the end."""

    def __init__(self):
        super().__init__()
        self.depth, self.first, self.closed_early = 0, None, False

    def handle_starttag(self, tag, attrs):
        if self.depth == 0 and self.first is not None:
            self.closed_early = True  # a second top-level element: the first one closed before the end
        if self.first is None:
            self.first = (tag, dict(attrs))
        if tag not in ("meta", "br", "img", "input", "link", "hr"):
            self.depth += 1

    def handle_endtag(self, tag):
        self.depth -= 1


@pytest.mark.parametrize("view, kind", [(head_view, "head"), (model_view, "model")])
def test_views_sit_in_a_box_that_scrolls(view, kind):
    html = view(_layers(L=3, H=4, T=12), list("abcdefghijkl")).data
    parser = _Depth()
    parser.feed(html)
    tag, attrs = parser.first
    assert tag == "div" and f"lm-course-{kind}-view" in attrs["class"].split()
    assert attrs["style"] == FRAME_STYLE
    style = dict(part.split(":") for part in FRAME_STYLE.split(";"))
    assert style["overflow"] == "auto" and style["max-width"] == "100%" and style["max-height"].endswith("vh")
    assert not parser.closed_early and parser.depth == 0  # the box holds the whole view, script included
    assert html.rstrip().endswith("</div>") and html.index("<script") > html.index(FRAME_STYLE)
    assert framed("<p>x</p>", kind).count(FRAME_STYLE) == 1


# ------------------------------------------------------------------ the data

def test_head_view_carries_the_attention_data_and_tokens():
    layers = _layers(L=2, H=3, T=5)
    params = _params(head_view(layers, ["a", " ", "c", "\n", "e"], decimals=4).data)
    data = params["attention"][0]
    assert data["left_text"] == data["right_text"] == ["a", "␣", "c", "↵", "e"]
    sent = torch.tensor(data["attn"], dtype=torch.float64)  # (L, H, T, S)
    expected = torch.round(torch.stack([a[0] for a in layers]).double(), decimals=4)
    assert sent.shape == (2, 3, 5, 5)
    torch.testing.assert_close(sent, expected, atol=0, rtol=0)
    assert params["include_layers"] == [0, 1]


def test_model_view_carries_selected_layers_and_heads():
    params = _params(model_view(_layers(L=3, H=4), list("abcde"), include_layers=[0, 2], include_heads=[1, 3]).data)
    assert torch.tensor(params["attention"][0]["attn"]).shape == (2, 2, 5, 5)
    assert params["display_mode"] == "light"


def test_a_token_that_closes_a_script_tag_is_escaped():
    html = head_view(_layers(L=1, H=1, T=3), ["</script>", "<b>", "x"]).data
    assert html.count("</script>") == 1  # only the real end of the script
    assert _params(html)["attention"][0]["left_text"][0] == "</script>"


def test_weights_are_rounded_to_keep_the_page_small():
    layers = _layers(L=1, H=1, T=4)
    html = head_view(layers, list("abcd"), decimals=2).data
    assert all(len(x.split(".")[-1]) <= 2 for x in re.findall(r"\d\.\d+", json.dumps(_params(html)["attention"])))


# ------------------------------------------------------------------ formats

def test_accepts_the_course_formats():
    layers = _layers(L=2, B=3, H=2, T=4)
    ref = stack_attention(layers, batch_index=1)
    assert ref.shape == (2, 2, 4, 4) and ref.dtype == torch.float64
    torch.testing.assert_close(ref[1], layers[1][1].double())
    assert stack_attention(tuple(layers), 1).shape == (2, 2, 4, 4)
    assert stack_attention(layers[0][0]).shape == (1, 2, 4, 4)  # (H, T, S)
    assert stack_attention(layers[0][0, 0]).shape == (1, 1, 4, 4)  # (T, S)
    assert stack_attention([a.numpy() for a in layers]).shape == (2, 2, 4, 4)
    assert stack_attention(layers[0].requires_grad_()).shape == (1, 2, 4, 4)

    class Out:  # a model output, like GPTOutput
        attentions = layers

    assert stack_attention(Out()).shape == (2, 2, 4, 4)
    assert head_view(Out(), list("abcd"), batch_index=2).data


def test_the_course_gpt_attention_renders():
    from lm_course.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=2, n_head=2, n_embd=8)).eval()
    out = model(torch.tensor([[1, 2, 3, 4, 5]]), output_attentions=True)
    params = _params(model_view(out.attentions, list("abcde")).data)
    assert torch.tensor(params["attention"][0]["attn"]).shape == (2, 2, 5, 5)


def test_queries_and_keys_that_differ_use_the_cross_attention_form():
    layers = _layers(L=1, H=2, T=2, S=5)
    params = _params(head_view(layers, list("abcde")).data)  # a KV cache: queries are the last 2
    assert params["attention"][0]["name"] == "Cross"
    assert params["attention"][0]["left_text"] == ["d", "e"]
    assert params["attention"][0]["right_text"] == list("abcde")
    params = _params(head_view(layers, ["X", "Y"], key_tokens=list("vwxyz")).data)
    assert params["attention"][0]["left_text"] == ["X", "Y"]


def test_visible_tokens():
    assert visible_tokens([" a", "\n", "b", ""]) == ["␣a", "↵", "b", "∅"]
    params = _params(head_view(_layers(L=1, H=1, T=2), [" ", "x"], show_whitespace=False).data)
    assert params["attention"][0]["left_text"] == [" ", "x"]


# ------------------------------------------------------------------ bad input

def test_bad_input_gives_clear_errors():
    layers = _layers(L=2, H=2, T=4)
    with pytest.raises(ValueError, match="4 queries and 4 keys but 3"):
        head_view(layers, list("abc"))
    with pytest.raises(ValueError, match="same \\(n_head, T, S\\)"):
        head_view([layers[0], _layers(L=1, H=2, T=5)[0]], list("abcd"))
    with pytest.raises(ValueError, match="empty list"):
        head_view([], [])
    with pytest.raises(ValueError, match="NaN"):
        head_view(torch.full((3, 3), float("nan")), list("abc"))
    with pytest.raises(ValueError, match="batch_index"):
        head_view(layers, list("abcd"), batch_index=1)
    with pytest.raises(ValueError, match="expected \\(T, S\\)"):
        head_view(torch.ones(4), list("abcd"))
    with pytest.raises(TypeError, match="Tensor or a NumPy"):
        head_view([[0.5, 0.5]], list("ab"))
    with pytest.raises(TypeError, match="strings"):
        head_view(torch.ones(2, 2) / 2, [1, 2])
    with pytest.raises(ValueError, match="display_mode"):
        model_view(layers, list("abcd"), display_mode="blue")
    with pytest.raises(ValueError, match="decimals"):
        head_view(layers, list("abcd"), decimals=0)

    class NoAttention:
        attentions = None

    with pytest.raises(ValueError, match="output_attentions=True"):
        head_view(NoAttention(), list("abcd"))
    with pytest.raises(RuntimeError, match="unexpected bertviz HTML"):
        offline_html("<div>not bertviz</div>")


# ------------------------------------------------------------------ files

def test_save_html_writes_a_standalone_page(tmp_path):
    path = save_html(head_view(_layers(), list("hello")), tmp_path / "view.html", title="a <test>")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>a &lt;test&gt;</title>" in page
    assert loaded_references(page) == []
    with pytest.raises(TypeError, match="head_view/model_view"):
        save_html(42, tmp_path / "x.html")


def test_vendored_files_have_licences_and_stay_small():
    total = 0
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    for path in VENDORED_SCRIPTS:
        assert path.exists(), path
        licences = list(path.parent.glob("LICENSE*"))
        assert licences and licences[0].stat().st_size > 500, f"no licence beside {path}"
        assert path.relative_to(VENDOR_DIR).as_posix() in readme
        assert "sourceMappingURL" not in path.read_text(encoding="utf-8")
        total += path.stat().st_size
    assert total < 200_000, f"vendored JavaScript grew to {total} bytes"
    assert np.isclose(total, 166_142, atol=0)  # the sizes recorded in vendor/README.md
