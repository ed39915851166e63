"""A fresh virtual bench per test (2450, 33500B, 707B over loopback) and a HardwareBench on it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from drivers.bench import HardwareBench
from hil.benchconfig import BenchConfig
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import hardware_bench, one_array_bench

SHAPE = (2, 3)


@pytest.fixture
def virtual() -> Iterator[tuple[VirtualBench, BenchConfig]]:
    """Array "A" (2 x 3) of protonic-asymmetric devices, chip seed 7, default noise."""
    with virtual_bench(one_array_bench(SHAPE), seed=7) as running:
        yield running


@pytest.fixture
def bench(virtual: tuple[VirtualBench, BenchConfig]) -> Iterator[HardwareBench]:
    vb, config = virtual
    with hardware_bench(vb, config) as b:
        yield b


def is_safe(vb: VirtualBench) -> bool:
    return (
        not vb.smu.state.output
        and not any(ch.output for ch in vb.pulse_generator.channels)
        and vb.switch_matrix.closed == set()
        and vb.relay_matrix.closed == set()
    )


def assert_safe(vb: VirtualBench) -> None:
    """Outputs off and every switch open, as the virtual instruments themselves hold it.

    A write is not acknowledged on the wire, so the last "output off" may still be in the
    server's socket when the client returns: wait (up to 5 s) for the servers to catch up.
    """
    deadline = time.monotonic() + 5.0
    while not is_safe(vb) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert not vb.smu.state.output
    assert not any(ch.output for ch in vb.pulse_generator.channels)
    assert vb.switch_matrix.closed == set()
    assert vb.relay_matrix.closed == set()
