"""The devices a sweep point trains on: DeviceConfig fields by name, and two derived axes.

A point's device is a preset (a name or a preset file) with DeviceConfig fields overridden by
flat name (c2c_noise, dtod_step, step_up, ...: simulators.config). Two derived axes describe a
device population the way a device group talks about it, and expand to fields:

    asymmetry   γ in [0, 1]: a linear-step device with γ⁺ = γ⁻ = γ. 0 is a constant step, the
                same up and down at every conductance (symmetric); 1 is soft bounds, the step
                falling to zero at the bound it moves towards (the strongly asymmetric,
                saturating device of the SHD paper's Fig. 1E). Up and down steps are balanced,
                so the symmetry point sits mid-range.
    states      1 / the step at the symmetry point (fractions of the range): the number of
                states the device resolves where training holds it. With the asymmetry γ the
                step sizes are a⁺ = a⁻ = 1 / (states (1 - γ/2)), so that the step at mid-range
                is 1 / states whatever γ.

Either derived axis alone takes the other's default (asymmetry 1, states 1000). Noise,
variation, pulse response and ranges stay those of the preset and its overrides: on that
footing the derived axes change the shape of the step and nothing else.

protocols never import simulators: the caller hands a DeviceSource (hil sweep passes the
simulated chip's) that resolves a device to its full configuration and opens a chip of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from hil.bench import Bench

DERIVED = ("asymmetry", "states")
DEFAULT_ASYMMETRY = 1.0
DEFAULT_STATES = 1000.0
# The fields the derived axes set: naming one of them beside a derived axis is ambiguous.
_SHAPE_FIELDS = ("model", "step_up", "step_down", "gamma_up", "gamma_down")
# The step model the derived axes describe (simulators.config's name for hil.stepmodels.LinearStep).
_LINEAR_STEP = "linear-step"


class DeviceSource(Protocol):
    """Where a sweep's devices come from (hil.cli.sweep.SimulatedDevices for the simulator).

    Instances travel to the workers, so they must pickle (a plain class at module level).
    """

    def resolve(self, preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Every field of the preset's DeviceConfig with the overrides applied, JSON-ready
        (units as simulators.config states); ValueError or TypeError on a bad field or value."""
        ...

    def open(self, preset: str, overrides: Mapping[str, Any], seed: int) -> Bench:
        """A fresh chip of those devices, drawn from `seed`; close it when done."""
        ...


def device_overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """The DeviceConfig overrides of a point's device values: fields as given, derived axes
    (asymmetry, states) expanded to the linear-step fields they stand for."""
    fields = {k: v for k, v in values.items() if k not in DERIVED}
    derived = {k: values[k] for k in DERIVED if k in values}
    if not derived:
        return fields
    clash = sorted(set(_SHAPE_FIELDS) & set(fields))
    if clash:
        raise ValueError(
            f"device {', '.join(clash)} and the derived {', '.join(derived)} both set the step; "
            "give one or the other"
        )
    gamma = _number(derived.get("asymmetry", DEFAULT_ASYMMETRY), "asymmetry")
    states = _number(derived.get("states", DEFAULT_STATES), "states")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"device asymmetry must lie in [0, 1] (0 symmetric, 1 soft bounds), got {gamma!r}")
    if not states >= 2.0:
        raise ValueError(f"device states must be a number >= 2, got {states!r}")
    step = 1.0 / (states * (1.0 - gamma / 2.0))
    return fields | {
        "model": _LINEAR_STEP,
        "gamma_up": gamma,
        "gamma_down": gamma,
        "step_up": step,
        "step_down": step,
    }


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"device {name} must be a finite number, got {value!r}")
    return float(value)
