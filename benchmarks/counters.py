"""User-mode instruction and cycle counters of the calling thread (Linux perf_event_open).

On a shared virtual machine wall time drifts by 2x within minutes; the number of instructions a
piece of code retires does not (for the same inputs), and its cycles drift far less than its
time (they do not count time the thread was not running). benchmarks.kernel_ab reports both
next to the times.

    with ThreadCounters() as counters:
        before = counters.read()
        work()
        instructions, cycles = counters.read() - before   # a Counts

Needs Linux with perf_event_paranoid <= 2 and perf_event_open allowed (containers often block
it): ThreadCounters raises CountersUnavailable otherwise, saying why.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from typing import NamedTuple

_SYSCALL_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
_HARDWARE = 0  # PERF_TYPE_HARDWARE
_CPU_CYCLES, _INSTRUCTIONS = 0, 1  # PERF_COUNT_HW_*
_EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 5, 1 << 6  # perf_event_attr flag bits


class CountersUnavailable(RuntimeError):
    """The hardware counters cannot be opened here (not Linux, no permission, no PMU)."""


class Counts(NamedTuple):
    instructions: int
    cycles: int

    def __sub__(self, other: tuple[int, ...]) -> Counts:  # type: ignore[override]
        return Counts(self.instructions - other[0], self.cycles - other[1])


class _Attr(ctypes.Structure):
    """struct perf_event_attr up to sample_max_stack (PERF_ATTR_SIZE_VER5, 112 bytes)."""

    _fields_ = [
        ("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64), ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32), ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64), ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16), ("reserved", ctypes.c_uint16),
    ]  # fmt: skip


class ThreadCounters:
    """Instructions and cycles retired in user mode by the thread that opened them."""

    def __init__(self) -> None:
        number = _SYSCALL_PERF_EVENT_OPEN.get(os.uname().machine) if sys.platform == "linux" else None
        if number is None:
            raise CountersUnavailable(f"no perf_event_open for {sys.platform}/{os.uname().machine}")
        libc = ctypes.CDLL(None, use_errno=True)
        self._fds: list[int] = []
        for config in (_INSTRUCTIONS, _CPU_CYCLES):
            attr = _Attr(type=_HARDWARE, size=ctypes.sizeof(_Attr), config=config,
                         flags=_EXCLUDE_KERNEL | _EXCLUDE_HV)  # fmt: skip
            fd = libc.syscall(number, ctypes.byref(attr), 0, -1, -1, 0)  # this thread, any CPU
            if fd < 0:
                self.close()
                error = ctypes.get_errno()
                raise CountersUnavailable(
                    f"perf_event_open failed: {os.strerror(error)} (see "
                    "/proc/sys/kernel/perf_event_paranoid; containers often block the call)"
                )
            self._fds.append(fd)

    def read(self) -> Counts:
        """Totals since the counters were opened."""
        values = [struct.unpack("q", os.read(fd, 8))[0] for fd in self._fds]
        return Counts(values[0], values[1])

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> ThreadCounters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
