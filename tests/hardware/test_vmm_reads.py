"""The VMM read policy of HardwareCrossbar: fresh reads, or reads only of devices pulsed since."""

from __future__ import annotations

import numpy as np
import pytest

from hil.benchconfig import BenchConfig
from hil.pulses import Pulse
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import hardware_bench, one_array_bench

PULSE = Pulse(4.75, 20e-9)


def test_after_write_rereads_exactly_the_pulsed_devices() -> None:
    # No read noise: a later read of an unchanged device repeats the SMU's 7 digits exactly.
    with (
        virtual_bench(one_array_bench((2, 3)), seed=7, read_noise=0.0) as (vb, config),
        hardware_bench(vb, config, vmm_reads="after_write") as bench,
    ):
        array = bench.array("A", (2, 3))
        v = np.array([0.05, -0.02])
        first = array.vmm(v)  # nothing read yet: every device is read once
        assert array.operations["device_reads"] == 6
        np.testing.assert_allclose(array.vmm(v), first, rtol=0, atol=0)  # no write: no read
        assert array.operations["device_reads"] == 6

        counts = np.array([[3, 0, 0], [0, 0, -2]])
        array.apply_pulses(counts, PULSE)
        after = array.vmm_transposed(np.array([0.05, 0.0, 0.01]))
        assert array.operations["device_reads"] == 8  # the two pulsed devices only
        # The products use the latest reading of every device: a fresh read of the whole array
        # (nothing pulsed in between) gives the same numbers within the SMU's 7 digits.
        g = array.read()
        np.testing.assert_allclose(after, np.array([0.05, 0.0, 0.01]) @ g.T, rtol=1e-6)


def test_fresh_reads_every_device_for_every_vmm(virtual: tuple[VirtualBench, BenchConfig]) -> None:
    vb, config = virtual
    with hardware_bench(vb, config) as bench:
        array = bench.array("A", (2, 3))
        assert array.vmm_reads == "fresh"
        array.vmm(np.array([0.05, -0.02]))
        array.vmm(np.array([0.05, -0.02]))
        assert array.operations["device_reads"] == 12


def test_unknown_policy_is_refused_before_connecting(virtual: tuple[VirtualBench, BenchConfig]) -> None:
    vb, config = virtual
    with pytest.raises(ValueError, match="vmm_reads must be one of fresh, after_write"):
        with hardware_bench(vb, config, vmm_reads="cached"):
            pass
