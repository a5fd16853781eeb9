"""The sampling playground: a prompt, sliders for temperature, top-k, top-p
and the repetition penalty, a seed, a Generate button, the generated text,
and the live distribution of the next token after the filters.

Explained in ``06_gpt2_sampling.ipynb``, section "The sampling playground".
It takes the course's GPT (character-level reference model or GPT-2) and its
tokenizer (``encode``/``decode``: :class:`~lm_course.tokenizers.CharTokenizer`
or GPT-2's BPE). The prompt is only ever *encoded*, never evaluated;
characters the tokenizer does not know give a message, not an exception.

Drive it from code (this is what the tests do)::

    pg = sampling_playground(model, tok)
    pg.prompt.value = "ROMEO:\\n"
    pg.temperature.value, pg.top_p.value = 0.8, 0.9
    pg.next_token_view().tokens          # the bars of the chart
    pg.generate()                        # the same as clicking Generate

The prompt box follows typing: each keystroke schedules a redraw 250 ms
later (:class:`~lm_course.widgets.debounce.Debouncer`), so a burst of
typing costs one redraw; with the prefix cache that redraw runs only the
changed tail of the prompt through the model. The generated text appears
above the chart, beside the controls, replacing the previous one.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import torch

from lm_course.gpt import GPT
from lm_course.gpt_decoding import PrefixCache
from lm_course.interface import inference
from lm_course.sampling import check_sampling_args, filter_logits, generate
from lm_course.tokenizers.visible import visible
from lm_course.validation import require_int
from lm_course.widgets.debounce import DEBOUNCE_S, Debouncer
from lm_course.viz.distributions import top_tokens
from lm_course.widgets.display import display_widget, error_html, shorten, show_figure

__all__ = ["NextTokenView", "SamplingPlayground", "sampling_playground", "CONTROL_WIDTH", "DESCRIPTION_WIDTH"]

# The sliders' layout. Each control keeps this width (min_width: a narrow
# window wraps the chart below the controls instead of squeezing them), and
# the readouts have fixed formats, so that "0.95" and the top-k's "0" stay
# whole at a 1280-px window (seen clipped to "0.9" and "(" before).
CONTROL_WIDTH = "400px"
DESCRIPTION_WIDTH = "120px"  # fits the longest description, "top-k (0=off)"


@dataclass
class NextTokenView:
    """The chart's content: the next token after the prompt, filtered."""

    tokens: list[tuple[int, str, float]] = field(default_factory=list)  # (id, label, p), top first
    kept: int = 0  # tokens with a non-zero probability after the filters
    vocab_size: int = 0
    cropped: int = 0  # prompt tokens dropped because the context is limited to block_size
    message: str = ""  # why there is no chart (bad prompt), else ""

    @property
    def ok(self) -> bool:
        return not self.message


