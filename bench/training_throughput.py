"""Characters per second of chapter 5's training step, against the same
model built from ``torch.nn.TransformerEncoderLayer`` (issue 17, "Training
throughput").

    python bench/training_throughput.py            # about 1.5 minutes on 2 cores
    python bench/training_throughput.py --quick    # a tiny model, 1 round

The step is :func:`lm_course.train.training_step` (forward, cross-entropy,
backward, gradient clipping, AdamW from :func:`lm_course.train.make_optimizer`)
on batches of the reference recipe's shape (:data:`lm_course.recipes.GPT_RECIPE`:
32 windows of 128 characters, 6 layers x 6 heads x 192), under the recipe's
autocast. Three models, interleaved on 1 and on 2 threads:

* **course GPT, recipe**: :class:`lm_course.gpt.GPT` exactly as the recipe
  builds it (its dropout);
* **course GPT, no dropout** and **torch encoder, no dropout**: the course's
  GPT against :class:`TorchEncoderLM`, the same-size model made of
  ``nn.TransformerEncoderLayer(norm_first=True)`` (pre-LN), GPT-2's tanh GELU,
  a causal mask, and the same embeddings, final LayerNorm and tied head. Both
  without dropout, because ``TransformerEncoderLayer`` has one ``dropout`` for
  the attention weights, the MLP's hidden layer and both residual branches,
  while the course's GPT drops only embeddings and residual branches: with
  dropout on they would not do the same work.

Characters per second = batch x block size / seconds per step. Serves
``05_transformer.ipynb``, "Training the GPT" and "The reference checkpoint".

A second table times chapter 2's MLP step (``02_tokens_and_embeddings.ipynb``,
"A speed trick") both ways: ``forward`` computing the formula, and a model
built with ``lookup_training=True`` (:meth:`lm_course.mlp.MLPLanguageModel.fast_logits`),
same weights, same batches, at the notebook's shape (8 characters, d = 16,
H = 512, 32 windows of 64) and the shipped recipe's (d = 64, H = 2048, 32 x 128).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import Section, Table, timed_section  # noqa: E402
from bench.timing import Summary, format_ratio, interleaved, summarize  # noqa: E402
from lm_course.gpt import GPT, GPTConfig  # noqa: E402

__all__ = ["Plan", "FULL", "QUICK", "TorchEncoderLM", "run"]


@dataclass(frozen=True)
class Plan:
    """Shapes and rounds (a comment per field); ``None``: the reference recipe's value."""

    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None
    batch_size: int | None = None
    threads: tuple[int, ...] = (1, 2)
    steps_per_call: int = 2  # training steps per timed call
    mlp_steps_per_call: int = 4  # MLP training steps per timed call
    mlp_shapes: tuple[tuple[str, int, int, int, int], ...] = (  # (name, n_embd, n_hidden, batch, block)
        ("chapter 2 notebook", 16, 512, 32, 64), ("shipped recipe", 64, 2048, 32, 128))
    rounds: int = 5
    warmup: int = 1
    seed: int = 0


FULL = Plan()
QUICK = Plan(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=4, steps_per_call=1, rounds=1, warmup=1,
             mlp_steps_per_call=1, mlp_shapes=(("tiny", 8, 64, 4, 16),))


