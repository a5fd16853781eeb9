"""Checkers for the exercises of ``02_tokens_and_embeddings.ipynb``.

Every exercise takes a function the student writes: one BPE merge, the
pair counts, a small BPE trainer (checked against
:class:`lm_course.tokenizers.BPETokenizer`), the MLP's forward pass (against
:meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula`), one training
step (against :func:`lm_course.train.train`), and two with no notebook cell
yet: the cross-entropy from logits (against ``F.cross_entropy``) and an
AdamW step (against ``torch.optim.AdamW``). Every checker
prints ✅ or ❌ with a hint naming the likely mistake and never raises into
the notebook (see :mod:`lm_course.exercises._check`).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable
from functools import partial

from lm_course.exercises._check import Stop, call, current_name, exercise, report
from lm_course.tokenizers import BPETokenizer
from lm_course.tokenizers.bpe import SPLIT_PATTERN, merge_pair

# The notebook's checkers, in its order (lm_course.grading reads them from here). check_cross_entropy and
# check_adamw_step, whose notebook cells are still to come, are public but not listed yet.
__all__ = ["check_merge", "check_pair_counts", "check_train_bpe", "check_mlp_logits", "check_training_step", "check_cross_entropy", "check_adamw_step",
           "pair_counts_reference", "train_bpe_reference", "mlp_logits_reference", "cross_entropy_reference",
           "adamw_step_reference"]

def _reference_merge(ids, pair, new_id):
    return merge_pair(ids, pair, new_id)


@exercise("ch02.merge")
def check_merge(merge) -> bool:
    """Exercise 1: ``merge(ids, pair, new_id)`` returns a new list in which
    every occurrence of ``pair`` in ``ids``, left to right, is ``new_id``;
    ``ids`` itself is left unchanged."""
    name = "Exercise 1 (one BPE merge)"
    rng = random.Random(0)
    cases = [([1, 2, 3, 1, 2], (1, 2), 9), ([5, 5, 5], (5, 5), 7), ([5, 5, 5, 5], (5, 5), 7),
             ([], (1, 2), 9), ([1], (1, 2), 9), ([3, 1, 2], (1, 2), 9), ([2, 1], (1, 2), 9)]
    cases += [([rng.randrange(3) for _ in range(20)], (rng.randrange(3), rng.randrange(3)), 3)
              for _ in range(20)]
    for ids, pair, new_id in cases:
        want = _reference_merge(ids, pair, new_id)
        got = call(merge, list(ids), pair, new_id,
                   on_error=lambda err, ids=ids, pair=pair, new_id=new_id: f"(on merge({ids}, {pair}, {new_id}))")
        if not isinstance(got, (list, tuple)):
            return report(False, name, "", f"merge({ids}, {pair}, {new_id}) returned "
                                           f"{type(got).__name__}; return a list of ids.")
        if list(got) != want:
            got = list(got)
            if ids and got == want[:-1] and want[-1] == ids[-1]:
                hint = (f"merge({ids}, {pair}, {new_id}) gave {got}, expected {want}: the last id is lost. When "
                        "the loop stops one short of the end (to look at ids[i + 1]), append the last id too.")
            elif len(got) > len(want) and new_id in got:
                hint = (f"merge({ids}, {pair}, {new_id}) gave {got}, expected {want}: after a match, skip BOTH "
                        "ids of the pair (i += 2), so [5, 5, 5] becomes [7, 5], not [7, 7].")
            elif new_id not in got and new_id in want:
                hint = (f"merge({ids}, {pair}, {new_id}) gave {got}, expected {want}: the pair was never "
                        "replaced; compare (ids[i], ids[i + 1]) with pair, as tuples.")
            else:
                hint = (f"merge({ids}, {pair}, {new_id}) gave {got}, expected {want}. "
                        "Walk left to right; after a match skip both ids (so [5, 5, 5] becomes [7, 5]).")
            return report(False, name, "", hint)
    return report(True, name, "This loop is the whole of BPE training, repeated once per merge.", "")


# --------------------------------------------------------------------- Exercise 2: pair counts
def pair_counts_reference(chunks, *, across: bool = False, wrap: bool = False,
                          overlapping: bool = True) -> dict[tuple[int, int], int]:
    """How often each adjacent pair of ids occurs inside the chunks (a list
    of lists of ids), every position counted (``[5, 5, 5]`` holds ``(5, 5)``
    twice), never across two chunks: the counts BPE training starts from.

    ``across=True`` (the chunks glued together first), ``wrap=True`` (the last
    id of a chunk paired with its first) and ``overlapping=False`` (a pair of
    equal ids skips the next position) build the commonest wrong versions."""
    from collections import Counter

    seqs = [[i for chunk in chunks for i in chunk]] if across else [list(c) for c in chunks]
    out: Counter = Counter()
    for seq in seqs:
        pairs = list(zip(seq, seq[1:] + seq[:1])) if wrap and len(seq) > 1 else list(zip(seq, seq[1:]))
        if overlapping:
            out.update(pairs)
            continue
        i = 0
        while i < len(pairs):
            out[pairs[i]] += 1
            i += 2 if pairs[i][0] == pairs[i][1] else 1
    return dict(out)


def _as_pair_dict(got: object) -> dict[tuple[int, int], int] | None:
    """The student's counts as ``{(a, b): n}`` without zero entries, or ``None``."""
    try:
        items = dict(got).items()
        out = {}
        for key, n in items:
            if not (isinstance(key, tuple) and len(key) == 2):
                return None
            if int(n) != 0:
                out[(int(key[0]), int(key[1]))] = int(n)
        return out
    except (TypeError, ValueError):
        return None


