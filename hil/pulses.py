"""Write pulses and the safety limits every backend enforces before it writes anything."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class LimitError(ValueError):
    """A requested value lies outside the bench's safety limits; nothing was written."""


@dataclass(frozen=True)
class Pulse:
    """One write pulse on a device's gate.

    amplitude: magnitude in volts (> 0); the polarity comes from the sign of the pulse count.
    width: duration in seconds (> 0).
    """

    amplitude: float
    width: float

    def __post_init__(self) -> None:
        for name in ("amplitude", "width"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(
                    f"Pulse {name} must be a finite number > 0 "
                    f"({'volts' if name == 'amplitude' else 'seconds'}), got {value!r}; "
                    "the polarity of a pulse is given by the sign of its count, not the amplitude"
                )

    def __str__(self) -> str:
        return f"{self.amplitude:g} V x {self.width:g} s"


@dataclass(frozen=True)
class PulsePair:
    """The write pulses of the two polarities, each with its own amplitude and width.

    up: the pulse of positive counts (raises the conductance).
    down: the pulse of negative counts (lowers it).
    A bench tunes the two apart to balance a device; PulsePair.symmetric(pulse) is one pulse for
    both, which is what a plain Pulse means wherever a pair is accepted.
    """

    up: Pulse
    down: Pulse

    def __post_init__(self) -> None:
        for name in ("up", "down"):
            if not isinstance(getattr(self, name), Pulse):
                raise TypeError(
                    f"PulsePair.{name} must be a hil.Pulse(amplitude=volts, width=seconds), "
                    f"got {getattr(self, name)!r}"
                )

    @classmethod
    def symmetric(cls, pulse: Pulse) -> PulsePair:
        """The same pulse for both polarities."""
        return cls(pulse, pulse)

    @property
    def is_symmetric(self) -> bool:
        """True when both polarities use the same amplitude and width."""
        return self.up == self.down

    def for_sign(self, sign: int) -> Pulse:
        """The pulse of polarity `sign` (+1 up, -1 down)."""
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 (up) or -1 (down), got {sign!r}")
        return self.up if sign > 0 else self.down

    def __str__(self) -> str:
        return str(self.up) if self.is_symmetric else f"up {self.up}, down {self.down}"


def as_pulse_pair(pulse: Pulse | PulsePair) -> PulsePair:
    """A PulsePair as given, or a Pulse as the same pulse for both polarities; TypeError otherwise."""
    if isinstance(pulse, PulsePair):
        return pulse
    if isinstance(pulse, Pulse):
        return PulsePair.symmetric(pulse)
    raise TypeError(
        "expected a hil.Pulse(amplitude=volts, width=seconds) or a hil.PulsePair(up=Pulse, "
        f"down=Pulse), got {pulse!r}"
    )


def pulse_state(pulses: Pulse | PulsePair) -> dict[str, Any]:
    """The stored (JSON) form of pulses: {"amplitude_V", "width_s"} for one pulse or a pair of
    equal ones (the form runs stored before pulse pairs hold), else {"up": {...}, "down": {...}}."""
    pair = as_pulse_pair(pulses)

    def one(p: Pulse) -> dict[str, float]:
        return {"amplitude_V": p.amplitude, "width_s": p.width}

    return one(pair.up) if pair.is_symmetric else {"up": one(pair.up), "down": one(pair.down)}


def pulse_from_state(state: Mapping[str, Any]) -> Pulse | PulsePair:
    """The pulses of pulse_state's form: a Pulse for one, a PulsePair for two. The keys of a run's
    stored params ("amplitude", "width": a Pulse's fields) are read too."""

    def one(s: Mapping[str, Any]) -> Pulse:
        return Pulse(float(s.get("amplitude_V", s.get("amplitude"))), float(s.get("width_s", s.get("width"))))

    return PulsePair(one(state["up"]), one(state["down"])) if "up" in state else one(state)


def single_pulse(pulses: Pulse | PulsePair) -> Pulse | None:
    """The one pulse of both polarities, or None for a pair of different pulses (for what keeps
    a single pulse, e.g. the pulse a jump table was measured with)."""
    pair = as_pulse_pair(pulses)
    return pair.up if pair.is_symmetric else None


def parse_pulse(text: str) -> Pulse:
    """A Pulse from "AMPLITUDE,WIDTH" with units, e.g. "6V,20ns", "5.5 V, 1e-8 s" or "6,2e-8"
    (volts and seconds where no unit is given; any SI prefix). ValueError in plain words
    otherwise."""
    parts = str(text).replace(" x ", ",").split(",")
    if len(parts) != 2:
        raise ValueError(f"a pulse is AMPLITUDE,WIDTH (e.g. 6V,20ns), got {text!r}")
    amplitude, width = _quantity(parts[0], "V", text), _quantity(parts[1], "s", text)
    try:
        return Pulse(amplitude, width)
    except ValueError:
        raise ValueError(f"a pulse needs an amplitude > 0 V and a width > 0 s, got {text!r}") from None


def _quantity(part: str, unit: str, text: str) -> float:
    """`part` in `unit` (a bare number is taken as that unit), read by PyMeasure's pint registry."""
    from pint.errors import PintError
    from pymeasure.units import ureg  # imported here: only the command line parses pulse texts

    try:
        quantity = ureg.Quantity(part.strip())
        if quantity.dimensionless:
            quantity = quantity.magnitude * ureg(unit)
        return float(quantity.to(unit).magnitude)
    except (PintError, ValueError, TypeError, AttributeError):
        name = "amplitude" if unit == "V" else "width"
        raise ValueError(
            f"cannot read the {name} {part.strip()!r} of pulse {text!r}: give a number in {unit}, e.g. "
            + ("6V or 5.5V" if unit == "V" else "20ns or 1e-8s")
        ) from None


@dataclass(frozen=True)
class SafetyLimits:
    """What the chip may see. Enforced by every backend and driver: values outside raise.

    max_pulse_amplitude: volts, largest gate pulse magnitude.
    min_pulse_width, max_pulse_width: seconds.
    max_read_voltage: volts, largest bias on a read or VMM input (must stay below the write
        threshold so reads do not move the state).
    max_pulses_per_call: largest |count| one device may get in one call.
    current_compliance: amperes, the SMU compliance during reads.
    """

    max_pulse_amplitude: float = 10.0
    min_pulse_width: float = 1e-9
    max_pulse_width: float = 1e-3
    max_read_voltage: float = 0.2
    max_pulses_per_call: int = 100_000
    current_compliance: float = 1e-3

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"SafetyLimits.{name} must be a finite number > 0, got {value!r}")
        if self.min_pulse_width > self.max_pulse_width:
            raise ValueError(
                f"SafetyLimits: min_pulse_width {self.min_pulse_width:g} s exceeds "
                f"max_pulse_width {self.max_pulse_width:g} s"
            )

    def check_pulse(self, pulse: Pulse | PulsePair) -> None:
        """Raise LimitError if the pulse (or either pulse of a pair) is outside the limits."""
        if isinstance(pulse, PulsePair):
            for polarity, one in (("up", pulse.up), ("down", pulse.down)):
                try:
                    self.check_pulse(one)
                except LimitError as exc:
                    raise LimitError(f"{polarity} pulse: {exc}") from None
            return
        if pulse.amplitude > self.max_pulse_amplitude:
            raise LimitError(
                f"pulse amplitude {pulse.amplitude:g} V exceeds the limit "
                f"{self.max_pulse_amplitude:g} V; lower it or raise max_pulse_amplitude in the "
                "bench limits if the chip allows it"
            )
        if not self.min_pulse_width <= pulse.width <= self.max_pulse_width:
            raise LimitError(
                f"pulse width {pulse.width:g} s is outside the allowed range "
                f"[{self.min_pulse_width:g}, {self.max_pulse_width:g}] s"
            )

    def check_read_voltage(self, volts: float) -> None:
        """Raise LimitError if a read or VMM bias magnitude exceeds max_read_voltage."""
        if not math.isfinite(volts) or abs(volts) > self.max_read_voltage:
            raise LimitError(
                f"read/VMM voltage {volts:g} V exceeds the limit {self.max_read_voltage:g} V; "
                "a larger bias could disturb the stored state"
            )
