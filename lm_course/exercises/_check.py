"""How every exercise checker runs the student's code and reports.

A checker is a function decorated with :func:`exercise`, which ties it to its
row of :mod:`lm_course.exercises.catalog`: the decorator prints nothing of its
own on a verdict, catches the checker's early exit (:class:`Stop`), records a
pass in the student's progress (:mod:`lm_course.exercises.tracking`), blames
an unfinished earlier exercise the student's function relies on, gives the
checker its graded hints (``check_x.hint(1)`` .. ``.hint(3)``) and returns an
:class:`Outcome`, true on a pass, that displays nothing in a notebook.

Inside a checker, the student's code is run by :func:`call` only: it handles
not-a-function, the stub (``raise NotImplementedError``), an unfinished
exercise called from it, any exception (with the line of the student's code
that raised it), a time limit (an endless loop), a ``None`` return and an
argument changed in place, each with one message format; the student gets
copies of the arguments (tensors contiguous), never the checker's own data.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from lm_course.exercises._sandbox import (Timeout, arg_name, copy_argument, kind, student_line, unchanged,
                                           with_time_limit)

__all__ = ["exercise", "call", "report", "fail", "no_answer", "close", "require_number", "Stop", "Outcome",
           "MISSING", "current_name", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 5.0  # seconds a student's function may run; training exercises ask for more
MISSING = object()  # call(..., quiet=True)'s "no result"


class Stop(Exception):
    """The checker's verdict (a failure) is printed: stop checking."""


class Outcome:
    """What a checker returns: true on a pass. It displays nothing, so a
    checker call can end a notebook cell without echoing ``True``/``False``."""

    __slots__ = ("passed",)

    def __init__(self, passed: bool):
        self.passed = bool(passed)

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:  # IPython shows nothing for it
        return None

    def __repr__(self) -> str:
        return f"Outcome(passed={self.passed})"


@dataclass
class _Run:
    """One checker call in progress."""

    key: str
    name: str
    checker: str
    checked: str
    stub: bool = False  # the student's function is still the stub (or the answer still None)
    blamed: bool = False  # an unfinished earlier exercise was named already
    functions: list = field(default_factory=list)


_RUNS: list[_Run] = []  # a stack: a checker may run another one quietly (an earlier exercise)


def _run() -> _Run | None:
    return _RUNS[-1] if _RUNS else None


def current_name(default: str = "Exercise") -> str:
    run = _run()
    return run.name if run else default


def _hint_pointer(run: _Run | None) -> str:
    if run is None:
        return ""
    return (f" Stuck? `{run.checker}.hint(1)` gives the idea, `.hint(2)` the approach, "
            f"`.hint(3)` almost the code.")


# --------------------------------------------------------------------- verdicts
def report(ok: bool, exercise: str, praise: str, hint: str) -> bool:
    """Print a pass (what was checked, then ``praise``) or ``hint``; return ``ok``."""
    run = _run()
    if ok:
        checked = f" ({run.checked})" if run and run.checked else ""
        praise = praise[:1].upper() + praise[1:]
        print(f"✅ {exercise}: passes the checks{checked}. {praise}".rstrip())
    else:
        print(f"❌ {exercise}: not yet. Hint: {hint}")
    return bool(ok)


def fail(hint: str) -> None:
    """Print ``hint`` as the current exercise's failure and stop the checker."""
    report(False, current_name(), "", hint)
    raise Stop


def no_answer(exercise: str) -> bool:
    """Print that the answer is still ``None`` (and how to get a hint); return False."""
    run = _run()
    if run is not None:
        run.stub = True
    print(f"❌ {exercise}: no answer yet. Replace `None` with your answer and run the cell again."
          + _hint_pointer(run))
    return False


