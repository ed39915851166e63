"""Fixtures for the virtual bench tests: an ideal 2 x 3 array with known conductances."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa

from hil.mock import IdealCrossbar
from simulators.virtual import VirtualBench, VirtualChip

# Distinct conductances (siemens) so a read tells which device it saw.
G0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) * 1e-6
G_STEP = 19e-9  # IdealCrossbar's default step per pulse, siemens


@pytest.fixture
def array() -> IdealCrossbar:
    return IdealCrossbar((2, 3), g_init=G0)


@pytest.fixture
def chip(array: IdealCrossbar) -> VirtualChip:
    return VirtualChip({"A": array})


@pytest.fixture
def bench(chip: VirtualChip) -> Iterator[VirtualBench]:
    with VirtualBench(chip, state_seed=None) as b:  # the *RST state: these tests speak raw SCPI/TSP
        yield b


@pytest.fixture
def rm() -> Iterator[pyvisa.ResourceManager]:
    manager = pyvisa.ResourceManager("@py")
    yield manager
    manager.close()


def open_visa(rm: pyvisa.ResourceManager, address: str, timeout_ms: int = 2000):
    """A raw pyvisa-py session with the virtual bench's line terminations."""
    return rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=timeout_ms)