_PAIR_SLIPS = [
    (dict(across=True), "you counted a pair across two chunks (the last id of one and the first of the next): "
                        "BPE never merges across a chunk boundary, so count inside each chunk separately."),
    (dict(wrap=True), "you paired the last id of a chunk with its first (wrap-around): use zip(chunk, chunk[1:]), "
                      "which stops at the last pair."),
    (dict(overlapping=False), "every position counts, overlapping pairs too: [5, 5, 5] holds (5, 5) twice "
                              "(merging is left to right and skips, counting is not)."),
]


def _pair_cases() -> list[list[list[int]]]:
    rng = random.Random(1)
    cases = [[[1, 2, 3], [1, 2]], [[5, 5, 5]], [[5, 5, 5, 5], [5]], [[1, 2], [2, 1]], [[]], [[7]], [],
             [list(c.encode()) for c in ["hug", " pug", " pun", " bun", " hugs"]]]
    cases += [[[rng.randrange(3) for _ in range(rng.randrange(0, 7))] for _ in range(rng.randrange(1, 5))]
              for _ in range(15)]
    return cases


@exercise("ch02.pair_counts")
def check_pair_counts(fn: Callable) -> bool:
    """Exercise 2: ``fn(chunks)`` counts the adjacent pairs inside each chunk
    (a list of lists of ids) and returns ``{(a, b): count}``; compared with
    the counting of :meth:`lm_course.tokenizers.BPETokenizer.train`."""
    name = "Exercise 2 (counting pairs)"
    for chunks in _pair_cases():
        got = _as_pair_dict(call(fn, [list(c) for c in chunks]))
        if got is None:
            return report(False, name, "", "return a dict (or Counter) from pairs of ids (a, b), as tuples, "
                                           "to how often they occur.")
        want = pair_counts_reference(chunks)
        if got == want:
            continue
        for kw, hint in _PAIR_SLIPS:
            if got == pair_counts_reference(chunks, **kw):
                return report(False, name, "", hint)
        short = pair_counts_reference([c[:-1] for c in chunks])
        if got == short and got != want:
            return report(False, name, "", f"the last pair of a chunk is missing (for chunks {chunks}): "
                                           "zip(chunk, chunk[1:]) or range(len(chunk) - 1) reaches it; "
                                           "range(len(chunk) - 2) stops one pair early.")
        return report(False, name, "", f"for chunks {chunks} expected {want}, got {got}.")
    return report(True, name, "the counts BPE training starts from: in 'hug pug pun bun hugs' the pair "
                              "(u, g) = (117, 103) occurs 3 times, more than any other.", "")


