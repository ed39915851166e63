"""A stored jump-table run on the simulator, as a child process for the signal and crash tests.

    python -m tests.hil.jump_child DB MARKER [--hold-pulse N --hold-signals S]

Prints "ready" once 20 pulses are recorded. The bench's close() and the guard's safe-state
callback append "closed" and "safe-state" lines to MARKER. With --hold-pulse N, the write of
pulse N (inside hil.interrupts.critical, as a hardware backend's write) prints "in-write" and
stays in flight until S signals have arrived, so the parent can signal it mid-write without a
race. Exits with StopRequested.exit_code (128 + signal number) when stopped by a signal.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hil.interrupts import InterruptGuard, StopRequested, critical, interrupt_guard
from hil.store import RunStore
from protocols.jumptable import measure_jump_table
from simulators.chip import SimulatedChip
from tests.hil.delegating import DelegatingBackend, WriteHook

READY_AFTER = 20


class MarkedChip(SimulatedChip):
    def __init__(self, marker: Path):
        super().__init__("protonic-asymmetric", seed=0)
        self.marker = marker

    def close(self) -> None:
        super().close()
        with self.marker.open("a") as fh:
            fh.write("closed\n")


def held_write(guard: InterruptGuard, pulse_number: int, signals: int) -> WriteHook:
    """Write number `pulse_number` waits inside critical() until `signals` signals have arrived."""
    writes = 0

    def around(write: Callable[[], None]) -> None:
        nonlocal writes
        writes += 1
        with critical():
            if writes == pulse_number:
                print("in-write", flush=True)
                deadline = time.monotonic() + 20.0  # a test that never signals must still end
                while len(guard.received) < signals and time.monotonic() < deadline:
                    time.sleep(0.001)
            write()

    return around


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("marker", type=Path)
    parser.add_argument("--hold-pulse", type=int)
    parser.add_argument("--hold-signals", type=int, default=1)
    args = parser.parse_args()

    def progress(done: int, total: int) -> None:
        if done == READY_AFTER:
            print("ready", flush=True)

    devices = [(0, 0), (1, 1)]
    try:
        with interrupt_guard() as guard, MarkedChip(args.marker) as chip, RunStore(args.db) as store:

            def safe_state() -> None:
                with args.marker.open("a") as fh:
                    fh.write("safe-state\n")
                chip.close()

            guard.safe_state = safe_state
            array = DelegatingBackend(chip.array("A_main", (2, 2)))
            if args.hold_pulse is not None:
                array.around_write = held_write(guard, args.hold_pulse, args.hold_signals)
            params = {"devices": devices, "n_cycles": 1000, "n_up": 100}
            with store.start_run("jump-table", params, chip.describe()) as run:
                # Far more pulses than any test waits for: the run ends by a signal.
                measure_jump_table(array, array.inner.nominal_pulse, devices, n_cycles=1000, n_up=100,
                                   noise_reads=2, progress=progress, recorder=run)  # fmt: skip
    except StopRequested as stop:
        return stop.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
