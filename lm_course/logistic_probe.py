"""A linear probe fitted to convergence: the control of chapter 7.

Explained in ``07_finetuning.ipynb``, "Three ways to use the same
architecture" (the converged probe on a randomly initialised body):
:func:`fit_logistic_probe` fits an L2-regularised logistic regression with
L-BFGS (no seed, no schedule) and :func:`select_logistic_probe` chooses its
strength on validation, as ``tools/finetune_sweep.py`` chooses a learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lm_course.genre_data import CLASSES

__all__ = ["LogisticProbe", "fit_logistic_probe", "L2_GRID", "select_logistic_probe"]


@dataclass
class LogisticProbe:
    """An L2-regularised logistic regression on standardised features, fitted
    to convergence by :func:`fit_logistic_probe` (no seed, no schedule)."""

    mean: torch.Tensor  # (C,) the training features' mean
    std: torch.Tensor  # (C,) their standard deviation (1 where a feature is constant)
    weight: torch.Tensor  # (K, C)
    bias: torch.Tensor  # (K,)
    l2: float  # the penalty's strength
    converged: bool  # L-BFGS stopped on its tolerance, not on its iteration limit

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` class logits (float64) for ``(N, C)`` features."""
        z = (feats.double() - self.mean) / self.std  # (N, C)
        return z @ self.weight.T + self.bias  # (N, K)

    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N,)`` the most probable class."""
        return self.logits(feats).argmax(-1)


def fit_logistic_probe(feats: torch.Tensor, labels: Sequence[int] | torch.Tensor, l2: float,
                       n_classes: int = len(CLASSES), max_iter: int = 2000) -> LogisticProbe:
    """A linear probe fitted to convergence: multinomial logistic regression on
    the features ``(N, C)`` standardised with their own mean and standard
    deviation, minimising ``mean cross-entropy + l2/2 * ||W||^2`` (the bias is
    not penalised) with L-BFGS in float64. The objective is convex, so the
    result does not depend on a seed or a learning rate, unlike a probe
    trained by a few SGD steps. ``07_finetuning.ipynb``, "Three ways to use
    the same architecture" (the control on a randomly initialised body)."""
    x = torch.as_tensor(feats).double()  # (N, C)
    y = torch.as_tensor(labels, dtype=torch.long).flatten()  # (N,)
    if x.dim() != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"need (N, C) features and N labels, got {tuple(x.shape)} and {len(y)}")
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0, got {l2!r}")
    mean, std = x.mean(0), x.std(0)  # (C,), (C,)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z = (x - mean) / std  # (N, C)
    w = torch.zeros(n_classes, x.size(1), dtype=torch.float64, requires_grad=True)  # (K, C)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)  # (K,)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = opt.state[opt._params[0]].get("n_iter", 0)
    return LogisticProbe(mean, std, w.detach(), b.detach(), float(l2), n_iter < max_iter)


#: The L2 strengths :func:`select_logistic_probe` starts from (powers of ten).
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def select_logistic_probe(train_feats: torch.Tensor, train_labels: Sequence[int], val_feats: torch.Tensor,
                          val_labels: Sequence[int], grid: Sequence[float] = L2_GRID,
                          max_widen: int = 4) -> tuple[LogisticProbe, dict[float, dict[str, float]]]:
    """:func:`fit_logistic_probe` with its L2 strength chosen on validation,
    as ``tools/finetune_sweep.py`` chooses a learning rate: the highest
    validation accuracy, ties to the lower validation cross-entropy, and the
    grid (powers of ten) widened one power at a time, at most ``max_widen``
    on either side, until the best strength is strictly inside it. Returns
    the chosen probe and ``{l2: {"val_acc", "val_loss"}}`` for every strength
    tried."""
    y_val = torch.as_tensor(val_labels, dtype=torch.long)
    fits: dict[float, LogisticProbe] = {}
    runs: dict[float, dict[str, float]] = {}
    todo, lo, hi = [float(x) for x in grid], 0, 0
    while True:
        for l2 in todo:
            fits[l2] = fit_logistic_probe(train_feats, train_labels, l2)
            logits = fits[l2].logits(val_feats)  # (N_val, K)
            runs[l2] = {"val_acc": (logits.argmax(-1) == y_val).double().mean().item(),
                        "val_loss": F.cross_entropy(logits, y_val).item()}
        ordered = sorted(runs)
        best = max(runs, key=lambda x: (runs[x]["val_acc"], -runs[x]["val_loss"]))
        if best == ordered[0] and lo < max_widen:
            todo, lo = [float(f"{ordered[0] / 10:g}")], lo + 1
        elif best == ordered[-1] and hi < max_widen:
            todo, hi = [float(f"{ordered[-1] * 10:g}")], hi + 1
        else:
            return fits[best], {x: runs[x] for x in sorted(runs)}
