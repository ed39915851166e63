"""InstrumentError, the readers of SCPI and TSP error queues, and of numeric replies; the
errors of the hardware backend (PartialWriteError, SafeStateError).

Every driver reads the instrument's error queue after it configures something and raises
InstrumentError when the queue holds entries, so that a setting the instrument refused (and
perhaps replaced by another value) never goes unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hil.faults import ExitStatus, InstrumentFault, NotSafeFault

# A queue that never reports "no error" after this many reads is itself a fault.
MAX_QUEUE_READS = 32


class InstrumentError(InstrumentFault):
    """An instrument reported an error, or answered something the driver cannot read.

    instrument: the instrument's name; errors: (code, message) pairs from its error queue;
    address and last_command: where it was reached and the last message sent to it, when known.
    """

    def __init__(
        self,
        instrument: str,
        problem: str,
        errors: Sequence[tuple[int, str]] = (),
        *,
        address: str | None = None,
        last_command: str | None = None,
    ):
        self.instrument = instrument
        self.errors = tuple(errors)
        self.address = address
        self.last_command = last_command
        listed = "; ".join(f"{code} {message!r}" for code, message in self.errors)
        detail = f": {listed}" if listed else ""
        super().__init__(f"{instrument}: {problem}{detail}")


class UnreadableReply(InstrumentError):
    """A reply the driver cannot read: garbled or truncated on the line, or a number the
    instrument cannot have measured. Asking again is harmless for a query that changes nothing."""


class LinkFault(StrEnum):
    """How the connection to an instrument failed."""

    TIMEOUT = "no reply in time"
    DROPPED = "connection dropped"


class CommunicationError(InstrumentError):
    """The connection to an instrument failed: no reply in time, or the link dropped.

    kind: LinkFault; role: the bench role of the instrument ("smu", "pulser", "matrix"), if
    known. The error from pyvisa, pyserial or the socket is its __cause__.
    """

    def __init__(
        self,
        instrument: str,
        kind: LinkFault,
        cause: BaseException,
        *,
        role: str | None = None,
        address: str | None = None,
        last_command: str | None = None,
    ):
        self.kind = LinkFault(kind)
        self.role = role
        at = f" at {address}" if address else ""
        after = f" after {last_command!r}" if last_command is not None else ""
        super().__init__(
            instrument,
            f"{self.kind}{at}{after} ({type(cause).__name__}: {cause})",
            address=address,
            last_command=last_command,
        )


def parse_scpi_error(reply: str, instrument: str) -> tuple[int, str]:
    """Split a SCPI `SYST:ERR?` reply such as `-222,"Data out of range"` into (code, message)."""
    code_text, _, message = reply.strip().partition(",")
    try:
        code = int(float(code_text))
    except ValueError:
        raise UnreadableReply(instrument, f"unreadable SYST:ERR? reply {reply!r}") from None
    return code, message.strip().strip('"')


def parse_tsp_error(reply: str, instrument: str) -> tuple[int, str]:
    """Split a TSP `print(errorqueue.next())` reply (tab-separated code, message, ...)."""
    fields = reply.strip().split("\t")
    try:
        code = int(float(fields[0]))
    except ValueError:
        raise UnreadableReply(instrument, f"unreadable errorqueue.next() reply {reply!r}") from None
    return code, fields[1] if len(fields) > 1 else ""


class ScpiErrorQueue:
    """Mixin for SCPI instruments: drain `SYST:ERR?` and raise if anything was queued."""

    name: str  # both provided by pymeasure's Instrument
    ask: Callable[[str], str]

    def raise_on_errors(self, context: str) -> None:
        """Read `SYST:ERR?` until it reports 0; raise InstrumentError listing every entry."""
        errors: list[tuple[int, str]] = []
        for _ in range(MAX_QUEUE_READS):
            code, message = parse_scpi_error(self.ask("SYST:ERR?"), self.name)
            if code == 0:
                break
            errors.append((code, message))
        else:
            raise InstrumentError(self.name, f"error queue still not empty after {context}", errors)
        if errors:
            raise InstrumentError(self.name, f"error queue after {context}", errors)


class TspErrorQueue:
    """Mixin for TSP instruments (2600B, 707B): read `errorqueue` and raise if it holds entries."""

    name: str  # both provided by pymeasure's Instrument
    ask: Callable[[str], str]

    def raise_on_errors(self, context: str) -> None:
        """Ask `print(errorqueue.count)`; read that many entries and raise InstrumentError."""
        self.raise_on_error_count(self.ask("print(errorqueue.count)"), context)

    def raise_on_error_count(self, reply: str, context: str) -> None:
        """`reply` is a printed errorqueue.count: if it is not 0, read the entries and raise."""
        try:
            count = int(float(reply))
        except ValueError:
            raise UnreadableReply(self.name, f"unreadable errorqueue.count reply {reply!r}") from None
        if count == 0:
            return
        errors = [
            parse_tsp_error(self.ask("print(errorqueue.next())"), self.name)
            for _ in range(min(count, MAX_QUEUE_READS))
        ]
        raise InstrumentError(self.name, f"error queue after {context}", errors)


def parse_floats(instrument: str, reply: str, n: int, what: str) -> list[float]:
    """Exactly `n` comma-separated numbers from `reply`, else InstrumentError naming `what`."""
    try:
        values = [float(x) for x in reply.split(",")]
    except ValueError:
        raise UnreadableReply(instrument, f"unreadable {what} reply {reply!r}") from None
    if len(values) != n:
        raise UnreadableReply(instrument, f"{what} returned {len(values)} values, expected {n}")
    return values


@dataclass(frozen=True)
class PulseGroup:
    """Devices of one logical array that get the same signed pulse count in one burst.

    count: signed pulses per device (positive raise the conductance); devices: (row, col)
    pairs in the array's own indices.
    """

    count: int
    devices: tuple[tuple[int, int], ...]


class WriteStage(StrEnum):
    """How far the group in flight had come when a pulse write stopped.

    ROUTING (its crosspoints were being closed) and CONFIGURING (the generator was being set
    up): no pulse of it reached a device. FIRING: its burst was triggered, an unknown number
    of its pulses reached the devices. AFTER: its burst had completed (or no group was in
    flight).
    """

    ROUTING = "routing"
    CONFIGURING = "configuring"
    FIRING = "firing"
    AFTER = "after"


@dataclass
class WriteProgress:
    """How far a pulse write over `groups` (written in this order) has come.

    applied: groups whose bursts completed; in_flight: the group being written, at `stage`.
    """

    groups: tuple[PulseGroup, ...]
    applied: list[PulseGroup] = field(default_factory=list)
    in_flight: PulseGroup | None = None
    stage: WriteStage = WriteStage.ROUTING

    def start(self, group: PulseGroup) -> None:
        """`group` is in flight; its crosspoints are about to be closed."""
        self.in_flight, self.stage = group, WriteStage.ROUTING

    def finish(self) -> None:
        """The group in flight has completed its burst."""
        if self.in_flight is not None:
            self.applied.append(self.in_flight)
        self.in_flight, self.stage = None, WriteStage.AFTER

    @property
    def not_applied(self) -> tuple[PulseGroup, ...]:
        """Groups never started."""
        return self.groups[len(self.applied) + (self.in_flight is not None) :]


class PartialWriteError(InstrumentFault):
    """A pulse write stopped part-way; the bench was taken to its safe state, nothing was retried.

    applied: groups whose bursts completed. in_flight: the group being written when the error
    came (None if it came between groups); whether its pulses reached the devices is unknown
    once its burst was triggered (stage "firing"), and they did not if the error came earlier
    (stage "routing" or "configuring"). not_applied: groups never started. Read the devices
    before writing again. safe_state_errors: what failed while making the bench safe (empty
    when it is safe).
    """

    def __init__(
        self,
        array: str,
        progress: WriteProgress,
        cause: BaseException,
        safe_state_errors: Sequence[str] = (),
    ):
        self.array = array
        self.applied = tuple(progress.applied)
        self.in_flight = in_flight = progress.in_flight
        self.stage = stage = progress.stage
        self.not_applied = progress.not_applied
        self.cause = cause
        self.safe_state_errors = tuple(safe_state_errors)
        if isinstance(cause, InstrumentFault):  # which instrument failed, where, after what
            self.instrument, self.address = cause.instrument, cause.address
            self.last_command = cause.last_command
        if in_flight is None:
            flight = "no group was in flight"
        elif stage is WriteStage.FIRING:
            flight = f"in flight, reached the devices or not (unknown): {in_flight!r}"
        else:
            flight = f"in flight while {stage}, its burst was not triggered: {in_flight!r}"
        safe = (
            "the bench is in its safe state"
            if not self.safe_state_errors
            else "making the bench safe failed too: " + "; ".join(self.safe_state_errors)
        )
        super().__init__(
            f"pulse write on array {array!r} interrupted by {type(cause).__name__}: {cause}. "
            f"Applied {len(self.applied)} group(s) {list(self.applied)}; {flight}; not applied "
            f"{len(self.not_applied)} group(s) {list(self.not_applied)}. Nothing was retried; read "
            f"the devices before writing again; {safe}"
        )

    @property
    def exit_status(self) -> ExitStatus:  # type: ignore[override]
        """INSTRUMENT, or NOT_SAFE when making the bench safe failed too."""
        return ExitStatus.NOT_SAFE if self.safe_state_errors else ExitStatus.INSTRUMENT


class SafeStateError(NotSafeFault):
    """Some steps towards the safe state (outputs off, switches open) failed; the others ran.

    failures: (what, error text) pairs in the order they happened.
    """

    def __init__(self, failures: Sequence[tuple[str, str]]):
        self.failures = tuple(failures)
        listed = "; ".join(f"{what}: {error}" for what, error in self.failures)
        super().__init__(
            f"the bench may not be safe: {listed}. Check the instruments by hand (outputs off, "
            "switch matrix open) before touching the chip"
        )
