"""Give every saved tqdm progress bar of a notebook a readable final line.

A tqdm bar in a notebook is a widget (an HBox of a label, a progress bar and
a counter). Its output stores, besides the widget reference, a ``text/plain``
form: the bar as tqdm first printed it, ``training:   0%|          | 0/400
[00:00<?, ?it/s]``. That text is what a reader sees without the widget
(GitHub, nbviewer without widget state, JupyterLab on an untrusted
notebook), so every committed bar reads 0%. The widget state that nbclient
saves in the notebook's metadata holds the bar's *final* values (e.g.
``400/400 [00:03<00:00, 116.13it/s, loss=1.933, val=1.995]``); this script
rewrites each bar's ``text/plain`` from them:
``training: 100%|██████████| 400/400 [00:03<00:00, 116.13it/s, loss=1.933, val=1.995]``.
Nothing else changes (the widget outputs and the state stay as they are).

    python tools/progress_text.py notebooks/*.ipynb           rewrite in place
    python tools/progress_text.py --check notebooks/*.ipynb   exit 1 if a bar would change

``tools/execute_notebooks.py`` should call :func:`finalize` on each notebook
after executing it, before writing it.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BAR_WIDTH = 10  # tqdm's bar in text form, as in the text it first printed
_TQDM_TEXT = re.compile(r"\d+%\|")  # "  0%|" in tqdm's text form
_PERCENT = re.compile(r"(\d+)%\s*$")  # the end of the left label: "training: 100%"


def _model(state: dict, ref: str) -> dict | None:
    return state.get(ref.removeprefix("IPY_MODEL_"))


def _label(model: dict) -> str:
    """An HTMLModel's value as plain text (tqdm writes HTML entities and
    figure spaces, U+2007, into it)."""
    return html.unescape(str(model["state"].get("value", ""))).replace("\u2007", " ")


def bar_text(state: dict, model_id: str) -> str | None:
    """The final text line of the tqdm bar ``model_id`` in a notebook's saved
    widget ``state`` (``metadata.widgets[WIDGET_STATE]["state"]``), or
    ``None`` if that model is not a tqdm bar."""
    from tqdm.std import Bar

    box = state.get(model_id)
    if box is None or box.get("model_name") != "HBoxModel":
        return None
    children = [_model(state, ref) for ref in box["state"].get("children", [])]
    if len(children) != 3 or any(c is None for c in children):
        return None
    left, progress, right = children
    if ([c["model_name"] for c in children] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]):
        return None
    label = _label(left)
    shown = _PERCENT.search(label)
    if shown:  # the bar as long as the percentage the text says (the two can disagree when tqdm's
        frac = int(shown.group(1)) / 100  # last redraw was throttled before the bar's value was set)
    else:
        p = progress["state"]
        low, high = float(p.get("min", 0.0)), float(p.get("max", 100.0))
        frac = 0.0 if high <= low else (float(p.get("value", 0.0)) - low) / (high - low)
    return f"{label}|{format(Bar(min(1.0, max(0.0, frac)), BAR_WIDTH), '')}|{_label(right)}"


def finalize(nb) -> int:
    """Rewrite, in ``nb`` (an nbformat notebook), the ``text/plain`` of every
    tqdm bar output from its saved final state; returns how many changed."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = data.get("text/plain")
            if WIDGET_VIEW not in data or not isinstance(text, str) or not _TQDM_TEXT.search(text):
                continue
            final = bar_text(state, data[WIDGET_VIEW].get("model_id", ""))
            if final is not None and final != text:
                data["text/plain"] = final
                changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only check, change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        n = finalize(nb)
        if n and args.check:
            stale.append(f"{path.name} ({n})")
        elif n:
            nbformat.write(nb, path)
            print(f"{path.name}: {n} progress bar(s) given their final line")
    if stale:
        print("progress bars that still read their first line:", ", ".join(stale),
              "(run python tools/progress_text.py on them)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
