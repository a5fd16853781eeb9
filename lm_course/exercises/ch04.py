"""Checkers for the exercises of ``04_attention.ipynb``.

Each checker prints ✅ or ❌ with a hint and returns ``True``/``False``; it
never raises on a wrong answer (nor on an answer that raises itself).
"""

from __future__ import annotations

import math

import torch

from lm_course.exercises._check import report, require_number

__all__ = ["EX1_QUERY", "EX1_KEYS", "EX3_D_MODEL", "EX3_N_HEADS",
           "check_attention_weights", "check_window_mask", "check_mha_parameters", "check_copy_model"]

#: Exercise 1: one query and three keys, d_k = 2.
EX1_QUERY = (1.0, 2.0)
EX1_KEYS = ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))
#: Exercise 3: the multi-head attention layer whose parameters are counted.
EX3_D_MODEL, EX3_N_HEADS = 64, 8


def _no_answer(answer: object, name: str) -> bool:
    if answer is None:
        print(f"❌ {name}: no answer yet. Replace `None` with your answer and run the cell again.")
        return True
    return False


def _as_vector(answer: object, name: str, n: int) -> torch.Tensor | None:
    if _no_answer(answer, name):
        return None
    try:
        t = torch.as_tensor(answer, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        print(f"❌ {name}: expected {n} numbers (a list or a tensor), got {type(answer).__name__} {answer!r}.")
        return None
    if t.numel() != n:
        print(f"❌ {name}: expected {n} numbers, one weight per key, got {t.numel()}.")
        return None
    return t


def check_attention_weights(answer: object) -> bool:
    """Exercise 1: the attention weights of ``EX1_QUERY`` over ``EX1_KEYS``,
    ``softmax(q K^T / sqrt(d_k))``, computed by hand (three numbers)."""
    name = "Exercise 1 (weights by hand)"
    w = _as_vector(answer, name, len(EX1_KEYS))
    if w is None:
        return False
    q = torch.tensor(EX1_QUERY, dtype=torch.float64)  # (d,)
    K = torch.tensor(EX1_KEYS, dtype=torch.float64)  # (S, d)
    scores = K @ q  # (S,)
    want = torch.softmax(scores / math.sqrt(q.numel()), dim=0)  # (S,)
    if torch.allclose(w, want, atol=2e-3):
        rounded = [round(x, 3) for x in want.tolist()]
        return report(True, name, f"scores {scores.tolist()} / √2 → weights {rounded}: "
                                  "the key most aligned with the query, (1, 1), gets the most.", "")
    if torch.allclose(w, torch.softmax(scores, dim=0), atol=2e-3):
        return report(False, name, "", "that is softmax(q·k) without the scaling: divide the scores by √d_k = √2 "
                                       "before the softmax.")
    if torch.allclose(w, scores, atol=2e-3) or torch.allclose(w, scores / math.sqrt(2), atol=2e-3):
        return report(False, name, "", "those are the (scaled) scores; the weights are their softmax.")
    if not math.isclose(float(w.sum()), 1.0, abs_tol=1e-2):
        return report(False, name, "", f"your weights sum to {float(w.sum()):.3f}; attention weights sum to 1 "
                                       "(a softmax).")
    return report(False, name, "", "score each key with q·k (1·1 + 2·0 = 1 for the first), divide by √2, then "
                                   "take exp and normalise.")


def check_window_mask(answer: object) -> bool:
    """Exercise 2: a function ``window_mask(T, w)`` returning the boolean
    ``(T, T)`` mask of causal sliding-window attention: query ``t`` may attend
    to keys ``t - w + 1 .. t``."""
    name = "Exercise 2 (a sliding-window mask)"
    if _no_answer(answer, name):
        return False
    if not callable(answer):
        print(f"❌ {name}: expected a function window_mask(T, w), got {type(answer).__name__}.")
        return False
    for T, w in ((6, 3), (5, 1), (4, 4), (7, 2), (3, 5)):
        try:
            got = answer(T, w)
        except Exception as err:  # noqa: BLE001 - report the student's error, never raise
            print(f"❌ {name}: window_mask({T}, {w}) raised {type(err).__name__}: {err}")
            return False
        t = torch.arange(T)
        want = (t[None, :] <= t[:, None]) & (t[:, None] - t[None, :] < w)  # (T, T): keys t-w+1..t
        if not isinstance(got, torch.Tensor) or got.shape != (T, T):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"window_mask({T}, {w}) should be a ({T}, {T}) tensor, got {shape}.")
        if got.dtype != torch.bool:
            return report(False, name, "", f"the mask must be boolean (True = may attend), got {got.dtype}.")
        if torch.equal(got, want):
            continue
        future = got & ~(t[None, :] <= t[:, None])
        if future.any():
            i, j = future.nonzero()[0].tolist()
            return report(False, name, "", f"query {i} may see key {j}, which is in its future: start from "
                                           "causal_mask(T).")
        wrong = (got != want).nonzero()[0].tolist()
        return report(False, name, "", f"with T={T}, w={w}: query {wrong[0]} and key {wrong[1]} should be "
                                       f"{bool(want[wrong[0], wrong[1]])}. Each query sees itself and the "
                                       "w - 1 keys before it.")
    return report(True, name, "each token sees only its last w tokens: the cost grows as T·w instead of T² "
                              "(sliding-window attention, e.g. Beltagy et al. 2020).", "")


