"""A simulated array that would not fit in memory is refused with the figure, before allocating."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from hil import Pulse
from hil.faults import ExitStatus, exit_status
from simulators.crossbar import BYTES_PER_DEVICE, SimulatedCrossbar, SimulatorMemoryError, check_memory


def test_a_shape_beyond_the_machine_is_refused_with_the_figure() -> None:
    with pytest.raises(SimulatorMemoryError, match=r"100000 x 100000 array needs about 1\.46 TiB") as info:
        SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(100_000, 100_000), seed=0)
    assert exit_status(info.value) == ExitStatus.USAGE


def test_the_limit_is_the_memory_available() -> None:
    check_memory((1000, 1000), available=1000 * 1000 * BYTES_PER_DEVICE)
    with pytest.raises(SimulatorMemoryError, match=r"needs about 153 MiB .* has 152 MiB available"):
        check_memory((1000, 1000), available=1000 * 1000 * BYTES_PER_DEVICE - 2**20)


def test_the_estimate_covers_what_an_array_allocates() -> None:
    """The figure per device bounds numpy's traced peak over building, reading, VMM and pulsing."""
    _use(8)  # compiles the kernels and fills caches, which a large array does not repeat
    n = 600
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        _use(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_device = (peak - start) / (n * n)
    assert 0.5 * BYTES_PER_DEVICE < per_device < BYTES_PER_DEVICE, per_device


def _use(n: int) -> None:
    rng = np.random.default_rng(0)
    array = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(n, n), seed=0)
    array.read()
    array.vmm(0.1 * rng.uniform(-1, 1, n))
    array.apply_pulses(np.ones((n, n), dtype=np.int64), Pulse(6.0, 5e-9))
    for _ in range(3):
        array.stochastic_update(rng.uniform(0, 0.5, n), rng.uniform(-0.5, 0.5, n), 31, Pulse(6.0, 5e-9))
