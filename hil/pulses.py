"""Write pulses and the safety limits every backend enforces before it writes anything."""

from __future__ import annotations

import math
from dataclasses import dataclass


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

    def check_pulse(self, pulse: Pulse) -> None:
        """Raise LimitError if the pulse is outside the limits."""
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