# --------------------------------------------------------------------- Exercise 3: a BPE trainer
def train_bpe_reference(text: str, num_merges: int, *, tie: str = "smallest", split: bool = True,
                        min_count: int = 2) -> list[tuple[int, int]]:
    """The merges, in order, that BPE learns on ``text`` (byte-level, the
    course's pre-split, new ids from 256, ties to the smallest pair of ids,
    stopping early when no pair occurs ``min_count`` times): the same as
    ``BPETokenizer.train(text, 256 + num_merges).merges``. ``tie="first"``
    (the pair seen first wins), ``tie="largest"``, ``split=False`` (no
    pre-split) and ``min_count=1`` build wrong versions."""
    import re

    chunks = [list(c.encode("utf-8")) for c in (re.findall(SPLIT_PATTERN, text) if split else [text])]
    merges = []
    for k in range(num_merges):
        counts = pair_counts_reference(chunks)
        if not counts:
            break
        top = max(counts.values())
        if top < min_count:
            break
        best = [p for p in counts if counts[p] == top]  # in the order first seen
        pair = {"smallest": min(best), "largest": max(best), "first": best[0]}[tie]
        merges.append(pair)
        chunks = [merge_pair_reference(c, pair, 256 + k) for c in chunks]
    return merges


def merge_pair_reference(ids, pair, new_id):
    return _reference_merge(ids, pair, new_id)


_BPE_TEXTS = [("hug pug pun bun hugs", 4), ("bb aa bb aa", 3), ("low lower lowest newer wider", 8),
              ("abab baba", 4), ("aaaa aaa", 3), ("ab.ab.ab", 3), ("zzyy yyzz", 4), ("the cat", 3)]


def _bpe_texts() -> list[tuple[str, int]]:
    rng = random.Random(2)
    texts = list(_BPE_TEXTS)
    for _ in range(6):
        texts.append(("".join(rng.choice("ab c") for _ in range(rng.randrange(8, 30))), rng.randrange(2, 8)))
    return texts


def _package_merges(text: str, num_merges: int) -> list[tuple[int, int]]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopping early (no pair occurs twice) is part of the exercise
        return [tuple(p) for p in BPETokenizer.train(text, 256 + num_merges).merges]


_BPE_SLIPS = [
    (dict(tie="first"), "on a tie (two pairs equally frequent) the package takes the SMALLER pair of ids, "
                        "min(...) over the tied pairs, not the one seen first (max(counts, key=counts.get) "
                        "returns the first)."),
    (dict(tie="largest"), "on a tie the package takes the smaller pair of ids (min over the tied pairs), "
                          "not the larger."),
    (dict(split=False), "pre-split the text first (re.findall(SPLIT_PATTERN, text)) and never merge across "
                        "chunks: a merge such as 'g ' or ' p' glues a word to the next one."),
    (dict(split=False, tie="first"), "pre-split the text (re.findall(SPLIT_PATTERN, text)) and break ties "
                                     "with the smaller pair of ids."),
    (dict(min_count=1), "stop when the most frequent pair occurs only once: merging a pair seen once "
                        "saves nothing (the package stops there and returns fewer merges)."),
]


@exercise("ch02.train_bpe")
def check_train_bpe(fn: Callable) -> bool:
    """Exercise 3: ``fn(text, num_merges)`` returns the list of merges
    ``(a, b)`` in the order learned, compared with
    ``BPETokenizer.train(text, 256 + num_merges).merges`` on short texts
    (ties, repeated letters, pre-split chunks, early stops)."""
    name = "Exercise 3 (a BPE trainer)"
    for text, k in _bpe_texts():
        got = call(fn, text, k)
        try:
            got = [(int(a), int(b)) for a, b in got]
        except (TypeError, ValueError):
            return report(False, name, "", "return a list of merges, each a pair of token ids (a, b).")
        want = _package_merges(text, k)
        if got == want:
            continue
        for kw, hint in _BPE_SLIPS:
            if got == train_bpe_reference(text, k, **kw):
                return report(False, name, "", hint)
        if len(got) > len(want) and got[:len(want)] == want:
            return report(False, name, "", _BPE_SLIPS[-1][1])
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        return report(False, name, "", f"on {text!r} with {k} merges expected {want}, got {got} (they differ "
                                       f"from merge {first} on). New ids are 256, 257, ... in the order learned.")
    return report(True, name, "the same merges as BPETokenizer.train, ties and early stops included. "
                              "The package does the same with a heap and incremental counts, to be fast.", "")


