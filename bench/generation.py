"""Greedy decoding of GPT-2's 124M shape: the course against ``transformers``
and against the machine's limit (issue 17, "Generation").

    python bench/generation.py            # the full section (about 8 minutes on 2 cores)
    python bench/generation.py --quick    # tiny shapes, 1 round: checks that it runs

What is measured, interleaved (``bench/timing.py``), on 1 and on 2 torch threads:

* **course**: :func:`lm_course.sampling.generate` with the KV cache, greedy,
  batch 1, a 16-token prompt, 256 new tokens;
* **transformers**: ``GPT2LMHeadModel.generate`` (greedy, its own KV cache)
  on the *same* weights: the Hugging Face model is built from ``GPT2Config()``
  with a fixed seed (random weights, which do not change the arithmetic),
  saved, and loaded into the course's :class:`~lm_course.gpt.GPT` with the
  course's own loader ``GPT.from_pretrained``;
* **limit**: a chain of matrix-vector products (``torch.mv``) over every
  weight matrix a one-token step reads (per block ``c_attn``, ``attn.c_proj``,
  ``c_fc``, ``mlp.c_proj``, then the LM head), in float32: every weight is
  read once per token, nothing else is done. Batch-1 decoding cannot be
  faster than this on the machine without reading fewer bytes;
* **course bf16**: the same ``generate`` on a bfloat16 copy of the course's
  model (``lm_course.gpt.bfloat16_copy(model)``, the opt-in path of
  :mod:`lm_course.gpt`, fast-decoding step 3), which reads half the bytes per
  token; its greedy tokens are compared with float32's over the first 128
  (free-running: where the texts first differ and the share of equal
  positions; teacher-forced: the share of float32's tokens that bfloat16
  also picks, given float32's text so far).

Tokens per second after 32 and 128 tokens come from the same 256-token runs:
a forward hook on the language-model head stamps the time at the end of every
step (as :func:`lm_course.sampling.generation_timings` does with a hook on the
model), the same instrument on both models, so a run of 256 tokens also times its first 32 and
128 (the same work as shorter runs, without paying for them twice). Each
round's speed ratios (course / transformers, course / limit) pair up runs made
moments apart; the table gives their median and range over the rounds.

Cache against no cache: ``generate(use_cache=False)`` reruns the model over
the prompt and every token so far at each step (compute-bound: ~2 minutes
for 256 tokens on one thread). Its step ``k`` is one forward over ``16 + k``
tokens, whose time grows smoothly with ``k``; so each round times that step
at ``Plan.nocache_points`` context lengths (interleaved with a whole cached
run) and a no-cache run of ``n`` tokens is the sum of its steps along the
straight lines between them (:func:`nocache_run_seconds`): five rounds in
about a minute instead of ten minutes; the output says how far the timed
steps lie from a straight line.

The tokens must be identical: course = transformers at every length, cache =
no cache (each timed no-cache step's greedy token against the cached run's). A mismatch is reported as a failed check (``bench/run.py`` then
exits with status 1). Serves ``06_gpt2_sampling.ipynb``, "The KV cache".
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import Section, Table, Target, timed_section  # noqa: E402
from bench.timing import Summary, format_ratio, interleaved, summarize  # noqa: E402
from lm_course.gpt import GPT  # noqa: E402
from lm_course.gpt_decoding import bfloat16_copy  # noqa: E402
from lm_course.sampling import generate  # noqa: E402

__all__ = ["Plan", "FULL", "QUICK", "build_models", "weight_matrices", "WeightChain", "hf_generate",
           "stamped_call", "first_difference", "bf16_agreement", "run", "estimate_seconds"]


@dataclass(frozen=True)
class Plan:
    """The shape and the rounds of the section (a comment per field)."""

    hf_config: dict = field(default_factory=dict)  # GPT2Config keyword arguments; {} = GPT-2 124M
    prompt_tokens: int = 16  # prompt length (random token ids)
    lengths: tuple[int, ...] = (32, 128, 256)  # new tokens at which tokens/s is read off (the last is run)
    threads: tuple[int, ...] = (1, 2)  # torch thread counts
    rounds: int = 5  # interleaved rounds of course / transformers / limit
    limit_tokens: int = 64  # tokens (weight chains) per timed call of the limit
    nocache_points: int = 5  # context lengths at which a no-cache step is timed (see nocache_step_seconds)
    nocache_threads: tuple[int, ...] = (1,)  # thread counts of cache / no cache
    seed: int = 0  # seeds the weights and the prompt


FULL = Plan()
QUICK = Plan(hf_config={"n_layer": 2, "n_head": 2, "n_embd": 64, "vocab_size": 1000, "n_positions": 64,
                        "bos_token_id": 0, "eos_token_id": 0},
             lengths=(2, 4, 8), rounds=1, limit_tokens=8, nocache_points=3)


# ---- the two models on identical weights -------------------------------------

def build_models(hf_config: dict, seed: int = 0):
    """``(hf_model, course_model)``: a random ``GPT2LMHeadModel(GPT2Config(**hf_config))``
    (seeded) and the course's GPT holding the same weights, loaded by
    :meth:`lm_course.gpt.GPT.from_pretrained` from the Hugging Face model's
    ``save_pretrained`` directory. Both in eval mode, float32, CPU."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    hf = GPT2LMHeadModel(GPT2Config(**hf_config)).eval()
    hf.generation_config.eos_token_id = None  # never stop early: the course's generate does not either
    hf.generation_config.pad_token_id = 0
    with tempfile.TemporaryDirectory(prefix="bench-gpt2-") as directory:
        hf.save_pretrained(directory)  # config.json + model.safetensors (Conv1D layout)
        course = GPT.from_pretrained(directory)  # views the Conv1D weights in nn.Linear's layout
    return hf, course


