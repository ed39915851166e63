"""The backends the conformance suite runs against.

Each factory builds a fresh backend of the given shape with quiet reads (no read noise), no
stuck devices and every device away from its bounds, so that exact contract checks apply.
Register a new backend here and the whole conformance suite runs against it unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from unittest import mock

from drivers.bench import HardwareBench
from hil.backend import CrossbarBackend
from hil.benchconfig import BenchConfig, load_bench_config
from hil.mock import IdealCrossbar
from hil.pulses import SafetyLimits
from simulators.crossbar import SimulatedCrossbar
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench

QUIET = {"read_noise": 0.0, "vmm_noise": 0.0, "stuck_fraction": 0.0}


@contextmanager
def mock_backend(shape: tuple[int, int], seed: int) -> Iterator[CrossbarBackend]:
    with IdealCrossbar(shape, seed=seed) as backend:
        yield backend


@contextmanager
def sim_backend(shape: tuple[int, int], seed: int) -> Iterator[CrossbarBackend]:
    """protonic-asymmetric devices (variation and cycle-to-cycle noise kept), exact reads and VMMs,
    no stuck devices, states in the middle of the range; the limits make the suite's largest
    legal pulse the preset's nominal pulse (6 V x 5 ns)."""
    limits = SafetyLimits(
        max_pulse_amplitude=6.0, min_pulse_width=1e-9, max_pulse_width=5e-9, max_read_voltage=0.1
    )
    with SimulatedCrossbar.from_preset("protonic-asymmetric", shape, seed, limits, **QUIET) as backend:
        yield backend


def one_array_bench(
    shape: tuple[int, int], max_pulse_width: float = 20e-9, matrix: str = "keithley707b"
) -> BenchConfig:
    """A bench file of one array "A": 2450, 33500B and a 707B (or the relay board), every device
    with its own gate and drain pad and one shared source pad (2 rows x cols + 1 pads)."""
    rows, cols = shape
    n = rows * cols
    grid = [[r * cols + c + 1 for c in range(cols)] for r in range(rows)]
    drains = [[p + n for p in row] for row in grid]
    slots = -(-(2 * n + 1) // 12)
    options = f"options = {{ slots = {slots} }}" if matrix == "keithley707b" else ""
    text = f"""
        [bench]
        name = "virtual-{rows}x{cols}"
        [limits]
        max_pulse_amplitude = 6.0
        min_pulse_width = 16e-9
        max_pulse_width = {max_pulse_width!r}
        max_read_voltage = 0.1
        current_compliance = 1e-4
        max_pulses_per_call = 1000
        [read]
        voltage = 0.1
        [instruments.smu]
        driver = "keithley2450"
        address = "virtual"
        [instruments.pulser]
        driver = "keysight33500b"
        address = "virtual"
        [instruments.matrix]
        driver = "{matrix}"
        address = "virtual"
        {options}
        [wiring]
        smu_hi = 1
        smu_lo = 2
        pulse_out = 3
        pulse_ref = 4
        [chip]
        rows = {rows}
        cols = {cols}
        gate = {grid}
        drain = {drains}
        source = {2 * n + 1}
        [arrays.A]
        rows = [0, {rows}]
        cols = [0, {cols}]
    """
    lines = "\n".join(line.strip() for line in text.splitlines())
    return load_bench_config(f"virtual-{rows}x{cols}.toml", text=lines)


@contextmanager
def hardware_bench(vb: VirtualBench, config: BenchConfig, **kwargs: object) -> Iterator[HardwareBench]:
    """A HardwareBench on a running virtual bench, with the chip's nominal conductance range.

    pyvisa-py serves the loopback; naming it skips pyvisa's search for an IVI library, which
    costs ~0.3 s per instrument opened.
    """
    with mock.patch.dict(os.environ, {"PYVISA_LIBRARY": "@py"}):
        bench = HardwareBench(config, conductance_range=vb.conductance_range, **kwargs)  # type: ignore[arg-type]
    with bench:
        yield bench


@contextmanager
def virtual_backend(shape: tuple[int, int], seed: int) -> Iterator[CrossbarBackend]:
    """drivers.crossbar.HardwareCrossbar through the real drivers on a fresh virtual bench (2450,
    33500B, 707B over loopback) of protonic-asymmetric devices, quiet as in sim_backend. The
    33500B's pulses last 16 ns at least; the limits make the suite's largest legal pulse
    6 V x 20 ns."""
    config = one_array_bench(shape)
    with (
        virtual_bench(config, seed=seed, **QUIET) as (vb, live),
        hardware_bench(vb, live, seed=seed) as bench,
    ):
        yield bench.array("A", shape)


FACTORIES: dict[str, Callable[[tuple[int, int], int], AbstractContextManager[CrossbarBackend]]] = {
    "mock": mock_backend,
    "sim": sim_backend,
    "virtual": virtual_backend,
}
