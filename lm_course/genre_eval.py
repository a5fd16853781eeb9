"""Scoring chapter 7's genre classifiers on passages of plays they never read.

Explained in ``07_finetuning.ipynb``: "A baseline without pre-training"
(:class:`NGramGenreClassifier`, one n-gram language model per class, no
pre-training), "The held-out test" (:func:`evaluate`: accuracy with its
binomial standard error and the confusion matrix; :func:`paired_difference`:
two classifiers compared on the same passages, with the paired and the
play-clustered standard errors) and "Where the errors are"
(:meth:`Evaluation.per_group`). The classifiers are :mod:`lm_course.classifier`'s,
trained by :mod:`lm_course.finetune`; the passages come from :mod:`lm_course.genre_data`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from lm_course.classifier import GPTClassifier, PrefixStates, predict_proba
from lm_course.genre_data import CLASSES, check_labelled
from lm_course.ngram import NGramLM
from lm_course.validation import require_positive

__all__ = ["confusion_matrix", "Evaluation", "evaluate", "NEAR_CONSTANT", "correct_from_bits",
           "predictions_from_correct", "is_near_constant", "t_quantile", "PairedDifference", "paired_difference",
           "NGramGenreClassifier"]


def confusion_matrix(y_true: Sequence[int] | torch.Tensor, y_pred: Sequence[int] | torch.Tensor,
                     n_classes: int = len(CLASSES)) -> torch.Tensor:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    t = torch.as_tensor(y_true, dtype=torch.long).flatten()  # (N,)
    p = torch.as_tensor(y_pred, dtype=torch.long).flatten()  # (N,)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(t)} vs {len(p)}")
    if len(t) and (int(torch.minimum(t, p).min()) < 0 or int(torch.maximum(t, p).max()) >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    return torch.bincount(t * n_classes + p, minlength=n_classes * n_classes).view(n_classes, n_classes)


@dataclass
class Evaluation:
    """The result of :func:`evaluate` on one labelled set."""

    accuracy: float  # fraction of passages classified right
    stderr: float  # binomial standard error of the accuracy, sqrt(a (1 - a) / N)
    probs: torch.Tensor  # (N, K) predicted probabilities
    predictions: torch.Tensor  # (N,) argmax class
    labels: torch.Tensor  # (N,) true class
    confusion: torch.Tensor  # (K, K) rows true, columns predicted

    @property
    def correct(self) -> torch.Tensor:
        """``(N,)`` bool: which passages were classified right (for :func:`paired_difference`)."""
        return self.predictions == self.labels

    def per_group(self, groups: Sequence[str]) -> dict[str, float]:
        """Accuracy within each group (e.g. each play)."""
        if len(groups) != len(self.labels):
            raise ValueError(f"{len(groups)} groups for {len(self.labels)} passages")
        right = self.correct.tolist()
        out: dict[str, list[bool]] = {}
        for g, r in zip(groups, right):
            out.setdefault(g, []).append(r)
        return {g: sum(v) / len(v) for g, v in out.items()}


def evaluate(model: GPTClassifier, seqs: Sequence[torch.Tensor], labels: Sequence[int],
             batch_size: int = 64, features: torch.Tensor | None = None,
             prefix: PrefixStates | None = None) -> Evaluation:
    """Accuracy (with its standard error), probabilities and confusion matrix.
    ``features``, ``prefix``: see :func:`predict_proba`."""
    y = check_labelled(seqs, labels, model.n_classes, model.block_size, "the evaluation set")
    probs = predict_proba(model, seqs, batch_size, features, prefix)  # (N, K)
    pred = probs.argmax(-1)  # (N,)
    acc = float((pred == y).float().mean())
    return Evaluation(acc, math.sqrt(acc * (1 - acc) / len(y)), probs, pred, y,
                      confusion_matrix(y, pred, model.n_classes))


#: A classifier that gives one class more than this share of its predictions is flagged "near-constant".
NEAR_CONSTANT = 0.9


def correct_from_bits(bits: str) -> torch.Tensor:
    """``(N,)`` bool from the ``"1"``/``"0"`` string in which ``tools/finetune_sweep.py`` stores which
    test passages a classifier got right."""
    if not isinstance(bits, str) or not bits or set(bits) - {"0", "1"}:
        raise ValueError("expected a non-empty string of 0s and 1s")
    return torch.tensor([c == "1" for c in bits])


def predictions_from_correct(correct: torch.Tensor, labels: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """``(N,)`` the predicted class of a **two-class** classifier, from which passages it got right:
    the true label where right, the other one where wrong."""
    y = torch.as_tensor(labels, dtype=torch.long).flatten()  # (N,)
    c = torch.as_tensor(correct, dtype=torch.bool).flatten()  # (N,)
    if c.shape != y.shape:
        raise ValueError(f"{len(c)} correctness values for {len(y)} labels")
    if len(y) and int(y.max()) > 1 or len(y) and int(y.min()) < 0:
        raise ValueError("only for two classes (labels 0 and 1)")
    return torch.where(c, y, 1 - y)


def is_near_constant(predictions: Sequence[int] | torch.Tensor, n_classes: int = len(CLASSES),
                     threshold: float = NEAR_CONSTANT) -> bool:
    """True when one class gets more than ``threshold`` of the predictions: a classifier that has
    collapsed to (almost) always answering the same thing."""
    p = torch.as_tensor(predictions, dtype=torch.long).flatten()  # (N,)
    if len(p) == 0:
        raise ValueError("no predictions")
    return bool(torch.bincount(p, minlength=n_classes).max().item() > threshold * len(p))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of
    freedom (e.g. ``t_quantile(0.975, 3)`` = 3.182, the factor of a 95%
    interval with three degrees of freedom; 1.96 as ``df`` grows). Computed by
    integrating the density (Simpson's rule) and bisecting: no SciPy needed."""
    df = require_positive(df, "df")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float, n: int = 2000) -> float:  # P(T <= t) for t >= 0: 1/2 + the integral from 0 to t
        h = t / n
        f = [math.exp(log_c - (df + 1) / 2 * math.log1p((i * h) ** 2 / df)) for i in range(n + 1)]
        return 0.5 + h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


