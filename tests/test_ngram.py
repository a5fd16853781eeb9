"""lm_course.ngram: counting, the four smoothings, the batched scorer, sampling."""

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch

from lm_course.data import load_shakespeare
from lm_course.evaluate import bits_per_token
from lm_course.ngram import SMOOTHINGS, NGramLM, bigram_count_matrix, default_lambdas
from lm_course.corpus import corpus_tokenizer
from lm_course.unigram import UnigramLM


@pytest.fixture(scope="module")
def corpus():
    """200k training characters and 20k validation characters, as ids."""
    tok = corpus_tokenizer()
    train = tok.encode(load_shakespeare("train")[:200_000])
    val = tok.encode(load_shakespeare("val")[:20_000])
    return train, val, tok.vocab_size


@pytest.fixture(scope="module")
def fitted(corpus):
    train, _, V = corpus
    return NGramLM(6).fit(train, V)


def random_contexts(train, V, order, rng, n=12):
    """Seen contexts (slices of the training ids), random (mostly unseen) ones,
    and contexts shorter and longer than order - 1."""
    out = [[]]
    for _ in range(n):
        length = rng.randint(0, order + 1)
        start = rng.randrange(len(train) - length)
        out.append(train[start: start + length])
        out.append([rng.randrange(V) for _ in range(length)])
    return out


# ----------------------------------------------------------------- normalisation
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("order", range(1, 7))
def test_every_context_gives_a_distribution(fitted, corpus, smoothing, order):
    train, _, V = corpus
    model = fitted.variant(order=order, smoothing=smoothing)
    rng = random.Random(order)
    for ctx in random_contexts(train, V, order, rng):
        p = model.next_token_probs(ctx)
        assert p.shape == (V,) and p.dtype == torch.float32  # the contract: float32 answers
        assert (p >= 0).all()
        assert float(p.double().sum()) == pytest.approx(1.0, abs=1e-6), (smoothing, order, ctx)  # float32's rounding
        assert float(model._probs64(ctx).sum()) == pytest.approx(1.0, abs=1e-9)  # the formulas normalise exactly


@pytest.mark.parametrize("smoothing", ["add_k", "interpolated", "kneser_ney"])
def test_smoothed_models_never_give_zero(fitted, corpus, smoothing):
    _, val, _ = corpus
    model = fitted.variant(order=5, smoothing=smoothing)
    assert torch.isfinite(model.token_log_probs(val)).all()


# ------------------------------------------------------- relations between methods
def test_kneser_ney_with_no_discount_is_mle_on_seen_contexts(fitted, corpus):
    train, _, V = corpus
    for order in (2, 3, 5):
        kn = fitted.variant(order=order, smoothing="kneser_ney", discount=0.0)
        mle = fitted.variant(order=order, smoothing="mle")
        for t in range(1000, 50_000, 997):
            ctx = train[t - order + 1: t]  # seen: it occurs in the training ids
            assert torch.allclose(kn.next_token_probs(ctx), mle.next_token_probs(ctx), atol=1e-12)


def test_add_k_with_k_zero_is_mle_everywhere(fitted, corpus):
    train, val, V = corpus
    mle = fitted.variant(order=4, smoothing="mle")
    add0 = fitted.variant(order=4, smoothing="add_k", k=0.0)
    for ctx in random_contexts(train, V, 4, random.Random(1)):
        assert torch.equal(add0.next_token_probs(ctx), mle.next_token_probs(ctx))
    assert torch.equal(add0.token_log_probs(val[:5000]), mle.token_log_probs(val[:5000]))


def test_mle_gives_infinite_bits_on_unseen_ngrams(fitted, corpus):
    _, val, _ = corpus
    assert bits_per_token(fitted.variant(order=4, smoothing="mle"), val) == math.inf
    assert math.isfinite(bits_per_token(fitted.variant(order=4, smoothing="kneser_ney"), val))


