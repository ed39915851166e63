"""Retrying what changes no device (reads, queries) after a transient fault, and the log of it.

A transient fault is a garbled or truncated reply (drivers.errors.UnreadableReply), a reply
that did not come in time or a dropped connection (drivers.errors.CommunicationError). An
operation that changes no device can be run again after one; how the bench recovers in
between (the safe state, a reconnect and re-verification) is the caller's `recover`. Pulses
are never run through here: after a fault during a pulse the number of pulses that reached the
devices is unknown, and repeating it could apply them twice.

Every retry is logged (RetryLog): the bench reports the log in its describe(), which a run
stores with its summary. Units: seconds.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import count
from typing import TypeVar

from drivers.errors import CommunicationError, LinkFault, UnreadableReply

T = TypeVar("T")

#: RetryEvents a RetryLog keeps in full (the oldest go first); its counts cover every retry.
KEPT_EVENTS = 100


class TransientFault(StrEnum):
    """The faults after which an operation that changes no device is tried again."""

    TIMEOUT = "read timeout"
    DROPPED = "dropped connection"
    UNREADABLE = "unreadable reply"


def transient_fault(exc: BaseException) -> TransientFault | None:
    """Which transient fault `exc` is, or None if it is not one (then it is never retried)."""
    if isinstance(exc, CommunicationError):
        return TransientFault.TIMEOUT if exc.kind is LinkFault.TIMEOUT else TransientFault.DROPPED
    if isinstance(exc, UnreadableReply):
        return TransientFault.UNREADABLE
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an operation that changes no device is tried again.

    retries: tries after the first (0: never retry). backoff_s: seconds waited before the first
    retry, multiplied by `factor` for each further one, at most max_backoff_s.
    """

    retries: int = 3
    backoff_s: float = 0.05
    factor: float = 4.0
    max_backoff_s: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be a whole number >= 0, got {self.retries!r}")
        if not (0 <= self.backoff_s <= self.max_backoff_s and self.factor >= 1):
            raise ValueError(
                "retry backoff needs 0 <= backoff_s <= max_backoff_s and factor >= 1, got "
                f"{self.backoff_s!r}, {self.max_backoff_s!r}, {self.factor!r}"
            )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first)."""
        return min(self.max_backoff_s, self.backoff_s * self.factor ** (retry - 1))

    def describe(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class RetryEvent:
    """One retry: what was tried again, after which fault on which instrument.

    at: Unix time of the retry (s); attempt: 1 for the first retry of the operation; delay_s:
    the backoff waited before it; reconnected: the connection was reopened and re-verified.
    """

    at: float
    operation: str
    fault: TransientFault
    instrument: str
    address: str | None
    last_command: str | None
    attempt: int
    delay_s: float
    reconnected: bool
    error: str

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "fault": str(self.fault)}


class RetryLog:
    """The retries of one bench: every one counted, the latest KEPT_EVENTS kept in full."""

    def __init__(self) -> None:
        self.events: deque[RetryEvent] = deque(maxlen=KEPT_EVENTS)
        self.counts: Counter[str] = Counter()
        self.listeners: list[Callable[[RetryEvent], None]] = []

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def record(self, event: RetryEvent) -> None:
        """Keep `event` and hand it to every listener (e.g. a run that stores each retry)."""
        self.events.append(event)
        self.counts[str(event.fault)] += 1
        for listener in self.listeners:
            listener(event)

    def describe(self) -> dict[str, object]:
        """{"total": n, "by_fault": {fault: n}, "latest": [event dicts, oldest first]}."""
        return {
            "total": self.total,
            "by_fault": dict(self.counts),
            "latest": [e.to_dict() for e in self.events],
        }


def pause(seconds: float) -> None:
    """The backoff wait (a module function, so that a test can observe it without waiting)."""
    time.sleep(seconds)


# recover(exc, fault, delay_s) -> whether it reconnected; it raises if the bench cannot go on.
Recover = Callable[[Exception, TransientFault, float], bool]


def call_with_retries(
    step: Callable[[], T],
    *,
    operation: str,
    policy: RetryPolicy,
    log: RetryLog,
    recover: Recover,
    failed: Exception | None = None,
) -> T:
    """`step()`, tried again up to policy.retries times after a transient fault.

    `step` must change no device. Between tries `recover` brings the bench back (and waits
    policy.delay); the retry is then logged. A fault that is not transient, the last try's
    fault, and anything `recover` raises go to the caller. failed: the first try's fault when
    the first try was another call that must not be repeated (a query that also fired pulses
    and whose reply was unreadable); then `step` is only called for the retries.
    """
    for attempt in count(1):
        try:
            if failed is not None:
                first, failed = failed, None
                raise first
            return step()
        except Exception as exc:
            fault = transient_fault(exc)
            if fault is None or attempt > policy.retries:
                raise
            delay = policy.delay(attempt)
            reconnected = recover(exc, fault, delay)
            log.record(
                RetryEvent(
                    at=time.time(),
                    operation=operation,
                    fault=fault,
                    instrument=getattr(exc, "instrument", "instrument"),
                    address=getattr(exc, "address", None),
                    last_command=getattr(exc, "last_command", None),
                    attempt=attempt,
                    delay_s=delay,
                    reconnected=reconnected,
                    error=str(exc),
                )
            )
    raise AssertionError("unreachable")  # count() never ends