class TorchEncoderLM(nn.Module):
    """A GPT of ``config``'s size made of PyTorch's own Transformer layers::

        x = drop(wte[idx] + wpe[positions])                         (B, T, C)
        x = TransformerEncoder(n_layer x TransformerEncoderLayer(   pre-LN, tanh GELU,
                C, n_head, 4C, norm_first=True))(x, causal mask)    (B, T, C)
        logits = ln_f(x) @ wte^T                                     (B, T, V), tied head

    The same parameters as :class:`lm_course.gpt.GPT` of ``config``, one for
    one (``in_proj`` = ``c_attn``, ``out_proj`` = ``attn.c_proj``, ``linear1``
    = ``c_fc``, ``linear2`` = ``mlp.c_proj``, ``norm1``/``norm2`` =
    ``ln_1``/``ln_2``). Its single ``dropout`` is ``config.dropout``.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C)
        self.wpe = nn.Embedding(config.block_size, C)
        self.drop = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(C, config.n_head, 4 * C, dropout=config.dropout,
                                           activation=functools.partial(F.gelu, approximate="tanh"),
                                           layer_norm_eps=1e-5, batch_first=True, norm_first=True,
                                           bias=config.bias)
        self.blocks = nn.TransformerEncoder(layer, config.n_layer, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(C, eps=1e-5, bias=config.bias)
        self.head = nn.Linear(C, config.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # tied, as in GPT-2
        mask = nn.Transformer.generate_square_subsequent_mask(config.block_size)  # (T, T): -inf above the diagonal
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, V)`` logits."""
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        x = self.blocks(x, mask=self.mask[:T, :T], is_causal=True)  # (B, T, C)
        return self.head(self.ln_f(x))  # (B, T, V)


def _chars_per_s(summary: Summary, chars: int) -> str:
    if summary.n == 1:
        return f"{chars / summary.median:,.0f}"
    return f"{chars / summary.median:,.0f} ({chars / summary.max:,.0f}-{chars / summary.min:,.0f})"


@timed_section
def run(quick: bool = False, plot_dir: Path | None = None, plan: Plan | None = None) -> Section:
    """Run the section; returns its table and raw numbers."""
    from lm_course.recipes import GPT_RECIPE as RECIPE
    from lm_course.corpus import corpus_ids, corpus_tokenizer
    from lm_course.train import lm_loss, make_optimizer, random_windows, training_step

    plan = plan or (QUICK if quick else FULL)
    recipe = replace(RECIPE, **{k: getattr(plan, k) for k in ("n_layer", "n_head", "n_embd", "block_size",
                                                              "batch_size") if getattr(plan, k) is not None})
    train_cfg = recipe.train_config(progress=False)
    V = corpus_tokenizer().vocab_size
    config = recipe.gpt_config(V)
    plain = replace(config, dropout=0.0, attn_dropout=0.0) if hasattr(config, "attn_dropout") \
        else replace(config, dropout=0.0)
    gen = torch.Generator().manual_seed(plan.seed)
    batches = [random_windows(corpus_ids("train"), recipe.batch_size, recipe.block_size, gen)
               for _ in range(plan.steps_per_call)]  # (B, T) inputs and targets
    chars = recipe.batch_size * recipe.block_size * plan.steps_per_call  # characters per timed call
    autocast = train_cfg.autocast

    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ctx = torch.autocast("cpu", dtype=getattr(torch, autocast)) if autocast else contextlib.nullcontext()
        with ctx:  # as lm_course.train.train wraps the loss under the recipe's autocast
            return lm_loss(model, x, y).float()

    torch.manual_seed(plan.seed)
    models = {"course GPT, recipe": GPT(config), "course GPT, no dropout": GPT(plain),
              "torch encoder, no dropout": TorchEncoderLM(plain)}
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"the models differ in size: {counts}")
    optimizers = {name: make_optimizer(m, train_cfg) for name, m in models.items()}

    def case(name: str):
        model, opt = models[name], optimizers[name]

        def step() -> None:
            model.train()
            for x, y in batches:
                training_step(model, opt, x, y, train_cfg.grad_clip, loss_fn)
        return step

    print(f"training_throughput: {counts['course GPT, recipe']:,} parameters, {len(plan.threads)} thread counts x "
          f"{plan.rounds} rounds x {len(models)} models x {plan.steps_per_call} steps", flush=True)
    old_threads = torch.get_num_threads()
    table = Table(f"Training steps of {recipe.batch_size} x {recipe.block_size} characters ({recipe.n_layer} layers x "
                  f"{recipe.n_head} heads x {recipe.n_embd}, {counts['course GPT, recipe']:,} parameters, autocast "
                  f"{autocast}): characters/s (median and range), speed ratio against the torch encoder per round",
                  ["threads", "model", "characters/s", "vs torch encoder"])
    raw: dict = {"plan": plan.__dict__, "recipe": recipe.__dict__, "parameters": counts, "threads": {}}
    for t in plan.threads:
        torch.set_num_threads(t)
        times = interleaved({name: case(name) for name in models}, rounds=plan.rounds, warmup=plan.warmup)
        rows = summarize(times, "torch encoder, no dropout")
        for name, s in rows.items():
            table.add(t, name, _chars_per_s(s, chars), format_ratio(s))
        raw["threads"][t] = {"seconds": times, "summary": {k: v.as_dict() for k, v in rows.items()}}
    torch.set_num_threads(old_threads)
    mlp_table, raw["mlp"] = _mlp_table(plan)
    notes = [f"Dropout: the recipe's is {config.dropout} on embeddings and residual branches "
             f"(attention weights: {config.attention_dropout}); the two compared models have none (see the "
             "module docstring of bench/training_throughput.py for why).",
             f"Autocast: {autocast} (the recipe's); gradient clipping {train_cfg.grad_clip}; AdamW with weight "
             "decay on the matrices (`lm_course.train.make_optimizer`)."]
    if quick:
        notes.append("Quick mode: a tiny model, not the recipe's shape.")
    return Section(
        key="training", title="Training throughput: chapter 5's GPT step",
        intro=("Characters per second of `lm_course.train.training_step` on the reference recipe's GPT, against "
               "the same-size model built from `torch.nn.TransformerEncoderLayer` with a causal mask; speed "
               "ratios above 1 mean the course's model trains faster."),
        tables=[table, mlp_table], notes=notes, raw=raw)


