"""How fast every model answers a keystroke: ``next_token_probs`` latency
(issue 17, "Responsiveness").

    python bench/responsiveness.py            # about 1 minute on 2 cores
    python bench/responsiveness.py --quick    # smaller models where they are built, fewer calls

Every widget of the course (the next-token explorer, the sampling
playground) calls ``model.next_token_probs(context)`` on each keystroke.
Measured here for a 64-character context of the validation split, for every
character-level model the course ships or builds cheaply:

* the n-gram: order-5 interpolated Kneser-Ney (:class:`lm_course.ngram.NGramLM`)
  fitted on the whole training split (the fit is timed too);
* the shipped MLP (:func:`lm_course.reference.load_reference` ``("mlp")``);
* the shipped LSTM (``load_reference("lstm")``) and, untrained,
  a GRU and a plain RNN of the same size (latency does not depend on the
  weights' values);
* the reference GPT (:func:`lm_course.reference.load_reference`);

and for GPT-2's 124M shape (random weights, 64-token context). Each is timed
interleaved (``bench/timing.py``) with one *plain forward pass* of the same
model over the same context under ``torch.no_grad`` (the MLP: its formula on
one window), so the ratio says how much ``next_token_probs`` adds on top of
the network itself (1.00x: nothing). Targets: under 5 ms for every
character-level model, under 100 ms for the 124M model, on 1 and 2 threads.
Serves the widgets of chapters 1-6 ("Explore the model" cells).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import Section, Table, Target, timed_section  # noqa: E402
from bench.timing import format_ratio, format_seconds, interleaved, summarize  # noqa: E402

__all__ = ["Plan", "FULL", "QUICK", "Candidate", "candidates", "run"]

CHAR_TARGET_S = 0.005  # issue 17: every character-level model under 5 ms
GPT2_TARGET_S = 0.100  # and the 124M model under 100 ms


@dataclass(frozen=True)
class Plan:
    """Sizes and call counts (a comment per field)."""

    context_chars: int = 64  # characters (or GPT-2 tokens) of context
    calls: int = 20  # timed calls per case (interleaved rounds): the issue asks for >= 20
    warmup: int = 2  # untimed rounds first
    threads: tuple[int, ...] = (1, 2)  # torch thread counts
    ngram_train_chars: int | None = None  # None: the whole training split
    gpt2_shape: tuple[int, int, int, int, int] = (50257, 1024, 12, 12, 768)  # V, block, layers, heads, width
    seed: int = 0


FULL = Plan()
QUICK = Plan(calls=3, warmup=1, ngram_train_chars=200_000, gpt2_shape=(50257, 128, 2, 2, 64))


@dataclass
class Candidate:
    """A model to time: its ``next_token_probs`` call and a plain forward pass."""

    name: str
    kind: str  # "char" or "gpt2"
    probs: Callable[[], object]
    forward: Callable[[], object] | None
    note: str = ""
    target: bool = True  # does its latency count for the target (what a widget's keystroke costs)?


def _no_grad(fn: Callable[[], object]) -> Callable[[], object]:
    def call() -> object:
        with torch.no_grad():
            return fn()
    return call


def _keystrokes(model, context: list[int]) -> Callable[[], object]:
    """What a widget does with a GPT on each keystroke: :class:`lm_course.gpt.PrefixCache`,
    typing and deleting the last token in turn, so every call runs one new token."""
    from lm_course.gpt_decoding import PrefixCache

    cache = PrefixCache(model)
    texts = [context[:-1], context]
    calls = [0]

    def call() -> object:
        calls[0] += 1
        return cache.next_token_probs(texts[calls[0] % 2])
    return call


def candidates(plan: Plan) -> tuple[list[Candidate], list[str]]:
    """Every model, loaded or built, with its two calls; and notes on how."""
    from lm_course.gpt import GPT, GPTConfig
    from lm_course.reference import load_reference
    from lm_course.ngram import NGramLM
    from lm_course.reference import load_reference
    from lm_course.rnn import RNNConfig, RNNLanguageModel
    from lm_course.corpus import corpus_ids, corpus_tokenizer

    notes: list[str] = []
    vocab = corpus_tokenizer().vocab_size
    context = corpus_ids("val")[: plan.context_chars].tolist()  # a widget passes a list of ids
    ctx = torch.tensor(context)  # (T,)
    out: list[Candidate] = []

    train = corpus_ids("train")
    if plan.ngram_train_chars is not None:
        train = train[: plan.ngram_train_chars]
    start = time.perf_counter()
    ngram = NGramLM(5, "kneser_ney").fit(train, vocab)
    fit_s = time.perf_counter() - start
    notes.append(f"n-gram: order 5, interpolated Kneser-Ney (discount {ngram.discount}), fitted on "
                 f"{len(train):,} training characters in {fit_s:.1f} s"
                 + ("" if plan.ngram_train_chars is None else " (a prefix of the split: quick mode)")
                 + "; it has no forward pass, so no ratio.")
    out.append(Candidate("n-gram (KN, order 5)", "char", lambda: ngram.next_token_probs(context), None))

    mlp, _ = load_reference("mlp")
    window = ctx[-mlp.context_length:]  # (n,) the MLP sees its last n characters
    out.append(Candidate(f"MLP (shipped, {mlp.num_parameters():,} params)", "char",
                         lambda: mlp.next_token_probs(context), _no_grad(lambda: mlp.logits_by_formula(window))))

    lstm, _ = load_reference("lstm")
    lstm.eval()
    size = lstm.config
    recurrent = [(f"LSTM (shipped, {lstm.num_parameters():,} params)", lstm)]
    for kind in ("gru", "rnn"):
        torch.manual_seed(plan.seed)
        model = RNNLanguageModel(RNNConfig(vocab, size.hidden_size, kind, size.num_layers, size.embed_size)).eval()
        recurrent.append((f"{kind.upper()} (untrained, same size)", model))
    for name, model in recurrent:
        out.append(Candidate(name, "char", lambda m=model: m.next_token_probs(context),
                             _no_grad(lambda m=model: m(ctx[None]))))

    gpt, _ = load_reference("gpt")
    name = f"GPT (reference, {gpt.num_parameters():,} params)"
    out.append(Candidate(f"{name}, a new text", "char", lambda: gpt.next_token_probs(context),
                         _no_grad(lambda: gpt(ctx[None])), target=False))
    out.append(Candidate(f"{name}, a keystroke (the widgets' prefix cache)", "char", _keystrokes(gpt, context),
                         _no_grad(lambda: gpt(ctx[None]))))

    V, block, layers, heads, width = plan.gpt2_shape
    torch.manual_seed(plan.seed)
    gpt2 = GPT(GPTConfig(V, block, layers, heads, width)).eval()
    gpt2_context = torch.randint(0, V, (plan.context_chars,), generator=torch.Generator().manual_seed(plan.seed))
    gpt2_list = gpt2_context.tolist()
    name = f"GPT-2 shape ({gpt2.num_parameters() / 1e6:.0f}M params, random weights)"
    out.append(Candidate(f"{name}, a new text", "gpt2", lambda: gpt2.next_token_probs(gpt2_list),
                         _no_grad(lambda: gpt2(gpt2_context[None])), target=False))
    out.append(Candidate(f"{name}, a keystroke (the widgets' prefix cache)", "gpt2", _keystrokes(gpt2, gpt2_list),
                         _no_grad(lambda: gpt2(gpt2_context[None]))))
    notes.append("The GPTs' widgets (explorer, playground) answer a keystroke with `lm_course.gpt.PrefixCache`: "
                 "the keys and values of the unchanged text are kept from the previous call, so typing (or "
                 "deleting) at the end runs one token through the model. Its rows alternate between the context "
                 "and the context minus its last token; the targets count those rows, not the rows for a whole "
                 "new text (a paste), which run every position.")
    return out, notes


@timed_section
def run(quick: bool = False, plot_dir: Path | None = None, plan: Plan | None = None) -> Section:
    """Run the section; returns its table, targets and raw numbers."""
    plan = plan or (QUICK if quick else FULL)
    old_threads = torch.get_num_threads()
    models, notes = candidates(plan)
    print(f"responsiveness: {len(models)} models x {len(plan.threads)} thread counts x {plan.calls} calls", flush=True)
    table = Table(f"`next_token_probs` latency, {plan.context_chars}-character context (GPT-2: tokens); median "
                  f"and range of {plan.calls} calls", ["model", "threads", "next_token_probs", "plain forward",
                                                       "speed vs plain forward", "target", "met"])
    raw: dict = {"plan": plan.__dict__, "models": {}}
    medians: dict[int, list[tuple[str, float, float]]] = {}  # threads -> (model, median s, target s)
    met: dict[str, list[bool]] = {"char": [], "gpt2": []}
    worst: dict[str, tuple[float, str]] = {"char": (0.0, ""), "gpt2": (0.0, "")}
    for t in plan.threads:
        torch.set_num_threads(t)
        for model in models:
            cases = {"next_token_probs": model.probs}
            if model.forward is not None:
                cases["plain forward"] = model.forward
            times = interleaved(cases, rounds=plan.calls, warmup=plan.warmup)
            rows = summarize(times, "next_token_probs")
            probs = rows["next_token_probs"]
            target = CHAR_TARGET_S if model.kind == "char" else GPT2_TARGET_S
            ok = probs.median < target
            medians.setdefault(t, []).append((model.name, probs.median, target))
            if model.target:
                met[model.kind].append(ok)
                if probs.median > worst[model.kind][0]:
                    worst[model.kind] = (probs.median, f"{model.name}, {t} thread(s)")
            plain = rows.get("plain forward")
            # the speed of next_token_probs relative to the forward: forward time / next_token_probs time
            vs_forward = summarize(times, "plain forward")["next_token_probs"] if plain is not None else None
            table.add(model.name, t, format_seconds(probs, 1000, "ms"),
                      format_seconds(plain, 1000, "ms") if plain is not None else "n/a",
                      format_ratio(vs_forward) if vs_forward is not None else "n/a",
                      f"< {target * 1000:.0f} ms" if model.target else "(not a keystroke)",
                      ("yes" if ok else "**no**") if model.target else "")
            raw["models"].setdefault(model.name, {})[t] = {"seconds": times,
                                                           "summary": {k: v.as_dict() for k, v in rows.items()}}
    torch.set_num_threads(old_threads)
    targets = [
        Target("every character-level model under 5 ms", all(met["char"]),
               f"slowest: {worst['char'][0] * 1000:.2f} ms, {worst['char'][1]}"),
        Target("the GPT-2 124M shape under 100 ms", all(met["gpt2"]),
               f"slowest: {worst['gpt2'][0] * 1000:.1f} ms, {worst['gpt2'][1]}"),
    ]
    if quick:
        notes.append("Quick mode: GPT-2's row is a 2-layer, 64-wide model, not the 124M shape.")
    plots = [_plot(medians, plot_dir / "responsiveness.png")] if plot_dir is not None else []
    return Section(
        key="responsiveness", title="Responsiveness: `next_token_probs` on each keystroke",
        intro=("What every widget calls on each keystroke, timed for every model against one plain forward pass "
               "of the same network over the same context (`torch.no_grad`), interleaved call by call. A speed "
               "ratio of 1.00x means `next_token_probs` adds nothing to the network's own cost."),
        tables=[table], targets=targets, notes=notes, plots=plots, raw=raw)


def _plot(medians: dict[int, list[tuple[str, float, float]]], path: Path) -> Path:
    """Median latency of each model as a bar (log scale), its target as a tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = sorted(medians)
    names = [name for name, _, _ in medians[threads[0]]]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.2))
    height = 0.8 / len(threads)
    for k, t in enumerate(threads):
        ys = [i + k * height for i in range(len(names))]
        ax.barh(ys, [m * 1000 for _, m, _ in medians[t]], height=height, label=f"{t} thread(s)")
    targets = [target * 1000 for _, _, target in medians[threads[0]]]
    ax.scatter(targets, [i + 0.4 - height / 2 for i in range(len(names))], marker="|", s=400, color="black",
               label="target", zorder=3)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(right=max(targets + [m * 1000 for t in threads for _, m, _ in medians[t]]) * 2)
    ax.set_xlabel("next_token_probs, median ms (log scale)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    from bench.report import save_figure

    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    from bench.report import section_main

    return section_main(run, __doc__, "smaller models where built, fewer calls", argv)


if __name__ == "__main__":
    sys.exit(main())
