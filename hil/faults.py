"""What can end a run, in plain words, and the exit status each ending has.

Every error the framework raises on purpose derives from one of the classes here; the command
line maps them to an :class:`ExitStatus` (``exit_status``) and prints the message, which says
what failed, what was kept and what to do next, without a traceback (``hil --debug`` shows
it). Drivers, simulators and protocols raise these or subclasses; the command line never
compares message strings.

The exit statuses (docs/exit-status.md has the table with what each one leaves behind):

==  =====================  ==========================================================
0   OK                     done
1   INTERNAL               a bug: an error nobody raised on purpose (please report it)
2   USAGE                  bad input (options, bench file, preset, seed, shape); nothing ran
3   INSTRUMENT             an instrument failed or answered nonsense; the bench was made safe
4   NOT_SAFE               making the bench safe failed too: check the instruments by hand
5   STORE                  the run store cannot be opened, read or written
6   BENCH_IN_USE           another process controls an instrument of this bench
130 INTERRUPTED            Ctrl-C (128 + SIGINT); 143 for SIGTERM (128 + SIGTERM)
==  =====================  ==========================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The process exit statuses of `hil` (see the module docstring)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INSTRUMENT = 3
    NOT_SAFE = 4
    STORE = 5
    BENCH_IN_USE = 6
    INTERRUPTED = 130


class Fault(Exception):
    """Base of the errors raised on purpose; `exit_status` says how `hil` ends on it."""

    exit_status: ExitStatus = ExitStatus.INTERNAL


class UsageFault(Fault, ValueError):
    """Bad input, found before anything was written to a device."""

    exit_status = ExitStatus.USAGE


class InstrumentFault(Fault, RuntimeError):
    """An instrument failed, went silent or answered something unreadable.

    instrument: its name (role and driver); address: where it was reached; last_command: the
    last message sent to it (None if unknown). The bench has been taken to its safe state
    unless a NotSafeFault says otherwise.
    """

    exit_status = ExitStatus.INSTRUMENT
    instrument: str = "instrument"
    address: str | None = None
    last_command: str | None = None

    def where(self) -> str:
        """'the smu (keithley2450 at TCPIP::...), last command ":READ?"' for messages."""
        text = self.instrument
        if self.address:
            text += f" at {self.address}"
        if self.last_command:
            text += f", last command {self.last_command!r}"
        return text


class NotSafeFault(Fault, RuntimeError):
    """Some steps towards the safe state failed: a person must check the instruments."""

    exit_status = ExitStatus.NOT_SAFE


class StoreFault(Fault, OSError):
    """The run store cannot be opened, read or written; the message names the file."""

    exit_status = ExitStatus.STORE


class BenchBusyFault(Fault, RuntimeError):
    """Another controller holds the bench; nothing was sent to any instrument."""

    exit_status = ExitStatus.BENCH_IN_USE


def exit_status(exc: BaseException) -> int:
    """The exit status an error ends `hil` with; errors nobody raised on purpose are INTERNAL.

    Plain ValueError and LookupError are bad input found by checks that predate Fault (a
    wrong option value, an unknown run or preset); OSError is a file the user named.
    """
    if isinstance(exc, Fault):
        return exc.exit_status
    if isinstance(exc, KeyboardInterrupt):  # hil.interrupts.StopRequested carries 128 + signal
        return int(getattr(exc, "exit_code", ExitStatus.INTERRUPTED))
    if isinstance(exc, ValueError | LookupError | OSError):
        return ExitStatus.USAGE
    return ExitStatus.INTERNAL