# --------------------------------------------------------------------- Exercise 4: the MLP's forward pass
def mlp_logits_reference(windows, C, W_h, b_h, W_o, b_o, *, tanh: bool = True, order: str = "positions",
                         hidden_bias: bool = True, output_bias: bool = True, transpose: bool = True,
                         softmax: bool = False):
    """``W_o tanh(W_h [C[x_1]; ...; C[x_n]] + b_h) + b_o`` for ``(N, n)`` windows:
    the logits of :meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula`.
    The keywords build wrong versions: no tanh, ``order="reversed"`` (the
    window's positions last to first), ``order="dims"`` (flattened dimension
    by dimension), a missing bias, weights not transposed, softmax applied."""
    import torch

    idx = windows.flip(-1) if order == "reversed" else windows
    e = C[idx]  # (N, n, d)
    e = (e.transpose(-1, -2) if order == "dims" else e).flatten(-2)  # (N, n*d)
    pre = e @ (W_h.T if transpose else W_h) + (b_h if hidden_bias else 0)  # (N, H)
    h = torch.tanh(pre) if tanh else pre
    logits = h @ (W_o.T if transpose else W_o) + (b_o if output_bias else 0)  # (N, V)
    return logits.softmax(-1) if softmax else logits


_MLP_SLIPS = [
    (dict(tanh=False), "the hidden layer needs its non-linearity: h = torch.tanh(e @ W_h.T + b_h); without it "
                       "the two layers collapse into one linear map."),
    (dict(order="reversed"), "concatenate the embeddings in the window's order, first position first "
                             "(C[windows].flatten(-2)); you reversed them."),
    (dict(order="dims"), "flatten (N, n, d) row by row, position after position: C[windows].reshape(N, n * d) "
                         "or .flatten(-2); a transpose before flattening interleaves the positions."),
    (dict(hidden_bias=False), "add the hidden bias b_h before the tanh."),
    (dict(output_bias=False), "add the output bias b_o to the logits."),
    (dict(hidden_bias=False, output_bias=False), "add both biases: b_h before the tanh, b_o to the logits."),
    (dict(transpose=False), "nn.Linear stores its weight as (out, in): multiply by its transpose, e @ W_h.T "
                            "and h @ W_o.T."),
    (dict(softmax=True), "return the logits (before softmax), not probabilities."),
]


def _mlp_cases():
    """``(model, windows)``: the first with ``n d = H = V`` (so a missing
    transpose does not fail on shapes), then random sizes; windows include
    the padding id ``V``."""
    import torch

    from lm_course.mlp import MLPConfig, MLPLanguageModel

    out = []
    sizes = [(12, 3, 4, 12), (7, 2, 3, 5), (10, 4, 2, 6), (5, 1, 3, 8), (20, 5, 4, 16)]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for V, n, d, H in sizes:
            model = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=n, n_embd=d, n_hidden=H))
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_(0, 0.7)  # biases and output weights far from 0, tanh far from linear
            windows = torch.randint(0, V + 1, (9, n))  # (N, n), padding id V included
            windows[0] = V  # an all-padding window: the very start of a text
            out.append((model, windows))
    return out


@exercise("ch02.mlp_logits")
def check_mlp_logits(fn: Callable) -> bool:
    """Exercise 4: ``fn(windows, C, W_h, b_h, W_o, b_o)`` returns the ``(N, V)``
    logits of the MLP language model for ``(N, n)`` windows, compared with
    :meth:`lm_course.mlp.MLPLanguageModel.logits_by_formula` on models of
    several sizes."""
    import torch

    name = "Exercise 4 (the MLP's forward pass)"
    for model, windows in _mlp_cases():
        weights = (model.embedding.weight.detach(), model.hidden.weight.detach(), model.hidden.bias.detach(),
                   model.output.weight.detach(), model.output.bias.detach())
        got = call(fn, windows, *weights,
                   on_error=lambda err: ("Check the shapes: C is (V+1, d), W_h (H, n*d), W_o (V, H) "
                                         "(nn.Linear's (out, in)), so e @ W_h.T and h @ W_o.T."))
        with torch.no_grad():
            want = model.logits_by_formula(windows)  # (N, V)
        try:
            got = torch.as_tensor(got).detach().to(want.dtype)
        except Exception:
            return report(False, name, "", f"return a tensor of logits, got {type(got).__name__}.")
        if got.shape != want.shape:
            return report(False, name, "", f"return one row of V logits per window: shape {tuple(want.shape)}, "
                                           f"got {tuple(got.shape)}.")
        if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            continue
        for kw, hint in _MLP_SLIPS:
            try:
                wrong = mlp_logits_reference(windows, *weights, **kw)
            except RuntimeError:  # a wrong version that does not fit these shapes
                continue
            if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-5):
                return report(False, name, "", hint)
        return report(False, name, "", f"your logits differ from the model's by up to "
                                       f"{float((got - want).abs().max()):.3g}: check each step, the look-up "
                                       "C[windows] (N, n, d), its flattening to (N, n*d), the tanh layer and the "
                                       "output layer.")
    return report(True, name, "the same logits as MLPLanguageModel.logits_by_formula: look-up, concatenate, "
                              "tanh layer, output layer.", "")


