"""The chapter-1 checkers accept right answers and reject wrong ones, with
the hint that names the mistake, and report a stub without raising."""

from functools import lru_cache, partial

import pytest
import torch

from lm_course.corpus import corpus_tokenizer
from lm_course.data import load_names, load_shakespeare
from lm_course.exercises import ch01
from lm_course.ngram import NGramLM, bigram_count_matrix, default_lambdas
from exercise_util import progress_in_tmp  # noqa: F401 (autouse: progress goes to a temporary folder)
from exercise_util import accepts_right_flags_wrong as _accepts_right_flags_wrong
from exercise_util import flags, passes
from exercise_util import stub as _stub


def mle_solution(counts):  # the notebook's solution
    counts = counts.double()
    total = counts.sum(dim=1, keepdim=True)  # (V, 1)
    V = counts.shape[0]
    return torch.where(total > 0, counts / total.clamp(min=1), torch.full_like(counts, 1 / V))


@pytest.mark.parametrize("wrong, hint", [
    (lambda c: ch01.mle_table_reference(c, dim=0), "ROW"),
    (lambda c: c.double() / c.double().sum(dim=0, keepdim=True), "ROW"),
    (lambda c: c.double() / c.double().sum(dim=1, keepdim=True), "NaN"),
    (lambda c: ch01.mle_table_reference(c, unseen="zeros"), "uniform"),
    (lambda c: c.double() / c.sum(), "whole matrix"),
    (lambda c: c // c.sum(dim=1, keepdim=True).clamp(min=1), "integers"),
    (lambda c: ch01.mle_table_reference(c).float(), "float64"),
    (lambda c: torch.ones(2, 2), "(V, V)"),
    (lambda c: None, "returned None"),
    (_stub, "not implemented yet"),
])
def test_mle_table(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_mle_table, mle_solution, wrong, hint)


def _count_matrix(model, V):
    return torch.tensor([[model.count([a, b]) for b in range(V)] for a in range(V)])


def test_mle_table_reference_matches_package():
    ids = torch.tensor([0, 1, 1, 2, 0, 0, 2])  # token 3 never occurs, token 2 at the end once
    model = NGramLM(2, "mle").fit(ids, 4)
    table = ch01.mle_table_reference(_count_matrix(model, 4))
    for prev in range(3):  # the contexts seen; NGramLM's MLE backs off to the unigram for token 3
        assert torch.allclose(table[prev], model.next_token_probs([prev]).double())
    assert torch.equal(table[3], torch.full((4,), 0.25, dtype=torch.float64))  # the rule of Exercise 1
    counts, labels = bigram_count_matrix(load_names())
    assert torch.allclose(ch01.mle_table_reference(counts).sum(dim=1), torch.ones(len(labels), dtype=torch.float64))


def add_k_solution(counts, k):  # the notebook's solution
    if k == 0:
        return mle_solution(counts)
    counts = counts.double()
    return (counts + k) / (counts.sum(dim=1, keepdim=True) + k * counts.shape[1])


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, k: (c.double() + k) / c.double().sum(dim=1, keepdim=True), "numerator only"),
    (lambda c, k: (c.double() + k) / (c.double().sum(dim=1, keepdim=True) + k), "k * V"),
    (lambda c, k: (c.double() + k) / (c.double().sum() + k * c.numel()), "ROW"),
    (lambda c, k: (c.double() + k) / (c.double().sum(dim=1, keepdim=True) + k * c.shape[1]), "k = 0"),
    (lambda c, k: add_k_solution(c, k).float(), "float64"),
    (_stub, "not implemented yet"),
])
def test_add_k_table(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_add_k_table, add_k_solution, wrong, hint)


def test_add_k_table_reference_matches_package():
    ids = torch.tensor([0, 1, 1, 2, 0, 0, 2])
    model = NGramLM(2, "add_k", k=0.5).fit(ids, 4)
    table = ch01.add_k_table_reference(_count_matrix(model, 4), 0.5)
    for prev in range(4):
        assert torch.allclose(table[prev], model.next_token_probs([prev]).double())


def sample_solution(P, labels, generator, max_length=30):  # the notebook's solution
    out, i = [], 0
    while len(out) < max_length:
        i = int(torch.multinomial(P[i], 1, generator=generator))
        if i == 0:
            break
        out.append(labels[i])
    return "".join(out)


def _multinomial(p, generator):
    return int(torch.multinomial(p, 1, generator=generator))


