"""Checkers of the chapter 2 exercises: a right answer passes, wrong ones fail
with a hint, and nothing raises."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import accepts_right_flags_wrong as _accepts_right_flags_wrong
from exercise_util import flags, passes
from exercise_util import stub as _stub
from lm_course.exercises import ch02
from lm_course.mlp import MLPConfig, MLPLanguageModel
from lm_course.tokenizers.bpe import merge_pair
from lm_course.train import training_step


def test_check_merge(capsys):
    assert ch02.check_merge(merge_pair)
    assert "✅" in capsys.readouterr().out

    def overlapping(ids, pair, new_id):  # merges [5, 5, 5] into [7, 7]: wrong
        out = []
        for i, x in enumerate(ids):
            if i + 1 < len(ids) and (x, ids[i + 1]) == pair:
                out.append(new_id)
            elif not (i > 0 and (ids[i - 1], x) == pair):
                out.append(x)
        return out

    assert not ch02.check_merge(overlapping)
    assert "❌" in capsys.readouterr().out
    assert not ch02.check_merge(lambda ids, pair, new_id: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch02.check_merge(None)
    assert not ch02.check_merge(lambda ids, pair, new_id: None)  # the notebook's placeholder
    assert "returned None" in capsys.readouterr().out
    assert not ch02.check_merge(lambda ids, pair, new_id: 3)
    assert "return a list" in capsys.readouterr().out


def pair_counts_solution(chunks):  # the notebook's solution
    from collections import Counter

    counts = Counter()
    for chunk in chunks:
        counts.update(zip(chunk, chunk[1:]))
    return counts


@pytest.mark.parametrize("wrong, hint", [
    (partial(ch02.pair_counts_reference, across=True), "across two chunks"),
    (partial(ch02.pair_counts_reference, wrap=True), "wrap-around"),
    (partial(ch02.pair_counts_reference, across=True, wrap=True), "wrap-around"),
    (partial(ch02.pair_counts_reference, overlapping=False), "overlapping"),
    (lambda chunks: [(p, n) for p, n in pair_counts_solution(chunks).items()] or {"ab": 1}, "as tuples"),
    (lambda chunks: {(1, 2): 5}, "expected"),
    (_stub, "not implemented yet"),
])
def test_check_pair_counts(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch02.check_pair_counts, pair_counts_solution, wrong, hint)


def test_pair_counts_reference_is_bpe_training_count():
    from lm_course.tokenizers import BPETokenizer

    chunks = [list(c.encode()) for c in ["hug", " pug", " pun", " bun", " hugs"]]
    counts = ch02.pair_counts_reference(chunks)
    tok = BPETokenizer.train("hug pug pun bun hugs", 257)
    assert max(counts, key=lambda p: (counts[p], -p[0], -p[1])) == tok.merges[0]
    assert counts[tok.merges[0]] == tok.merge_counts[0] == 3


def train_bpe_solution(text, num_merges):  # the notebook's solution
    import re
    from collections import Counter

    from lm_course.tokenizers.bpe import SPLIT_PATTERN

    chunks = [list(c.encode("utf-8")) for c in re.findall(SPLIT_PATTERN, text)]
    merges = []
    for k in range(num_merges):
        counts = Counter()
        for chunk in chunks:
            counts.update(zip(chunk, chunk[1:]))
        if not counts:
            break
        top = max(counts.values())
        if top < 2:
            break
        pair = min(p for p, n in counts.items() if n == top)
        merges.append(pair)
        chunks = [merge_pair(c, pair, 256 + k) for c in chunks]
    return merges


def test_train_bpe_reference_matches_package():
    assert ch02.check_train_bpe(ch02.train_bpe_reference)  # the checker compares with BPETokenizer.train


@pytest.mark.parametrize("wrong, hint", [
    (partial(ch02.train_bpe_reference, tie="first"), "seen first"),
    (partial(ch02.train_bpe_reference, tie="largest"), "not the larger"),
    (partial(ch02.train_bpe_reference, split=False), "pre-split"),
    (partial(ch02.train_bpe_reference, min_count=1), "occurs only once"),
    (lambda text, k: [(i, i) for i in range(k)], "expected"),
    (lambda text, k: "ab", "pair of token ids"),
    (_stub, "not implemented yet"),
])
def test_check_train_bpe(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch02.check_train_bpe, train_bpe_solution, wrong, hint)


def mlp_logits_solution(windows, C, W_h, b_h, W_o, b_o):  # the notebook's solution
    e = C[windows].flatten(-2)  # (N, n*d)
    h = torch.tanh(e @ W_h.T + b_h)  # (N, H)
    return h @ W_o.T + b_o  # (N, V)


def test_check_mlp_logits_accepts_the_model():
    def with_the_model(windows, C, W_h, b_h, W_o, b_o):
        V, d = W_o.shape[0], C.shape[1]
        model = MLPLanguageModel(MLPConfig(vocab_size=V, context_length=W_h.shape[1] // d, n_embd=d,
                                           n_hidden=W_h.shape[0]))
        with torch.no_grad():
            for p, w in zip(model.parameters(), (C, W_h, b_h, W_o, b_o)):
                p.copy_(w)
            return model.fast_logits(windows)

    assert ch02.check_mlp_logits(with_the_model)


@pytest.mark.parametrize("wrong, hint", [
    (partial(ch02.mlp_logits_reference, tanh=False), "non-linearity"),
    (partial(ch02.mlp_logits_reference, order="reversed"), "reversed"),
    (partial(ch02.mlp_logits_reference, order="dims"), "position after position"),
    (partial(ch02.mlp_logits_reference, hidden_bias=False), "hidden bias"),
    (partial(ch02.mlp_logits_reference, output_bias=False), "output bias"),
    (partial(ch02.mlp_logits_reference, transpose=False), "(out, in)"),
    (partial(ch02.mlp_logits_reference, softmax=True), "before softmax"),
    (lambda w, C, W_h, b_h, W_o, b_o: torch.zeros(3), "shape"),
    (_stub, "not implemented yet"),
])
def test_check_mlp_logits(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch02.check_mlp_logits, mlp_logits_solution, wrong, hint)


def _step(model, optimizer, x, y, grad_clip=1.0, *, zero=True, clip="before", step=True):
    """The notebook's solution of Exercise 5, and wrong versions of it."""
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    if zero:
        optimizer.zero_grad()
    loss.backward()
    if clip == "before" and grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if clip == "each" and grad_clip is not None:
        for p in model.parameters():
            torch.nn.utils.clip_grad_norm_([p], grad_clip)
    if step:
        optimizer.step()
    if clip == "after" and grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    return loss.item()


