"""A backend that forwards to another one and lets a test see or hold every write."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hil.backend import Capabilities, CrossbarBackend, DeviceKind, FloatArray, IntArray
from hil.pulses import Pulse, PulsePair

WriteHook = Callable[[Callable[[], None]], None]


class DelegatingBackend(CrossbarBackend):
    """Forwards reads, VMMs, pulses and updates to `inner`; counts the pulses each device received.

    pulses: (rows, cols) total |count| of pulses applied to each device through this wrapper.
    around_write: optional hook called as around_write(write) for each pulse burst, where
        write() applies it; it may wait or wrap the write (e.g. in hil.interrupts.critical).
    """

    def __init__(self, inner: CrossbarBackend, around_write: WriteHook | None = None):
        super().__init__(inner.shape, inner.limits)
        self.inner = inner
        self.around_write = around_write
        self.pulses = np.zeros(inner.shape, dtype=np.int64)

    @property
    def device_kind(self) -> DeviceKind:
        return self.inner.device_kind

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def conductance_range(self) -> tuple[float, float]:
        return self.inner.conductance_range

    @property
    def read_voltage(self) -> float:
        return self.inner.read_voltage

    @property
    def instrument_trains(self) -> bool:
        return self.inner.instrument_trains

    @property
    def instrument_pairs(self) -> bool:
        return self.inner.instrument_pairs

    def alternating_pairs_seconds(self, pairs: int, *, read_every: int) -> float | None:
        return self.inner.alternating_pairs_seconds(pairs, read_every=read_every)

    def _read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        return self.inner.read(np.stack([rows, cols], axis=1))

    def _read_all(self) -> FloatArray:
        return self.inner.read()

    def _vmm(self, v: FloatArray) -> FloatArray:
        return self.inner.vmm(v)

    def _vmm_transposed(self, v: FloatArray) -> FloatArray:
        return self.inner.vmm_transposed(v)

    def _apply_pulses(self, counts: IntArray, pulse: Pulse) -> None:
        def write() -> None:
            self.inner.apply_pulses(counts, pulse)
            self.pulses += np.abs(counts)

        self._write(write)

    def _stochastic_update(self, p: FloatArray, q: FloatArray, bl: int, pulse: Pulse) -> IntArray | None:
        """The inner backend draws and fires the streams (its own generator, its own counts)."""
        fired: list[IntArray | None] = []

        def write() -> None:
            fired.append(self.inner.stochastic_update(p, q, bl, pulse))
            if fired[0] is not None:
                self.pulses += np.abs(fired[0])

        self._write(write)
        return fired[0]

    def _pulse_read_train(self, row: int, col: int, count: int, sign: int, pulse: Pulse) -> FloatArray:
        """Where the inner backend runs trains in its instruments, the whole train is one write
        (as it is on the bench); else the per-cycle default, through this wrapper's writes."""
        if not self.inner.instrument_trains:
            return super()._pulse_read_train(row, col, count, sign, pulse)
        read: list[FloatArray] = []

        def write() -> None:
            read.append(self.inner.pulse_read_train((row, col), count, sign, pulse))
            self.pulses[row, col] += count

        self._write(write)
        return read[0]

    def _alternating_pairs(
        self, pairs: int, read_every: int, pulses: PulsePair
    ) -> tuple[FloatArray, FloatArray]:
        """Where the inner backend sequences the pairs in its instruments, the whole call is one
        write; else the default's apply_pulses and reads, through this wrapper's writes."""
        if not self.inner.instrument_pairs:
            return super()._alternating_pairs(pairs, read_every, pulses)
        read: list[tuple[FloatArray, FloatArray]] = []

        def write() -> None:
            read.append(self.inner.alternating_pairs(pairs, read_every=read_every, pulses=pulses))
            self.pulses += 2 * pairs

        self._write(write)
        return read[0]

    def _write(self, write: Callable[[], None]) -> None:
        if self.around_write is None:
            write()
        else:
            self.around_write(write)

    def _close(self) -> None:
        self.inner.close()