# --------------------------------------------------------------------- Exercise 5: one training step


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


@exercise("ch02.training_step")
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

    def student(model, optimizer, x, y, clip):
        value = call(training_step, model, optimizer, x, y, clip)
        if isinstance(value, torch.Tensor):
            report(False, name, "", "your step returns the loss tensor; return loss.item(), a Python float: "
                                    "the tensor keeps the step's whole graph alive, and a loop that keeps every "
                                    "step's loss would keep every graph.")
            raise Stop
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            report(False, name, "", f"your function returned {type(value).__name__}; return the loss as a "
                                    "float (loss.item()).")
            raise Stop
        return float(value)

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
                                           "the order is zero_grad, backward, clip (clip_grad_norm_ with "
                                           "grad_clip), step.")
        if not _same(_run_steps(student, None, "sgd"), _run_steps(reference, None, "sgd")):
            return report(False, name, "", "with grad_clip=None the step must not clip at all.")
        # and in the real thing: AdamW, warm-up and cosine, against train() itself
        model = _step_model()
        history = train(model, _step_stream(), None, _step_config(1.0))
        mine = _run_steps(student, 1.0, "adamw")
        if not _same(mine, (history.train_loss, [p.detach() for p in model.parameters()])):
            return report(False, name, "", "right with SGD but not with AdamW inside train(): does your step "
                                           "build its own optimiser? Use the optimizer it is given.")
    except Stop:
        return False
    except Exception as err:  # the student's code: report, never raise
        return report(False, name, "", f"running your step raised {type(err).__name__}: {err}")
    return report(True, name, "The same losses and weights as lm_course.train.train, step for step. "
                              "These six lines are the heart of every training loop in the course.", "")


# --------------------------------------------------------------------- Exercise 6: cross-entropy from logits
def cross_entropy_reference(logits, targets, *, stable: bool = True, reduce: str = "mean", log=None,
                            dim: int = -1):
    """The mean cross-entropy ``-log softmax(logits)[target]`` of ``(N, V)``
    logits against ``(N,)`` target ids, computed in float64 (the defaults:
    ``F.cross_entropy``), or a wrong version: ``stable=False`` (exp of the raw
    logits, which overflows), ``reduce="sum"`` or ``"none"``, ``log`` another
    logarithm (``math.log2``: bits), ``dim=0`` (the softmax over the rows)."""
    import torch

    x = logits.double()
    if stable:
        m = x.max(dim=dim, keepdim=True).values  # (N, 1)
        log_z = m + (x - m).exp().sum(dim=dim, keepdim=True).log()
    else:
        log_z = x.exp().sum(dim=dim, keepdim=True).log()
    logp = x - log_z  # (N, V)
    if log is math.log2:
        logp = logp / math.log(2)  # bits
    nll = -logp[torch.arange(len(targets)), targets]  # (N,)
    return {"mean": nll.mean(), "sum": nll.sum(), "none": nll}[reduce]


_CE_MISTAKES = [
    (dict(reduce="sum"), "that is the sum over the rows; the loss is their mean (divide by N), as F.cross_entropy "
                         "returns by default."),
    (dict(log=math.log2), "that is in bits (log2); PyTorch's cross-entropy uses the natural log (nats)."),
    (dict(dim=0), "the softmax runs over the wrong axis: each ROW (one example, all V classes: dim=-1) is a "
                  "distribution."),
]


