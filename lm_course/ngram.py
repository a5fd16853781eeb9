"""n-gram language models: counting, MLE, add-k, Jelinek-Mercer interpolation
and interpolated Kneser-Ney.

Explained in ``01_ngrams.ipynb``: "Counting bigrams" (:func:`bigram_count_matrix`),
"Maximum likelihood, and why zero counts break it" (``smoothing="mle"``),
"Add-k smoothing", "Interpolation" (``"interpolated"``) and "Kneser-Ney"
(``"kneser_ney"``, the default); "Perplexity and bits per character" and
"Sampling" use :meth:`NGramLM.token_log_probs` and :meth:`NGramLM.generate`.

An n-gram model of order n predicts a token from the n-1 tokens before it::

    p(x_t | x_<t) ~= p(x_t | x_{t-n+1} .. x_{t-1})

How the counts are stored: as sorted arrays of integer codes, looked up by
binary search (:mod:`lm_course.ngram_counts`, which also holds chapter 1's
first table, :func:`~lm_course.ngram_counts.bigram_count_matrix`).

Contexts shorter than ``order - 1``
    At the start of a text there are fewer than n-1 tokens to condition on.
    A context of m < n-1 tokens is answered by the model of order m+1 fitted on
    the same data with the same smoothing (its counts are part of the fit): the
    empty context gets the unigram distribution, one token the bigram one, and
    so on. Contexts longer than n-1 tokens are cropped to their last n-1.

Unseen contexts
    Every smoothing returns a distribution that sums to 1 for every context.
    MLE is 0/0 for a context never seen in training; it then uses the next
    shorter context (the MLE of the order below), down to the unigram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from lm_course.interface import Generates
from lm_course.ngram_counts import MAX_CODE, CountTable, window_codes, bigram_count_matrix
from lm_course.validation import as_id_tensor, require_number, require_positive

__all__ = ["SMOOTHINGS", "NGramLM", "bigram_count_matrix", "default_lambdas"]

#: The smoothing methods :class:`NGramLM` implements.
SMOOTHINGS = ("mle", "add_k", "interpolated", "kneser_ney")


def default_lambdas(order: int) -> tuple[float, ...]:
    """The default Jelinek-Mercer weights ``(lambda_0, .., lambda_N)``.

    ``lambda_0 = 0.01`` goes to the uniform distribution; the remaining 0.99 is
    split over the orders 1..N in proportion to ``2**n``, so each order weighs
    twice the one below it (a hand-set rule, not tuned on the test data; see
    ``01_ngrams.ipynb``, "Interpolation").
    """
    raw = [2.0**n for n in range(1, order + 1)]
    return (0.01, *(0.99 * r / sum(raw) for r in raw))


def _as_id_array(ids, vocab_size: int, what: str) -> np.ndarray:
    return as_id_tensor(ids, vocab_size, what).numpy().astype(np.int64, copy=False)


class NGramLM(Generates):
    """A character (or any token) n-gram language model.

    Args:
        order: n, the number of tokens in an n-gram (1 = unigram, 2 = bigram...);
            the model looks at ``context_length = n - 1`` tokens.
        smoothing: how counts become probabilities, one of :data:`SMOOTHINGS`:

            * ``"mle"``: ``c(h, w) / c(h)`` (zero for every unseen n-gram).
            * ``"add_k"``: ``(c(h, w) + k) / (c(h) + k V)`` (Laplace for k = 1);
              ``k = 0`` is exactly ``"mle"``.
            * ``"interpolated"``: Jelinek-Mercer (Jelinek & Mercer 1980),
              ``sum_n lambda_n p_MLE(w | last n-1 tokens) + lambda_0 / V``; the
              weights of orders whose context was never seen are dropped and
              the others renormalised. Weights: ``lambdas`` or
              :func:`default_lambdas`.
            * ``"kneser_ney"``: interpolated Kneser-Ney (Kneser & Ney 1995,
              in the form of Chen & Goodman 1999), see :meth:`next_token_probs`.
        k: the pseudo-count of add-k (>= 0).
        discount: D, the absolute discount of Kneser-Ney, in [0, 1).
        lambdas: Jelinek-Mercer weights ``(lambda_0, lambda_1, .., lambda_N)``
            (uniform, unigram, .., N-gram), non-negative, summing to 1.

    Interpolated Kneser-Ney, for a context h of length n-1 (h' = h without its
    first token)::

        p_n(w | h) = max(c_n(h, w) - D, 0) / c_n(h)  +  D N1+(h .) / c_n(h) * p_{n-1}(w | h')
        p_0(w)     = 1 / V                            (the uniform floor)

    where ``c_n`` is the raw count at the top order and the *continuation
    count* ``N1+(. h w)`` (the number of distinct tokens seen before ``h w``)
    at every lower order, and ``N1+(h .)`` is the number of distinct tokens
    seen after h. A context with ``c_n(h) = 0`` passes the lower order through
    unchanged. With ``D = 0`` the top order is the MLE on every seen context.
    """

    def __init__(self, order: int, smoothing: str = "kneser_ney", k: float = 1.0,
                 discount: float = 0.75, lambdas: Sequence[float] | None = None):
        order = require_positive(order, "order")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {SMOOTHINGS}")
        k = require_number(k, "k", minimum=0)
        if not 0 <= discount < 1:
            raise ValueError(f"discount must be in [0, 1), got {discount!r}")
        if lambdas is None:
            lambdas = default_lambdas(order)
        lambdas = tuple(float(x) for x in lambdas)
        if len(lambdas) != order + 1:
            raise ValueError(
                f"lambdas needs order + 1 = {order + 1} weights (uniform, then orders 1..{order}), "
                f"got {len(lambdas)}"
            )
        if min(lambdas) < 0 or not math.isclose(sum(lambdas), 1.0, abs_tol=1e-6):
            raise ValueError(f"lambdas must be non-negative and sum to 1, got {lambdas}")
        self.order, self.smoothing = order, smoothing
        self.k, self.discount, self.lambdas = float(k), float(discount), lambdas
        self.context_length = order - 1
        self.vocab_size: int | None = None
        self._raw: list[CountTable] = []  # _raw[n-1]: counts of the n-grams
        self._cont: list[CountTable] = []  # _cont[n-1]: continuation counts N1+(. n-gram)

    def __repr__(self) -> str:
        extra = {"add_k": f", k={self.k:g}", "kneser_ney": f", discount={self.discount:g}"}
        fitted = "" if self.vocab_size is None else f", vocab_size={self.vocab_size}"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}{extra.get(self.smoothing, '')}{fitted})"

    # ------------------------------------------------------------------ fitting
    def fit(self, ids: Sequence[int] | torch.Tensor, vocab_size: int) -> "NGramLM":
        """Count every n-gram of orders 1..N in ``ids`` (and the continuation
        counts Kneser-Ney needs); returns ``self``."""
        vocab_size = require_positive(vocab_size, "vocab_size")
        if vocab_size**self.order >= MAX_CODE:
            raise ValueError(
                f"vocab_size ** order = {vocab_size}**{self.order} is too large for 64-bit n-gram "
                "codes; use a smaller order or vocabulary"
            )
        arr = _as_id_array(ids, vocab_size, "ids")
        if len(arr) < self.order:
            raise ValueError(f"need at least order = {self.order} tokens to fit, got {len(arr)}")
        # One sort, at the top order. Each lower order groups the sorted codes of
        # the order above by their prefix (code // V); the text's last (n)-gram
        # is the prefix of no (n+1)-gram, so it is added by hand.
        codes, counts = np.unique(window_codes(arr, self.order, vocab_size), return_counts=True)
        raw = [CountTable.from_codes(codes, counts, vocab_size)]
        for n in range(self.order - 1, 0, -1):
            above = raw[0]
            codes, counts = above.ctx_codes, above.ctx_totals.copy()
            last = window_codes(arr[len(arr) - n:], n, vocab_size)  # (1,)
            at = int(np.searchsorted(codes, last[0]))
            if at < len(codes) and codes[at] == last[0]:
                counts[at] += 1
            else:
                codes, counts = np.insert(codes, at, last[0]), np.insert(counts, at, 1.0)
            raw.insert(0, CountTable.from_codes(codes, counts, vocab_size))
        cont = []
        for n in range(1, self.order):
            # N1+(. w_1..w_n): the distinct (n+1)-grams ending in w_1..w_n
            suffixes = raw[n].codes % vocab_size**n  # (M,)
            codes, counts = np.unique(suffixes, return_counts=True)
            cont.append(CountTable.from_codes(codes, counts, vocab_size))
        self.vocab_size, self._raw, self._cont = vocab_size, raw, cont
        return self

    def variant(self, **changes) -> "NGramLM":
        """A model with other settings (``order`` up to this one's, ``smoothing``,
        ``k``, ``discount``, ``lambdas``) sharing these counts: no refitting.

        >>> kn5 = NGramLM(5).fit(ids, V)                      # doctest: +SKIP
        >>> add1_3 = kn5.variant(order=3, smoothing="add_k")  # doctest: +SKIP
        """
        self._check_fitted()
        settings = {"order": self.order, "smoothing": self.smoothing, "k": self.k,
                    "discount": self.discount}
        unknown = set(changes) - set(settings) - {"lambdas"}
        if unknown:
            raise TypeError(f"variant() got unexpected setting(s) {sorted(unknown)}")
        settings.update(changes)
        if "lambdas" not in changes and settings["order"] == self.order:
            settings["lambdas"] = self.lambdas
        other = NGramLM(**settings)
        if other.order > self.order:
            raise ValueError(
                f"a variant can only lower the order (this model was fitted at order {self.order})"
            )
        other.vocab_size = self.vocab_size
        other._raw = self._raw[: other.order]
        # continuation counts of order n come from the (n+1)-grams: keep those below the top
        other._cont = self._cont[: other.order - 1]
        return other

    def _check_fitted(self) -> None:
        if self.vocab_size is None:
            raise RuntimeError("this NGramLM is not fitted yet: call fit(ids, vocab_size) first")

    # ------------------------------------------------------------ raw counts
    def count(self, ngram: Sequence[int]) -> int:
        """How often the n-gram ``ngram`` (1 <= len <= order) occurs in the
        training ids."""
        return int(self._table_value(ngram, self._raw))

    def continuation_count(self, ngram: Sequence[int]) -> int:
        """``N1+(. ngram)``: how many distinct tokens precede ``ngram`` in the
        training ids (the Kneser-Ney lower-order count; len < order)."""
        return int(self._table_value(ngram, self._cont))

    def distinct_ngrams(self, n: int) -> int:
        """How many different n-grams of order ``n`` (1..order) the training ids hold."""
        self._check_fitted()
        if not 1 <= n <= self.order:
            raise ValueError(f"n must be in 1..{self.order}, got {n!r}")
        return len(self._raw[n - 1].codes)

    def window_counts(self, ids: Sequence[int] | torch.Tensor, n: int) -> torch.Tensor:
        """``(len(ids) - n + 1,)`` training counts of every length-n window of
        ``ids`` (0 = an n-gram never seen in training): how sparse the counts
        are for new text (``01_ngrams.ipynb``, "How long a context? Order against sparsity")."""
        self._check_fitted()
        if not 1 <= n <= self.order:
            raise ValueError(f"n must be in 1..{self.order}, got {n!r}")
        arr = _as_id_array(ids, self.vocab_size, "ids")
        if len(arr) < n:
            raise ValueError(f"need at least n = {n} ids, got {len(arr)}")
        return torch.from_numpy(self._raw[n - 1].count(window_codes(arr, n, self.vocab_size)).astype(np.int64))

    def _table_value(self, ngram: Sequence[int], tables: list[CountTable]) -> float:
        self._check_fitted()
        gram = _as_id_array(ngram, self.vocab_size, "ngram")
        if not 1 <= len(gram) <= len(tables):
            raise ValueError(f"ngram must hold 1..{len(tables)} tokens, got {len(gram)}")
        code = window_codes(gram, len(gram), self.vocab_size)  # (1,)
        return float(tables[len(gram) - 1].count(code)[0])

    # ------------------------------------------------------------ probabilities
    def _probs(self, ctx_codes: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        """``p(tokens | contexts)`` for a batch of Q queries, from the model of
        order ``top = len(ctx_codes)``; ``ctx_codes[n-1]`` are the ``(Q,)`` codes
        of the last n-1 context tokens (all zeros for n = 1). One method per
        smoothing, each the formula of the class docstring."""
        smoothing = "mle" if self.smoothing == "add_k" and self.k == 0 else self.smoothing
        method = {"mle": self._mle, "add_k": self._add_k, "interpolated": self._jelinek_mercer,
                  "kneser_ney": self._kneser_ney}[smoothing]
        return method(ctx_codes, tokens)

    def _lookup(self, table: CountTable, ctx: np.ndarray, tokens: np.ndarray):
        """Counts for the queries: ``c(h, w)``, ``c(h)``, ``N1+(h .)``, whether
        h was seen, and ``c(h)`` with 1 where it is 0 (no 0/0). Each ``(Q,)``."""
        c = table.count(ctx * self.vocab_size + tokens)  # (Q,)
        total, types = table.context_stats(ctx)  # (Q,), (Q,)
        seen = total > 0
        return c, total, types, seen, np.where(seen, total, 1.0)

    def _mle(self, ctx_codes: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        """``c(h, w) / c(h)`` for the longest context h seen in training."""
        p = np.full(len(tokens), 1.0 / self.vocab_size)  # (Q,) no context seen at all: uniform
        for n, ctx in enumerate(ctx_codes, start=1):
            c, _, _, seen, safe = self._lookup(self._raw[n - 1], ctx, tokens)
            p = np.where(seen, c / safe, p)  # (Q,)
        return p

    def _add_k(self, ctx_codes: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        """``(c(h, w) + k) / (c(h) + k V)`` at the top order only."""
        top = len(ctx_codes)
        c, total, _, _, _ = self._lookup(self._raw[top - 1], ctx_codes[top - 1], tokens)
        return (c + self.k) / (total + self.k * self.vocab_size)  # (Q,)

    def _jelinek_mercer(self, ctx_codes: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        """``sum_n lambda_n p_MLE(w | h_n) + lambda_0 / V``, built up order by
        order; an order whose context was never seen drops out and the weights
        of the others are renormalised."""
        p = np.full(len(tokens), 1.0 / self.vocab_size)  # (Q,) level 0: uniform
        lambda_sum = self.lambdas[0]
        for n, ctx in enumerate(ctx_codes, start=1):
            c, _, _, seen, safe = self._lookup(self._raw[n - 1], ctx, tokens)
            lambda_sum += self.lambdas[n]
            mu = self.lambdas[n] / lambda_sum if lambda_sum > 0 else 0.0  # this order's share so far
            p = np.where(seen, mu * c / safe + (1 - mu) * p, p)  # (Q,)
        return p

    def _kneser_ney(self, ctx_codes: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        """``max(c(h, w) - D, 0) / c(h) + D N1+(h .) / c(h) * p_lower(w | h')``
        from the uniform floor up; continuation counts below the top order."""
        top, D = len(ctx_codes), self.discount
        p = np.full(len(tokens), 1.0 / self.vocab_size)  # (Q,) p_0: uniform
        for n, ctx in enumerate(ctx_codes, start=1):
            table = self._cont[n - 1] if n < top else self._raw[n - 1]
            c, _, types, seen, safe = self._lookup(table, ctx, tokens)
            p = np.where(seen, np.maximum(c - D, 0.0) / safe + D * types / safe * p, p)  # (Q,)
        return p

    def _context_codes(self, context: np.ndarray) -> list[np.ndarray]:
        """Codes of the last 0, 1, .., len(context) tokens (each a (1,) array)."""
        return [window_codes(context[len(context) - m:], m, self.vocab_size)
                for m in range(len(context) + 1)]

    def next_token_probs(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """The ``(vocab_size,)`` float32 distribution of the next token after
        ``context`` (cropped to its last ``order - 1`` tokens; a shorter context
        uses the model of order ``len(context) + 1``), as every model of the
        course answers; :meth:`prob` and scoring keep float64. Sums to 1 for
        every context."""
        return self._probs64(context).float()

    def _probs64(self, context: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """:meth:`next_token_probs` in float64, the precision the counts give."""
        self._check_fitted()
        ctx = _as_id_array(context, self.vocab_size, "context")
        ctx = ctx[len(ctx) - self.context_length:] if len(ctx) > self.context_length else ctx
        codes = [np.repeat(c, self.vocab_size) for c in self._context_codes(ctx)]  # each (V,)
        return torch.from_numpy(self._probs(codes, np.arange(self.vocab_size)))  # (V,)

    def prob(self, token: int, context: Sequence[int] | torch.Tensor) -> float:
        """``p(token | context)``, a float (computed in float64)."""
        self._check_fitted()
        (token,) = _as_id_array([token], self.vocab_size, "token").tolist()
        return float(self._probs64(context)[token])

    def token_log_probs(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """``(len(ids)-1,)`` float64 ``ln p(ids[t] | ids[:t])`` for ``t = 1..len-1``,
        batched over all positions (the fast path of
        :func:`lm_course.evaluate.bits_per_token`). Zero probabilities give
        ``-inf`` (the MLE's fate on unseen n-grams)."""
        self._check_fitted()
        arr = _as_id_array(ids, self.vocab_size, "ids")
        L, N, V = len(arr), self.order, self.vocab_size
        if L < 2:
            raise ValueError(f"need at least 2 tokens (the first is only context), got {L}")
        out = np.empty(L - 1)
        short = min(N - 1, L)  # positions 1..short-1 have fewer than N-1 tokens before them
        for t in range(1, short):
            codes = self._context_codes(arr[:t])  # model of order t+1
            out[t - 1] = self._probs(codes, arr[t: t + 1])[0]
        first = max(N - 1, 1)  # first position with a full context
        if first < L:
            # context of position t: arr[t-n+1 : t] = the (n-1)-window starting at t-n+1
            ctx_codes = [window_codes(arr, n - 1, V)[first - n + 1: L - n + 1] for n in range(1, N + 1)]
            out[first - 1:] = self._probs(ctx_codes, arr[first:])  # (L - first,)
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(out))