@pytest.mark.parametrize("order", [3, 4, 5, 6])
def test_kneser_ney_beats_add_one_on_validation(fitted, corpus, order):
    _, val, _ = corpus
    kn = bits_per_token(fitted.variant(order=order, smoothing="kneser_ney"), val)
    add1 = bits_per_token(fitted.variant(order=order, smoothing="add_k", k=1.0), val)
    assert kn < add1
    if order >= 4:  # the gap grows with the order, as contexts get sparse
        assert kn < add1 - 0.2


def test_unigram_add_k_agrees_with_chapter_0(corpus):
    train, val, V = corpus
    for k in (0.0, 0.5, 1.0):
        ours = NGramLM(1, "add_k", k=k).fit(train, V)
        theirs = UnigramLM(k=k).fit(train, V)
        assert torch.allclose(ours.next_token_probs([3, 4]), theirs.next_token_probs([3, 4]),
                              atol=1e-7)
        assert bits_per_token(ours, val) == pytest.approx(bits_per_token(theirs, val), abs=1e-5)


# ----------------------------------------------------- an independent slow reference
def reference_probability(ids, V, order, smoothing, ctx, w, k=1.0, D=0.75, lambdas=None):
    """Dictionary-based re-implementation of the documented formulas."""
    ctx = tuple(ctx[-(order - 1):]) if order > 1 else ()
    top = len(ctx) + 1
    raw = Counter(tuple(ids[i: i + n]) for n in range(1, order + 1) for i in range(len(ids) - n + 1))
    cont = Counter(g[1:] for g in raw if len(g) >= 2)  # N1+(. g): distinct left extensions

    def stats(table, n, h):
        c = {g: m for g, m in table.items() if len(g) == n and g[:-1] == h}
        return c, sum(c.values()), len(c)

    lambdas = lambdas or default_lambdas(order)
    p, lam_sum = 1.0 / V, lambdas[0]
    for n in range(1, top + 1):
        h = ctx[len(ctx) - (n - 1):] if n > 1 else ()
        table = cont if (smoothing == "kneser_ney" and n < top) else raw
        counts, total, types = stats(table, n, h)
        c = counts.get(h + (w,), 0)
        if smoothing == "mle":
            p = c / total if total else p
        elif smoothing == "add_k":
            p = (c + k) / (total + k * V)
        elif smoothing == "interpolated":
            lam_sum += lambdas[n]
            mu = lambdas[n] / lam_sum
            p = mu * c / total + (1 - mu) * p if total else p
        else:
            p = max(c - D, 0) / total + D * types / total * p if total else p
    return p


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_matches_the_formulas_on_a_tiny_corpus(smoothing):
    ids = [0, 1, 2, 0, 1, 3, 0, 1, 2, 2, 1, 0, 3, 3, 0, 1, 2]
    V, order = 5, 3  # token 4 never occurs
    model = NGramLM(order, smoothing, k=0.5, discount=0.6).fit(ids, V)
    for ctx in ([], [1], [0, 1], [3, 0, 1], [4, 4], [2, 4], [4, 2]):
        for w in range(V):
            want = reference_probability(ids, V, order, smoothing, ctx, w, k=0.5, D=0.6)
            assert model.prob(w, ctx) == pytest.approx(want, abs=1e-12), (ctx, w)


