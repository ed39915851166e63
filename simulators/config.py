"""DeviceConfig: everything that defines a simulated device population, declarative and printable.

State is kept per device in normalised form x = (G - G_min) / (G_max - G_min) in [0, 1], with
that device's own bounds. One pulse of polarity +1 (up) or -1 (down) changes it by

    soft-bounds   up  +a⁺ m (1 - x)            down  -a⁻ m x
    linear-step   up  +a⁺ m (1 - γ⁺ x)         down  -a⁻ m (1 - γ⁻ (1 - x))
    power-step    up  +a⁺ m (1 - x)^γ⁺         down  -a⁻ m x^γ⁻
    table         ΔG drawn from a hil.jumptable.JumpTable at the current G, times k± m

each times (1 + s ξ), ξ ~ N(0, 1) fresh per pulse (cycle-to-cycle noise s), then clipped to
[0, 1]. a± are per-device step sizes (fractions of the range at m = 1), k± the per-device
multipliers of a table's steps, and m the pulse-response factor of pulse_factor(). See
docs/simulator.md for the full model and where the numbers come from.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from hil.pulses import Pulse

MODELS = ("soft-bounds", "linear-step", "power-step", "table")


@dataclass(frozen=True)
class DeviceConfig:
    """A device population: step model, variation, noise, pulse response, ranges.

    Step model
      model: one of MODELS.
      g_min, g_max: nominal conductance bounds, siemens.
      step_up, step_down: a⁺, a⁻, the step size scale per pulse at m = 1 as a fraction of
          the device's range (for "table": dimensionless multipliers of the table's up and
          down steps, 1 = as measured).
      gamma_up, gamma_down: γ⁺, γ⁻ of linear-step (in [0, 1]; 1 is soft bounds, 0 a constant
          step) and power-step (exponents >= 0); not used by soft-bounds and table.
    Device-to-device variation (drawn once per device from the chip seed)
      dtod_bounds: log-normal σ of each device's G_min and G_max (relative spread).
      dtod_step: log-normal σ of each device's step multiplier (median 1).
      dtod_imbalance: σ of r, the device's up/down imbalance: up steps × e^r, down × e^-r.
      stuck_fraction: probability that a device is stuck (its state never moves).
    Noise
      c2c_noise: s, relative std of each pulse's step (cycle to cycle).
      read_noise: std of additive Gaussian read noise as a fraction of g_max - g_min.
      vmm_noise: std of additive Gaussian noise on each VMM output current as a fraction of
          read_voltage × (g_max - g_min), i.e. of one device's full-range read current.
    Pulse response m(V, t) (see pulse_factor)
      v_threshold: volts; |V| <= v_threshold moves nothing.
      v_ref, t_ref: the nominal pulse (volts, seconds), where m = 1.
      v_scale: V₀, volts per e-fold of the step above threshold.
      width_exponent: β, the step grows as (width / t_ref)^β.
    Reads and initial state
      read_voltage: read and VMM bias, volts (below v_threshold: reads never write).
      init_state, init_spread: a fresh device starts at x uniform in
          [init_state - init_spread, init_state + init_spread] (normalised).
    """

    model: str
    g_min: float
    g_max: float
    step_up: float
    step_down: float
    gamma_up: float
    gamma_down: float
    dtod_bounds: float
    dtod_step: float
    dtod_imbalance: float
    stuck_fraction: float
    c2c_noise: float
    read_noise: float
    vmm_noise: float
    v_threshold: float
    v_ref: float
    t_ref: float
    v_scale: float
    width_exponent: float
    read_voltage: float
    init_state: float
    init_spread: float

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"DeviceConfig.model must be one of {', '.join(MODELS)}; got {self.model!r}")
        for f in dataclasses.fields(self):
            if f.name == "model":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"DeviceConfig.{f.name} must be a finite number, got {value!r}")
        _check_range("g_min", self.g_min, 0.0, math.inf, "a conductance in siemens > 0", low_open=True)
        if not self.g_max > self.g_min:
            raise ValueError(f"DeviceConfig.g_max must exceed g_min ({self.g_min:g} S), got {self.g_max!r}")
        if self.model == "table":
            step_high, allowed_steps = math.inf, "> 0 (multiplier of the table's steps)"
        else:
            step_high, allowed_steps = 1.0, "in (0, 1] (fraction of the range per nominal pulse)"
        for name in ("step_up", "step_down"):
            _check_range(name, getattr(self, name), 0.0, step_high, allowed_steps, low_open=True)
        gamma_high = 1.0 if self.model == "linear-step" else math.inf
        for name in ("gamma_up", "gamma_down"):
            allowed = "in [0, 1] for linear-step" if self.model == "linear-step" else ">= 0"
            _check_range(name, getattr(self, name), 0.0, gamma_high, allowed)
        _check_range(
            "dtod_bounds", self.dtod_bounds, 0.0, 0.3, "in [0, 0.3] (wider spreads let bounds cross)"
        )
        _check_range("dtod_step", self.dtod_step, 0.0, 2.0, "in [0, 2] (log-normal σ)")
        _check_range("dtod_imbalance", self.dtod_imbalance, 0.0, 1.0, "in [0, 1]")
        _check_range("stuck_fraction", self.stuck_fraction, 0.0, 1.0, "in [0, 1]")
        _check_range("c2c_noise", self.c2c_noise, 0.0, 1.0, "in [0, 1] (relative std of a step)")
        _check_range("read_noise", self.read_noise, 0.0, 1.0, "in [0, 1] (fraction of g_max - g_min)")
        _check_range("vmm_noise", self.vmm_noise, 0.0, 1.0, "in [0, 1] (fraction of read_voltage × range)")
        _check_range("read_voltage", self.read_voltage, 0.0, math.inf, "> 0 volts", low_open=True)
        if not self.v_threshold > self.read_voltage:
            raise ValueError(
                f"DeviceConfig.v_threshold must exceed read_voltage ({self.read_voltage:g} V) so that "
                f"reads never move the state, got {self.v_threshold!r}"
            )
        if not self.v_ref > self.v_threshold:
            raise ValueError(
                f"DeviceConfig.v_ref must exceed v_threshold ({self.v_threshold:g} V): the nominal "
                f"pulse has to move the state, got {self.v_ref!r}"
            )
        _check_range("v_scale", self.v_scale, 0.0, math.inf, "> 0 volts", low_open=True)
        if (self.v_ref - self.v_threshold) / self.v_scale > 700:
            raise ValueError(
                "DeviceConfig.v_scale is too small: (v_ref - v_threshold) / v_scale must be <= 700"
            )
        _check_range("t_ref", self.t_ref, 0.0, math.inf, "> 0 seconds", low_open=True)
        _check_range("width_exponent", self.width_exponent, 0.0, math.inf, ">= 0")
        _check_range("init_state", self.init_state, 0.0, 1.0, "in [0, 1] (normalised state)")
        _check_range(
            "init_spread",
            self.init_spread,
            0.0,
            min(self.init_state, 1.0 - self.init_state),
            f"in [0, {min(self.init_state, 1.0 - self.init_state):g}] so that init_state ± init_spread "
            "stays in [0, 1]",
        )

    # ------------------------------------------------------------------ derived
    @property
    def nominal_pulse(self) -> Pulse:
        """The pulse at which the step sizes hold as written (m = 1)."""
        return Pulse(float(self.v_ref), float(self.t_ref))

    def pulse_factor(self, pulse: Pulse) -> float:
        """m(V, t) = [e^((|V|-V_th)/V₀) - 1] / [e^((V_ref-V_th)/V₀) - 1] × (t/t_ref)^β; 0 for |V| <= V_th.

        Dimensionless; 1 at the nominal pulse. The exponential stands for the field-driven ion
        transport above threshold; the power law in width for charge accumulated over the pulse.
        """
        excess = abs(pulse.amplitude) - self.v_threshold
        if excess <= 0:
            return 0.0
        try:
            amp = math.expm1(excess / self.v_scale) / math.expm1(
                (self.v_ref - self.v_threshold) / self.v_scale
            )
        except OverflowError:
            raise ValueError(
                f"pulse amplitude {pulse.amplitude:g} V is too far above the threshold for v_scale "
                f"{self.v_scale:g} V: the step would overflow"
            ) from None
        return amp * (pulse.width / self.t_ref) ** self.width_exponent

    # ------------------------------------------------------------------ changing and showing
    def with_overrides(self, **overrides: Any) -> DeviceConfig:
        """A copy with some fields replaced (validated); unknown names raise, listing the fields."""
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(
                f"unknown DeviceConfig field(s) {', '.join(unknown)}; the fields are: {', '.join(names)}"
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values (units as documented on the class)."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return "\n  ".join(
            (
                f"{self.model}: G {self.g_min * 1e6:g}-{self.g_max * 1e6:g} uS, step up {self.step_up:g} / "
                f"down {self.step_down:g}, gamma up {self.gamma_up:g} / down {self.gamma_down:g}",
                f"variation: bounds {self.dtod_bounds:g}, step {self.dtod_step:g}, imbalance "
                f"{self.dtod_imbalance:g}, stuck {self.stuck_fraction:g}",
                f"noise: cycle-to-cycle {self.c2c_noise:g}, read {self.read_noise:g} of range, "
                f"vmm {self.vmm_noise:g} of full-range current",
                f"pulse: threshold {self.v_threshold:g} V, nominal {self.nominal_pulse}, "
                f"V0 {self.v_scale:g} V, width exponent {self.width_exponent:g}",
                f"read at {self.read_voltage:g} V; start at x = {self.init_state:g} ± {self.init_spread:g}",
            )
        )


def _check_range(
    name: str, value: float, low: float, high: float, allowed: str, low_open: bool = False
) -> None:
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"DeviceConfig.{name} must be {allowed}, got {value!r}")
