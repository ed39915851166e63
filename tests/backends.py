"""The backends the conformance suite runs against.

Each factory builds a fresh backend of the given shape with quiet reads (no read noise), no
stuck devices and every device away from its bounds, so that exact contract checks apply.
Register a new backend here and the whole conformance suite runs against it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from hil.backend import CrossbarBackend
from hil.mock import IdealCrossbar
from hil.pulses import SafetyLimits
from simulators.crossbar import SimulatedCrossbar


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
    quiet = {"read_noise": 0.0, "vmm_noise": 0.0, "stuck_fraction": 0.0}
    with SimulatedCrossbar.from_preset("protonic-asymmetric", shape, seed, limits, **quiet) as backend:
        yield backend


FACTORIES: dict[str, Callable[[tuple[int, int], int], AbstractContextManager[CrossbarBackend]]] = {
    "mock": mock_backend,
    "sim": sim_backend,
}