@dataclass
class PairedDifference:
    """The result of :func:`paired_difference`: classifier A minus classifier B
    on the same passages."""

    difference: float  # acc_A - acc_B, the mean of d_i = correct_A,i - correct_B,i
    stderr: float  # paired standard error, std(d_i, ddof=1) / sqrt(N)
    n: int  # passages
    only_a: int  # passages where A did better than B (for booleans: McNemar's discordant pairs)
    only_b: int  # passages where B did better than A
    per_group: dict[str, float] = field(default_factory=dict)  # the difference within each group (play)
    clustered_stderr: float = math.nan  # CR1 standard error with the groups as the units (see paired_difference)
    df: int = 0  # degrees of freedom of the clustered interval: groups - 1
    ci95: float = math.nan  # half-width of the 95% interval: t_quantile(0.975, df) * clustered_stderr
    sign_test_p: float = math.nan  # two-sided sign-flip (permutation) test over the groups' differences

    @property
    def interval(self) -> tuple[float, float]:
        """The clustered 95% interval ``(low, high)`` of the difference."""
        return self.difference - self.ci95, self.difference + self.ci95


def paired_difference(correct_a: Sequence[float] | torch.Tensor, correct_b: Sequence[float] | torch.Tensor,
                      groups: Sequence[str] | None = None) -> PairedDifference:
    """Accuracy of A minus accuracy of B, with its **paired** standard error.

    Both classifiers were scored on the same N passages: ``d_i = a_i - b_i``
    (each 1, 0 or -1), the difference is their mean and its standard error
    ``std(d, ddof=1) / sqrt(N)``. Passages both got right or both got wrong
    contribute no variance, so this is smaller than the ``sqrt(se_A**2 +
    se_B**2)`` of two independent samples when the classifiers agree often.
    ``a_i`` and ``b_i`` may also be fractions in [0, 1]: how often each
    passage was right over several training seeds (a seed-averaged classifier).

    It still treats passages as independent, and passages of one play are
    not. With ``groups`` (the play of each passage) it also gives the
    difference within each group and a cluster-robust standard error that
    treats the G *groups* as the independent units, with the small-sample
    correction G/(G-1) (CR1):
    ``sqrt(G/(G-1) * sum_g (sum_{i in g} (d_i - mean d))**2) / N``; its 95%
    interval uses Student's t with G-1 degrees of freedom (3.18 for four
    groups, not 1.96). And a sign-flip test over the groups: under "no
    difference" each group's difference is as likely to have either sign, so
    the p-value is the share of the 2**G sign patterns whose mean is at least
    as far from 0 as the one observed. With four groups the smallest possible
    p-value is 2/16 = 0.125: **four plays cannot establish any difference at
    the 5% level**, and the t interval is wide. ``07_finetuning.ipynb``, "The
    held-out test".
    """
    a = torch.as_tensor(correct_a).flatten().to(torch.float64)  # (N,)
    b = torch.as_tensor(correct_b).flatten().to(torch.float64)  # (N,)
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b differ in length: {len(a)} vs {len(b)}")
    if len(a) < 2:
        raise ValueError("need at least two passages for a standard error")
    if not bool(((a >= 0) & (a <= 1)).all() and ((b >= 0) & (b <= 1)).all()):
        raise ValueError("correct_a and correct_b must be booleans, or fractions in [0, 1]")
    d = a - b  # (N,)
    n = len(d)
    out = PairedDifference(float(d.mean()), float(d.std(unbiased=True) / math.sqrt(n)), n,
                           int((d > 0).sum()), int((d < 0).sum()))
    if groups is not None:
        if len(groups) != n:
            raise ValueError(f"{len(groups)} groups for {n} passages")
        members: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        G = len(members)
        out.per_group = {g: float(d[idx].mean()) for g, idx in members.items()}
        if G >= 2:
            resid = d - d.mean()  # (N,)
            sum_sq = sum(float(resid[idx].sum()) ** 2 for idx in members.values())
            out.clustered_stderr = math.sqrt(G / (G - 1) * sum_sq) / n
            out.df = G - 1
            out.ci95 = t_quantile(0.975, G - 1) * out.clustered_stderr
            per = list(out.per_group.values())
            observed = abs(sum(per)) / G
            flips = [abs(sum(v if (k >> j) & 1 else -v for j, v in enumerate(per))) / G
                     for k in range(2 ** G)]  # every pattern of signs
            out.sign_test_p = sum(f >= observed - 1e-12 for f in flips) / 2 ** G
    return out


