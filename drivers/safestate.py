"""Taking steps towards the safe state: every step is tried, even when an earlier one fails.

Each step (source at 0 V, an output off, the switches open) makes the bench safer on its own,
so a failed first step must not stop the second from being tried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial


def attempt_each(steps: Iterable[tuple[str, Callable[[], object]]]) -> list[tuple[str, Exception]]:
    """Run every (what, step) in order, carrying on past a failure; the failures, in order."""
    failures = []
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # the caller reports it, after the remaining steps
            failures.append((what, exc))
    return failures


def send_all(write: Callable[[str], None], commands: Sequence[str]) -> None:
    """Write every command in order; if any write fails, still try the rest, then re-raise the first."""
    failures = attempt_each((command, partial(write, command)) for command in commands)
    if failures:
        raise failures[0][1]
