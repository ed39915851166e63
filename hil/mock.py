"""An ideal, noiseless crossbar: the mock implementation of the contract.

Constant conductance step per pulse, hard bounds, exact reads. Protocol unit tests use it
where a closed-form answer is wanted; it also counts calls so tests can assert what a
protocol asked of the backend.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from hil.backend import Capabilities, CrossbarBackend, DeviceKind, FloatArray, IntArray
from hil.pulses import PulsePair, SafetyLimits


class IdealCrossbar(CrossbarBackend):
    """Devices step by exactly `g_step` siemens per pulse between g_min and g_max.

    A pulse's amplitude and width do not matter here (above zero every pulse is one step);
    `pulses` records the pulses of each write (a PulsePair: up for positive counts, down for
    negative ones) so that tests can assert what reached the array.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        g_min: float = 1e-6,
        g_max: float = 20e-6,
        g_step: float = 19e-9,
        g_init: float | FloatArray | None = None,
        limits: SafetyLimits | None = None,
        seed: int | None = 0,
    ):
        super().__init__(shape, limits or SafetyLimits(), seed)
        if not 0 < g_min < g_max or g_step <= 0:
            raise ValueError("need 0 < g_min < g_max and g_step > 0 (siemens)")
        self.g_min, self.g_max, self.g_step = g_min, g_max, g_step
        start = (g_min + g_max) / 2 if g_init is None else g_init
        self.g = np.broadcast_to(np.asarray(start, dtype=np.float64), self.shape).copy()
        self.calls: Counter[str] = Counter()
        self.pulses: list[PulsePair] = []

    @property
    def device_kind(self) -> DeviceKind:
        return DeviceKind.IDEAL

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(physical_vmm=True, native_stochastic_update=False, parallel_pulses=True)

    @property
    def conductance_range(self) -> tuple[float, float]:
        return self.g_min, self.g_max

    def _read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        self.calls["read"] += 1
        return self.g[rows, cols].copy()

    def _read_all(self) -> FloatArray:
        self.calls["read"] += 1
        return self.g.copy()

    def _vmm(self, v: FloatArray) -> FloatArray:
        self.calls["vmm"] += 1
        return v @ self.g

    def _vmm_transposed(self, v: FloatArray) -> FloatArray:
        self.calls["vmm_transposed"] += 1
        return v @ self.g.T

    def _apply_pulses(self, counts: IntArray, pulse: PulsePair) -> None:
        self.calls["apply_pulses"] += 1
        self.pulses.append(pulse)
        self.g = np.clip(self.g + counts * self.g_step, self.g_min, self.g_max)
