"""Ctrl-C and SIGTERM during a run: finish the write in flight, stop, and leave the bench safe.

    with interrupt_guard() as guard, open_bench() as bench:
        guard.safe_state = bench.close
        ...                                   # the protocol; backends wrap writes in critical()

Inside the guard:

- SIGINT (Ctrl-C) and SIGTERM both raise StopRequested, a KeyboardInterrupt, in the main
  thread, so every ``with`` block unwinds as for Ctrl-C: a stored run is recorded "aborted",
  the bench's ``close`` turns outputs off and opens the switches.
- The first signal that arrives inside ``critical()`` (a pulse burst that must complete) is
  held until the block ends and raised there: the pulse in flight finishes.
- A second signal calls ``guard.safe_state`` at once, wherever the main thread is (even inside
  ``critical()`` or a ``close`` already under way), then raises. Signals that arrive while the
  safe-state steps run are counted but do not interrupt them.

Python runs signal handlers in the main thread only, so the guard installs its handlers only
when entered in the main thread; entered elsewhere it installs nothing and ``critical()``
defers nothing (``guard.installed`` says which). On exit it restores the handlers it replaced.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import FrameType
from typing import Any, Self

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_active: InterruptGuard | None = None  # the innermost guard whose handlers are installed


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived; signum says which, exit_code is the shell's 128 + signum."""

    def __init__(self, signum: int, immediate: bool = False):
        self.signum = signum
        self.immediate = immediate
        name = signal.Signals(signum).name
        how = "; safe state applied at once (second signal)" if immediate else ""
        super().__init__(f"interrupted by {name}{how}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class InterruptGuard:
    """Signal handling for one protocol run; see the module docstring.

    safe_state: called (no arguments) on the second signal; set or replace it at any time, e.g.
        once the bench is open. None: nothing to make safe yet, the second signal just raises.
    received: the signals received so far, in order.
    """

    def __init__(self, safe_state: Callable[[], None] | None = None):
        self.safe_state = safe_state
        self.received: list[int] = []
        self.installed = False
        self._depth = 0  # nesting of critical() blocks
        self._pending: int | None = None
        self._in_safe_state = False
        self._previous: dict[int, Any] = {}
        self._outer: InterruptGuard | None = None

    def __enter__(self) -> Self:
        global _active
        if not _in_main_thread():
            return self
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        self._outer, _active = _active, self
        self.installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        global _active
        if not self.installed:
            return
        for signum, handler in self._previous.items():
            # None: the old handler was not set from Python; the default is the closest match.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        _active = self._outer
        self.installed = False

    @property
    def pending(self) -> bool:
        """A signal is being held until the current critical() block ends."""
        return self._pending is not None

    def critical(self) -> AbstractContextManager[None]:
        """Hold the first signal until the block ends (a write that must complete)."""
        return _CriticalBlock(self)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self._in_safe_state:
            return
        if len(self.received) >= 2:
            self._pending = None
            failure: Exception | None = None
            if self.safe_state is not None:
                self._in_safe_state = True
                try:
                    self.safe_state()
                except Exception as exc:  # raised below as the cause of the stop
                    failure = exc
                finally:
                    self._in_safe_state = False
            raise StopRequested(signum, immediate=True) from failure
        if self._depth > 0:
            self._pending = signum
            return
        raise StopRequested(signum)


def interrupt_guard(safe_state: Callable[[], None] | None = None) -> InterruptGuard:
    """An InterruptGuard to enter with ``with``; safe_state runs on a second Ctrl-C/SIGTERM."""
    return InterruptGuard(safe_state)


class _CriticalBlock:
    """One critical() block of a guard: a plain class rather than a generator context manager,
    because the training loop enters one per sample and a generator costs several times more."""

    __slots__ = ("counted", "guard")

    def __init__(self, guard: InterruptGuard):
        self.guard = guard
        self.counted = False

    def __enter__(self) -> None:
        guard = self.guard
        # Outside the main thread no handler runs here, so there is nothing to hold.
        if guard.installed and _in_main_thread():
            guard._depth += 1
            self.counted = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        guard = self.guard
        if not self.counted:
            return
        guard._depth -= 1
        if guard._depth == 0 and guard._pending is not None:
            signum, guard._pending = guard._pending, None
            if exc is None:
                raise StopRequested(signum)
            # The block failed while a stop was pending: stop, and keep its error as the cause.
            raise StopRequested(signum) from exc


_NO_GUARD = nullcontext()  # stateless, so one instance serves every block entered without a guard


def critical() -> AbstractContextManager[None]:
    """Wrap a write that must complete (a pulse burst): a first Ctrl-C/SIGTERM waits for its end.

    Uses the innermost active guard; without one (or outside the main thread) it is a no-op.
    """
    guard = _active
    return _CriticalBlock(guard) if guard is not None else _NO_GUARD