def hf_generate(model, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """``transformers``' greedy ``generate``: ``(1, T)`` -> ``(1, T + new_tokens)``.
    No end-of-text stop (the course's ``generate`` has none either)."""
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, num_beams=1, use_cache=True,
                              eos_token_id=None, pad_token_id=0)
    out = model.generate(prompt, attention_mask=torch.ones_like(prompt), generation_config=config)
    if out.size(1) != prompt.size(1) + new_tokens:
        raise RuntimeError(f"transformers generated {out.size(1) - prompt.size(1)} tokens, not {new_tokens}")
    return out


def stamped_call(model: torch.nn.Module, call: Callable[[], torch.Tensor],
                 new_tokens: int) -> tuple[list[float], torch.Tensor]:
    """Run ``call`` (a ``generate`` of ``model`` for ``new_tokens`` tokens);
    return the seconds from the start until each step's language-model head
    finished (a forward hook on ``model.lm_head``: both the course's GPT and
    ``GPT2LMHeadModel`` call it once per step), and the output.

    Raises:
        RuntimeError: the head did not run once per new token, or the output
            does not have ``new_tokens`` new tokens (a time per token would
            then be wrong).
    """
    stamps: list[float] = []
    handle = model.lm_head.register_forward_hook(lambda *_: stamps.append(time.perf_counter()))
    try:
        start = time.perf_counter()
        out = call()
    finally:
        handle.remove()
    if len(stamps) != new_tokens:
        raise RuntimeError(f"{type(model).__name__}: the LM head ran {len(stamps)} times for {new_tokens} new "
                           "tokens; the per-token time stamps of bench/generation.py need one run per step")
    return [s - start for s in stamps], out


def first_difference(a: torch.Tensor, b: torch.Tensor, prompt_tokens: int) -> int | None:
    """The first new token (1-based) where two ``(1, T)`` outputs differ, or ``None``."""
    n = min(a.size(1), b.size(1))
    diff = (a[0, :n] != b[0, :n]).nonzero()
    if len(diff):
        return int(diff[0, 0]) - prompt_tokens + 1
    return None if a.size(1) == b.size(1) else n - prompt_tokens + 1


