"""Exponential step (aihwkit's ExpStepDevice): the step falls off exponentially towards one bound.

Source: aihwkit (IBM), class ExpStepDevice in src/aihwkit/simulator/configs/devices.py and its
update in src/rpucuda/rpu_expstep_device.cpp (update_once). For a weight w between the bounds
b_min, b_max, with z = 2 a w / (b_max - b_min) + b, one pulse moves w

    up    + Δw⁺ max(1 - A⁺ e^(γ⁺ z), 0) (1 + s ξ)
    down  - Δw⁻ max(1 - A⁻ e^(-γ⁻ z), 0) (1 + s ξ)

then clips w to its bounds. aihwkit's bounds are symmetric (b_min = -b_max), where
2 w / (b_max - b_min) = 2x - 1 in the normalised state x of hil.stepmodels.base, so here

    z = slope (2x - 1) + offset,   r⁺ = max(1 - A⁺ e^(γ⁺ z), 0),   r⁻ = max(1 - A⁻ e^(-γ⁻ z), 0)

with a⁺ = Δw⁺ (step_up) and a⁻ = Δw⁻ (step_down) as fractions of the range. slope and offset
are aihwkit's a and b (its defaults, like those of A± and γ±, fitted by IBM to a CMOS-like
device). The steps do not vanish at the bounds: the device stops there by clipping.

A fit holds slope and offset where they are: A⁺ e^(γ⁺ z) depends on them only through
A⁺ e^(γ⁺ (offset - slope)) and γ⁺ slope (the same for the down rate), which A± and γ± absorb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from hil.backend import FloatArray
from hil.stepmodels.base import FitStart, StepModel, check_range

_MAX_EXPONENT = 700.0  # e^700 is finite in double precision


@dataclass(frozen=True)
class ExpStep(StepModel):
    """aihwkit's exponential step (ExpStepDevice) in the normalised state.

    step_up, step_down: a⁺, a⁻, the step scales (fractions of the range per pulse at m = 1).
    A_up, A_down: A⁺, A⁻ >= 0. gamma_up, gamma_down: γ⁺, γ⁻ >= 0. slope, offset: aihwkit's
    a (>= 0, so the up step shrinks and the down step grows with x) and b. Defaults: aihwkit's.
    """

    name: ClassVar[str] = "exp-step"
    shape_parameters: ClassVar[tuple[str, ...]] = (
        "gamma_up",
        "gamma_down",
        "A_up",
        "A_down",
        "slope",
        "offset",
    )
    fit_free: ClassVar[tuple[str, ...]] = ("gamma_up", "gamma_down", "A_up", "A_down")
    fit_bounds: ClassVar[Mapping[str, tuple[float, float]]] = MappingProxyType(
        {"gamma_up": (0.0, 50.0), "gamma_down": (0.0, 50.0), "A_up": (0.0, 100.0), "A_down": (0.0, 100.0)}
    )
    fit_starts: ClassVar[tuple[FitStart, ...]] = (
        FitStart({"gamma_up": 12.44625, "gamma_down": 12.78785, "A_up": 0.00081, "A_down": 0.36833}, True),
        FitStart({"gamma_up": 4.0, "gamma_down": 4.0, "A_up": 0.1, "A_down": 0.1}, True),
    )

    gamma_up: float = 12.44625
    gamma_down: float = 12.78785
    A_up: float = 0.00081
    A_down: float = 0.36833
    slope: float = 0.244
    offset: float = 0.2425

    def validate(self) -> None:
        for name in ("gamma_up", "gamma_down", "A_up", "A_down", "slope"):
            check_range(self, name, 0.0, np.inf, ">= 0")
        reach = abs(self.offset) + self.slope  # the largest |z| over [0, 1]
        if max(self.gamma_up, self.gamma_down) * reach > _MAX_EXPONENT:
            raise ValueError(
                f"gamma_up, gamma_down times (|offset| + slope) must be <= {_MAX_EXPONENT:g} for "
                f"{self.name} (the exponential would overflow), got {max(self.gamma_up, self.gamma_down):g} "
                f"x {reach:g}"
            )

    @staticmethod
    def _exponentials(x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray, FloatArray]:
        gu, gd, _, _, slope, offset = theta
        z = slope * (2.0 * x - 1.0) + offset
        return z, np.exp(gu * z), np.exp(-gd * z)

    @classmethod
    def shape_rates(cls, x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray]:
        _, eu, ed = cls._exponentials(x, theta)
        au, ad = theta[2], theta[3]
        return np.maximum(1.0 - au * eu, 0.0), np.maximum(1.0 - ad * ed, 0.0)

    @classmethod
    def rate_gradients(
        cls, x: FloatArray, theta: Sequence[float]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        gu, gd, au, ad, slope, _ = theta
        z, eu, ed = cls._exponentials(x, theta)
        on_u, on_d = 1.0 - au * eu > 0.0, 1.0 - ad * ed > 0.0  # max(., 0) is flat where it cuts
        w = 2.0 * x - 1.0  # ∂z/∂slope
        # Columns in shape_parameters order: γ⁺, γ⁻, A⁺, A⁻, slope, offset.
        zero = np.zeros_like(x)
        up = np.stack([-au * z * eu, zero, -eu, zero, -au * gu * eu * w, -au * gu * eu], 1)
        down = np.stack([zero, ad * z * ed, zero, -ed, ad * gd * ed * w, ad * gd * ed], 1)
        dru = np.where(on_u, -au * gu * eu * 2.0 * slope, 0.0)
        drd = np.where(on_d, ad * gd * ed * 2.0 * slope, 0.0)
        return dru, drd, up * on_u[:, None], down * on_d[:, None]