def _ce_cases():
    import torch

    g = torch.Generator().manual_seed(21)
    cases = [(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 2])),
             (torch.randn(7, 11, generator=g) * 3, torch.randint(0, 11, (7,), generator=g)),
             (torch.randn(5, 4, generator=g) * 4 + 100.0, torch.randint(0, 4, (5,), generator=g)),  # exp overflows
             (torch.randn(1, 30, generator=g), torch.tensor([29]))]
    return cases


@exercise("ch02.cross_entropy")
def check_cross_entropy(fn: Callable) -> bool:
    """Exercise 6: ``fn(logits, targets)`` returns the mean cross-entropy of
    ``(N, V)`` float logits against ``(N,)`` target ids, like
    ``F.cross_entropy(logits, targets)``, computed by hand (log-sum-exp), and
    stable for large logits (a case with logits near 100, where exp overflows)."""
    import torch
    import torch.nn.functional as F

    name = "Exercise 6 (cross-entropy from logits)"
    for logits, targets in _ce_cases():
        want = F.cross_entropy(logits.double(), targets)
        got = call(fn, logits, targets)
        if isinstance(got, torch.Tensor) and got.numel() == len(targets) and len(targets) > 1:
            return report(False, name, "", f"you return one loss per row, shape {tuple(got.shape)}; the loss is "
                                           "their mean, one number (.mean()).")
        try:
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            return report(False, name, "", f"return one number (a 0-d tensor or a float), got {type(got).__name__}.")
        if math.isclose(value, float(want), rel_tol=1e-5, abs_tol=1e-6):
            continue
        if not math.isfinite(value):
            return report(False, name, "", "your loss is not finite on logits near 100: exp(100) overflows float32. "
                                           "Subtract each row's max before exp (the log-sum-exp trick): "
                                           "log sum exp(x) = m + log sum exp(x - m).")
        for switches, hint in _CE_MISTAKES:
            if math.isclose(value, float(cross_entropy_reference(logits, targets, **switches)), rel_tol=1e-5):
                return report(False, name, "", hint)
        if math.isclose(value, -float(want), rel_tol=1e-5):
            return report(False, name, "", "the cross-entropy is MINUS the mean log-probability of the targets: "
                                           "it is never negative.")
        return report(False, name, "", f"for logits {tuple(logits.shape)} expected {float(want):.5f}, got "
                                       f"{value:.5f}: the mean over rows of log sum_j exp(x_j) - x_target.")
    return report(True, name, "The same loss as F.cross_entropy, also where exp(logits) alone would overflow: "
                              "log-sum-exp keeps the largest exponent at 0.", "")


# --------------------------------------------------------------------- Exercise 7: an AdamW step by hand
def adamw_step_reference(p, grad, m, v, t: int, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                         weight_decay: float = 0.01, *, bias_correction: bool = True, decay: str = "decoupled",
                         eps_inside: bool = False, square: bool = True):
    """One step of ``torch.optim.AdamW`` on a tensor ``p`` with gradient
    ``grad`` and moments ``m``, ``v`` at step ``t`` (1, 2, ...), returning the
    new ``(p, m, v)``; or a wrong version: ``bias_correction=False``,
    ``decay="l2"`` (the decay added to the gradient: Adam with L2),
    ``decay="no_lr"`` (``p -= weight_decay * p``, not times ``lr``),
    ``eps_inside=True`` (``sqrt(v_hat + eps)``), ``square=False`` (v from |g|)."""
    import torch

    b1, b2 = betas
    g = grad + weight_decay * p if decay == "l2" else grad
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g * g if square else g.abs())
    m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
    if decay == "decoupled":
        p = p * (1 - lr * weight_decay)
    elif decay == "no_lr":
        p = p * (1 - weight_decay)
    denom = torch.sqrt(v_hat + eps) if eps_inside else v_hat.sqrt() + eps
    return p - lr * m_hat / denom, m, v


