"""Stopping a protocol mid-run from its progress callback (for resume and replay tests)."""

from __future__ import annotations

from collections.abc import Callable


class Stop(Exception):
    """Raised from a callback to stop a protocol mid-run."""


def stop_at(count: int) -> Callable[[int, int], None]:
    """A progress callback that raises Stop once `count` steps are done."""

    def progress(done: int, total: int) -> None:
        if done == count:
            raise Stop(f"stopped after {done} of {total}")

    return progress


def after_write(count: int, action: Callable[[], None]) -> Callable[[Callable[[], None]], None]:
    """A DelegatingBackend around_write hook: every write runs, and right after the count-th one
    action() runs (raise to make that write fail after its pulses landed, or send a signal)."""
    done = 0

    def around(write: Callable[[], None]) -> None:
        nonlocal done
        write()
        done += 1
        if done == count:
            action()

    return around


def raise_error(message: str) -> Callable[[], None]:
    """An action for after_write: RuntimeError(message)."""

    def action() -> None:
        raise RuntimeError(message)

    return action
