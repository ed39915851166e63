"""Sending the commands that make an instrument safe, all of them, even when one fails."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def send_all(write: Callable[[str], None], commands: Sequence[str]) -> None:
    """Write every command in order; if any write fails, still try the rest, then re-raise.

    Each command is one step towards the safe state (source at 0 V, output off): a failed
    first step must not stop the second from being tried.
    """
    first: Exception | None = None
    for command in commands:
        try:
            write(command)
        except Exception as exc:  # re-raised below, after the remaining steps
            first = first or exc
    if first is not None:
        raise first
