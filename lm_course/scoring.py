"""Scoring: the log-probability of each target token, one way for every model.

:func:`target_log_probs` picks ``ln p(target)`` out of a batch of logits (every
model's batched ``token_log_probs`` ends there); :func:`window_log_probs`
scores a text longer than a model's window in overlapping windows (the GPTs',
``05_transformer.ipynb``, "The reference checkpoint"). Bits per token and
perplexity from these numbers: :mod:`lm_course.evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["target_log_probs", "window_log_probs"]


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``ln p(target)`` of every position: ``logits`` ``(..., V)`` and the
    target ids ``(...)`` give ``(...)`` float64 on the CPU. The log-softmax
    runs in float32 (a half-precision model loses nothing more), then the
    target's entry is picked; the batched scoring of every model's
    ``token_log_probs`` ends here.

    >>> target_log_probs(torch.zeros(2, 4), torch.tensor([0, 3]))  # uniform over 4: ln 1/4
    tensor([-1.3863, -1.3863], dtype=torch.float64)
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # (..., V)
    return logp.gather(-1, targets[..., None])[..., 0].double().cpu()  # (...)


def window_log_probs(logits_of: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor, W: int,
                     stride: int | None = None, batch_size: int = 32,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``(N-1,)`` float64 natural-log probabilities ``ln p(data[t] | data[:t])``,
    ``t = 1..N-1``, of a model that sees at most ``W`` tokens (a GPT's
    ``block_size``); ``logits_of`` maps ``(K, W)`` ids to ``(K, W, V)`` logits.

    The text ``data`` (``(N,)`` ids on the CPU) is cut into overlapping
    windows of ``W`` tokens that start every ``stride`` tokens (default
    ``W // 2``), scored in batches on ``device``. The first window scores all
    its tokens (they have all the context there is); every later window scores
    only its last ``stride`` tokens, each of which therefore sees at least
    ``W - stride`` tokens of context. Every token is scored exactly once.
    ``stride=1`` gives every token the full window (slow; the exact
    sliding-window score); a larger stride is faster and slightly worse.
    """
    N = len(data)
    if N < 2:
        raise ValueError(f"need at least 2 tokens to score (the first is only context), got {N}")
    stride = W // 2 if stride is None else int(stride)
    if not 1 <= stride <= W:
        raise ValueError(f"stride must be in 1..block_size ({W}), got {stride}")
    if N - 1 <= W:  # one window holds everything
        starts, W = [0], N - 1
    else:
        starts = list(range(0, N - 1 - W, stride)) + [N - 1 - W]  # the last window ends the text
    out = torch.empty(N - 1, dtype=torch.float64)  # (N-1,): out[t-1] = ln p(data[t] | ...)
    scored_to = 0  # targets 1..scored_to are done
    offsets = torch.arange(W + 1)  # (W+1,)
    for b in range(0, len(starts), batch_size):
        chunk = torch.tensor(starts[b:b + batch_size])  # (K,)
        windows = data[chunk[:, None] + offsets]  # (K, W+1)
        x, y = windows[:, :-1].to(device), windows[:, 1:].to(device)  # (K, W) each
        logp = target_log_probs(logits_of(x), y)  # (K, W): ln p of each target
        for k, a in enumerate(chunk.tolist()):
            first = max(scored_to + 1, a + 1)  # first target not yet scored
            last = a + W  # the window's last target
            out[first - 1:last] = logp[k, first - a - 1:]  # targets first..last
            scored_to = last
    return out
