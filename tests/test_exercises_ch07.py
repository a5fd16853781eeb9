"""The chapter-7 checkers accept right answers and reject wrong ones (never raising)."""

import math

import torch

from lm_course.exercises import ch07
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import flags, passes
from lm_course.classifier import GPTClassifier
from lm_course.gpt import GPT, GPTConfig


def stub(*args):
    raise NotImplementedError


# ---- exercise 5 -------------------------------------------------------------------
def paired_right(a, b):
    d = a.float() - b.float()
    return d.mean().item(), (d.std() / math.sqrt(len(d))).item()


def test_paired_difference_passes_the_solution(capsys):
    assert ch07.check_paired_difference(paired_right)
    assert "✅" in capsys.readouterr().out


def test_paired_difference_diagnoses_the_common_mistakes(capsys):
    def independent(a, b):
        pa, pb, n = a.float().mean().item(), b.float().mean().item(), len(a)
        return pa - pb, math.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)

    def one_accuracy(a, b):
        pa, n = a.float().mean().item(), len(a)
        return pa - b.float().mean().item(), math.sqrt(pa * (1 - pa) / n)

    def population(a, b):
        d = a.float() - b.float()
        return d.mean().item(), (d.std(unbiased=False) / math.sqrt(len(d))).item()

    def flipped(a, b):
        diff, se = paired_right(a, b)
        return -diff, se

    for wrong, words in ((independent, "independent"), (one_accuracy, "one accuracy"), (population, "N - 1"),
                         (flipped, "sign"), (lambda a, b: paired_right(a, b)[0], "two numbers")):
        assert not ch07.check_paired_difference(wrong)
        assert words in capsys.readouterr().out, words


