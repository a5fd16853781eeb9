"""Shared helpers for the exercise checkers."""

from __future__ import annotations

import math

__all__ = ["report", "close", "require_number"]


def report(ok: bool, exercise: str, praise: str, hint: str) -> bool:
    """Print a pass (with ``praise``) or a hint, and return ``ok``."""
    if ok:
        print(f"✅ {exercise}: correct. {praise}")
    else:
        print(f"❌ {exercise}: not yet. Hint: {hint}")
    return bool(ok)


def require_number(answer: object, exercise: str) -> float | None:
    """``answer`` as a float, or ``None`` after printing what went wrong."""
    if answer is None:
        print(f"❌ {exercise}: no answer yet. Replace `None` with your answer and run the cell again.")
        return None
    try:
        value = float(answer)  # works for ints, floats, 0-d tensors and arrays
    except (TypeError, ValueError):
        print(f"❌ {exercise}: expected a number, got {type(answer).__name__} {answer!r}.")
        return None
    if math.isnan(value):
        print(f"❌ {exercise}: your answer is NaN (did a probability of 0 reach a log?).")
        return None
    return value


def close(a: float, b: float, rel: float = 1e-3, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