def bf16_agreement(half: GPT, float32_out: torch.Tensor, bf16_out: torch.Tensor, prompt_tokens: int,
                   n: int) -> dict:
    """How often greedy bfloat16 decoding picks float32's tokens, over the
    first ``n`` new tokens of two ``(1, T + N)`` greedy outputs:
    ``first_difference`` (1-based, ``None`` if none), ``free_running`` (the
    share of the ``n`` positions with the same token; after a first
    difference the two texts go their own ways) and ``teacher_forced`` (the
    share of float32's ``n`` tokens that ``half`` picks given float32's text
    before each: one forward of ``half``, rounding's effect per step)."""
    a, b = float32_out[:, :prompt_tokens + n], bf16_out[:, :prompt_tokens + n]  # (1, T + n)
    with torch.no_grad():
        picks = half(a[:, :-1], logits_to_keep=n).logits.float().argmax(-1)  # (1, n): bf16's next token each step
    return {"first_difference": first_difference(a, b, prompt_tokens),
            "free_running": float((a[:, prompt_tokens:] == b[:, prompt_tokens:]).float().mean()),
            "teacher_forced": float((picks == a[:, prompt_tokens:]).float().mean()), "tokens": n}


# ---- the limit -----------------------------------------------------------------

def weight_matrices(model: GPT) -> list[torch.Tensor]:
    """Every weight matrix a one-token step of ``model`` multiplies by, in
    the order of the forward pass: per block ``c_attn`` (3C, C), ``attn.c_proj``
    (C, C), ``c_fc`` (4C, C), ``mlp.c_proj`` (C, 4C), then the LM head (V, C),
    which is the tied token embedding. Biases, LayerNorms and the one row of
    each embedding a token reads are vectors: left out (0.1% of the bytes)."""
    mats = []
    for block in model.transformer.h:
        mats += [block.attn.c_attn.weight, block.attn.c_proj.weight, block.mlp.c_fc.weight,
                 block.mlp.c_proj.weight]
    mats.append(model.lm_head.weight)
    return [m.detach() for m in mats]


