"""Analog layers: weight matrices on differential array pairs, with counted backend operations.

SGDLayer is the conventional analog layer (forward, backward and update on one pair W).
SHDLayer is the SHD paper's 3-array layer: forward and backward on C, the gradient into A,
and every tau samples one row of A transferred into C. Both speak only hil.mapping's
DifferentialArray; the arrays behind it can be simulated, virtual or real.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.backend import FloatArray
from hil.mapping import DifferentialArray
from hil.pulses import Pulse, PulsePair, as_pulse_pair
from protocols.training.result import BackendOps


@dataclass(frozen=True)
class UpdateSettings:
    """How stochastic updates are fired (hil.update.plan_update).

    pulse: the write pulse (volts, seconds), or a PulsePair (up, down); bl_max: longest bit stream (slots);
    update_management: balance row and column probabilities (max p = max q);
    bl_management: shorten the stream when few pulses are expected.
    """

    pulse: Pulse | PulsePair
    bl_max: int = 31
    update_management: bool = True
    bl_management: bool = True

    def __post_init__(self) -> None:
        as_pulse_pair(self.pulse)  # TypeError naming both accepted types
        if isinstance(self.bl_max, bool) or int(self.bl_max) != self.bl_max or self.bl_max < 1:
            raise ValueError(f"bl_max must be a positive whole number of bit slots, got {self.bl_max!r}")


class CountedOps:
    """Issues differential VMMs and stochastic updates and counts them in a BackendOps."""

    def __init__(self, settings: UpdateSettings, ops: BackendOps | None = None):
        self.settings = settings
        self.ops = ops if ops is not None else BackendOps()

    def forward(self, array: DifferentialArray, x: FloatArray) -> FloatArray:
        self._count_vmm(x)
        return array.forward(x)

    def backward(self, array: DifferentialArray, d: FloatArray) -> FloatArray:
        self._count_vmm(d)
        return array.backward(d)

    def update(
        self, array: DifferentialArray, x: FloatArray, d: FloatArray, lr: float, dw_min: float
    ) -> None:
        """Expected weight change lr * x_i * d_j on the main array (d is minus the gradient)."""
        s = self.settings
        done = array.update(x, d, lr, dw_min, s.pulse, s.bl_max, s.update_management, s.bl_management)
        ops = self.ops
        if not done.fired:
            ops.empty_updates += 1
            return
        ops.updates += 1
        ops.clipped_updates += done.clipped
        if done.pulses is None:
            ops.unreported_updates += 1
        else:
            ops.pulses += done.pulses

    def _count_vmm(self, x: FloatArray) -> None:
        ops = self.ops
        ops.vmm_calls += 2  # main and reference
        # x.ndim: np.ndim(x) is a Python-level call, a measurable share of a small VMM's cost
        ops.vmm_vectors += 2 * (1 if (x.ndim if isinstance(x, np.ndarray) else np.ndim(x)) == 1 else len(x))


class SGDLayer:
    """W = W_main - W_ref; the update goes straight to W_main (the paper's Fig. 1A)."""

    def __init__(self, w: DifferentialArray, lr: float, dw_min: float, io: CountedOps):
        _check_positive(lr=lr, dw_min=dw_min)
        self.w, self.lr, self.dw_min, self.io = w, lr, dw_min, io

    @property
    def shape(self) -> tuple[int, int]:
        return self.w.shape

    def forward(self, x: FloatArray) -> FloatArray:
        return self.io.forward(self.w, x)

    def backward(self, delta: FloatArray) -> FloatArray:
        return self.io.backward(self.w, delta)

    def learn(self, x: FloatArray, delta: FloatArray) -> None:
        self.io.update(self.w, x, -delta, self.lr, self.dw_min)

    def state(self) -> dict[str, Any]:
        """Nothing digital: the weights live on the arrays."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None

    def weights(self) -> FloatArray:
        return self.w.weights()


class SHDLayer:
    """The 3-array SHD layer: A = A_main - A_ref, C = C_main - A_ref.

    I forward y = x C and II backward z = C delta are VMMs on C; III A_main gets the
    stochastic update eta_a * x (x) (-delta); every tau samples IV reads row k of A with a
    forward VMM of the one-hot row vector e_k (v = e_k A) and V gives C_main the stochastic
    update eta_c * e_k (x) v, k cycling over the rows. C alone is the trained network.

    Why rows: the forward VMM of a one-hot row vector is exactly the paper's "forward pass on A
    with u", reading the weights from input k to every output through the same row drivers and
    column converters as step I, and the same one-hot e_k then drives the rows of step V.
    """

    def __init__(
        self,
        a: DifferentialArray,
        c: DifferentialArray,
        *,
        eta_a: float,
        eta_c: float,
        tau: int,
        dw_min_a: float,
        dw_min_c: float,
        io: CountedOps,
    ):
        if a.ref is not c.ref:
            raise ValueError("A and C must share the reference array (A_ref) in the 3-array SHD")
        if a.shape != c.shape:
            raise ValueError(f"A {a.shape} and C {c.shape} differ in shape")
        if isinstance(tau, bool) or int(tau) != tau or tau < 1:
            raise ValueError(f"tau must be a positive whole number of samples, got {tau!r}")
        _check_positive(eta_a=eta_a, eta_c=eta_c, dw_min_a=dw_min_a, dw_min_c=dw_min_c)
        self.a, self.c = a, c
        self.eta_a, self.eta_c, self.tau = eta_a, eta_c, int(tau)
        self.dw_min_a, self.dw_min_c = dw_min_a, dw_min_c
        self.io = io
        self.samples = 0
        self.next_row = 0
        self.transfers = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.c.shape

    def forward(self, x: FloatArray) -> FloatArray:
        return self.io.forward(self.c, x)

    def backward(self, delta: FloatArray) -> FloatArray:
        return self.io.backward(self.c, delta)

    def learn(self, x: FloatArray, delta: FloatArray) -> None:
        self.io.update(self.a, x, -delta, self.eta_a, self.dw_min_a)
        self.samples += 1
        if self.samples % self.tau == 0:
            self.transfer()

    def state(self) -> dict[str, Any]:
        """The digital counters: samples seen, the next row to transfer, transfers done."""
        return {"samples": self.samples, "next_row": self.next_row, "transfers": self.transfers}

    def restore(self, state: dict[str, Any]) -> None:
        next_row = int(state["next_row"])
        if not 0 <= next_row < self.shape[0]:
            raise ValueError(f"SHD state: next_row {next_row} outside the layer's {self.shape[0]} rows")
        self.samples, self.next_row, self.transfers = int(state["samples"]), next_row, int(state["transfers"])

    def transfer(self) -> None:
        """Steps IV and V for the next row of A."""
        u = np.zeros(self.shape[0])
        u[self.next_row] = 1.0
        v = self.io.forward(self.a, u)
        self.io.update(self.c, u, v, self.eta_c, self.dw_min_c)
        self.next_row = (self.next_row + 1) % self.shape[0]
        self.transfers += 1

    def weights(self) -> FloatArray:
        """C, the trained network, from conductance reads (diagnostics only)."""
        return self.c.weights()

    def auxiliary(self) -> FloatArray:
        """A, from conductance reads (diagnostics only)."""
        return self.a.weights()


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