def test_kneser_ney_by_hand():
    # "abab" + "cb": b follows a twice and c once; the bigram "ab" occurs twice.
    ids = [0, 1, 0, 1, 2, 1]  # a b a b c b
    model = NGramLM(2, "kneser_ney", discount=0.5).fit(ids, vocab_size=3)
    # continuation unigram: N1+(. a) = 1 (b), N1+(. b) = 2 (a, c), N1+(. c) = 1 (b); total 4, 3 types
    p_cont = {w: max(n - 0.5, 0) / 4 + 0.5 * 3 / 4 / 3 for w, n in enumerate([1, 2, 1])}
    # after "a": c(a b) = 2, c(a) = 2, one type -> (2 - 0.5)/2 + 0.5 * 1/2 * p_cont(b)
    assert model.prob(1, [0]) == pytest.approx(1.5 / 2 + 0.25 * p_cont[1])
    assert model.prob(2, [0]) == pytest.approx(0.25 * p_cont[2])
    assert model.count([0, 1]) == 2 and model.continuation_count([1]) == 2


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_batched_scores_match_one_context_at_a_time(fitted, corpus, smoothing):
    _, val, _ = corpus
    ids = val[:400]
    model = fitted.variant(order=5, smoothing=smoothing)
    fast = model.token_log_probs(ids)
    slow = torch.tensor([math.log(model.prob(ids[t], ids[max(0, t - 4): t])) if
                         model.prob(ids[t], ids[max(0, t - 4): t]) > 0 else -math.inf
                         for t in range(1, len(ids))], dtype=torch.float64)
    assert fast.shape == (len(ids) - 1,)
    assert torch.allclose(fast, slow, atol=1e-12)


def test_variant_equals_a_fresh_fit(fitted, corpus):
    train, val, V = corpus
    fresh = NGramLM(3, "add_k", k=0.3).fit(train, V)
    shared = fitted.variant(order=3, smoothing="add_k", k=0.3)
    assert torch.equal(fresh.token_log_probs(val[:3000]), shared.token_log_probs(val[:3000]))
    with pytest.raises(ValueError, match="only lower the order"):
        fresh.variant(order=4)
    with pytest.raises(TypeError, match="unexpected"):
        fresh.variant(oder=2)


def test_long_and_short_contexts(fitted, corpus):
    train, _, V = corpus
    model = fitted.variant(order=3)
    ctx = train[100:120]
    assert torch.equal(model.next_token_probs(ctx), model.next_token_probs(ctx[-2:]))
    # the empty context is the unigram (order-1) model with the same smoothing
    assert torch.equal(model.next_token_probs([]), fitted.variant(order=1).next_token_probs([]))
    assert torch.equal(model.next_token_probs(ctx[-1:]), fitted.variant(order=2).next_token_probs(ctx[-1:]))
    assert model.context_length == 2


def test_numpy_and_tensor_inputs(corpus):
    train, _, V = corpus
    a = NGramLM(3).fit(train[:5000], V)
    b = NGramLM(3).fit(torch.tensor(train[:5000]), V)
    c = NGramLM(3).fit(np.array(train[:5000]), V)
    assert torch.equal(a.next_token_probs([5, 6]), b.next_token_probs(torch.tensor([5, 6])))
    assert torch.equal(a.next_token_probs([5, 6]), c.next_token_probs(np.array([5, 6])))


def test_window_counts_and_distinct_ngrams():
    ids = [0, 1, 0, 1, 2, 1]  # a b a b c b
    model = NGramLM(3).fit(ids, vocab_size=4)
    assert model.window_counts([0, 1, 2, 3], 2).tolist() == [2, 1, 0]  # ab, bc, cd
    assert model.window_counts([0, 1, 0], 3).tolist() == [1]
    assert [model.distinct_ngrams(n) for n in (1, 2, 3)] == [3, 4, 4]  # {a,b,c}; ab ba bc cb; aba bab abc bcb
    with pytest.raises(ValueError, match="n must be"):
        model.window_counts([0, 1], 4)
    with pytest.raises(ValueError, match="at least n"):
        model.window_counts([0], 2)
    with pytest.raises(ValueError, match="n must be"):
        model.distinct_ngrams(0)


# ------------------------------------------------------------------------ sampling
def test_generate_is_reproducible(fitted):
    model = fitted.variant(order=4)
    a = model.generate([5, 6], 60, seed=3)
    assert a == model.generate([5, 6], 60, seed=3)
    assert a == model.generate([5, 6], 60, generator=torch.Generator().manual_seed(3))
    assert a != model.generate([5, 6], 60, seed=4)
    assert len(a) == 62 and a[:2] == [5, 6]
    assert model.generate([1], 0) == [1]