class NGramGenreClassifier:
    """A baseline with no pre-training: one character n-gram language model
    per class (chapter 1's :class:`~lm_course.ngram.NGramLM`), fitted on that
    class's training passages; a passage goes to the class whose model gives
    it the highest likelihood (Bayes' rule with equal priors, the classes
    being balanced). ``07_finetuning.ipynb``, "A baseline without pre-training"."""

    def __init__(self, order: int = 5, smoothing: str = "kneser_ney"):
        self.order, self.smoothing = order, smoothing
        self.models: list = []  # one NGramLM per class, after fit()

    def fit(self, texts: Sequence[str], labels: Sequence[int], tokenizer,
            n_classes: int = len(CLASSES)) -> "NGramGenreClassifier":
        if len(texts) == 0 or len(texts) != len(labels):
            raise ValueError("need as many labels as texts, and at least one text")
        self.tokenizer, self.models = tokenizer, []
        for k in range(n_classes):
            joined = "\n\n".join(t for t, y in zip(texts, labels) if y == k)
            if not joined:
                raise ValueError(f"class {k} has no training text")
            self.models.append(NGramLM(self.order, self.smoothing).fit(tokenizer.encode("\n" + joined), tokenizer.vocab_size))
        return self

    def log_likelihoods(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, K)``: ``ln p(text | class)`` under each class's model (every
        character scored, after a leading newline)."""
        if not self.models:
            raise RuntimeError("call fit() first")
        rows = []
        for text in texts:
            if not text.strip():
                raise ValueError("cannot score an empty text")
            ids = self.tokenizer.encode("\n" + text)
            rows.append([float(m.token_log_probs(ids).sum()) for m in self.models])
        return torch.tensor(rows, dtype=torch.float64)  # (N, K)

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, K)`` posterior class probabilities (equal priors)."""
        return torch.softmax(self.log_likelihoods(texts), dim=-1).float()  # (N, K)
