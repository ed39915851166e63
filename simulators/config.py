"""DeviceConfig: everything that defines a simulated device population, declarative and printable.

A config is composed of groups, each a frozen dataclass with defaults (as aihwkit's device
dataclasses are): the step model (a hil.stepmodels.StepModel), device-to-device variation,
noise, pulse response, conductance ranges and the initial state. The defaults are a quiet,
uniform population of the protonic presets' range and pulse response (simulators.presets),
so that a preset states only what differs.

State is kept per device in normalised form x = (G - G_min) / (G_max - G_min) in [0, 1], with
that device's own bounds. One pulse of polarity +1 (up) or -1 (down) changes it by
+a⁺ m r⁺(x) or -a⁻ m r⁻(x), the rates r± of the step model (hil.stepmodels), or by a ΔG drawn
from a measured jump table (the "table" model), each times (1 + s ξ), ξ ~ N(0, 1) fresh per
pulse (cycle-to-cycle noise s), then clipped to [0, 1]. a± are per-device step sizes
(fractions of the range at m = 1; multipliers of the table's steps for "table") and m the
pulse-response factor of pulse_factor(). See docs/simulator.md for the full model and where
the numbers come from.

Every field also has a flat name (g_min, c2c_noise, step_up, gamma_up, ...; "model" for the
step model's name): with_overrides() takes them, to_dict() writes them, and config.<name>
reads them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from hil import stepmodels
from hil.pulses import Pulse, PulsePair
from hil.stepmodels import SoftBounds, StepModel

MODELS = tuple(stepmodels.MODELS)
"""The step models' names (the registry of hil.stepmodels)."""


def _check_numbers(group: object) -> None:
    for f in dataclasses.fields(group):  # type: ignore[arg-type]
        value = getattr(group, f.name)
        if value is None and f.default is None:  # an optional field left unset
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"DeviceConfig.{f.name} must be a finite number, got {value!r}")


# The fields that carry a unit; the others are dimensionless.
_UNITS = {"g_min": "S", "g_max": "S", "read_voltage": "V", "v_threshold": "V", "v_ref": "V"}
_UNITS |= {"v_scale": "V", "t_ref": "s", "v_threshold_down": "V", "v_scale_down": "V"}


def _field_line(name: str, value: object) -> str:
    unit = _UNITS.get(name)
    return f"  {name} = {value!r}" + (f"  # {unit}" if unit else "")