def test_generate_cold_temperature_is_nearly_greedy(fitted, corpus):
    train, _, _ = corpus
    model = fitted.variant(order=4)
    ctx = train[500:503]
    best = int(model.next_token_probs(ctx).argmax())
    picks = {model.generate(ctx, 1, seed=s, temperature=0.01)[-1] for s in range(20)}
    assert picks == {best}


# ------------------------------------------------------------------------ counting
def test_bigram_count_matrix():
    counts, labels = bigram_count_matrix(["ab", "b"])
    assert labels == [".", "a", "b"]
    assert counts.tolist() == [[0, 1, 1],  # .a and .b
                               [0, 0, 1],  # ab
                               [2, 0, 0]]  # b. twice
    with pytest.raises(ValueError, match="marker"):
        bigram_count_matrix(["a.b"])
    with pytest.raises(TypeError):
        bigram_count_matrix("anna")
    with pytest.raises(ValueError):
        bigram_count_matrix([])


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"order": 0}, "order"),
    ({"order": -2}, "order"),
    ({"order": 2.5}, "order"),
    ({"order": True}, "order"),
    ({"order": 2, "k": -1.0}, "k must"),
    ({"order": 2, "k": float("nan")}, "k must"),
    ({"order": 2, "discount": -0.1}, "discount"),
    ({"order": 2, "discount": 1.0}, "discount"),
    ({"order": 2, "smoothing": "good_turing"}, "unknown smoothing"),
    ({"order": 2, "smoothing": "interpolated", "lambdas": [0.5, 0.5]}, "order \\+ 1"),
    ({"order": 1, "smoothing": "interpolated", "lambdas": [0.5, 0.6]}, "sum to 1"),
    ({"order": 1, "smoothing": "interpolated", "lambdas": [1.5, -0.5]}, "non-negative"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


def test_predicting_before_fit():
    model = NGramLM(3)
    for call in (lambda: model.next_token_probs([1]), lambda: model.prob(1, [2]),
                 lambda: model.token_log_probs([1, 2, 3]), lambda: model.generate([], 5),
                 lambda: model.variant(order=2), lambda: model.count([1])):
        with pytest.raises(RuntimeError, match="not fitted"):
            call()


def test_ids_outside_the_vocabulary():
    model = NGramLM(2).fit([0, 1, 2, 1], vocab_size=3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        NGramLM(2).fit([0, 1, 5], vocab_size=3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        NGramLM(2).fit([0, -1, 2], vocab_size=3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.next_token_probs([3])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.prob(7, [1])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.token_log_probs([0, 1, 9])
    with pytest.raises(TypeError, match="string"):
        model.next_token_probs("ab")
    with pytest.raises(TypeError):
        NGramLM(2).fit([0.5, 1.0], vocab_size=3)


def test_other_bad_input():
    with pytest.raises(ValueError, match="vocab_size"):
        NGramLM(2).fit([0, 1], vocab_size=0)
    with pytest.raises(ValueError, match="at least order"):
        NGramLM(3).fit([0, 1], vocab_size=3)
    with pytest.raises(ValueError, match="too large"):
        NGramLM(5).fit([0, 1, 2, 3, 4], vocab_size=50_257)
    model = NGramLM(2).fit([0, 1, 2, 1], vocab_size=3)
    with pytest.raises(ValueError, match="temperature"):
        model.generate([], 3, temperature=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate([], -1)
    with pytest.raises(ValueError, match="either seed or generator"):
        model.generate([], 2, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="at least 2 tokens"):
        model.token_log_probs([1])
    with pytest.raises(ValueError, match="ngram must hold"):
        model.count([0, 1, 2])
