"""A widget as static HTML, drawn from the widget state a notebook saves.

Used by the offline slide decks (:func:`lm_course.slides.export_deck`,
``make slides``; the teacher's guide, ``docs/teaching.md``, "Slides"). A
deck has no kernel, so each widget of a chapter (the BPE explorer of
chapter 2, the sampling playground of ``06_gpt2_sampling.ipynb``, section
"The sampling playground", the training bars...) is shown as it was when
the notebook was saved: its charts, its text, its sliders' values, drawn
with plain HTML and CSS, no JavaScript. The notebook keeps that state in
``metadata.widgets["application/vnd.jupyter.widget-state+json"]``; a widget
missing from it falls back to the output's ``text/plain`` form.

    html = static_widget_html(model_id, state)   # state: {model_id: {"model_name", "state"}}
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["STATIC_CLASS", "widget_state", "static_widget_html"]

#: The class of the box around a static widget (the deck test finds them by it).
STATIC_CLASS = "lm-course-static-widget"
_BOXES = {"VBoxModel": "column", "BoxModel": "row", "HBoxModel": "row wrap", "GridBoxModel": "row wrap"}
_FIELD = ("display:inline-block;border:1px solid #bbb;border-radius:3px;padding:1px 6px;background:#fff;"
          "color:#222;white-space:pre-wrap;overflow-wrap:anywhere")


def widget_state(nb) -> dict[str, dict]:
    """The saved widget models of a notebook, ``{model_id: {"model_name", "state"}}``."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return dict(saved.get("state", {}))


def _label(s: dict) -> str:
    text = s.get("description", "")
    return f'<span style="min-width:6em;display:inline-block;color:#444">{html.escape(text)}</span> ' if text else ""


def _ref(value: Any) -> str:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else ""


def _output_html(outputs: list) -> str:
    parts = []
    for out in outputs:
        data = out.get("data", {})
        if "image/png" in data:
            parts.append(f'<img style="max-width:100%" src="data:image/png;base64,{data["image/png"]}">')
        elif "text/html" in data:
            parts.append(data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"]))
        elif "text/plain" in data or out.get("output_type") == "stream":
            text = data.get("text/plain", out.get("text", ""))
            parts.append(f"<pre>{html.escape(text if isinstance(text, str) else ''.join(text))}</pre>")
    return "".join(parts)


def _bar(s: dict, fraction: float, readout: str) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    return (f'<div style="display:flex;align-items:center;gap:6px;margin:2px 0">{_label(s)}'
            f'<span style="display:inline-block;width:180px;height:8px;background:#ddd;border-radius:4px">'
            f'<span style="display:block;width:{100 * fraction:.0f}%;height:100%;background:#1976d2;'
            f'border-radius:4px"></span></span><span>{html.escape(readout)}</span></div>')


def _leaf(name: str, s: dict) -> str:
    """One widget that holds no other widget."""
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{_label(s)}{s.get('value', '')}</div>"
    if name == "LabelModel":
        return f"<div>{html.escape(str(s.get('value', '')))}</div>"
    if name.endswith("SliderModel") or name.endswith("ProgressModel"):
        low, high, value = s.get("min", 0), s.get("max", 1), s.get("value", 0)
        if "Log" in name:
            readout = format(s.get("base", 10) ** value, ".3g")
        else:
            fmt = s.get("readout_format", "")
            try:
                readout = format(value, fmt) if fmt else str(value)
            except (ValueError, TypeError):
                readout = str(value)
        readout = "" if name.endswith("ProgressModel") else readout
        return _bar(s, (value - low) / (high - low) if high != low else 0.0, readout)
    if name in ("TextModel", "TextareaModel", "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
                "BoundedFloatTextModel", "PasswordModel", "ComboboxModel"):
        value = html.escape(str(s.get("value", "")))
        return f'<div style="margin:2px 0">{_label(s)}<span style="{_FIELD}">{value}</span></div>'
    if "_options_labels" in s:  # Dropdown, ToggleButtons, RadioButtons, Select...
        chosen = s.get("index")
        opts = "".join(f'<span style="{_FIELD};{"background:#1976d2;color:#fff" if i == chosen else ""}">'
                       f"{html.escape(str(o))}</span> " for i, o in enumerate(s["_options_labels"]))
        return f'<div style="margin:2px 0">{_label(s)}{opts}</div>'
    if name == "ButtonModel":
        return f'<span style="{_FIELD};background:#1976d2;color:#fff">{html.escape(s.get("description", ""))}</span>'
    if name in ("CheckboxModel", "ToggleButtonModel"):
        return f'<div>{"☑" if s.get("value") else "☐"} {html.escape(s.get("description", ""))}</div>'
    return ""


def static_widget_html(model_id: str, state: dict[str, dict], depth: int = 0) -> str:
    """The widget ``model_id`` (and every widget inside it) as static HTML,
    from ``state`` (see :func:`widget_state`); ``""`` if it is not saved."""
    model = state.get(model_id)
    if model is None or depth > 50:
        return ""
    name, s = model.get("model_name", ""), model.get("state", {})
    if name in _BOXES:
        inner = "".join(static_widget_html(_ref(c), state, depth + 1) for c in s.get("children", []))
        flow = _BOXES[name]
        body = (f'<div style="display:flex;flex-flow:{flow};gap:4px 12px;align-items:'
                f'{"flex-start" if "row" in flow else "stretch"};max-width:100%">{inner}</div>')
    elif name == "OutputModel":
        body = f"<div>{_output_html(s.get('outputs', []))}</div>"
    else:
        body = _leaf(name, s)
    if depth:
        return body
    return (f'<div class="{STATIC_CLASS}" style="max-width:100%;overflow-x:auto">{body}'
            '<div style="font-size:70%;color:#777">(the widget as saved: run the notebook to use it)</div></div>')