def _check_range(
    name: str, value: float, low: float, high: float, allowed: str, low_open: bool = False
) -> None:
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        raise ValueError(f"DeviceConfig.{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class Ranges:
    """Conductance bounds and read bias.

    g_min, g_max: nominal conductance bounds, siemens (default 1-20 uS: a 20x range).
    read_voltage: read and VMM bias, volts (below v_threshold: reads never write).
    """

    g_min: float = 1e-6
    g_max: float = 20e-6
    read_voltage: float = 0.1

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_range("g_min", self.g_min, 0.0, math.inf, "a conductance in siemens > 0", low_open=True)
        if not self.g_max > self.g_min:
            raise ValueError(f"DeviceConfig.g_max must exceed g_min ({self.g_min:g} S), got {self.g_max!r}")
        _check_range("read_voltage", self.read_voltage, 0.0, math.inf, "> 0 volts", low_open=True)


@dataclass(frozen=True)
class Variation:
    """Device-to-device variation, drawn once per device from the chip seed (default: none).

    dtod_bounds: log-normal σ of each device's G_min and G_max (relative spread).
    dtod_step: log-normal σ of each device's step multiplier (median 1).
    dtod_imbalance: σ of r, the device's up/down imbalance: up steps × e^r, down × e^-r.
    stuck_fraction: probability that a device is stuck (its state never moves).
    """

    dtod_bounds: float = 0.0
    dtod_step: float = 0.0
    dtod_imbalance: float = 0.0
    stuck_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_range(
            "dtod_bounds", self.dtod_bounds, 0.0, 0.3, "in [0, 0.3] (wider spreads let bounds cross)"
        )
        _check_range("dtod_step", self.dtod_step, 0.0, 2.0, "in [0, 2] (log-normal σ)")
        _check_range("dtod_imbalance", self.dtod_imbalance, 0.0, 1.0, "in [0, 1]")
        _check_range("stuck_fraction", self.stuck_fraction, 0.0, 1.0, "in [0, 1]")


@dataclass(frozen=True)
class Noise:
    """Noise (default: none).

    c2c_noise: s, relative std of each pulse's step (cycle to cycle).
    read_noise: std of additive Gaussian read noise as a fraction of g_max - g_min.
    vmm_noise: std of additive Gaussian noise on each VMM output current as a fraction of
        read_voltage × (g_max - g_min), i.e. of one device's full-range read current.
    """

    c2c_noise: float = 0.0
    read_noise: float = 0.0
    vmm_noise: float = 0.0

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_range("c2c_noise", self.c2c_noise, 0.0, 1.0, "in [0, 1] (relative std of a step)")
        _check_range("read_noise", self.read_noise, 0.0, 1.0, "in [0, 1] (fraction of g_max - g_min)")
        _check_range("vmm_noise", self.vmm_noise, 0.0, 1.0, "in [0, 1] (fraction of read_voltage × range)")


@dataclass(frozen=True)
class PulseResponse:
    """The pulse-response factor m(V, t) of each polarity (see DeviceConfig.pulse_factor).

    v_threshold: volts; |V| <= v_threshold moves nothing (default 3 V).
    v_ref, t_ref: the nominal pulse (volts, seconds), where m = 1 for both polarities (default
        6 V x 5 ns, inside the <= 10 V / ~5 ns operating window reported for protonic resistors).
    v_scale: V₀, volts per e-fold of the step above threshold (default 1 V).
    width_exponent: β, the step grows as (width / t_ref)^β (default 1).
    v_threshold_down, v_scale_down: the down (depressing) polarity's own threshold and V₀, volts;
        None (the default) takes the up values, so both polarities respond alike. A device whose
        two polarities move ions through different barriers has them apart, and then the
        balance of its up and down steps, and with it its symmetry point, depends on the pulses.
    """

    v_threshold: float = 3.0
    v_ref: float = 6.0
    t_ref: float = 5e-9
    v_scale: float = 1.0
    width_exponent: float = 1.0
    v_threshold_down: float | None = None
    v_scale_down: float | None = None

    def __post_init__(self) -> None:
        _check_numbers(self)
        for sign in (1, -1):
            threshold, scale, suffix = self.threshold(sign), self.scale(sign), _SUFFIX[sign]
            if not self.v_ref > threshold:
                raise ValueError(
                    f"DeviceConfig.v_ref must exceed v_threshold{suffix} ({threshold:g} V): the "
                    f"nominal pulse has to move the state, got {self.v_ref!r}"
                )
            _check_range(f"v_scale{suffix}", scale, 0.0, math.inf, "> 0 volts", low_open=True)
            if (self.v_ref - threshold) / scale > 700:
                raise ValueError(
                    f"DeviceConfig.v_scale{suffix} is too small: (v_ref - v_threshold{suffix}) / "
                    f"v_scale{suffix} must be <= 700"
                )
        _check_range("t_ref", self.t_ref, 0.0, math.inf, "> 0 seconds", low_open=True)
        _check_range("width_exponent", self.width_exponent, 0.0, math.inf, ">= 0")

    def threshold(self, sign: int) -> float:
        """The threshold of polarity sign (+1 up, -1 down), volts."""
        return self.v_threshold if sign > 0 or self.v_threshold_down is None else self.v_threshold_down

    def scale(self, sign: int) -> float:
        """V₀ of polarity sign (+1 up, -1 down), volts."""
        return self.v_scale if sign > 0 or self.v_scale_down is None else self.v_scale_down

    @property
    def is_symmetric(self) -> bool:
        """True when both polarities respond alike (the same threshold and V₀)."""
        return self.threshold(-1) == self.v_threshold and self.scale(-1) == self.v_scale

    def to_dict(self) -> dict[str, float]:
        """The fields, the down polarity's only where set (a config without them reads as before)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


_SUFFIX = {1: "", -1: "_down"}
OPTIONAL_FIELDS = ("v_threshold_down", "v_scale_down")
"""Fields a written config may leave out (to_dict omits them where unset)."""


@dataclass(frozen=True)
class InitialState:
    """A fresh device starts at x uniform in [init_state - init_spread, init_state + init_spread]
    (normalised; default: every device at mid-range)."""

    init_state: float = 0.5
    init_spread: float = 0.0

    def __post_init__(self) -> None:
        _check_numbers(self)
        _check_range("init_state", self.init_state, 0.0, 1.0, "in [0, 1] (normalised state)")
        room = min(self.init_state, 1.0 - self.init_state)
        _check_range(
            "init_spread",
            self.init_spread,
            0.0,
            room,
            f"in [0, {room:g}] so that init_state ± init_spread stays in [0, 1]",
        )


_GROUPS: dict[str, type] = {
    "ranges": Ranges,
    "variation": Variation,
    "noise": Noise,
    "pulse_response": PulseResponse,
    "initial": InitialState,
}
_GROUP_OF = {f.name: group for group, cls in _GROUPS.items() for f in dataclasses.fields(cls)}
_STEP_NAMES = frozenset(stepmodels.parameter_names())


@dataclass(frozen=True)
class DeviceConfig:
    """A device population: step model, variation, noise, pulse response, ranges, initial state.

    step: the step model (hil.stepmodels: SoftBounds, LinearStep, PowerStep, TableSteps,
        ExpStep), holding the step sizes a± and its shape parameters.
    ranges, variation, noise, pulse_response, initial: see Ranges, Variation, Noise,
        PulseResponse and InitialState for the fields, their units and defaults.
    Every field reads by its flat name too (config.g_min, config.step_up, ...); config.model
    is the step model's name.
    """

    step: StepModel = field(default_factory=SoftBounds)
    ranges: Ranges = field(default_factory=Ranges)
    variation: Variation = field(default_factory=Variation)
    noise: Noise = field(default_factory=Noise)
    pulse_response: PulseResponse = field(default_factory=PulseResponse)
    initial: InitialState = field(default_factory=InitialState)

    def __post_init__(self) -> None:
        if not isinstance(self.step, StepModel):
            raise TypeError(f"DeviceConfig.step must be a hil.stepmodels.StepModel, got {self.step!r}")
        for name, cls in _GROUPS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"DeviceConfig.{name} must be a {cls.__name__}, got {getattr(self, name)!r}")
        for sign in (1, -1):
            threshold = self.pulse_response.threshold(sign)
            if not threshold > self.ranges.read_voltage:
                raise ValueError(
                    f"DeviceConfig.v_threshold{_SUFFIX[sign]} must exceed read_voltage "
                    f"({self.ranges.read_voltage:g} V) so that reads never move the state, got {threshold!r}"
                )

    def __getattr__(self, name: str) -> Any:
        """Flat names: a group's field (g_min, c2c_noise, ...) or a step-model parameter."""
        group = _GROUP_OF.get(name)
        if group is not None:
            return getattr(getattr(self, group), name)
        if name in _STEP_NAMES:
            params = self.step.parameters()
            if name in params:
                return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def model(self) -> str:
        """The step model's name (a key of hil.stepmodels.MODELS)."""
        return self.step.name

    # ------------------------------------------------------------------ derived
    @property
    def nominal_pulse(self) -> Pulse:
        """The pulse at which the step sizes hold as written (m = 1)."""
        return Pulse(float(self.pulse_response.v_ref), float(self.pulse_response.t_ref))

    def pulse_factor(self, pulse: Pulse, sign: int = 1) -> float:
        """m(V, t) = [e^((|V|-V_th)/V₀) - 1] / [e^((V_ref-V_th)/V₀) - 1] × (t/t_ref)^β; 0 for |V| <= V_th.

        V_th and V₀ are those of polarity sign (+1 up, the default; -1 down). Dimensionless; 1 at
        the nominal pulse for both. The exponential stands for the field-driven ion transport
        above threshold; the power law in width for charge accumulated over the pulse.
        """
        r = self.pulse_response
        threshold, scale = r.threshold(sign), r.scale(sign)
        excess = abs(pulse.amplitude) - threshold
        if excess <= 0:
            return 0.0
        try:
            amp = math.expm1(excess / scale) / math.expm1((r.v_ref - threshold) / scale)
        except OverflowError:
            raise ValueError(
                f"pulse amplitude {pulse.amplitude:g} V is too far above the threshold for "
                f"v_scale{_SUFFIX[sign]} {scale:g} V: the step would overflow"
            ) from None
        return amp * (pulse.width / r.t_ref) ** r.width_exponent

    def pulse_factors(self, pulses: PulsePair) -> tuple[float, float]:
        """(m⁺, m⁻): the factor of the up pulse for up steps, of the down pulse for down steps."""
        return self.pulse_factor(pulses.up, 1), self.pulse_factor(pulses.down, -1)

    # ------------------------------------------------------------------ changing and showing
    @staticmethod
    def field_names(model: str | None = None) -> tuple[str, ...]:
        """The flat names: "model", the step parameters (of `model`, or of every model), the groups'."""
        step = (
            stepmodels.parameter_names() if model is None else stepmodels.model_class(model).parameter_names()
        )
        return ("model", *step, *_GROUP_OF)

    def with_overrides(self, **overrides: Any) -> DeviceConfig:
        """A copy with fields replaced by flat name (validated); unknown names raise, listing the fields.

        "model" switches the step model: parameters the two models share are kept, the new
        model's defaults fill the rest (see hil.stepmodels.with_parameters).
        """
        names = self.field_names()
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(
                f"unknown DeviceConfig field(s) {', '.join(unknown)}; the fields are: {', '.join(names)}"
            )
        replaced: dict[str, Any] = {}
        step_changes = {k: v for k, v in overrides.items() if k == "model" or k in _STEP_NAMES}
        if step_changes:
            replaced["step"] = stepmodels.with_parameters(self.step, step_changes)
        for group in _GROUPS:
            changes = {k: v for k, v in overrides.items() if _GROUP_OF.get(k) == group}
            if changes:
                replaced[group] = dataclasses.replace(getattr(self, group), **changes)
        return dataclasses.replace(self, **replaced)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DeviceConfig:
        """The config of flat field values (as to_dict writes them); the rest at the defaults."""
        return cls().with_overrides(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready flat field values (units as documented on the groups); from_dict reads them."""
        r, init = self.ranges, self.initial
        return {
            "model": self.step.name,
            "g_min": r.g_min,
            "g_max": r.g_max,
            **self.step.parameters(),
            **dataclasses.asdict(self.variation),
            **dataclasses.asdict(self.noise),
            **self.pulse_response.to_dict(),
            "read_voltage": r.read_voltage,
            "init_state": init.init_state,
            "init_spread": init.init_spread,
        }

    def describe_full(self) -> str:
        """Every group and field of the resolved configuration, one field a line, with its unit
        (fields without one are dimensionless: fractions of the range, ratios, exponents)."""
        lines = [f"step model: {self.step.name}"]
        lines += [_field_line(k, v) for k, v in self.step.parameters().items()]
        for group in _GROUPS:
            lines.append(f"{group.replace('_', ' ')}:")
            values = dataclasses.asdict(getattr(self, group)).items()
            lines += [_field_line(k, v) for k, v in values if v is not None]
        return "\n".join(lines)

    def _down_response(self) -> str:
        r = self.pulse_response
        return "" if r.is_symmetric else f"; down: threshold {r.threshold(-1):g} V, V0 {r.scale(-1):g} V"

    def __str__(self) -> str:
        p = self.step.parameters()
        shape = ", ".join(f"{k} {v:g}" for k, v in p.items() if k not in ("step_up", "step_down"))
        return "\n  ".join(
            (
                f"{self.model}: G {self.g_min * 1e6:g}-{self.g_max * 1e6:g} uS, step up {p['step_up']:g} / "
                f"down {p['step_down']:g}" + (f", {shape}" if shape else ""),
                f"variation: bounds {self.dtod_bounds:g}, step {self.dtod_step:g}, imbalance "
                f"{self.dtod_imbalance:g}, stuck {self.stuck_fraction:g}",
                f"noise: cycle-to-cycle {self.c2c_noise:g}, read {self.read_noise:g} of range, "
                f"vmm {self.vmm_noise:g} of full-range current",
                f"pulse: threshold {self.v_threshold:g} V, nominal {self.nominal_pulse}, "
                f"V0 {self.v_scale:g} V, width exponent {self.width_exponent:g}" + self._down_response(),
                f"read at {self.read_voltage:g} V; start at x = {self.init_state:g} ± {self.init_spread:g}",
            )
        )