def _mlp_table(plan: Plan) -> tuple[Table, dict]:
    """Chapter 2's MLP training step, the formula against the look-up tables (module docstring)."""
    from lm_course.corpus import corpus_ids, corpus_tokenizer
    from lm_course.mlp import MLPConfig, MLPLanguageModel
    from lm_course.train import TrainConfig, make_optimizer, random_windows, training_step

    table = Table("Chapter 2's MLP (8 characters of context), one training step: the formula in `forward` against "
                  "`lookup_training=True` (characters/s, median and range; ratio: look-up speed over formula's)",
                  ["threads", "shape", "forward", "characters/s", "vs formula"])
    raw: dict = {}
    old_threads = torch.get_num_threads()
    for shape, d, H, batch, block in plan.mlp_shapes:
        config = MLPConfig(vocab_size=corpus_tokenizer().vocab_size, context_length=8, n_embd=d, n_hidden=H)
        torch.manual_seed(plan.seed)
        formula = MLPLanguageModel(config)
        lookup = MLPLanguageModel(config, lookup_training=True)
        lookup.load_state_dict(formula.state_dict())  # the same weights
        cfg = TrainConfig(batch_size=batch, block_size=block, progress=False)
        gen = torch.Generator().manual_seed(plan.seed)
        batches = [random_windows(corpus_ids("train"), batch, block, gen) for _ in range(plan.mlp_steps_per_call)]
        models = {"formula": formula, "look-up tables": lookup}
        optimizers = {name: make_optimizer(m, cfg) for name, m in models.items()}

        def case(name: str):
            def step() -> None:
                models[name].train()
                for x, y in batches:
                    training_step(models[name], optimizers[name], x, y, cfg.grad_clip)
            return step

        for t in plan.threads:
            torch.set_num_threads(t)
            times = interleaved({name: case(name) for name in models}, rounds=plan.rounds, warmup=plan.warmup)
            rows = summarize(times, "formula")
            for name, s in rows.items():
                table.add(t, f"{shape} (d={d}, H={H}, {batch} x {block})", name,
                          _chars_per_s(s, batch * block * plan.mlp_steps_per_call), format_ratio(s))
            raw[f"{shape}, {t} threads"] = {"seconds": times, "summary": {k: v.as_dict() for k, v in rows.items()}}
    torch.set_num_threads(old_threads)
    return table, raw


def main(argv: list[str] | None = None) -> int:
    from bench.report import section_main

    return section_main(run, __doc__, "a tiny model, 1 round", argv)


if __name__ == "__main__":
    sys.exit(main())