def close(a: float, b: float, rel: float = 1e-3, abs_: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def require_number(answer: object, exercise: str) -> float | None:
    """``answer`` as a float, or ``None`` after printing what went wrong."""
    if answer is None:
        no_answer(exercise)
        return None
    if isinstance(answer, bool):
        print(f"❌ {exercise}: expected a number, got the bool {answer!r}.")
        return None
    try:
        value = float(answer)  # ints, floats, numpy scalars, 0-d tensors and arrays
    except (TypeError, ValueError, RuntimeError):
        print(f"❌ {exercise}: expected a number, got {type(answer).__name__} {answer!r}.")
        return None
    if math.isnan(value):
        print(f"❌ {exercise}: your answer is NaN (not a number).")
        return None
    return value


# --------------------------------------------------------------------- running the student's code
def _raised_by_stub(err: BaseException, fn: Callable) -> str | None:
    """Where a ``NotImplementedError`` came from: ``"self"`` for the
    student's function itself, the name of another exercise's function it
    called (still a stub), or ``None`` (raised by something else)."""
    from lm_course.exercises.catalog import by_function

    tb, last = err.__traceback__, None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return None
    code, own = last.tb_frame.f_code, getattr(fn, "__code__", None)
    if code is own:
        return "self"
    if by_function(code.co_name) is not None and code.co_name != getattr(fn, "__name__", None):
        return code.co_name
    if own is not None and code.co_filename == own.co_filename:  # a helper in the student's own cell
        return "self"
    return None


def _not_implemented(err: NotImplementedError, fn: Callable, run: _Run | None) -> str:
    """What :func:`call` says when ``fn`` raised ``NotImplementedError``: the
    stub itself, an earlier exercise's stub it calls, or something else."""
    origin = _raised_by_stub(err, fn)
    if origin == "self":
        if run is not None:
            run.stub = True
        return ("not implemented yet. Write the body in place of `raise NotImplementedError` and run the cell "
                "again." + _hint_pointer(run))
    if origin is not None:
        from lm_course.exercises.catalog import by_function

        if run is not None:
            run.blamed = True
        dep = by_function(origin, near=run.key if run else None)
        return (f"your {getattr(fn, '__name__', 'function')} calls {origin}, which is still the stub "
                f"(it raises NotImplementedError): do Exercise {dep.number} ({dep.title}) first.")
    return f"your function raised NotImplementedError: {err}{student_line(err, fn)}"


def call(fn: object, *args: object, timeout: float | None = DEFAULT_TIMEOUT, may_change: bool = False,
         on_error: Callable[[Exception], str] | None = None, quiet: bool = False, **kwargs: object) -> object:
    """The student's ``fn(*args, **kwargs)`` on copies of the arguments, or,
    after printing why not, :class:`Stop` (``quiet=True``: :data:`MISSING`,
    nothing printed).

    Reported: ``fn`` is not a function; the stub (``NotImplementedError``
    raised by ``fn`` itself); an earlier exercise's unfinished function that
    ``fn`` calls; any other exception (with the student's line and
    ``on_error(err)``); no return within ``timeout`` seconds; a ``None``
    return; an argument changed in place (unless ``may_change``).
    """
    run = _run()
    name = current_name()

    def stop(message: str) -> object:
        if quiet:
            return MISSING
        print(f"❌ {name}: {message}")
        raise Stop

    if fn is None:
        if run is not None:
            run.stub = True
        return stop("no answer yet: define the function and pass it to the checker." + _hint_pointer(run))
    if not callable(fn):
        return stop(f"pass your function itself (check_x(x), not check_x(x(...))); got {type(fn).__name__}.")
    given = tuple(copy_argument(a) for a in args)
    try:
        result = with_time_limit(fn, given, kwargs, timeout)
    except Timeout:
        return stop(f"your function did not return within {timeout:g} s: is there a loop that never ends "
                    "(a `while` whose condition never becomes false, an index that is not increased)?")
    except NotImplementedError as err:
        return stop(_not_implemented(err, fn, run))
    except Exception as err:  # the student's code may fail in any way: report, never raise
        more = on_error(err) if on_error is not None else ""
        return stop(f"your function raised {type(err).__name__}: {err}{student_line(err, fn)}."
                    + (f" {more}" if more else ""))
    if result is None:
        return stop("your function returned None: did you forget `return`?" + _hint_pointer(run))
    if not may_change:
        for i, (a, g) in enumerate(zip(args, given)):
            if not unchanged(a, g):
                return stop(f"your function changed its argument {arg_name(fn, i)} in place; the caller may "
                            "still need it: build a new " + kind(a) + " and return that.")
    return result


# --------------------------------------------------------------------- the decorator
def exercise(key: str, wrong: tuple = ()) -> Callable[[Callable], Callable]:
    """Tie a checker to its catalog row ``key`` (``"ch03.lstm_step"``) and to
    the table of wrong versions it diagnoses (:mod:`.wrong_versions`)."""
    from lm_course.exercises.catalog import entry

    row = entry(key)

    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def checker(*answers: object) -> Outcome:
            run = _Run(key, f"Exercise {row.number} ({row.title})", check.__name__, row.checked)
            _RUNS.append(run)
            try:
                ok = bool(check(*answers))
            except Stop:
                ok = False
            except Exception as err:  # a case the checker did not foresee: say so, never raise
                print(f"❌ {run.name}: the checker could not judge this answer ({type(err).__name__}: {err}). "
                      "Check the type and shape of what your function returns against the statement.")
                ok = False
            finally:
                _RUNS.pop()
            if ok:
                from lm_course.exercises.tracking import record

                record(key, answers)
            elif not run.stub and not run.blamed and len(_RUNS) == 0:
                _blame_unfinished(row, answers)
            return Outcome(ok)

        checker.hint = functools.partial(_show_hint, key)  # check_x.hint(1), .hint(2), .hint(3)
        checker.exercise = key
        checker.wrong_versions = tuple(wrong)  # each a wrong_versions.Wrong
        return checker

    return decorate


def _show_hint(key: str, level: int = 1) -> None:
    from lm_course.exercises.catalog import hint

    print(hint(key, level))


def _blame_unfinished(row, answers: tuple) -> None:
    """After a failure: does the student's function call an earlier
    exercise's function that does not pass its own checker? Say so."""
    from lm_course.exercises.catalog import entry as entry_of

    for fn in answers:
        code, env = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
        if code is None or env is None:
            continue
        for dep_key in row.needs:
            dep = entry_of(dep_key)
            other = env.get(dep.function)
            if dep.function not in code.co_names or not callable(other):
                continue
            module = __import__(f"lm_course.exercises.{dep.chapter_module}", fromlist=[dep.checker])
            with contextlib.redirect_stdout(io.StringIO()):
                passed = bool(getattr(module, dep.checker)(other))
            if not passed:
                print(f"   Your {getattr(fn, '__name__', 'function')} calls {dep.function}, which does not pass "
                      f"its own checks yet: do Exercise {dep.number} ({dep.title}) first, then come back.")
                return