def test_check_training_step_passes_the_solution_and_the_package(capsys):
    assert ch02.check_training_step(_step)
    assert ch02.check_training_step(training_step)
    assert capsys.readouterr().out.count("✅") == 2


def test_check_training_step_names_the_mistake(capsys):
    for wrong, words in [(partial(_step, zero=False), "zero_grad() before"),
                         (partial(_step, clip=None), "not clipped"),
                         (partial(_step, clip="after"), "not clipped"),
                         (partial(_step, clip="each"), "on its own"),
                         (partial(_step, step=False), "never change")]:
        assert not ch02.check_training_step(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, out

    def wrong_loss(model, optimizer, x, y, grad_clip=1.0):  # scores x against itself
        return _step(model, optimizer, x, x, grad_clip)

    assert not ch02.check_training_step(wrong_loss)
    assert "first batch" in capsys.readouterr().out

    def always_clips(model, optimizer, x, y, grad_clip=1.0):
        return _step(model, optimizer, x, y, grad_clip if grad_clip is not None else 1e-3)

    assert not ch02.check_training_step(always_clips)
    assert "grad_clip=None" in capsys.readouterr().out


def test_check_training_step_never_raises(capsys):
    def stub(model, optimizer, x, y, grad_clip=1.0):
        raise NotImplementedError

    assert not ch02.check_training_step(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: None)
    assert "return" in capsys.readouterr().out
    assert not ch02.check_training_step(lambda model, optimizer, x, y, grad_clip: "loss")
    assert "float" in capsys.readouterr().out
    assert not ch02.check_training_step(None)


def test_check_training_step_leaves_the_random_state_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ch02.check_training_step(training_step)
    assert torch.equal(torch.get_rng_state(), before)


# ---------------------------------------------------------------- issue 31: holes closed
def _merge_right(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def test_merge_that_edits_the_callers_list_fails(capsys):
    def in_place(ids, pair, new_id):
        i = 0
        while i < len(ids) - 1:
            if (ids[i], ids[i + 1]) == tuple(pair):
                ids[i:i + 2] = [new_id]
            i += 1
        return ids

    out = flags(capsys, ch02.check_merge, in_place)
    assert "changed its argument `ids` in place" in out and "new list" in out
    passes(capsys, ch02.check_merge, _merge_right)


def test_merge_that_never_returns_is_stopped(capsys):
    def forgets_to_advance(ids, pair, new_id):
        out, i = [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])  # i += 1 forgotten: never ends
        return out

    out = flags(capsys, ch02.check_merge, forgets_to_advance)
    assert "did not return within" in out and "loop that never ends" in out


def test_merge_names_the_lost_last_id_and_the_missing_skip(capsys):
    def drops_last(ids, pair, new_id):
        out, i = [], 0
        while i < len(ids) - 1:
            if (ids[i], ids[i + 1]) == tuple(pair):
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        return out

    def no_skip(ids, pair, new_id):
        return [new_id if (a, b) == tuple(pair) else a for a, b in zip(ids, ids[1:] + [None])]

    assert "the last id is lost" in flags(capsys, ch02.check_merge, drops_last)
    assert "skip BOTH" in flags(capsys, ch02.check_merge, no_skip)


def test_train_bpe_blames_an_unfinished_merge(capsys):
    """The statement tells train_bpe to use Exercises 1 and 2; merge's stub returns None."""
    ns = {}
    exec("def merge(ids, pair, new_id):\n    return None  # your code here\n", ns)
    exec("def train_bpe(text, num_merges):\n    return merge(list(text.encode()), (1, 2), 256)[:0]\n", ns)
    out = flags(capsys, ch02.check_train_bpe, ns["train_bpe"])
    assert "calls merge, which does not pass its own checks yet" in out and "Exercise 1" in out


def test_training_step_returning_the_tensor_fails(capsys):
    def returns_tensor(model, optimizer, x, y, grad_clip=1.0):
        return torch.tensor(_step(model, optimizer, x, y, grad_clip))  # a tensor, not a float

    def keeps_graph(model, optimizer, x, y, grad_clip=1.0):
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return loss

    assert "loss.item()" in flags(capsys, ch02.check_training_step, keeps_graph)
    assert "loss.item()" in flags(capsys, ch02.check_training_step, returns_tensor)


def test_training_step_with_nanogpts_view_passes(capsys):
    """nanoGPT's .view(B * T, V) needs contiguous batches: the checker gives it contiguous copies."""
    def with_view(model, optimizer, x, y, grad_clip=1.0):
        logits = model(x)
        B, T, V = logits.shape
        loss = F.cross_entropy(logits.view(B * T, V), y.view(B * T))
        optimizer.zero_grad()
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return loss.item()

    passes(capsys, ch02.check_training_step, with_view)


def test_pair_counts_names_the_off_by_one(capsys):
    def one_short(chunks):
        counts = {}
        for c in chunks:
            for i in range(len(c) - 2):
                counts[(c[i], c[i + 1])] = counts.get((c[i], c[i + 1]), 0) + 1
        return counts

    assert "range(len(chunk) - 2)" in flags(capsys, ch02.check_pair_counts, one_short)


# ---------------------------------------------------------------- exercises 6 and 7 (no notebook cell yet)
def cross_entropy_solution(logits, targets):
    m = logits.max(dim=-1, keepdim=True).values  # (N, 1)
    log_z = m.squeeze(-1) + (logits - m).exp().sum(-1).log()  # (N,)
    return (log_z - logits[torch.arange(len(targets)), targets]).mean()


def test_cross_entropy(capsys):
    def naive(logits, targets):  # exp of the raw logits overflows near 100
        p = logits.exp() / logits.exp().sum(-1, keepdim=True)
        return -p[torch.arange(len(targets)), targets].log().mean()

    def per_row(logits, targets):
        return F.cross_entropy(logits, targets, reduction="none")

    passes(capsys, ch02.check_cross_entropy, cross_entropy_solution)
    passes(capsys, ch02.check_cross_entropy, lambda x, t: float(F.cross_entropy(x, t)))  # a float is fine
    for wrong, words in [(naive, "log-sum-exp"), (per_row, "one loss per row"),
                         (lambda x, t: F.cross_entropy(x, t, reduction="sum"), "mean"),
                         (lambda x, t: F.cross_entropy(x, t) / math.log(2), "bits"),
                         (lambda x, t: -F.cross_entropy(x, t), "never negative"),
                         (lambda x, t: ch02.cross_entropy_reference(x, t, dim=0), "wrong axis"),
                         (_stub, "not implemented yet")]:
        assert words in flags(capsys, ch02.check_cross_entropy, wrong), words


def adamw_solution(p, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad ** 2
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    p = p * (1 - lr * weight_decay)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v


@pytest.mark.parametrize("switches, words", [
    (dict(bias_correction=False), "bias correction"),
    (dict(decay="l2"), "Adam with L2"),
    (dict(decay="no_lr"), "scaled by the learning rate"),
    (dict(eps_inside=True), "outside the square root"),
    (dict(square=False), "SQUARED"),
    (dict(decay="none"), "weight decay is missing"),
])
def test_adamw_step_names_the_mistake(capsys, switches, words):
    def wrong(*args):
        return ch02.adamw_step_reference(*args, **switches)

    assert words in flags(capsys, ch02.check_adamw_step, wrong)


def test_adamw_step_solution_passes_and_in_place_updates_are_named(capsys):
    passes(capsys, ch02.check_adamw_step, adamw_solution)
    passes(capsys, ch02.check_adamw_step, ch02.adamw_step_reference)

    def in_place(p, grad, m, v, t, lr, betas, eps, weight_decay):
        new_p, new_m, new_v = adamw_solution(p, grad, m, v, t, lr, betas, eps, weight_decay)
        p.copy_(new_p)
        return p, new_m, new_v

    assert "changed its argument `p` in place" in flags(capsys, ch02.check_adamw_step, in_place)
    assert "not implemented yet" in flags(capsys, ch02.check_adamw_step, _stub)


def test_the_wrong_versions_tables_start_from_right_references(capsys):
    """The switches of merge's and the training step's tables are off by default: the right answers."""
    from lm_course.exercises import ch02_bpe, ch02_training

    passes(capsys, ch02.check_merge, ch02_bpe._merge_variant)
    passes(capsys, ch02.check_training_step, ch02_training._variant_step)
