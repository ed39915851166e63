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
