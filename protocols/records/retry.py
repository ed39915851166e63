"""The record of one retry: a read or query tried again after a transient fault.

A hardware bench logs each retry (drivers.retry.RetryEvent); whatever stores a run on that
bench writes each one as a "retry" point, so that a run's retries are read back with its data:

    bench.retries.listeners.append(lambda event: RetryRecord(**event.to_dict()).write(run))

Only operations that change no device are ever retried; a pulse never is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocols.records.base import Record


@dataclass(frozen=True, eq=False)
class RetryRecord(Record):
    """One retry. at: Unix time (s); operation: what was tried again; fault: "read timeout",
    "dropped connection" or "unreadable reply"; instrument, address, last_command: where the
    fault came from (the last message sent before it); attempt: 1 for the first retry of the
    operation; delay_s: the backoff waited (s); reconnected: the connection was reopened and
    the instrument re-verified; error: the fault's message."""

    KIND: ClassVar[str] = "retry"

    at: float
    operation: str
    fault: str
    instrument: str
    address: str | None
    last_command: str | None
    attempt: int
    delay_s: float
    reconnected: bool
    error: str