def _inverse_cdf(p, generator):  # the same distribution, other random numbers than multinomial's
    u = torch.rand((), generator=generator, dtype=torch.float64)
    return min(int(torch.searchsorted(p.cumsum(0), u, right=True)), len(p) - 1)


def _sampler(start=0, marker="stop", draw=_multinomial):
    """The solution with one change: the row it starts from, what it does at the
    end marker (id 0): ``"stop"``, ``"keep"`` it or ``"skip"`` it and go on, or
    how it draws an id from a row."""
    def sample(P, labels, generator, max_length=30):
        out, i = [], start
        while len(out) < max_length:
            i = draw(P[i], generator)
            if i == 0 and marker == "stop":
                break
            if i != 0 or marker == "keep":
                out.append(labels[i])
        return "".join(out)
    sample.__name__ = f"_sample_{marker}_from_row_{start}_by_{draw.__name__.strip('_')}"  # the test's id
    return sample


def _sample_forever(P, labels, generator, max_length=30):
    out, i = [], 0
    while True:  # never stops: the checker's timer must end it
        i = int(torch.multinomial(P[i], 1, generator=generator))
        if i == 0 and len(out) > 10 ** 9:
            return "".join(out)
        out.append(labels[i])


@pytest.mark.parametrize("wrong, hint", [
    (lambda P, labels, g, m=30: ch01.sample_name_reference(P, labels, g, m, greedy=True), "argmax"),
    (_sampler(marker="keep"), "marker"),
    (_sampler(marker="skip"), "end marker"),
    (_sample_forever, "did not return"),
    (_sampler(start=1), "distribution"),
    (lambda P, labels, g, m=30: ["a"], "str"),
    (_stub, "not implemented yet"),
])
def test_sample_name(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_sample_name, sample_solution, wrong, hint)


def test_sample_name_other_stream_passes_by_distribution(capsys):
    assert ch01.check_sample_name(_sampler(draw=_inverse_cdf))
    assert "distribution" in capsys.readouterr().out


def jm_solution(counts, w, h, lambdas):  # the notebook's solution
    V, n = counts.vocab_size, len(lambdas) - 1
    total_p, total_weight = lambdas[0] / V, lambdas[0]
    for m in range(1, n + 1):
        context = list(h[len(h) - (m - 1):])  # the last m - 1 tokens
        row = [counts.count(context + [v]) for v in range(V)]
        if sum(row) > 0:  # a context never seen: drop this order
            total_p += lambdas[m] * row[w] / sum(row)
            total_weight += lambdas[m]
    return total_p / total_weight


@lru_cache(maxsize=1)
def _random_text_5gram() -> tuple[NGramLM, list[int]]:
    """A 5-gram fitted on a random text over 5 tokens: token 4 never occurs,
    token 3 only at the very end (so contexts ending in it are never followed).
    A fitted model has the ``count``, ``continuation_count`` and
    ``vocab_size`` that the references read."""
    ids = torch.randint(0, 3, (59,), generator=torch.Generator().manual_seed(0)).tolist() + [3]
    return NGramLM(5).fit(ids, 5), ids


@lru_cache(maxsize=1)
def _shakespeare_5gram() -> NGramLM:
    tok = corpus_tokenizer()
    return NGramLM(5).fit(tok.encode(load_shakespeare("train")[:20_000]), tok.vocab_size)


def test_jelinek_mercer_reference_matches_ngram_model():
    small, ids = _random_text_5gram()
    tok = corpus_tokenizer()
    cases = [(small, [ids[0]], range(5), (0.1, 0.3, 0.6)),
             (small, [ids[0], ids[1]], range(5), default_lambdas(3)),
             (small, [2, 1, 0], range(5), (0.05, 0.15, 0.2, 0.25, 0.35)),
             (small, [ids[-2], 3], range(5), default_lambdas(3)),  # never followed: drop two orders
             (small, [3, 3, 3, 3], range(5), default_lambdas(5)),
             (_shakespeare_5gram(), tok.encode("King"), tok.encode("slQ"), default_lambdas(5))]
    for counts, h, ws, lambdas in cases:
        model = counts.variant(order=len(lambdas) - 1, smoothing="interpolated", lambdas=lambdas)
        for w in ws:
            assert abs(model.prob(w, h) - ch01.jelinek_mercer_reference(counts, w, h, lambdas)) < 1e-12


