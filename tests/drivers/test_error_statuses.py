"""The hardware backend's errors are hil.faults classes: the command line maps them to their
exit status by type, and a partial write names the instrument that failed."""

from __future__ import annotations

from drivers.errors import (
    CommunicationError,
    LinkFault,
    PartialWriteError,
    PulseGroup,
    SafeStateError,
    WriteProgress,
    WriteStage,
)
from hil.faults import ExitStatus, exit_status


def _partial(cause: BaseException, safe_state_errors: tuple[str, ...] = ()) -> PartialWriteError:
    group = PulseGroup(1, ((0, 0),))
    progress = WriteProgress((group,))
    progress.start(group)
    progress.stage = WriteStage.FIRING
    return PartialWriteError("A_main", progress, cause, safe_state_errors)


def test_a_lost_link_is_an_instrument_fault_that_names_where_and_after_what() -> None:
    lost = CommunicationError(
        "Keysight 33500B", LinkFault.DROPPED, OSError("reset"), address="TCPIP::10.0.0.7::INSTR",
        last_command="*TRG",
    )  # fmt: skip
    assert exit_status(lost) == ExitStatus.INSTRUMENT
    partial = _partial(lost)
    assert exit_status(partial) == ExitStatus.INSTRUMENT
    assert (partial.instrument, partial.address, partial.last_command) == (
        "Keysight 33500B", "TCPIP::10.0.0.7::INSTR", "*TRG",
    )  # fmt: skip
    assert "the bench is in its safe state" in str(partial)


def test_a_partial_write_whose_safe_state_failed_too_says_not_safe() -> None:
    partial = _partial(RuntimeError("x"), ("smu output off: timeout",))
    assert exit_status(partial) == ExitStatus.NOT_SAFE
    assert exit_status(SafeStateError([("matrix open_all", "timeout")])) == ExitStatus.NOT_SAFE