def test_paired_difference_handles_stubs_and_errors(capsys):
    assert not ch07.check_paired_difference(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch07.check_paired_difference(lambda a, b: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ch07.check_paired_difference(None)
    assert not ch07.check_paired_difference(42)


# ---- exercise 1 -------------------------------------------------------------------
def test_prefix_lm_mask(capsys):
    def right(T, P):
        s = torch.arange(T)
        return (s[None, :] < P) | (s[None, :] <= s[:, None])

    assert ch07.check_prefix_lm_mask(right)
    assert not ch07.check_prefix_lm_mask(lambda T, P: torch.ones(T, T, dtype=torch.bool).tril())
    assert "plain causal mask" in capsys.readouterr().out
    assert not ch07.check_prefix_lm_mask(lambda T, P: right(T, P).T)
    assert "transpose" in capsys.readouterr().out
    assert not ch07.check_prefix_lm_mask(lambda T, P: right(T, P).int())
    assert not ch07.check_prefix_lm_mask(lambda T, P: 1 / 0)  # never raises
    assert not ch07.check_prefix_lm_mask(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch07.check_prefix_lm_mask(None)
    assert not ch07.check_prefix_lm_mask(42)


# ---- exercise 2 -------------------------------------------------------------------
def last_right(h, lengths):
    return h[torch.arange(h.size(0)), lengths - 1]


def test_last_token_pool(capsys):
    assert ch07.check_last_token_pool(last_right)
    assert "✅" in capsys.readouterr().out
    for wrong, words in ((lambda h, n: h[:, -1], "padded"),
                         (lambda h, n: h[torch.arange(h.size(0)), n], "off by one"),
                         (lambda h, n: h[:, n - 1], "arange"),
                         (lambda h, n: h[:, 0], "first token"),
                         (lambda h, n: h.mean(1), "lengths[b] - 1")):
        assert not ch07.check_last_token_pool(wrong)
        assert words in capsys.readouterr().out, words
    assert not ch07.check_last_token_pool(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch07.check_last_token_pool(None)


def test_last_token_reference_is_the_package_pooling():
    gpt = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=4))
    clf = GPTClassifier(gpt, 2, pooling="last")
    idx, lengths = torch.randint(0, 10, (3, 6)), torch.tensor([6, 2, 4])
    h = gpt(idx, output_hidden_states=True).hidden_states[-1]
    assert torch.allclose(last_right(h, lengths), clf.features(idx, lengths))


# ---- exercise 3 -------------------------------------------------------------------
def head_right(z, mean, var, weight, bias, eps=1e-5):
    return ((z - mean) / torch.sqrt(var + eps)) @ weight.T + bias


def test_head_logits(capsys):
    assert ch07.check_head_logits(head_right)
    assert "✅" in capsys.readouterr().out

    def batch_stats(z, mean, var, weight, bias, eps=1e-5):
        return torch.nn.functional.batch_norm(z, None, None, training=True, eps=eps) @ weight.T + bias

    for wrong, words in ((batch_stats, "batch's own mean"),
                         (lambda z, m, v, w, b, eps=1e-5: ((z - m) / v.sqrt()) @ w.T + b, "eps inside"),
                         (lambda z, m, v, w, b, eps=1e-5: ((z - m) / (v + eps)) @ w.T + b, "not by the variance"),
                         (lambda z, m, v, w, b, eps=1e-5: z @ w.T + b, "without its normalisation"),
                         (lambda z, m, v, w, b, eps=1e-5: head_right(z, m, v, w, b).T, "z @ weight.T"),
                         (lambda z, m, v, w, b, eps=1e-5: head_right(z, m, v, w, b) + 1, "logits =")):
        assert not ch07.check_head_logits(wrong)
        assert words in capsys.readouterr().out, words
    assert not ch07.check_head_logits(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch07.check_head_logits(lambda z: z)  # wrong signature: reported, not raised
    assert not ch07.check_head_logits(None)


# ---- exercise 4: what a probe and full fine-tuning train ------------------

def trainable_parameters(model, mode):
    """The notebook's solution of exercise 4."""
    for p in model.gpt.parameters():
        p.requires_grad_(mode == "full")  # the body trains only in full fine-tuning
    for p in model.head.parameters():
        p.requires_grad_(True)  # the head always trains
    return [p for p in model.parameters() if p.requires_grad]


def test_trainable_parameters(capsys):
    assert ch07.check_trainable_parameters(trainable_parameters)
    assert "✅" in capsys.readouterr().out

    def package(model, mode):
        model.freeze_body(mode == "probe")
        return [p for p in model.parameters() if p.requires_grad]

    assert ch07.check_trainable_parameters(package)

    def probe_trains_body(model, mode):
        return list(model.head.parameters()) if mode == "probe" else list(model.parameters())

    def probe_lists_body(model, mode):
        trainable_parameters(model, mode)
        return list(model.parameters())

    def full_forgets_head(model, mode):
        trainable_parameters(model, mode)
        return list(model.head.parameters()) if mode == "probe" else list(model.gpt.parameters())

    def never_unfreezes(model, mode):
        if mode == "probe":
            model.freeze_body(True)
            return list(model.head.parameters())
        return list(model.parameters())

    def twice(model, mode):
        trainable_parameters(model, mode)
        return list(model.head.parameters()) if mode == "probe" else \
            [model.gpt.lm_head.weight] + list(model.parameters())

    for wrong, words in ((probe_trains_body, "still trains the body"), (probe_lists_body, "body's parameters"),
                         (full_forgets_head, "forgot the head"), (never_unfreezes, "still frozen"),
                         (twice, "listed twice"),
                         (lambda m, mode: [n for n, _ in m.named_parameters()], "parameters themselves"),
                         (lambda m, mode: 3, "list of parameters")):
        assert not ch07.check_trainable_parameters(wrong)
        out = capsys.readouterr().out
        assert "❌" in out and words in out, out
    assert not ch07.check_trainable_parameters(lambda m, mode: (_ for _ in ()).throw(NotImplementedError))
    assert "not implemented yet" in capsys.readouterr().out
    assert not ch07.check_trainable_parameters(None)


def _toy_classifier(seed: int = 0) -> GPTClassifier:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPTClassifier(GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8)), n_classes=3)


def test_trainable_parameters_match_make_classifier():
    from lm_course.classifier import make_classifier
    body = _toy_classifier(0).gpt
    for mode in ("probe", "full"):
        ref = make_classifier(mode, body, n_classes=3)
        mine = _toy_classifier(0)
        trainable_parameters(mine, mode)
        assert [p.requires_grad for p in mine.parameters()] == [p.requires_grad for p in ref.parameters()]


# ---- issue 31: holes closed -------------------------------------------------------
def test_prefix_lm_mask_names_each_mistake(capsys):
    def mask(T, P, kind):
        t, s = torch.arange(T)[:, None], torch.arange(T)[None, :]
        return {"le": (s <= P) | (s <= t), "and": (s < P) & (s <= t), "rows": (t < P) | (s <= t),
                "other": (s <= t) & (s > 0) | (s == t)}[kind]

    assert "s < P, not s <= P" in flags(capsys, ch07.check_prefix_lm_mask, lambda T, P: mask(T, P, "le"))
    assert "with |, not &" in flags(capsys, ch07.check_prefix_lm_mask, lambda T, P: mask(T, P, "and"))
    assert "not every key" in flags(capsys, ch07.check_prefix_lm_mask, lambda T, P: mask(T, P, "rows"))
    out = flags(capsys, ch07.check_prefix_lm_mask, lambda T, P: mask(T, P, "other"))
    assert "expected" in out and "got" in out and "1 . ." in out  # both masks are printed


def test_paired_difference_with_xor_is_named(capsys):
    def subtracts_bools(a, b):
        d = a - b
        return float(d.float().mean()), float(d.float().std() / len(d) ** 0.5)

    def xor(a, b):
        d = (a ^ b).double()
        return float(d.mean()), float(d.std() / len(d) ** 0.5)

    assert "a.double() - b.double()" in flags(capsys, ch07.check_paired_difference, subtracts_bools)
    assert "xor" in flags(capsys, ch07.check_paired_difference, xor)


def test_mean_pooling_is_named(capsys):
    def mean_pool(h, lengths):
        return torch.stack([h[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])

    assert "mean pooling" in flags(capsys, ch07.check_last_token_pool, mean_pool)


# ---- the tables of wrong versions: mistakes written as a student would, and the fallbacks ----------
def test_paired_difference_names_a_forgotten_square_root_and_falls_back_to_the_numbers(capsys):
    def over_n(a, b):
        d = a.double() - b.double()
        return d.mean().item(), (d.std() / len(d)).item()

    def squared(a, b):
        d = a.double() - b.double()
        return d.mean().item(), (d.var() / len(d)).item()

    assert "sqrt(N), not by N" in flags(capsys, ch07.check_paired_difference, over_n)
    assert "standard error squared" in flags(capsys, ch07.check_paired_difference, squared)
    out = flags(capsys, ch07.check_paired_difference, lambda a, b: (0.3, 0.1))
    assert "0.2000" in out and "you returned (0.3000, 0.1000)" in out, out


def test_last_token_pool_names_a_batch_average_and_a_wrong_shape(capsys):
    def batch_mean(h, lengths):
        return h[:, lengths - 1].mean(dim=0)

    assert "mixes the sequences" in flags(capsys, ch07.check_last_token_pool, batch_mean)
    assert "got a tensor of shape (3, 2, 4)" in flags(capsys, ch07.check_last_token_pool, lambda h, n: h[:, :2])
    assert "h[b, lengths[b] - 1]" in flags(capsys, ch07.check_last_token_pool, lambda h, n: h[:, 1])


def test_head_logits_names_eps_outside_the_root_and_a_missing_mean(capsys):
    def eps_outside(z, mean, var, weight, bias, eps=1e-5):
        return ((z - mean) / (var.sqrt() + eps)) @ weight.T + bias

    def no_mean(z, mean, var, weight, bias, eps=1e-5):
        return (z / torch.sqrt(var + eps)) @ weight.T + bias

    assert "not sqrt(running_var) + eps" in flags(capsys, ch07.check_head_logits, eps_outside)
    assert "subtracts running_mean" in flags(capsys, ch07.check_head_logits, no_mean)


def test_trainable_parameters_falls_back_to_what_the_call_left(capsys):
    def lists_nothing(model, mode):
        trainable_parameters(model, mode)
        return []

    out = flags(capsys, ch07.check_trainable_parameters, lists_nothing)
    assert 'after mode="probe"' in out and "(0 entries)" in out and "each listed once" in out, out

    def head_twice(model, mode):
        return trainable_parameters(model, mode) + list(model.head.parameters())

    assert "(4 entries)" in flags(capsys, ch07.check_trainable_parameters, head_twice)