def _jm_no_check(counts, w, h, lambdas):  # divides by a zero total on an unseen context
    V = counts.vocab_size
    p = lambdas[0] / V
    for m in range(1, len(lambdas)):
        row = [counts.count(list(h[len(h) - (m - 1):]) + [v]) for v in range(V)]
        p += lambdas[m] * row[w] / sum(row)
    return p


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, renormalise=False), "drop that order"),
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, last=False), "LAST"),
    (lambda c, w, h, lam: ch01.jelinek_mercer_reference(c, w, h, lam, uniform=False), "lambda_0 / V"),
    (_jm_no_check, "never followed"),
    (lambda c, w, h, lam: 0.5, "expected"),
    (_stub, "not implemented yet"),
])
def test_jelinek_mercer(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_jelinek_mercer, jm_solution, wrong, hint)


def kn_solution(counts, w, h, D):  # the notebook's solution
    V = counts.vocab_size

    def level(row, p_lower):
        total = sum(row)
        if total == 0:
            return p_lower
        types = sum(c > 0 for c in row)
        return max(row[w] - D, 0) / total + D * types / total * p_lower

    p = level([counts.continuation_count([v]) for v in range(V)], 1 / V)
    p = level([counts.continuation_count([h[1], v]) for v in range(V)], p)
    return level([counts.count([h[0], h[1], v]) for v in range(V)], p)


def test_kneser_ney_reference_matches_ngram_model():
    small, ids = _random_text_5gram()
    tok = corpus_tokenizer()
    cases = [(small, [ids[0], ids[1]], range(5), 0.75), (small, [2, 1], range(5), 0.3),
             (small, [ids[-2], 3], range(5), 0.75),  # seen once, at the very end: never followed
             (small, [3, 3], range(5), 0.5),
             (_shakespeare_5gram(), tok.encode("Ki"), tok.encode("ngQ"), 0.75)]
    for counts, h, ws, D in cases:
        model = counts.variant(order=3, smoothing="kneser_ney", discount=D)
        for w in ws:
            assert abs(model.prob(w, h) - ch01.kneser_ney_trigram_reference(counts, w, h, D)) < 1e-12


def _no_pass_through(counts, w, h, D):  # divides by a zero total on an unseen context
    V = counts.vocab_size
    level = (lambda row, p: max(row[w] - D, 0) / sum(row) + D * sum(c > 0 for c in row) / sum(row) * p)
    p = level([counts.continuation_count([v]) for v in range(V)], 1 / V)
    p = level([counts.continuation_count([h[1], v]) for v in range(V)], p)
    return level([counts.count([h[0], h[1], v]) for v in range(V)], p)


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, lower="raw"), "continuation counts"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, floor=False), "uniform 1/V"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, context_total="count"), "FOLLOWED"),
    (_no_pass_through, "never followed"),
    (lambda c, w, h, D: 0.5, "expected"),
    (_stub, "not implemented yet"),
])
def test_kneser_ney_trigram(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_kneser_ney_trigram, kn_solution, wrong, hint)


# ---------------------------------------------------------------- issue 31: holes closed
def test_sampler_from_row_0_is_told_about_the_row_not_the_marker(capsys):
    def row_0(P, labels, generator, max_length=30):
        out = []
        while len(out) < max_length:
            i = int(torch.multinomial(P[0], 1, generator=generator))
            if i == 0:
                break
            out.append(labels[i])
        return "".join(out)

    out = flags(capsys, ch01.check_sample_name, row_0)
    assert "row of the LAST drawn id" in out and "stop as soon as" not in out


def test_jelinek_mercer_context_total_and_negative_slice(capsys):
    def jm(counts, w, h, lambdas, *, neg=False, count_h=False):
        V, n = counts.vocab_size, len(lambdas) - 1
        num, wsum = lambdas[0] / V, lambdas[0]
        for m in range(1, n + 1):
            ctx = list(h[-(m - 1):]) if neg else list(h[len(h) - m + 1:])
            row = [counts.count(ctx + [v]) for v in range(V)]
            total = counts.count(ctx) if count_h and ctx else sum(row)
            if total:
                num += lambdas[m] * counts.count(ctx + [w]) / total
                wsum += lambdas[m]
        return num / wsum

    assert "h[-0:]" in flags(capsys, ch01.check_jelinek_mercer, partial(jm, neg=True))
    out = flags(capsys, ch01.check_jelinek_mercer, partial(jm, count_h=True))
    assert "FOLLOWED" in out and "drop that order" not in out  # count(h) is not blamed on the kept weights
    passes(capsys, ch01.check_jelinek_mercer, jm)


