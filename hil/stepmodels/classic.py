"""The step models of the simulator's first release: soft bounds, linear step, power step, jump table.

In the normalised state x (see hil.stepmodels.base), with rates r± of one pulse:

    soft-bounds   r⁺ = 1 - x            r⁻ = x
    linear-step   r⁺ = 1 - γ⁺ x         r⁻ = 1 - γ⁻ (1 - x)
    power-step    r⁺ = (1 - x)^γ⁺       r⁻ = x^γ⁻
    table         ΔG drawn from a measured hil.jumptable.JumpTable, times a⁺ or a⁻

Soft bounds is linear step and power step at γ± = 1 (aihwkit's SoftBoundsDevice,
LinearStepDevice and PowStepDevice, in the normalised state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from hil.backend import FloatArray
from hil.stepmodels.base import FitStart, StepModel, check_range

# Two starts for the γ models: near soft bounds (bounds extrapolated), and a flatter step with
# the bounds where the reads stopped (clipping); the cost has local minima between the two.
_GAMMA_STARTS = (
    FitStart({"gamma_up": 0.9, "gamma_down": 0.9}),
    FitStart({"gamma_up": 0.4, "gamma_down": 0.4}, observed_bounds=True),
)


@dataclass(frozen=True)
class SoftBounds(StepModel):
    """Soft bounds: the step shrinks linearly to zero at the bound it moves towards.

    step_up, step_down: a⁺, a⁻ (fractions of the range per pulse at m = 1). γ± = 1 is fixed.
    """

    name: ClassVar[str] = "soft-bounds"
    fixed: ClassVar[Mapping[str, float]] = MappingProxyType({"gamma_up": 1.0, "gamma_down": 1.0})
    in_auto_fit: ClassVar[bool] = True
    bounds_by_clipping: ClassVar[bool] = False

    @classmethod
    def shape_rates(cls, x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray]:
        return 1.0 - x, x.copy()

    @classmethod
    def rate_gradients(
        cls, x: FloatArray, theta: Sequence[float]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        none = np.zeros((x.size, 0))
        return -np.ones_like(x), np.ones_like(x), none, none

    def symmetry_states(self, step_up: FloatArray, step_down: FloatArray) -> FloatArray:
        return step_up / (step_up + step_down)

    def burst_gammas(self) -> tuple[float, float] | None:
        return 1.0, 1.0


@dataclass(frozen=True)
class LinearStep(StepModel):
    """Linear step: the step falls linearly with the distance moved, to 1 - γ at the far bound.

    gamma_up, gamma_down: γ⁺, γ⁻ in [0, 1]; 1 is soft bounds, 0 a constant step.
    """

    name: ClassVar[str] = "linear-step"
    shape_parameters: ClassVar[tuple[str, ...]] = ("gamma_up", "gamma_down")
    fit_free: ClassVar[tuple[str, ...]] = ("gamma_up", "gamma_down")
    fit_bounds: ClassVar[Mapping[str, tuple[float, float]]] = MappingProxyType(
        {"gamma_up": (0.0, 1.0), "gamma_down": (0.0, 1.0)}
    )
    fit_starts: ClassVar[tuple[FitStart, ...]] = _GAMMA_STARTS
    in_auto_fit: ClassVar[bool] = True

    gamma_up: float = 1.0
    gamma_down: float = 1.0

    def validate(self) -> None:
        for name in self.shape_parameters:
            check_range(self, name, 0.0, 1.0, "in [0, 1]")

    @classmethod
    def shape_rates(cls, x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray]:
        gu, gd = theta
        return 1.0 - gu * x, 1.0 - gd * (1.0 - x)

    @classmethod
    def rate_gradients(
        cls, x: FloatArray, theta: Sequence[float]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        gu, gd = theta
        zero = np.zeros_like(x)
        return (
            np.full_like(x, -gu),
            np.full_like(x, gd),
            np.stack([-x, zero], 1),
            np.stack([zero, x - 1.0], 1),
        )

    def symmetry_states(self, step_up: FloatArray, step_down: FloatArray) -> FloatArray:
        # a⁺(1 - γ⁺x) = a⁻(1 - γ⁻(1 - x))  =>  x = (a⁺ - a⁻ + a⁻γ⁻) / (a⁺γ⁺ + a⁻γ⁻)
        au, ad = step_up, step_down
        num = au - ad + ad * self.gamma_down
        den = au * self.gamma_up + ad * self.gamma_down
        x = np.full(au.shape, np.nan)
        np.divide(num, den, out=x, where=den > 0)
        return x

    def burst_gammas(self) -> tuple[float, float] | None:
        return self.gamma_up, self.gamma_down


@dataclass(frozen=True)
class PowerStep(StepModel):
    """Power step: the step is a power of the distance to the bound it moves towards.

    gamma_up, gamma_down: exponents γ⁺, γ⁻ >= 0; 1 is soft bounds, 0 a constant step.
    """

    name: ClassVar[str] = "power-step"
    shape_parameters: ClassVar[tuple[str, ...]] = ("gamma_up", "gamma_down")
    fit_free: ClassVar[tuple[str, ...]] = ("gamma_up", "gamma_down")
    fit_bounds: ClassVar[Mapping[str, tuple[float, float]]] = MappingProxyType(
        {"gamma_up": (0.0, 20.0), "gamma_down": (0.0, 20.0)}
    )
    fit_starts: ClassVar[tuple[FitStart, ...]] = _GAMMA_STARTS
    in_auto_fit: ClassVar[bool] = True

    gamma_up: float = 1.0
    gamma_down: float = 1.0

    def validate(self) -> None:
        for name in self.shape_parameters:
            check_range(self, name, 0.0, np.inf, ">= 0")

    @classmethod
    def shape_rates(cls, x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray]:
        gu, gd = theta
        return (1.0 - x) ** gu, x**gd

    @classmethod
    def rate_gradients(
        cls, x: FloatArray, theta: Sequence[float]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        gu, gd = theta
        zero = np.zeros_like(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            ru, rd = (1.0 - x) ** gu, x**gd
            dru, drd = -gu * (1.0 - x) ** (gu - 1.0), gd * x ** (gd - 1.0)
            gru, grd = ru * np.log(1.0 - x), rd * np.log(x)
        return dru, drd, np.stack([gru, zero], 1), np.stack([zero, grd], 1)

    def symmetry_states(self, step_up: FloatArray, step_down: FloatArray) -> FloatArray:
        if self.gamma_up == 0.0 and self.gamma_down == 0.0:
            return np.full(step_up.shape, np.nan)  # constant steps: equal everywhere or nowhere
        return super().symmetry_states(step_up, step_down)

    def burst_gammas(self) -> tuple[float, float] | None:
        if {self.gamma_up, self.gamma_down} <= {0.0, 1.0}:
            return self.gamma_up, self.gamma_down  # (1 - x)^1 is soft bounds, (1 - x)^0 a constant step
        return None


@dataclass(frozen=True)
class TableSteps(StepModel):
    """Steps drawn from a measured jump table (hil.jumptable.JumpTable) at the current G.

    step_up, step_down: dimensionless multipliers of the table's up and down steps (1: as
    measured). The table itself is data, given to the simulator beside the config.
    """

    name: ClassVar[str] = "table"
    draws_from_table: ClassVar[bool] = True
    max_step: ClassVar[float] = float("inf")

    step_up: float = 1.0
    step_down: float = 1.0

    def symmetry_states(self, step_up: FloatArray, step_down: FloatArray) -> FloatArray:
        raise NotImplementedError(
            "the table model's symmetry point is the crossing of its table's mean steps"
        )