def check_mha_parameters(answer: object) -> bool:
    """Exercise 3: the number of parameters of
    ``MultiHeadAttention(EX3_D_MODEL, EX3_N_HEADS)``."""
    name = "Exercise 3 (counting parameters)"
    value = require_number(answer, name)
    if value is None:
        return False
    d, h = EX3_D_MODEL, EX3_N_HEADS
    want = 4 * (d * d + d)  # q, k, v and output projections, each d x d plus a bias
    if value == want:
        return report(True, name, f"4 × ({d}·{d} + {d}) = {want}, whatever the number of heads: heads split "
                                  "the width d_model, they do not add parameters.", "")
    if value == 4 * d * d:
        return report(False, name, "", "close: every projection (nn.Linear) also has a bias of d_model numbers.")
    if value in (3 * (d * d + d), 3 * d * d):
        return report(False, name, "", "queries, keys and values make three projections; there is a fourth, "
                                       "the output projection that mixes the heads.")
    if value in (want * h, want / h, 4 * (d * d // h + d)):
        return report(False, name, "", "the number of heads does not change the count: each head uses a "
                                       "d_model / n_heads slice of the same projections.")
    return report(False, name, "", "count the four nn.Linear(d_model, d_model) layers: weights and biases "
                                   "(or sum p.numel() over model.parameters()).")


def check_copy_model(answer: object) -> bool:
    """Exercise 4: a :class:`~lm_course.toy_attention.ToyAttentionModel`
    trained on the *copy* task, whose attention forms the diagonal."""
    from lm_course.toy_attention import ToyAttentionModel, make_batch, toy_accuracy

    name = "Exercise 4 (learning to copy)"
    if _no_answer(answer, name):
        return False
    if not isinstance(answer, ToyAttentionModel):
        print(f"❌ {name}: expected the model returned by train_toy(...), got {type(answer).__name__}.")
        return False
    config = answer.config
    if config.task != "copy":
        return report(False, name, "", f"this model was trained to {config.task}: use ToyConfig(task='copy').")
    acc = toy_accuracy(answer)
    if acc.sequences < 0.99:
        hint = ("without positions every position looks the same (permutation equivariance): keep "
                "positions='learned'." if config.positions == "none" else "train for more steps.")
        return report(False, name, "", f"it copies {acc.sequences:.0%} of sequences right; {hint}")
    # Sequences of distinct symbols: attending to a repeat of the same symbol
    # would copy just as well, so only there must the map be the diagonal.
    T = config.seq_len
    g = torch.Generator().manual_seed(0)
    if config.n_symbols >= T:
        x = torch.rand(200, config.n_symbols, generator=g).argsort(-1)[:, :T]  # (200, T), no repeats
    else:
        x = make_batch(config, 200, g)[0]  # (200, T)
    with torch.no_grad():
        w = answer(x, output_attentions=True).attentions[-1].mean(1)  # (200, T, T), mean of heads
    on_diagonal = (w.argmax(-1) == torch.arange(T)).float().mean().item()
    if on_diagonal < 0.95:
        return report(False, name, "", f"it copies, but only {on_diagonal:.0%} of its queries look hardest at "
                                       "their own position: use one layer so the map is readable.")
    weight = w[:, torch.arange(T), torch.arange(T)].mean().item()
    return report(True, name, f"{acc.sequences:.0%} of sequences copied, and the attention map is the diagonal "
                              f"(mean weight {weight:.2f} on it when no symbol repeats): each output reads its "
                              "own input position.", "")
