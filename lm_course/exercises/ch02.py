"""Checkers for the exercises of ``02_tokens_and_embeddings.ipynb``.

Exercises 1 and 5 take a function the student writes (Exercise 5's stub
raises ``NotImplementedError``); exercises 2 to 4 take a value. Every checker
prints ✅ or ❌ with a hint naming the likely mistake, returns
``True``/``False`` and never raises into the notebook.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from lm_course.exercises._check import close, report, require_number
from lm_course.exercises._check import call_student

__all__ = ["check_merge", "check_first_merge", "check_mlp_parameters", "check_char_perplexity",
           "check_training_step", "FIRST_MERGE_TEXT", "MLP_EXERCISE_CONFIG", "BPE_SCORE"]

#: Exercise 2's text (the example of Hugging Face's NLP course).
FIRST_MERGE_TEXT = "hug pug pun bun hugs"

#: Exercise 3's model size: ``MLPConfig(**MLP_EXERCISE_CONFIG)``.
MLP_EXERCISE_CONFIG = {"vocab_size": 63, "context_length": 5, "n_embd": 10, "n_hidden": 200}

#: Exercise 4's numbers: a BPE-level model's score on the validation split
#: (its perplexity per token is ``2 ** 4.6``).
BPE_SCORE = {"bits_per_token": 4.6, "tokens": 88_000, "characters": 206_696}


def _reference_merge(ids, pair, new_id):
    from lm_course.tokenizers.bpe import merge_pair

    return merge_pair(ids, pair, new_id)


def check_merge(merge) -> bool:
    """Exercise 1: ``merge(ids, pair, new_id)`` replaces every occurrence of
    ``pair`` in ``ids``, left to right, by ``new_id``."""
    name = "Exercise 1 (one BPE merge)"
    if not callable(merge):
        print(f"❌ {name}: expected a function merge(ids, pair, new_id), got {type(merge).__name__}.")
        return False
    rng = random.Random(0)
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5], (5, 5), 7), ([5, 5, 5, 5], (5, 5), 7),
             ([], (1, 2), 9), ([1], (1, 2), 9), ([3, 1, 2], (1, 2), 9), ([2, 1], (1, 2), 9)]
    cases += [([rng.randrange(3) for _ in range(20)], (rng.randrange(3), rng.randrange(3)), 3)
              for _ in range(20)]
    for ids, pair, new_id in cases:
        want = _reference_merge(ids, pair, new_id)
        try:
            got = merge(list(ids), pair, new_id)
        except Exception as err:  # a student's bug must not stop the notebook
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) raised "
                                           f"{type(err).__name__}: {err}.")
        if not isinstance(got, (list, tuple)):
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) returned "
                                           f"{type(got).__name__}; return a list of ids.")
        if list(got) != want:
            hint = (f"merge({ids}, {pair}, {new_id}) gave {list(got)}, expected {want}. "
                    "Walk left to right; after a match skip both ids (so [5, 5, 5] becomes [7, 5]).")
            return report(False, name, "", hint)
    return report(True, name, "This loop is the whole of BPE training, repeated once per merge.", "")


def check_first_merge(answer: object) -> bool:
    """Exercise 2: the first merge BPE learns on :data:`FIRST_MERGE_TEXT`
    (with the course's pre-split: a word keeps its leading space). Accepts
    ``"ug"``, ``("u", "g")`` or the byte ids ``(117, 103)``."""
    from lm_course.tokenizers import BPETokenizer

    name = "Exercise 2 (the first merge)"
    tok = BPETokenizer.train(FIRST_MERGE_TEXT, 257)
    a, b = tok.merges[0]
    want = tok.token_str(a) + tok.token_str(b)
    if isinstance(answer, str):
        got = answer
    elif isinstance(answer, (tuple, list)) and len(answer) == 2:
        try:
            got = "".join(x if isinstance(x, str) else bytes([int(x)]).decode("latin-1") for x in answer)
        except (TypeError, ValueError, OverflowError):
            got = None
    else:
        got = None
    if got is None:
        print(f"❌ {name}: answer with a string such as 'ab' or a pair such as ('a', 'b').")
        return False
    return report(got == want, name,
                  f"{want!r} occurs {tok.merge_counts[0]} times (in hug, pug and hugs).",
                  "split into chunks ('hug', ' pug', ' pun', ' bun', ' hugs'), then count each "
                  "adjacent pair of characters in every chunk.")


def check_mlp_parameters(answer: object) -> bool:
    """Exercise 3: the number of parameters of
    ``MLPLanguageModel(MLPConfig(**MLP_EXERCISE_CONFIG))``."""
    name = "Exercise 3 (counting parameters)"
    value = require_number(answer, name)
    if value is None:
        return False
    c = MLP_EXERCISE_CONFIG
    V, n, d, H = c["vocab_size"], c["context_length"], c["n_embd"], c["n_hidden"]
    want = (V + 1) * d + (n * d * H + H) + (H * V + V)
    if value == want - d:
        return report(False, name, "", "almost: the embedding table has one more row, the padding token.")
    if value == want - H - V:
        return report(False, name, "", "almost: do not forget the two bias vectors.")
    return report(value == want, name,
                  f"{want:,} = embeddings {(V + 1) * d:,} + hidden layer {n * d * H + H:,} + "
                  f"output layer {H * V + V:,}.",
                  "add the embedding table ((V + 1) x d, with the padding row), the hidden layer "
                  "(n*d x H weights + H biases) and the output layer (H x V + V).")


def check_char_perplexity(answer: object) -> bool:
    """Exercise 4: the perplexity *per character* of a model whose perplexity
    per token is ``2 ** BPE_SCORE["bits_per_token"]`` on a text of
    ``BPE_SCORE["characters"]`` characters cut into ``BPE_SCORE["tokens"]``
    tokens: ``2 ** (bits per token * tokens / characters)``."""
    name = "Exercise 4 (perplexity per character)"
    value = require_number(answer, name)
    if value is None:
        return False
    s = BPE_SCORE
    per_token = 2 ** s["bits_per_token"]
    bpc = s["bits_per_token"] * s["tokens"] / s["characters"]
    want = 2 ** bpc
    if close(value, bpc):
        return report(False, name, "", f"{value:.3f} is the number of bits per character; "
                                       "the perplexity is 2 to the power of it.")
    if close(value, 2 ** (s["bits_per_token"] * s["characters"] / s["tokens"])):
        return report(False, name, "", "the ratio is upside down: fewer tokens than characters "
                                       "means a smaller perplexity per character than per token.")
    if close(value, per_token * s["tokens"] / s["characters"]):
        return report(False, name, "", "perplexities do not scale linearly: convert to bits first "
                                       "(log2 of the perplexity), rescale the bits, then take 2 to the power.")
    return report(close(value, want), name,
                  f"{per_token:.2f} per token is {want:.3f} per character: a character model would need "
                  f"{bpc:.3f} bits per character to match it.",
                  "perplexity = 2 ** (bits per token); the total number of bits does not depend on "
                  "how the text is cut (bits per token x tokens = bits per character x characters).")


# --------------------------------------------------------------------- Exercise 5: one training step
_STEP_STUB_HINT = ("compute the loss (F.cross_entropy on logits reshaped to (B*T, V) against y reshaped "
                   "to (B*T,)), then optimizer.zero_grad(), loss.backward(), "
                   "torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) unless grad_clip is None, "
                   "optimizer.step(), and return loss.item().")


def _variant_step(model, optimizer, x, y, grad_clip: float | None = 1.0, *, zero: bool = True,
                  clip: str | None = "all", step: bool = True) -> float:
    """The training step with one thing done wrong, to recognise a student's
    mistake: no ``zero_grad`` (``zero=False``), no clipping (``clip=None``),
    each tensor clipped on its own (``clip="each"``), no update (``step=False``)."""
    import torch

    from lm_course.train import lm_loss

    loss = lm_loss(model, x, y)
    if zero:
        optimizer.zero_grad()
    loss.backward()
    if grad_clip is not None and clip is not None:
        groups = [list(model.parameters())] if clip == "all" else [[p] for p in model.parameters()]
        for group in groups:
            torch.nn.utils.clip_grad_norm_(group, grad_clip)
    if step:
        optimizer.step()
    return loss.item()


def _wrong_steps() -> dict[str, tuple[Callable, str]]:
    """Common wrong versions of the training step and the hint each deserves."""
    from functools import partial

    no_step, no_zero_grad = partial(_variant_step, step=False), partial(_variant_step, zero=False)
    no_clip, clip_each_tensor = partial(_variant_step, clip=None), partial(_variant_step, clip="each")
    return {
        "no_step": (no_step, "the weights never change: after loss.backward() (and not with a zero_grad in "
                             "between) call optimizer.step(), which applies the update."),
        "no_zero_grad": (no_zero_grad, "the gradients pile up from step to step: call optimizer.zero_grad() "
                                       "before loss.backward() (backward adds to .grad, it does not overwrite it)."),
        "no_clip": (no_clip, "the update is not clipped: call torch.nn.utils.clip_grad_norm_(model.parameters(), "
                             "grad_clip), with the argument grad_clip, between loss.backward() and "
                             "optimizer.step() (after the step it is too late)."),
        "clip_each_tensor": (clip_each_tensor, "you clip each parameter's gradient on its own; clip_grad_norm_ "
                                               "takes all of model.parameters() at once and scales them together."),
    }


def _run_steps(step_fn: Callable, grad_clip: float | None, optimizer_name: str) -> tuple[list[float], list]:
    """Run ``step_fn`` for a few steps on a small MLP and a fixed stream, in
    the loop of :func:`lm_course.train.train` (same initial weights, batches
    and learning rates every call); returns the losses and the final weights.
    Errors propagate to the caller."""
    import torch

    from lm_course.train import lr_at, make_optimizer, random_windows

    cfg = _step_config(grad_clip)
    model = _step_model()
    if optimizer_name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    else:
        optimizer = make_optimizer(model, cfg)
    batches = torch.Generator().manual_seed(cfg.seed)
    model.train()
    losses = []
    for step in range(cfg.steps):
        if optimizer_name != "sgd":
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
        x, y = random_windows(_step_stream(), cfg.batch_size, cfg.block_size, batches)  # (B, T), (B, T)
        losses.append(step_fn(model, optimizer, x, y, grad_clip))
    return losses, [p.detach().clone() for p in model.parameters()]


def _step_model():
    """The small MLP the training step is checked on: the same initial weights
    at every call, without touching the notebook's random state."""
    import torch

    from lm_course.mlp import MLPConfig, MLPLanguageModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return MLPLanguageModel(MLPConfig(vocab_size=12, context_length=3, n_embd=4, n_hidden=16))


def _step_config(grad_clip: float | None):
    from lm_course.train import TrainConfig

    return TrainConfig(steps=6, batch_size=4, block_size=8, lr=0.5, warmup_steps=2, grad_clip=grad_clip,
                       eval_interval=1000, eval_batches=1, seed=0, progress=False)


def _step_stream():
    import torch

    g = torch.Generator().manual_seed(1)
    base = torch.arange(400) % 12  # a noisy cycle: learnable, so the gradients are large
    return torch.where(torch.rand(400, generator=g) < 0.8, base, torch.randint(12, (400,), generator=g))


def _same(a: tuple[list[float], list], b: tuple[list[float], list]) -> bool:
    import torch

    (la, wa), (lb, wb) = a, b
    return (len(la) == len(lb) and all(math.isclose(u, v, rel_tol=1e-5, abs_tol=1e-6) for u, v in zip(la, lb))
            and all(torch.allclose(u, v, rtol=1e-4, atol=1e-6) for u, v in zip(wa, wb)))


def check_training_step(training_step: object) -> bool:
    """Exercise 5: ``training_step(model, optimizer, x, y, grad_clip)`` makes
    one optimiser step on the batch and returns its loss as a float, exactly
    like :func:`lm_course.train.training_step`. Checked in the loop of
    :func:`lm_course.train.train` with plain SGD (where a missing or misplaced
    clip shows at once), with ``grad_clip=None``, and with AdamW against
    :func:`lm_course.train.train` itself."""
    import torch

    from lm_course.train import train, training_step as reference

    name = "Exercise 5 (one training step)"

    def as_float(value: object) -> float | None:
        try:
            return float(value.detach() if isinstance(value, torch.Tensor) else value)
        except (TypeError, ValueError, RuntimeError):
            return None

    def student(model, optimizer, x, y, clip):
        ok, value = call_student(training_step, name, _STEP_STUB_HINT, model, optimizer, x, y, clip)
        if not ok:
            raise _Reported
        loss = as_float(value)
        if loss is None:
            print(f"❌ {name}: your function returned {type(value).__name__}; return the loss as a float "
                  "(loss.item()).")
            raise _Reported
        return loss

    try:
        got = _run_steps(student, 0.05, "sgd")
        want = _run_steps(reference, 0.05, "sgd")
        if not _same(got, want):
            if not math.isclose(got[0][0], want[0][0], rel_tol=1e-5):
                return report(False, name, "", "the loss of the very first batch differs from the package's: "
                                               "use F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)) "
                                               "on model(x), the mean over every position.")
            for wrong, hint in _wrong_steps().values():
                if _same(got, _run_steps(wrong, 0.05, "sgd")):
                    return report(False, name, "", hint)
            return report(False, name, "", "the losses after the first step differ from the package's: "
                                           "the order is zero_grad, backward, clip, step. " + _STEP_STUB_HINT)
        if not _same(_run_steps(student, None, "sgd"), _run_steps(reference, None, "sgd")):
            return report(False, name, "", "with grad_clip=None the step must not clip at all.")
        # and in the real thing: AdamW, warm-up and cosine, against train() itself
        model = _step_model()
        history = train(model, _step_stream(), None, _step_config(1.0))
        mine = _run_steps(student, 1.0, "adamw")
        if not _same(mine, (history.train_loss, [p.detach() for p in model.parameters()])):
            return report(False, name, "", "right with SGD but not with AdamW inside train(): does your step "
                                           "build its own optimiser? Use the optimizer it is given.")
    except _Reported:
        return False
    except Exception as err:  # the student's code: report, never raise
        return report(False, name, "", f"running your step raised {type(err).__name__}: {err}")
    return report(True, name, "The same losses and weights as lm_course.train.train, step for step. "
                              "These six lines are the heart of every training loop in the course.", "")


class _Reported(Exception):
    """The student's call failed and the reason is already printed."""
