"""protonic-hil: contracts and engine for hardware-in-the-loop analog crossbar work."""

from hil.backend import (
    BackendClosedError,
    Capabilities,
    CrossbarBackend,
    DeviceKind,
    coincidence_counts,
)
from hil.mapping import DifferentialArray, WeightMapping
from hil.pulses import LimitError, Pulse, PulsePair, SafetyLimits, as_pulse_pair
from hil.update import UpdatePlan, plan_update

__version__ = "0.1.0"

__all__ = [
    "BackendClosedError",
    "Capabilities",
    "CrossbarBackend",
    "DeviceKind",
    "DifferentialArray",
    "LimitError",
    "Pulse",
    "PulsePair",
    "SafetyLimits",
    "UpdatePlan",
    "WeightMapping",
    "as_pulse_pair",
    "coincidence_counts",
    "plan_update",
]