class WeightChain:
    """The bare matrix-vector products of one decoding step: ``y = W x`` for
    each matrix of :func:`weight_matrices`, into preallocated outputs, with
    fixed random inputs (no data dependence, so nothing else is timed and no
    value can drift into slow denormal arithmetic)."""

    def __init__(self, matrices: list[torch.Tensor], seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.matrices = matrices
        self.inputs = [torch.randn(m.size(1), generator=gen) for m in matrices]  # (in,) each
        self.outputs = [torch.empty(m.size(0)) for m in matrices]  # (out,) each

    @property
    def bytes_per_token(self) -> int:
        return sum(m.numel() * m.element_size() for m in self.matrices)

    def __call__(self, tokens: int) -> None:
        with torch.no_grad():
            for _ in range(tokens):
                for w, x, y in zip(self.matrices, self.inputs, self.outputs):
                    torch.mv(w, x, out=y)  # (out,) = (out, in) @ (in,)


# ---- the section ---------------------------------------------------------------

def _tokens_per_s(summary: Summary) -> str:
    """A seconds-per-token summary as tokens/s: the median and the range."""
    if summary.n == 1:
        return f"{1 / summary.median:.1f}"
    return f"{1 / summary.median:.1f} ({1 / summary.max:.1f}-{1 / summary.min:.1f})"


def _per_token(stamps: list[list[float]], n: int) -> list[float]:
    """Seconds per token after ``n`` new tokens, one value per round."""
    return [s[n - 1] / n for s in stamps]


def estimate_seconds(plan: Plan, step_s: dict[int, float], nocache_run_s: dict[int, float]) -> float:
    """Seconds the timed rounds will take, from one measured cached step per
    thread count (``step_s``) and the estimated cost of one no-cache run."""
    longest = max(plan.lengths)
    main = sum(plan.rounds * (3 * longest + plan.limit_tokens) * step_s[t] for t in plan.threads)  # 3: +bf16
    points = plan.nocache_points / longest  # the timed no-cache steps, as a share of a whole no-cache run
    nocache = sum(plan.rounds * (points * nocache_run_s[t] + longest * step_s[t]) for t in plan.nocache_threads)
    return main + nocache


def _probe(course: GPT, prompt: torch.Tensor, plan: Plan) -> tuple[dict[int, float], dict[int, float]]:
    """One cached step's seconds per thread count, and a no-cache run's
    estimate (the forward over the run's mean context, times its steps)."""
    longest = max(plan.lengths)
    step, nocache = {}, {}
    with torch.no_grad():
        for t in sorted(set(plan.threads) | set(plan.nocache_threads)):
            torch.set_num_threads(t)
            out = course(prompt, use_cache=True)
            x = prompt[:, -1:]
            times = []
            for _ in range(3):
                start = time.perf_counter()
                course(x, past_key_values=out.past_key_values, use_cache=True)
                times.append(time.perf_counter() - start)
            step[t] = min(times)
            if t in plan.nocache_threads:
                mean_ctx = torch.randint(0, course.vocab_size, (1, plan.prompt_tokens + longest // 2))
                start = time.perf_counter()
                course(mean_ctx)
                nocache[t] = (time.perf_counter() - start) * longest
    return step, nocache


def nocache_positions(plan: Plan) -> list[int]:
    """The new-token indices ``k`` at which a no-cache step is timed:
    ``plan.nocache_points`` evenly spaced from the first step (``k = 0``: the
    prompt alone) to the last (``k = longest - 1``)."""
    longest = max(plan.lengths)
    n = plan.nocache_points
    return sorted({round(i * (longest - 1) / (n - 1)) for i in range(n)})


def nocache_run_seconds(positions: Sequence[int], step_seconds: Sequence[float], n: int) -> float:
    """Seconds of a no-cache run of ``n`` new tokens, from the time of its
    step at a few ``positions`` (new-token indices, the first at 0, the last
    at least ``n - 1``): step ``k`` reruns the model over the prompt and the
    ``k`` tokens so far, so its time grows smoothly with ``k``; the steps in
    between are read off the straight lines through the timed ones, and the
    ``n`` steps summed.

    >>> nocache_run_seconds([0, 10], [1.0, 2.0], 11)  # steps of 1.0, 1.1, ... 2.0 s
    16.5
    """
    return float(np.interp(np.arange(n), positions, step_seconds).sum())


@timed_section
def run(quick: bool = False, plot_dir: Path | None = None, plan: Plan | None = None) -> Section:
    """Run the section; returns its tables, targets and raw numbers."""
    plan = plan or (QUICK if quick else FULL)
    old_threads = torch.get_num_threads()
    hf, course = build_models(plan.hf_config, plan.seed)
    config = course.config
    prompt = torch.randint(0, config.vocab_size, (1, plan.prompt_tokens),
                           generator=torch.Generator().manual_seed(plan.seed))  # (1, T)
    longest = max(plan.lengths)
    if plan.prompt_tokens + longest > config.block_size:
        raise ValueError(f"prompt + {longest} new tokens exceed the model's context of {config.block_size}")
    with torch.no_grad():
        logit_gap = float((course(prompt).logits - hf(prompt).logits).abs().max())
    chain = WeightChain(weight_matrices(course), plan.seed)
    half = bfloat16_copy(course)  # the opt-in bfloat16 decoding path
    step_s, nocache_s = _probe(course, prompt, plan)
    estimate = estimate_seconds(plan, step_s, nocache_s)
    print(f"generation: {course.num_parameters():,} parameters, estimated {estimate:.0f} s of timed rounds",
          flush=True)

    outputs: dict[str, torch.Tensor] = {}
    stamps: dict[tuple[int, str], list[list[float]]] = {}
    summaries: dict[int, dict[int, dict[str, Summary]]] = {}  # threads -> n -> vs transformers / vs limit
    raw: dict = {"plan": plan.__dict__ | {"hf_config": plan.hf_config}, "parameters": course.num_parameters(),
                 "weight_bytes_per_token": chain.bytes_per_token, "max_abs_logit_difference": logit_gap,
                 "probe_step_seconds": step_s, "threads": {}}

    def course_case(t: int, use_cache: bool, name: str, model: GPT = course) -> Callable[[], None]:
        def case() -> None:
            s, out = stamped_call(model, lambda: generate(model, prompt, longest, use_cache=use_cache), longest)
            stamps.setdefault((t, name), []).append(s)
            outputs[name] = out
        return case

    def hf_case(t: int) -> Callable[[], None]:
        def case() -> None:
            s, out = stamped_call(hf, lambda: hf_generate(hf, prompt, longest), longest)
            stamps.setdefault((t, "transformers"), []).append(s)
            outputs["transformers"] = out
        return case

    table = Table(f"Greedy decoding, batch 1, {plan.prompt_tokens}-token prompt: tokens/s (median and range over "
                  f"{plan.rounds} rounds) and speed ratios (median of per-round ratios, range)",
                  ["threads", "new tokens", "course", "transformers", "limit", "course / transformers",
                   "course / limit", "transformers / limit"])
    bf16_table = Table(f"Opt-in bfloat16 decoding (`lm_course.gpt.bfloat16_copy(model)`): tokens/s (median and range over "
                       f"{plan.rounds} rounds, the same rounds as above) and speed ratios",
                       ["threads", "new tokens", "float32", "bfloat16", "bfloat16 / float32", "bfloat16 / limit"])
    checks_failed = []
    for t in plan.threads:
        torch.set_num_threads(t)
        generate(course, prompt, 2)  # warm-up: short runs (the rounds are long enough to settle)
        generate(half, prompt, 2)
        hf_generate(hf, prompt, 2)
        chain(2)
        times = interleaved({"course": course_case(t, True, "course"), "transformers": hf_case(t),
                             "limit": lambda: chain(plan.limit_tokens),
                             "course bf16": course_case(t, True, "course bf16", half)}, rounds=plan.rounds, warmup=0)
        limit_per_token = [s / plan.limit_tokens for s in times["limit"]]
        diff = first_difference(outputs["course"], outputs["transformers"], plan.prompt_tokens)
        if diff is not None:
            checks_failed.append(f"{t} thread(s): course and transformers differ from new token {diff} on "
                                 f"(max |logit difference| on the prompt {logit_gap:.2e})")
        summaries[t] = {}
        for n in plan.lengths:
            per_token = {"course": _per_token(stamps[(t, "course")], n),
                         "transformers": _per_token(stamps[(t, "transformers")], n), "limit": limit_per_token}
            vs_hf, vs_limit = summarize(per_token, "transformers"), summarize(per_token, "limit")
            summaries[t][n] = {"vs_transformers": vs_hf, "vs_limit": vs_limit}
            table.add(t, n, _tokens_per_s(vs_hf["course"]), _tokens_per_s(vs_hf["transformers"]),
                      _tokens_per_s(vs_hf["limit"]), format_ratio(vs_hf["course"]), format_ratio(vs_limit["course"]),
                      format_ratio(vs_limit["transformers"]))
            bf16 = {"float32": per_token["course"], "bfloat16": _per_token(stamps[(t, "course bf16")], n),
                    "limit": limit_per_token}
            vs_f32, bf16_vs_limit = summarize(bf16, "float32"), summarize(bf16, "limit")
            summaries[t][n]["bf16_vs_float32"] = vs_f32
            bf16_table.add(t, n, _tokens_per_s(vs_f32["float32"]), _tokens_per_s(vs_f32["bfloat16"]),
                           format_ratio(vs_f32["bfloat16"]), format_ratio(bf16_vs_limit["bfloat16"]))
        raw["threads"][t] = {"seconds": times, "stamps": {k[1]: v for k, v in stamps.items() if k[0] == t},
                             "summaries": {n: {k: {c: s.as_dict() for c, s in d.items()} for k, d in row.items()}
                                           for n, row in summaries[t].items()}}
        print(f"  {t} thread(s): course {1 / summaries[t][longest]['vs_limit']['course'].median:.1f} tok/s, "
              f"transformers {1 / summaries[t][longest]['vs_limit']['transformers'].median:.1f}, "
              f"limit {1 / summaries[t][longest]['vs_limit']['limit'].median:.1f}", flush=True)


    cache_table = Table("The KV cache: tokens/s of the course's generate with and without it (no cache: "
                        "the sum of its steps, timed at a few context lengths)",
                        ["threads", "new tokens", "rounds", "cache", "no cache", "cache / no cache"])
    cache_ratio: dict[int, float] = {}
    positions = nocache_positions(plan)
    nocache_run: dict[int, float] = {}  # threads -> median seconds of a whole no-cache run (the sum of its steps)
    step_fit: dict[int, float] = {}  # threads -> largest gap between a timed step and the line through its ends
    for t in plan.nocache_threads:
        torch.set_num_threads(t)
        text = generate(course, prompt, longest)  # (1, P + longest): the greedy text the cached runs write

        def step_case(k: int) -> Callable[[], None]:  # no-cache step k: the model over the prompt + k tokens
            context = text[:, : plan.prompt_tokens + k]  # (1, P + k)

            def case() -> None:
                with torch.no_grad():
                    token = int(course(context, logits_to_keep=1).logits[0, -1].argmax())
                if token != int(text[0, plan.prompt_tokens + k]):
                    outputs.setdefault("no-cache differences", []).append(k)
            return case

        steps = {f"no-cache step {k}": step_case(k) for k in positions}
        for case in steps.values():  # warm-up (the cached runs were warmed up above)
            case()
        times = interleaved({"cache": course_case(t, True, "cache"), **steps}, rounds=plan.rounds, warmup=0)
        step_rounds = [[times[f"no-cache step {k}"][r] for k in positions] for r in range(plan.rounds)]
        runs = {n: [nocache_run_seconds(positions, rs, n) for rs in step_rounds] for n in plan.lengths}
        nocache_run[t] = sorted(runs[longest])[len(runs[longest]) // 2]
        medians = [sorted(times[f"no-cache step {k}"])[plan.rounds // 2] for k in positions]
        line = np.interp(positions, [positions[0], positions[-1]], [medians[0], medians[-1]])
        step_fit[t] = float(max(abs(m - f) / f for m, f in zip(medians, line)))
        raw.setdefault("cache", {})[t] = {"seconds": times, "positions": positions,
                                         "stamps": {"cache": stamps[(t, "cache")]},
                                         "nocache_run_seconds": runs}
        for n in plan.lengths:
            rows = summarize({"cache": _per_token(stamps[(t, "cache")], n),
                              "no cache": [r / n for r in runs[n]]}, "no cache")
            cache_table.add(t, n, plan.rounds, _tokens_per_s(rows["cache"]), _tokens_per_s(rows["no cache"]),
                            format_ratio(rows["cache"]))
            if n == longest:
                cache_ratio[t] = rows["cache"].ratio
        differ = sorted(set(outputs.pop("no-cache differences", [])))
        if differ:
            checks_failed.append(f"{t} thread(s): without the cache the greedy token differs at new token(s) "
                                 f"{differ}")
    torch.set_num_threads(old_threads)

    at = 128 if 128 in plan.lengths else plan.lengths[len(plan.lengths) // 2]
    agreement = bf16_agreement(half, outputs["course"], outputs["course bf16"], plan.prompt_tokens, at)
    raw["bf16_agreement"] = agreement
    vs_hf_all = [summaries[t][n]["vs_transformers"]["course"].ratio for t in plan.threads for n in plan.lengths]
    vs_limit_at = [summaries[t][at]["vs_limit"]["course"].ratio for t in plan.threads]
    targets = [
        Target("at least as fast as transformers at every length and thread count (aim 1.1x)",
               min(vs_hf_all) >= 1.0, f"worst {min(vs_hf_all):.2f}x, best {max(vs_hf_all):.2f}x"),
        Target(f"within 5% of the limit at {at} tokens", min(vs_limit_at) >= 0.95,
               ", ".join(f"{t} thread(s) {r:.2f}x" for t, r in zip(plan.threads, vs_limit_at))),
        Target(f"at least 5x from the cache at {longest} tokens", min(cache_ratio.values()) >= 5.0,
               ", ".join(f"{t} thread(s) {r:.1f}x" for t, r in cache_ratio.items())),
        Target("identical tokens (course = transformers, cache = no cache at the timed steps)", not checks_failed,
               "; ".join(checks_failed)),
    ]
    gb_s = {t: chain.bytes_per_token / summaries[t][longest]["vs_limit"]["limit"].median / 1e9 for t in plan.threads}
    shorter = " and ".join(str(n) for n in plan.lengths if n != longest)
    notes = [
        f"Weights: random, `GPT2Config({', '.join(f'{k}={v}' for k, v in plan.hf_config.items())})` seeded "
        f"{plan.seed}, {course.num_parameters():,} parameters; the two models' logits on the prompt differ by at "
        f"most {logit_gap:.1e}. transformers' attention: `{getattr(hf.config, '_attn_implementation', '?')}`.",
        f"The limit reads {chain.bytes_per_token / 1e6:.0f} MB of float32 weights per token: "
        + ", ".join(f"{gb:.1f} GB/s on {t} thread(s)" for t, gb in gb_s.items())
        + " (the memory bandwidth the machine gave a matrix-vector product). At " + str(at) + " tokens a "
          "one-token step of the course costs "
        + ", ".join(f"{1 / r:.2f}x ({t} thread(s))" for t, r in zip(plan.threads, vs_limit_at))
        + " the time of reading every weight once.",
        f"bfloat16 against float32 greedy tokens over the first {at} new tokens: free-running, the texts "
        + (f"first differ at new token {agreement['first_difference']}" if agreement["first_difference"]
           else "are identical")
        + f" and {agreement['free_running']:.0%} of the positions hold the same token; teacher-forced (given "
          f"float32's text so far), bfloat16 picks float32's next token at {agreement['teacher_forced']:.0%} of the "
          f"steps. Random weights give flat, near-tied distributions, where rounding flips more choices than a "
          f"trained model's peaked ones would.",
        f"Tokens/s after {shorter} tokens are read from the {longest}-token runs (per-call time stamps).",
        f"Without the cache, step k reruns the model over the prompt and the k tokens so far, and a whole run of "
        f"{longest} tokens takes " + ", ".join(f"{s:.0f} s on {t} thread(s)" for t, s in nocache_run.items())
        + f"; so instead of whole runs, each round times the no-cache step at new tokens {positions} (interleaved "
          f"with a whole cached run) and sums the {longest} steps along the straight lines between them (the timed "
          "steps lie within " + ", ".join(f"{100 * g:.0f}% ({t} thread(s))" for t, g in step_fit.items())
        + " of the line through the first and the last). Each timed step's greedy token is checked against the "
          "cached run's.",
    ]
    plots = []
    if plot_dir is not None:
        plots.append(_plot(summaries, plan, course.num_parameters(), plot_dir / "generation.png"))
    return Section(
        key="generation", title="Generation: greedy decoding of GPT-2 124M (random weights)",
        intro=("The course's `lm_course.sampling.generate` (KV cache) against `transformers`' "
               "`GPT2LMHeadModel.generate` on identical weights, and against **the limit**: the bare "
               "matrix-vector products over every weight matrix of a one-token step (float32, batch 1), the "
               "fastest batch-1 decoding can be without reading fewer bytes. Ratios above 1 mean the first is "
               "faster."),
        tables=[table, cache_table, bf16_table], targets=targets, notes=notes, plots=plots, raw=raw,
        checks_failed=checks_failed)


def _plot(summaries: dict, plan: Plan, parameters: int, path: Path) -> Path:
    """Tokens/s against new tokens, one panel per thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(plan.threads), figsize=(4.2 * len(plan.threads), 3.2), sharey=True,
                             squeeze=False)
    for ax, t in zip(axes[0], plan.threads):
        for name, style in (("course", "o-"), ("transformers", "s--"), ("limit", ":")):
            ys = [1 / summaries[t][n]["vs_limit"][name].median for n in plan.lengths]
            ax.plot(plan.lengths, ys, style, label=name)
        ax.set_title(f"{t} thread(s)")
        ax.set_xlabel("new tokens")
        ax.set_xscale("log", base=2)
        ax.set_xticks(plan.lengths, [str(n) for n in plan.lengths])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("tokens / s")
    axes[0][0].legend()
    fig.suptitle(f"Greedy decoding, GPT-2 shape ({parameters / 1e6:.0f}M parameters, random weights), batch 1")
    from bench.report import save_figure

    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    from bench.report import section_main

    return section_main(run, __doc__, "tiny shapes, 1 round: checks that it runs", argv)


if __name__ == "__main__":
    sys.exit(main())
