"""Run an action once typing pauses: the sampling playground's prompt box
redraws the chart 250 ms after the last keystroke, not once per keystroke.

Used by ``06_gpt2_sampling.ipynb``, section "The sampling playground"
(:mod:`lm_course.widgets.playground`). Each call of a :class:`Debouncer`
cancels the pending run and schedules a new one, so a burst of keystrokes
costs one redraw, made with the text as it is when the burst ends.

Inside a running kernel the timer is the kernel's own asyncio event loop
(``loop.call_later``): the action runs in the kernel's thread, between
messages, as a widget callback would. With no running loop (a script, a
test driving ``prompt.value`` from code) there is nothing to wait on, and
the action runs at once. Tests pass their own ``timer`` (a fake clock).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

__all__ = ["Debouncer", "DEBOUNCE_S", "loop_timer"]

#: The pause after the last keystroke before the playground redraws.
DEBOUNCE_S = 0.25


def loop_timer(delay: float, action: Callable[[], None]) -> Any:
    """``action`` after ``delay`` seconds on the running asyncio loop, as a
    handle with ``cancel()``; ``None`` (and ``action`` run now) when no loop
    is running."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        action()
        return None
    return loop.call_later(delay, action)


class Debouncer:
    """``debouncer()`` runs ``action`` ``delay`` seconds after the *last* call.

    ``timer(delay, fn)`` schedules ``fn`` and returns a handle with
    ``cancel()`` (or ``None`` when it ran ``fn`` at once); the default is
    :func:`loop_timer`.
    """

    def __init__(self, action: Callable[[], Any], delay: float = DEBOUNCE_S,
                 timer: Callable[[float, Callable[[], None]], Any] | None = None):
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self.action, self.delay, self.timer = action, delay, timer or loop_timer
        self._pending: Any = None
        self.runs = 0  # how many times the action ran (the tests count redraws)

    def __call__(self, *_: Any) -> None:
        self.cancel()
        self._pending = self.timer(self.delay, self._run)

    def _run(self) -> None:
        self._pending = None
        self.runs += 1
        self.action()

    @property
    def pending(self) -> bool:
        """Whether a run is scheduled and has not happened yet."""
        return self._pending is not None

    def cancel(self) -> None:
        """Drop the scheduled run, if any."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def flush(self) -> None:
        """Run the scheduled action now (what Generate does before sampling)."""
        if self._pending is not None:
            self.cancel()
            self._run()
