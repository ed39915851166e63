"""StepModel: what every step model of an analog device answers, in the normalised state.

The state of a device is x = (G - G_min) / (G_max - G_min) in [0, 1], with that device's own
bounds. One pulse of polarity +1 (up) or -1 (down) changes it by

    up  +a⁺ m r⁺(x)        down  -a⁻ m r⁻(x)

times (1 + s ξ) per pulse (cycle-to-cycle noise, the simulator's), then clipped to [0, 1]:
a± are the step sizes (fractions of the range per pulse at pulse factor m = 1), r± the model's
rates, dimensionless and of order 1. A model is a frozen dataclass of its parameters; it
answers the rates at a state, its symmetry state, what the simulator's fast engine needs and
what a fit needs. Subclasses write their formula once, in `shape_rates`, which both the
simulator and the fitter call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hil.backend import FloatArray

_BISECTION_STEPS = 60  # halves [0, 1] down to 1e-18, below double precision


@dataclass(frozen=True)
class FitStart:
    """One starting point of a fit: the shape parameters' values, and where the bounds start.

    observed_bounds: False to start at the bounds extrapolated from straight lines through the
    steps (soft-bounds-like devices), True at the reads' own extremes (where a clipping device
    stopped).
    """

    values: Mapping[str, float]
    observed_bounds: bool = False


@dataclass(frozen=True)
class StepModel:
    """Base of the step models: the step sizes a⁺ (step_up) and a⁻ (step_down).

    Class attributes a subclass sets:
      name: the model's name in TOML, JSON and on the command line (the registry's key).
      shape_parameters: its parameters beyond step_up and step_down, in the fitter's order.
      fixed: parameters the model holds at one value (soft bounds: γ± = 1); they are reported
          with it and may be given only at that value.
      draws_from_table: True if steps are drawn from a measured jump table, not computed.
      max_step: upper bound of step_up and step_down (1: a fraction of the range per pulse).
      fit_free: the shape parameters a fit estimates (the others stay at their values).
      fit_bounds: name -> (low, high) of each free shape parameter in a fit.
      fit_starts: where the fitter starts (several starts for costs with local minima).
      in_auto_fit: whether model selection by BIC ("auto") tries it.
      bounds_by_clipping: True if the steps do not vanish at the bounds, so the device stops
          there by clipping and a fit places a bound only where the device sat on it.
    """

    name: ClassVar[str] = ""
    shape_parameters: ClassVar[tuple[str, ...]] = ()
    fixed: ClassVar[Mapping[str, float]] = {}
    draws_from_table: ClassVar[bool] = False
    max_step: ClassVar[float] = 1.0
    fit_free: ClassVar[tuple[str, ...]] = ()
    fit_bounds: ClassVar[Mapping[str, tuple[float, float]]] = {}
    fit_starts: ClassVar[tuple[FitStart, ...]] = (FitStart({}),)
    in_auto_fit: ClassVar[bool] = False
    bounds_by_clipping: ClassVar[bool] = True

    step_up: float = 0.001
    step_down: float = 0.001

    def __post_init__(self) -> None:
        if not self.name:
            raise TypeError(f"{type(self).__name__} is a base class: use a model of hil.stepmodels.MODELS")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number for {self.name}, got {value!r}")
        allowed = (
            "in (0, 1] (fraction of the range per nominal pulse)"
            if self.max_step == 1.0
            else "> 0 (multiplier of the table's steps)"
        )
        for name in ("step_up", "step_down"):
            check_range(self, name, 0.0, self.max_step, allowed, low_open=True)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the parameter if a shape parameter is out of range."""

    # ------------------------------------------------------------------ parameters
    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Every parameter it reports: step sizes, shape parameters, fixed ones."""
        return ("step_up", "step_down", *cls.shape_parameters, *cls.fixed)

    def parameters(self) -> dict[str, float]:
        """name -> value of every parameter (parameter_names order), fixed ones included."""
        own = {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {**own, **self.fixed}

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> StepModel:
        """The model with these parameters (others at the class defaults); unknown names raise."""
        settable = [f.name for f in dataclasses.fields(cls)]
        for key, value in values.items():
            if key in cls.fixed:
                if value != cls.fixed[key]:
                    raise ValueError(
                        f"{cls.name} holds {key} = {cls.fixed[key]:g}, got {value!r}; choose a model "
                        "in which it is free"
                    )
            elif key not in settable:
                raise ValueError(
                    f"{cls.name} has no parameter {key!r}; its parameters are: {', '.join(settable)}"
                )
        return cls(**{k: v for k, v in values.items() if k in settable})

    def shape_values(self) -> tuple[float, ...]:
        """The shape parameters' values, in shape_parameters order (as the fitter's vector holds them)."""
        return tuple(float(getattr(self, n)) for n in self.shape_parameters)

    # ------------------------------------------------------------------ the formula
    @classmethod
    def shape_rates(cls, x: FloatArray, theta: Sequence[float]) -> tuple[FloatArray, FloatArray]:
        """(r⁺(x), r⁻(x)) for shape parameters theta (shape_parameters order), x in [0, 1]."""
        raise NotImplementedError(f"{cls.name} has no closed-form step; it is drawn from a jump table")

    @classmethod
    def rate_gradients(
        cls, x: FloatArray, theta: Sequence[float]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(∂r⁺/∂x, ∂r⁻/∂x, ∂r⁺/∂theta (n, k), ∂r⁻/∂theta (n, k)) for the fitter's Jacobian.

        Infinite slopes (power laws at x = 0 or 1) may be returned as they are; the fitter
        zeroes them."""
        raise NotImplementedError(f"{cls.name} cannot be fitted")

    def rates(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Up and down step magnitudes at state x, before a± and m (vectorised over x)."""
        return self.shape_rates(x, self.shape_values())

    # ------------------------------------------------------------------ what it implies
    def symmetry_states(self, step_up: FloatArray, step_down: FloatArray) -> FloatArray:
        """Normalised state where a⁺ r⁺(x) = a⁻ r⁻(x), per device (arrays a⁺, a⁻); NaN if none.

        This default bisects on [0, 1], valid for models whose up rate does not increase and
        down rate does not decrease with x (so the difference crosses zero at most once)."""
        theta = self.shape_values()

        def f(s: FloatArray) -> FloatArray:
            ru, rd = self.shape_rates(s, theta)
            return step_up * ru - step_down * rd

        x = np.full(step_up.shape, np.nan)
        has_root = (f(np.zeros_like(step_up)) >= 0) & (f(np.ones_like(step_up)) <= 0)
        lo, hi = np.zeros_like(step_up), np.ones_like(step_up)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            above = f(mid) > 0
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        x[has_root] = 0.5 * (lo + hi)[has_root]
        return x

    def burst_gammas(self) -> tuple[float, float] | None:
        """(γ⁺, γ⁻) if every pulse moves the state affinely, x -> x ± a m (1 - γ d) with d the
        distance from the bound it moves away from (r⁺ = 1 - γ⁺ x, r⁻ = 1 - γ⁻ (1 - x)); the
        simulator's fast engine then has closed forms for bursts. None: pulse by pulse."""
        return None


def check_range(
    model: StepModel, name: str, low: float, high: float, allowed: str, low_open: bool = False
) -> None:
    """Raise ValueError "<name> must be <allowed> for <model>" unless low <(=) value <= high."""
    value = getattr(model, name)
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"{name} must be {allowed} for {model.name}, got {value!r}")
