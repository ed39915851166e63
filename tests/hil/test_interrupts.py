"""Ctrl-C and SIGTERM: real signals to this process and to a child running a stored protocol."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil.interrupts import InterruptGuard, StopRequested, critical, interrupt_guard
from hil.store import RunStore

ROOT = Path(__file__).resolve().parents[2]


def deliver(guard: InterruptGuard, signum: int) -> None:
    """Send signum to this process and return once the guard's handler has run.

    Python runs the handler in the main thread between bytecodes, soon after os.kill; the
    loop gives it that chance (and re-raises whatever the handler raises).
    """
    before = len(guard.received)
    os.kill(os.getpid(), signum)
    for _ in range(10_000):
        if len(guard.received) > before:
            return
        time.sleep(0.001)
    raise AssertionError(f"signal {signum} never reached the handler")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_outside_a_write_stops_at_once(signum: int) -> None:
    reached = False
    with pytest.raises(StopRequested) as stop, interrupt_guard() as guard:
        assert guard.installed
        deliver(guard, signum)
        reached = True
    assert not reached
    assert isinstance(stop.value, KeyboardInterrupt)  # every `with` unwinds as for Ctrl-C
    assert stop.value.signum == signum and stop.value.exit_code == 128 + signum
    assert signal.Signals(signum).name in str(stop.value)


def test_first_signal_waits_for_the_write_in_flight() -> None:
    safe_calls: list[str] = []
    steps: list[str] = []
    with pytest.raises(StopRequested) as stop, interrupt_guard(lambda: safe_calls.append("safe")) as guard:
        with critical():
            steps.append("write started")
            deliver(guard, signal.SIGINT)
            assert guard.pending
            steps.append("write finished")  # the write completes despite the Ctrl-C
        steps.append("after the write")  # never reached: the stop is raised as the block ends
    assert steps == ["write started", "write finished"]
    assert not stop.value.immediate and safe_calls == []


def test_nested_writes_release_the_signal_at_the_outermost_end() -> None:
    steps: list[str] = []
    with pytest.raises(StopRequested), interrupt_guard() as guard, critical():
        with critical():
            deliver(guard, signal.SIGTERM)
        steps.append("outer write continues")
    assert steps == ["outer write continues"]


def test_second_signal_applies_the_safe_state_at_once() -> None:
    safe_calls: list[int] = []
    steps: list[str] = []
    with pytest.raises(StopRequested) as stop, interrupt_guard() as guard:
        guard.safe_state = lambda: safe_calls.append(len(guard.received))
        with critical():
            deliver(guard, signal.SIGTERM)
            steps.append("held")
            deliver(guard, signal.SIGINT)
            steps.append("not reached")
    assert steps == ["held"]
    assert safe_calls == [2]  # called once, on the second signal, inside the write
    assert stop.value.immediate and stop.value.signum == signal.SIGINT


def test_second_signal_during_the_unwinding_of_the_first() -> None:
    """After a first Ctrl-C the bench closes; a second one there still makes it safe at once."""
    safe_calls: list[str] = []
    with pytest.raises(StopRequested) as stop, interrupt_guard(lambda: safe_calls.append("safe")) as guard:
        try:
            deliver(guard, signal.SIGINT)
        finally:
            deliver(guard, signal.SIGINT)  # e.g. during a slow close()
    assert safe_calls == ["safe"] and stop.value.immediate


def test_a_failing_safe_state_is_the_cause_of_the_stop() -> None:
    def broken() -> None:
        raise OSError("matrix does not answer")

    with pytest.raises(StopRequested) as stop, interrupt_guard(broken) as guard, critical():
        deliver(guard, signal.SIGINT)
        deliver(guard, signal.SIGINT)
    assert isinstance(stop.value.__cause__, OSError)


def test_write_that_fails_while_a_stop_is_pending_stops_with_its_error_as_cause() -> None:
    with pytest.raises(StopRequested) as stop, interrupt_guard() as guard, critical():
        deliver(guard, signal.SIGINT)
        raise TimeoutError("VISA timeout")
    assert isinstance(stop.value.__cause__, TimeoutError)


def test_handlers_are_restored_and_critical_is_a_no_op_without_a_guard() -> None:
    seen: list[int] = []

    def previous(signum: int, frame: object) -> None:
        seen.append(signum)

    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, previous)
    try:
        with interrupt_guard() as outer:
            with interrupt_guard() as inner:
                assert signal.getsignal(signal.SIGTERM) == inner._handle
            assert signal.getsignal(signal.SIGTERM) == outer._handle
        assert signal.getsignal(signal.SIGTERM) is previous
        assert signal.getsignal(signal.SIGINT) is old_int
        with critical():  # no guard: nothing is deferred, the old handler sees the signal
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):
                if seen:
                    break
                time.sleep(0.001)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old_term)


def test_outside_the_main_thread_nothing_is_installed() -> None:
    result: dict[str, object] = {}

    def worker() -> None:
        with interrupt_guard() as guard, critical():
            result["installed"] = guard.installed
            result["handler"] = signal.getsignal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert result == {"installed": False, "handler": before}


# ---------------------------------------------------------------------- a stored run in a child
def start_child(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    files = [str(tmp_path / "runs.sqlite"), str(tmp_path / "marker")]
    cmd = [sys.executable, "-m", "tests.hil.jump_child", *files, *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def expect(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()
    assert got == line, f"child said {got!r}, expected {line!r}"


def stored_run(tmp_path: Path) -> tuple[str, str, list[tuple[str, int | None]]]:
    with RunStore(tmp_path / "runs.sqlite") as store:
        (info,) = store.runs()
        points = [(p.kind, p.step) for p in store.points(info.id)]
    return info.status, info.error or "", points


def test_sigterm_mid_write_finishes_the_pulse_records_it_and_aborts_the_run(tmp_path: Path) -> None:
    # Pulse 30 is in flight until the signal has arrived, so SIGTERM lands inside the write.
    proc = start_child(tmp_path, "--hold-pulse", "30", "--hold-signals", "1")
    try:
        expect(proc, "ready")
        expect(proc, "in-write")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
    status, error, points = stored_run(tmp_path)
    assert status == "aborted" and "SIGTERM" in error
    # The pulse in flight was finished, read and recorded; no pulse after it.
    jumps = [step for kind, step in points if kind == "jump"]
    assert jumps == list(range(1, 31))
    assert (tmp_path / "marker").read_text().split() == ["closed"]  # the bench closed, once


def test_second_signal_mid_write_applies_the_safe_state_before_the_write_ends(tmp_path: Path) -> None:
    proc = start_child(tmp_path, "--hold-pulse", "30", "--hold-signals", "2")
    try:
        expect(proc, "ready")
        expect(proc, "in-write")
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) in (128 + signal.SIGTERM, 128 + signal.SIGINT)
    finally:
        proc.kill()
    status, error, points = stored_run(tmp_path)
    assert status == "aborted" and "second signal" in error
    # Pulse 30 was cut short before it was applied: only 29 pulses are recorded.
    assert [step for kind, step in points if kind == "jump"] == list(range(1, 30))
    assert (tmp_path / "marker").read_text().split()[0] == "safe-state"