def _check_args(model, tokenizer, prompt, max_new_tokens, top_n, seed) -> None:
    """The playground's argument checks (a TypeError or ValueError that says what is wrong)."""
    if not hasattr(model, "config") or not hasattr(model.config, "block_size"):
        raise TypeError("model must be a course GPT (lm_course.gpt.GPT or GPT.from_pretrained)")
    if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
        raise TypeError("tokenizer needs encode(text) and decode(ids) methods")
    vocab = getattr(tokenizer, "vocab_size", None)
    if vocab is not None and vocab > model.config.vocab_size:
        raise ValueError(f"the tokenizer has {vocab} tokens but the model only {model.config.vocab_size}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    for name, value, low in (("max_new_tokens", max_new_tokens, 1), ("top_n", top_n, 1), ("seed", seed, 0)):
        require_int(value, name, minimum=low)


class SamplingPlayground:
    """The widget behind :func:`sampling_playground`.

    Attributes (ipywidgets; set ``.value`` from code): ``prompt``, ``mode``
    ("sample"/"greedy"), ``temperature``, ``top_k`` (0 = off), ``top_p``
    (1 = off), ``repetition_penalty`` (1 = off), ``max_new_tokens``,
    ``seed``, ``button``; outputs ``chart``, ``info``, ``result``; the whole
    box is ``widget``. ``last_text`` holds the last generated continuation.
    """

    def __init__(self, model, tokenizer, prompt: str = "", max_new_tokens: int = 200, top_n: int = 12,
                 seed: int = 0, continuous_update: bool = False, debounce_s: float = DEBOUNCE_S,
                 timer=None):
        import ipywidgets as widgets

        _check_args(model, tokenizer, prompt, max_new_tokens, top_n, seed)
        self.model, self.tokenizer, self.top_n = model, tokenizer, top_n
        # a keystroke in the prompt runs only the changed tail through a GPT (lm_course.gpt.PrefixCache)
        self._prefix = PrefixCache(model) if isinstance(model, GPT) else None
        V = model.config.vocab_size
        cu = dict(continuous_update=continuous_update)
        self.prompt = widgets.Textarea(value=prompt, description="prompt", placeholder="type a prompt...",
                                       layout=widgets.Layout(width="95%", height="4em"), continuous_update=True,
                                       style={"description_width": DESCRIPTION_WIDTH})
        self.mode = widgets.ToggleButtons(options=["sample", "greedy"], value="sample", description="decoding",
                                          style={"description_width": DESCRIPTION_WIDTH})

        def fixed() -> dict:  # a fresh Layout and style per control
            return dict(layout=widgets.Layout(width=CONTROL_WIDTH, min_width=CONTROL_WIDTH),
                        style={"description_width": DESCRIPTION_WIDTH})

        self.temperature = widgets.FloatSlider(value=1.0, min=0.05, max=2.5, step=0.05, description="temperature",
                                               readout_format=".2f", **cu, **fixed())
        self.top_k = widgets.IntSlider(value=0, min=0, max=min(V, 100), description="top-k (0=off)",
                                       readout_format="d", **cu, **fixed())
        self.top_p = widgets.FloatSlider(value=1.0, min=0.01, max=1.0, step=0.01, description="top-p (1=off)",
                                         readout_format=".2f", **cu, **fixed())
        self.repetition_penalty = widgets.FloatSlider(value=1.0, min=1.0, max=2.0, step=0.05,
                                                      description="rep. penalty", readout_format=".2f", **cu,
                                                      **fixed())
        self.max_new_tokens = widgets.IntSlider(value=max_new_tokens, min=1, max=max(500, max_new_tokens),
                                                description="new tokens", readout_format="d", **cu, **fixed())
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                           layout=widgets.Layout(width="250px"),
                                           style={"description_width": DESCRIPTION_WIDTH})
        self.button = widgets.Button(description="Generate", button_style="primary", icon="play")
        # the result is as wide as the chart: the generated text wraps above it
        self.chart, self.info = widgets.Output(), widgets.HTML()
        self.result = widgets.HTML(layout={"max_width": "560px"})
        controls = widgets.VBox([self.mode, self.temperature, self.top_k, self.top_p, self.repetition_penalty,
                                 self.max_new_tokens, widgets.HBox([self.seed, self.button])],
                                layout=widgets.Layout(min_width=CONTROL_WIDTH, flex="0 0 auto"))
        # Generate's text goes above the chart, level with the button, where the eye is
        self.widget = widgets.VBox([self.prompt, self.info,
                                    widgets.HBox([controls, widgets.VBox([self.result, self.chart])],
                                                 layout=widgets.Layout(flex_flow="row wrap"))])
        self.last_text = ""
        self.button.on_click(lambda _: self.generate())
        self.typing = Debouncer(self.refresh, debounce_s, timer)  # keystrokes: one redraw when typing pauses
        self.prompt.observe(self.typing, names="value")
        for control in (self.mode, self.temperature, self.top_k, self.top_p, self.repetition_penalty):
            control.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    # ---- the model side (no drawing) -----------------------------------------
    def settings(self) -> dict:
        """The current sliders as :func:`~lm_course.sampling.generate` arguments."""
        return dict(do_sample=self.mode.value == "sample", temperature=float(self.temperature.value),
                    top_k=int(self.top_k.value) or None,
                    top_p=float(self.top_p.value) if self.top_p.value < 1.0 else None,
                    repetition_penalty=float(self.repetition_penalty.value))

    def _prompt_ids(self) -> tuple[torch.Tensor | None, int, str]:
        """``(ids (1, T), tokens cropped, message)`` for the typed prompt."""
        text = self.prompt.value
        if not text:
            return None, 0, "Type a prompt first: the model needs at least one token to continue from."
        try:
            ids = list(self.tokenizer.encode(text))
        except ValueError as err:  # e.g. UnknownCharacterError
            return None, 0, f"Cannot read this prompt: {err}"
        if not ids:
            return None, 0, "This prompt encodes to no tokens at all; type some text."
        block = self.model.config.block_size
        cropped = max(0, len(ids) - block)
        return torch.tensor([ids[cropped:]], dtype=torch.long), cropped, ""  # (1, T)

    def next_token_view(self) -> NextTokenView:
        """The filtered next-token distribution for the current prompt and sliders."""
        idx, cropped, message = self._prompt_ids()
        V = self.model.config.vocab_size
        if message:
            return NextTokenView(vocab_size=V, message=message)
        s = self.settings()
        try:
            check_sampling_args(s["temperature"], s["top_k"], s["top_p"], s["repetition_penalty"])
        except (TypeError, ValueError) as err:
            return NextTokenView(vocab_size=V, message=str(err))
        if self._prefix is not None:
            logits = self._prefix.next_logits(idx[0])  # (V,)
        else:
            with inference(self.model):
                logits = self.model(idx).logits[0, -1].float()  # (V,)
        penalty = dict(repetition_penalty=s["repetition_penalty"], prev_tokens=idx[0])
        if s["do_sample"]:
            filtered = filter_logits(logits, s["temperature"], s["top_k"], s["top_p"], **penalty)  # (V,)
        else:  # greedy: only the penalty changes which token is on top
            filtered = filter_logits(logits, **penalty)  # (V,)
        probs = torch.softmax(filtered, -1)  # (V,)
        kept = int(torch.isfinite(filtered).sum()) if s["do_sample"] else 1
        return NextTokenView(top_tokens(probs, tokenizer=self.tokenizer, top_k=self.top_n), kept, V, cropped)

    def generate(self) -> str:
        """Generate with the current settings (what the button does); returns
        the continuation (without the prompt) and shows it."""
        self.typing.flush()  # a redraw still waiting for the typing to pause happens first
        idx, cropped, message = self._prompt_ids()
        if message:
            self.last_text = ""
            self.result.value = error_html(message, quote=False)
            return ""
        generator = torch.Generator().manual_seed(int(self.seed.value))
        try:
            out = generate(self.model, idx, int(self.max_new_tokens.value), generator=generator, **self.settings())
        except (TypeError, ValueError) as err:
            self.last_text = ""
            self.result.value = error_html(str(err), quote=False)
            return ""
        self.last_text = self.tokenizer.decode(out[0, idx.size(1):].tolist())
        shown_prompt = self.tokenizer.decode(idx[0].tolist())
        note = f"(the first {cropped} prompt tokens were dropped: the model reads at most " \
               f"{self.model.config.block_size})<br>" if cropped else ""
        self.result.value = (f"{note}<pre style='white-space:pre-wrap;font-size:90%'>"
                             f"<span style='color:#777'>{html.escape(shown_prompt)}</span>"
                             f"<b>{html.escape(self.last_text)}</b></pre>")
        return self.last_text

    # ---- the drawing -------------------------------------------------------------
    def refresh(self) -> NextTokenView:
        """Recompute and redraw the chart (removed when the prompt gives a
        message instead) and the info line."""
        greedy = self.mode.value == "greedy"
        for knob in (self.temperature, self.top_k, self.top_p):  # greedy ignores them
            knob.disabled = greedy
        view = self.next_token_view()
        show_figure(self.chart, self.figure(view) if view.ok else None)
        self.info.value = error_html(view.message, quote=False) if not view.ok else html.escape(self._rule(view))
        return view

    def _rule(self, view: NextTokenView) -> str:
        """The info line: how the next token is chosen from the chart."""
        V = f"{view.vocab_size:,}"
        if self.mode.value == "greedy":
            rule = f"greedy decoding takes the most probable of the {V} tokens"
        elif view.kept == 1:
            rule = f"the filters leave 1 of the {V} tokens, so sampling always picks it, as greedy decoding would"
        else:
            rule = f"sampling picks among {view.kept:,} of the {V} tokens"
        cropped = f" (prompt cropped to its last {self.model.config.block_size} tokens)" if view.cropped else ""
        press = "see the greedy continuation" if self.mode.value == "greedy" else "sample a continuation"
        return f"Next token: {rule}{cropped}. Press Generate to {press}."

    def summary(self) -> str:
        """What the widget shows now as plain text (the prompt's end, the
        settings, the top of the chart, the last generated text): the
        static fallback for readers without a kernel."""
        s = self.settings()
        knobs = ("greedy" if not s["do_sample"] else
                 f"temperature {s['temperature']:.2f}, top-k {s['top_k'] or 'off'}, "
                 f"top-p {'off' if s['top_p'] is None else format(s['top_p'], '.2f')}")
        lines = [f"Sampling playground · prompt “{shorten(self.prompt.value)}” · {knobs}, "
                 f"repetition penalty {s['repetition_penalty']:.2f}, seed {self.seed.value}"]
        view = self.next_token_view()
        if not view.ok:
            lines.append(view.message)
        else:
            lines.append(self._rule(view))
            lines.append("top next tokens: " + "  ".join(f"{label} {p:.3f}" for _, label, p in view.tokens))
        if self.last_text:
            lines.append(f"last generated: {self.last_text}")
        return "\n".join(lines)

    def figure(self, view: NextTokenView):
        """The bar chart of ``view`` (a closed matplotlib figure)."""
        import matplotlib.pyplot as plt

        from lm_course.viz.distributions import plot_next_token_probs

        probs = torch.zeros(view.vocab_size)
        for i, _, p in view.tokens:
            probs[i] = p
        end = visible(self.prompt.value[-20:])
        what = f"filtered: {view.kept:,} left" if self.mode.value == "sample" else "greedy takes the top bar"
        fig, ax = plt.subplots(figsize=(5.2, 0.3 * len(view.tokens) + 1.4))
        plot_next_token_probs(probs, tokenizer=self.tokenizer, top_k=len(view.tokens), ax=ax,
                              title=f"Next token after “…{end}” ({what})")
        fig.tight_layout()
        plt.close(fig)
        return fig

    def _ipython_display_(self) -> None:
        display_widget(self.widget, self.summary())


def sampling_playground(model, tokenizer, prompt: str = "", max_new_tokens: int = 200, top_n: int = 12,
                        seed: int = 0, continuous_update: bool = False,
                        debounce_s: float = DEBOUNCE_S) -> SamplingPlayground:
    """An interactive sampling playground for a course GPT and its tokenizer.

    Args:
        model: a :class:`~lm_course.gpt.GPT` (the reference model or GPT-2).
        tokenizer: encodes the prompt and decodes the output (characters or BPE).
        prompt: the text the box starts with.
        max_new_tokens: the initial length of a generated continuation.
        top_n: how many bars the next-token chart shows.
        seed: the initial seed (the same seed and settings give the same text).
        continuous_update: redraw while a slider is dragged (``False``: on release).
            The prompt box always follows typing.
        debounce_s: how long typing must pause before the chart is redrawn.

    Returns a :class:`SamplingPlayground`; a notebook displays it as a widget.
    """
    return SamplingPlayground(model, tokenizer, prompt=prompt, max_new_tokens=max_new_tokens, top_n=top_n,
                              seed=seed, continuous_update=continuous_update, debounce_s=debounce_s)