def test_add_k_blames_an_unfinished_mle_table(capsys):
    """The notebook's add-k solution calls Exercise 1's mle_table for k = 0: a stub there is Exercise 1's."""
    def mle_table(counts):
        raise NotImplementedError

    def add_k_table(counts, k):
        if k == 0:
            return mle_table(counts)
        c = counts.double() + k
        return c / c.sum(dim=1, keepdim=True)

    out = flags(capsys, ch01.check_add_k_table, add_k_table)
    assert "calls mle_table, which is still the stub" in out and "Exercise 1 (the MLE table)" in out
    assert "not implemented yet" not in out  # the grader would call add_k_table itself "not done"


def test_jelinek_mercer_reversed_lambdas(capsys):
    def reversed_lambdas(counts, w, h, lambdas):
        return ch01.jelinek_mercer_reference(counts, w, h, lambdas, reverse=True)

    assert "reverse order" in flags(capsys, ch01.check_jelinek_mercer, reversed_lambdas)


# ---------------------------------------------------------------- issue 33: the wrong versions as tables
CHECKERS = [ch01.check_mle_table, ch01.check_sample_name, ch01.check_add_k_table, ch01.check_jelinek_mercer,
            ch01.check_kneser_ney_trigram]


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
def test_each_checker_walks_a_table_of_wrong_versions(check):
    assert len(check.wrong_versions) >= 4


def _global_inverse_cdf(p, generator):  # ignores the generator: torch's global one
    u = torch.rand((), dtype=torch.float64)
    return min(int(torch.searchsorted(p.cumsum(0), u, right=True)), len(p) - 1)


def test_sampler_ignoring_the_generator_is_told_and_the_global_state_is_left_alone(capsys):
    row = next(w for w in ch01.check_sample_name.wrong_versions if w.name == "use_generator=False")
    torch.manual_seed(3)
    before = torch.get_rng_state()
    first, second = flags(capsys, ch01.check_sample_name, row.version), flags(capsys, ch01.check_sample_name,
                                                                             row.version)
    assert first == second and row.diagnosis in first  # the same diagnosis every time: seeded
    assert torch.equal(torch.get_rng_state(), before)  # the notebook's random state is untouched
    out = flags(capsys, ch01.check_sample_name, _sampler(draw=_global_inverse_cdf))  # not the row's draws
    assert "same generator seed gave different names" in out


def test_kneser_ney_count_h_and_unseen_zero_are_told_apart(capsys):
    def kn(counts, w, h, D, *, count_h=False, zero=False):
        V = counts.vocab_size

        def level(row, p_lower, total=None):
            total = sum(row) if total is None else total
            if total == 0:
                return 0.0 if zero else p_lower
            return max(row[w] - D, 0) / total + D * sum(c > 0 for c in row) / total * p_lower

        p = level([counts.continuation_count([v]) for v in range(V)], 1 / V)
        p = level([counts.continuation_count([h[1], v]) for v in range(V)], p)
        top = [counts.count([h[0], h[1], v]) for v in range(V)]
        return level(top, p, counts.count(list(h)) if count_h else None)

    out = flags(capsys, ch01.check_kneser_ney_trigram, partial(kn, count_h=True))
    assert "FOLLOWED" in out and "instead of returning 0" not in out
    out = flags(capsys, ch01.check_kneser_ney_trigram, partial(kn, zero=True))
    assert "instead of returning 0" in out and "FOLLOWED" not in out
    passes(capsys, ch01.check_kneser_ney_trigram, kn)


@pytest.mark.parametrize("wrong, hint", [
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, clamp=False), "max(c - D, 0)"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, types=False), "NUMBER OF DIFFERENT"),
    (lambda c, w, h, D: ch01.kneser_ney_trigram_reference(c, w, h, D, middle=0), "h[1]"),
])
def test_kneser_ney_more_slips(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_kneser_ney_trigram, kn_solution, wrong, hint)


@pytest.mark.parametrize("wrong, hint", [
    (lambda P, labels, g, m=30: ch01.sample_name_reference(P, labels, g, m, marker="append"), "marker '.'"),
    (lambda P, labels, g, m=30: ch01.sample_name_reference(P, labels, g, m, limit="one more"), "at most"),
    (lambda P, labels, g, m=30: ch01.sample_name_reference(P, labels, g, m, limit="none"), "at most"),
])
def test_sample_name_more_slips(capsys, wrong, hint):
    _accepts_right_flags_wrong(capsys, ch01.check_sample_name, sample_solution, wrong, hint)
