"""Running a student's function safely, for :func:`lm_course.exercises._check.call`:
copies of the arguments (so the checker's own data is never changed), a check that the
student's copies were not changed in place, a time limit (an endless loop), and the line
of the student's code that raised.
"""

from __future__ import annotations

import linecache
import signal
import threading
import time
from collections.abc import Callable

__all__ = ["Timeout", "copy_argument", "unchanged", "with_time_limit", "student_line", "arg_name", "kind"]


class Timeout(BaseException):  # not an Exception: the student's own `except Exception` cannot swallow it
    pass


def copy_argument(x: object) -> object:
    """A copy of an argument the student's function may not change: plain
    tensors (contiguous), lists, tuples, dicts, numpy arrays; anything else
    (models, optimisers, generators, parameters) is passed as it is."""
    import torch

    if isinstance(x, torch.Tensor):
        if isinstance(x, torch.nn.Parameter) or x.requires_grad:
            return x
        return x.detach().clone(memory_format=torch.contiguous_format)
    if type(x) is list:
        return [copy_argument(v) for v in x]
    if type(x) is tuple:
        return tuple(copy_argument(v) for v in x)
    if type(x) is dict:
        return {k: copy_argument(v) for k, v in x.items()}
    if type(x).__module__ == "numpy" and hasattr(x, "copy") and hasattr(x, "shape"):
        return x.copy()
    return x


def unchanged(original: object, given: object) -> bool:
    """Is the student's copy ``given`` still equal to ``original``?"""
    import torch

    if original is given:
        return True
    if isinstance(original, torch.Tensor):
        if not isinstance(given, torch.Tensor) or given.shape != original.shape or given.dtype != original.dtype:
            return False
        both_nan = torch.isnan(original) & torch.isnan(given) if original.is_floating_point() else False
        return bool(((original == given) | both_nan).all())
    if isinstance(original, (list, tuple)):
        return (type(given) is type(original) and len(given) == len(original)
                and all(unchanged(a, b) for a, b in zip(original, given)))
    if isinstance(original, dict):
        return (isinstance(given, dict) and given.keys() == original.keys()
                and all(unchanged(original[k], given[k]) for k in original))
    try:
        import numpy as np

        if isinstance(original, np.ndarray):
            return isinstance(given, np.ndarray) and np.array_equal(original, given)
    except ImportError:  # pragma: no cover
        pass
    try:
        return bool(original == given)
    except Exception:  # an object without a usable ==: it was not copied anyway
        return True


def with_time_limit(fn: Callable, args: tuple, kwargs: dict, seconds: float | None) -> object:
    """``fn(*args, **kwargs)``, or :class:`Timeout` after ``seconds``: a
    SIGALRM timer in the main thread (a notebook kernel runs cells there; an
    outer timer, such as pytest-timeout's, is re-armed afterwards), elsewhere
    a daemon thread (which, if it never returns, runs on in the background)."""
    if seconds is None:
        return fn(*args, **kwargs)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def alarm(signum, frame):
            raise Timeout

        start = time.monotonic()
        old_handler = signal.signal(signal.SIGALRM, alarm)
        old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
            if old_delay > 0:  # someone else's timer was running: give it back what is left of it
                signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 0.01),
                                 old_interval)
    box: dict[str, object] = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as err:  # handed to the caller
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Timeout
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def student_line(err: BaseException, fn: Callable) -> str:
    """`` (in your line: `...`)`` for the last line of the student's code in
    ``err``'s traceback, or ``""``."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    tb, found = err.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == code.co_filename:
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    line = linecache.getline(found.tb_frame.f_code.co_filename, found.tb_lineno).strip()
    return f" (at this line of your code: `{line}`)" if line else ""


def arg_name(fn: Callable, i: int) -> str:
    import inspect

    try:
        names = list(inspect.signature(fn).parameters)
        return f"`{names[i]}`" if i < len(names) else f"number {i + 1}"
    except (TypeError, ValueError):
        return f"number {i + 1}"


def kind(a: object) -> str:
    import torch

    if isinstance(a, torch.Tensor):
        return "tensor (out-of-place operations: masked_fill, not masked_fill_; x = x * s, not x *= s)"
    if isinstance(a, list):
        return "list (out = [] and append to it, or list(ids) first)"
    return type(a).__name__
