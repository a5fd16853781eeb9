"""Shared helpers for the exercise checkers."""

from __future__ import annotations

import math

__all__ = ["report", "close", "require_number", "call_student"]


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


def call_student(fn: object, exercise: str, hint: str, *args: object) -> tuple[bool, object]:
    """Call the student's ``fn(*args)`` and return ``(True, result)``; or print
    why it could not be used and return ``(False, None)``.

    ``hint`` is printed when the body is still the stub
    (``raise NotImplementedError``). A function that raises anything else, or
    returns ``None``, is reported, never re-raised.
    """
    if not callable(fn):
        print(f"❌ {exercise}: pass the function itself (e.g. check_x(x), not check_x(x(...))); "
              f"got {type(fn).__name__}.")
        return False, None
    try:
        result = fn(*args)
    except NotImplementedError:
        print(f"❌ {exercise}: not implemented yet. Replace `raise NotImplementedError` with your code. "
              f"Hint: {hint}")
        return False, None
    except Exception as err:  # the student's code may fail in any way: report it
        print(f"❌ {exercise}: your function raised {type(err).__name__}: {err}")
        return False, None
    if result is None:
        print(f"❌ {exercise}: your function returned None; did you forget `return`?")
        return False, None
    return True, result
