"""Signed weights on pairs of conductances: W = (G_main - G_ref) / g_unit.

Protocols never do this arithmetic themselves; they hold DifferentialArray objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hil.arrays import FloatArray, abs_max, float_array
from hil.backend import CrossbarBackend
from hil.pulses import Pulse, PulsePair
from hil.update import UpdateOutcome


@dataclass(frozen=True)
class WeightMapping:
    """How weights map onto conductances and inputs onto voltages.

    g_unit: siemens per unit weight.
    input_voltage: volts applied for the largest |x| of each input vector (each vector is
        scaled by its own abs-max, as peripheral DACs with a digital scale factor do).
    """

    g_unit: float
    input_voltage: float

    def __post_init__(self) -> None:
        for name in ("g_unit", "input_voltage"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"WeightMapping.{name} must be a finite number > 0, got {value!r}")

    @classmethod
    def for_backend(cls, backend: CrossbarBackend, w_max: float = 1.0) -> WeightMapping:
        """Weight w_max at half the nominal conductance range, inputs at the read voltage."""
        g_min, g_max = backend.conductance_range
        return cls(g_unit=(g_max - g_min) / (2.0 * w_max), input_voltage=backend.read_voltage)

    def to_weights(self, g_main: ArrayLike, g_ref: ArrayLike) -> FloatArray:
        return (np.asarray(g_main, dtype=np.float64) - np.asarray(g_ref, dtype=np.float64)) / self.g_unit

    def dw(self, dg: float) -> float:
        """Weight change of a conductance change dg (siemens)."""
        return dg / self.g_unit


class DifferentialArray:
    """A signed weight matrix on a main and a reference array of the same shape.

    forward(x) = x @ W, backward(d) = d @ W.T, both measured as differential VMMs; update()
    writes only the main array, with the parallel stochastic update.
    """

    def __init__(self, main: CrossbarBackend, ref: CrossbarBackend, mapping: WeightMapping):
        if main.shape != ref.shape:
            raise ValueError(f"main {main.shape} and reference {ref.shape} arrays differ in shape")
        if main is ref:
            raise ValueError("main and reference must be different arrays")
        main.limits.check_read_voltage(mapping.input_voltage)
        ref.limits.check_read_voltage(mapping.input_voltage)
        self.main, self.ref, self.mapping = main, ref, mapping

    @property
    def shape(self) -> tuple[int, int]:
        return self.main.shape

    def weights(self) -> FloatArray:
        """W from conductance reads of both arrays."""
        return self.mapping.to_weights(self.main.read(), self.ref.read())

    def forward(self, x: ArrayLike) -> FloatArray:
        """x (rows,) or (batch, rows) -> x @ W (cols,) or (batch, cols)."""
        return self._differential(x, self.shape[0], transposed=False)

    def backward(self, d: ArrayLike) -> FloatArray:
        """d (cols,) or (batch, cols) -> d @ W.T (rows,) or (batch, rows)."""
        return self._differential(d, self.shape[1], transposed=True)

    def update(
        self,
        x: ArrayLike,
        d: ArrayLike,
        lr: float,
        dw_min: float,
        pulse: Pulse | PulsePair,
        bl_max: int = 31,
        update_management: bool = True,
        bl_management: bool = True,
    ) -> UpdateOutcome:
        """Stochastic update of the main array with expected change lr * x_i * d_j (weights):
        CrossbarBackend.planned_update of the main array."""
        return self.main.planned_update(
            x,
            d,
            lr,
            dw_min,
            pulse,
            bl_max=bl_max,
            update_management=update_management,
            bl_management=bl_management,
        )

    def _differential(self, x: ArrayLike, n: int, transposed: bool) -> FloatArray:
        """The pair's differential VMM of x scaled to the input voltage (one vmm_difference)."""
        xa = float_array(x)
        if xa.ndim not in (1, 2) or xa.shape[-1] != n:
            raise ValueError(f"expected an input of shape ({n},) or (batch, {n}), got {xa.shape}")
        if xa.ndim == 1:  # one vector: its abs-max also tells whether it is finite
            scale = abs_max(xa)
            if not math.isfinite(scale):
                raise ValueError("input contains NaN or inf")
            volts = xa / (scale if scale > 0 else 1.0)
            volts *= self.mapping.input_voltage  # in place: the same numbers, one array fewer
        else:
            if not np.all(np.isfinite(xa)):
                raise ValueError("input contains NaN or inf")
            scale = np.max(np.abs(xa), axis=-1, keepdims=True)
            volts = xa / np.where(scale > 0, scale, 1.0) * self.mapping.input_voltage
        current = self.main.vmm_difference(self.ref, volts, transposed)
        return current * (scale / (self.mapping.input_voltage * self.mapping.g_unit))
