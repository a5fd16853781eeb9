"""Shared helpers for the exercise checkers."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["report", "close", "require_number", "call_student", "call_or_report", "MISSING"]


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


MISSING = object()  # call_or_report's "no result": the student's function failed and was reported


def call_or_report(name: str, fn: object, args: tuple, stub_hint: str,
          on_error: Callable[[Exception], str] | None = None) -> object:
    """``fn(*args)``, or ``MISSING`` after printing why not (not a function,
    a stub that raises ``NotImplementedError``, or any other exception, with
    ``on_error(err)`` added to the message when given)."""
    if not callable(fn):
        report(False, name, "", f"pass your function itself (without calling it), got {type(fn).__name__}.")
        return MISSING
    try:
        return fn(*args)
    except NotImplementedError:
        print(f"❌ {name}: not implemented yet (the function still raises NotImplementedError). Hint: {stub_hint}")
        return MISSING
    except Exception as err:  # the student's code: report, never raise
        more = on_error(err) if on_error is not None else ""
        report(False, name, "", f"your function raised {type(err).__name__}: {err}." + (f" {more}" if more else ""))
        return MISSING