_ADAMW_MISTAKES = [
    (dict(bias_correction=False), "the bias correction is missing: m_hat = m / (1 - beta1**t) and v_hat = "
                                  "v / (1 - beta2**t), with t = 1 at the first step; without it the first steps "
                                  "are far too small."),
    (dict(decay="l2"), "that is Adam with L2: the decay was added to the gradient, so it goes through m and v. "
                       "AdamW decouples it: p = p * (1 - lr * weight_decay), apart from the Adam update."),
    (dict(decay="no_lr"), "the decoupled decay is scaled by the learning rate too: p = p * (1 - lr * weight_decay)."),
    (dict(eps_inside=True), "eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)."),
    (dict(square=False), "the second moment averages the SQUARED gradient: v = beta2 * v + (1 - beta2) * g**2."),
    (dict(decay="none"), "the weight decay is missing: p = p * (1 - lr * weight_decay) before (or with) the "
                         "Adam update."),
]


def _torch_adamw(p0, grads, lr, betas, eps, wd):
    import torch

    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    out = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        out.append(p.detach().clone())
    return out


def _adamw_trajectory(step: Callable, p0, grads, lr, betas, eps, wd) -> list:
    """``p`` after each of ``len(grads)`` steps of ``step`` from zero moments
    (the student's function runs through :func:`call`)."""
    import torch

    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    out = []
    for t, grad in enumerate(grads, start=1):
        got = call(step, p, grad, m, v, t, lr, betas, eps, wd)
        if not (isinstance(got, (tuple, list)) and len(got) == 3
                and all(isinstance(x, torch.Tensor) and x.shape == p.shape for x in got)):
            report(False, current_name(), "", f"return the new (p, m, v), three tensors of shape {tuple(p.shape)}.")
            raise Stop
        p, m, v = (x.detach().double() for x in got)
        out.append(p)
    return out


@exercise("ch02.adamw_step")
def check_adamw_step(fn: Callable) -> bool:
    """Exercise 7: ``fn(p, grad, m, v, t, lr, betas, eps, weight_decay)``
    makes one AdamW step on the tensor ``p`` and returns the new
    ``(p, m, v)`` (new tensors); ``t`` counts from 1. Run for 6 steps from
    zero moments and compared, step by step, with ``torch.optim.AdamW``
    (with weight decay and bias correction), in float64."""
    import torch

    name = "Exercise 7 (an AdamW step by hand)"
    g = torch.Generator().manual_seed(22)
    for lr, betas, eps, wd in ((1e-2, (0.9, 0.999), 1e-8, 0.1), (0.05, (0.8, 0.95), 1e-6, 0.0),
                               (3e-3, (0.9, 0.99), 1e-8, 0.5)):
        p0 = torch.randn(4, 3, generator=g, dtype=torch.float64)
        grads = [torch.randn(4, 3, generator=g, dtype=torch.float64) * s for s in (1.0, 0.1, 2.0, 0.5, 1e-3, 1.0)]
        want = _torch_adamw(p0, grads, lr, betas, eps, wd)
        mine = _adamw_trajectory(fn, p0, grads, lr, betas, eps, wd)  # the student's p after each step
        if all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(mine, want)):
            continue
        t = next(k for k, (a, b) in enumerate(zip(mine, want), start=1) if not torch.allclose(a, b, rtol=1e-9,
                                                                                                atol=1e-12))
        where = f"(step t = {t}, lr = {lr}, betas = {betas}, eps = {eps}, weight_decay = {wd})"
        for switches, hint in _ADAMW_MISTAKES:  # judged on the whole trajectory: at t = 1 several coincide
            if switches.get("decay") in ("l2", "no_lr", "none") and wd == 0:
                continue
            wrong = _adamw_trajectory(partial(adamw_step_reference, **switches), p0, grads, lr, betas, eps, wd)
            if all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(mine, wrong)):
                return report(False, name, "", f"{hint} {where}")
        if torch.equal(mine[0], p0):
            return report(False, name, "", "p did not change: return the updated tensor (a new one).")
        return report(False, name, "", f"p differs from torch.optim.AdamW's by up to "
                                       f"{float((mine[t - 1] - want[t - 1]).abs().max()):.3g} {where}. In order: "
                                       "m and v from g, bias-corrected m_hat and v_hat, p * (1 - lr * wd), "
                                       "then p - lr * m_hat / (sqrt(v_hat) + eps).")
    return report(True, name, "The same parameters as torch.optim.AdamW at every step: decoupled weight decay, "
                              "bias-corrected moments.", "")
