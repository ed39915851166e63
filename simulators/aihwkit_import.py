"""aihwkit single-device configs as simulator presets: SoftBounds, LinearStep, PowStep, ExpStep.

Reads the fields of one of IBM aihwkit's pulsed device dataclasses (SoftBoundsDevice,
LinearStepDevice, PowStepDevice, ExpStepDevice; src/aihwkit/simulator/configs/devices.py) from
JSON, as aihwkit names them, and returns the DeviceConfig of the same device in this
simulator's normalised state. aihwkit is not needed: the JSON is the input. A field left out
takes aihwkit's default, as aihwkit itself would. docs/presets.md has the mapping with its
derivation; in short, with aihwkit's weight bounds b- = w_min < 0 < b+ = w_max and R = b+ - b-
(the range maps to G_min..G_max, x = (w - b-) / R):

- up_down acts on the step as aihwkit's C++ does (PulsedRPUDevice::populate):
  up = dw_min (1 + min(up_down, 0)), down = dw_min (1 - max(up_down, 0)).
- aihwkit's linear step is relative to a bound (up: dw_up (1 - gamma+ w / b+), down:
  dw_down (1 - gamma- w / b-)), this simulator's to the range; so
  a+ = dw_up (b+ + gamma+ |b-|) / (b+ R),  gamma'+ = gamma+ R / (b+ + gamma+ |b-|), and
  a- = dw_down (|b-| + gamma- b+) / (|b-| R),  gamma'- = gamma- R / (|b-| + gamma- b+).
  Soft bounds is gamma = 1: a+ = dw_up / b+, a- = dw_down / |b-|, gamma' = 1.
- power step: a± = dw_up,down / R, gamma± = pow_gamma (1 ± pow_up_down).
- exp step: a± = dw_up,down / R, A±, gamma± as given, slope = a, offset = b + a (b+ + b-) / R.
- dw_min_std (multiplicative cycle-to-cycle noise) -> c2c_noise; additive noise is refused.
- dw_min_dtod -> dtod_step (a log-normal spread here; aihwkit's normal one by default: the
  same sigma, equal to first order), up_down_dtod -> dtod_imbalance (up x (1 + r) / down x
  (1 - r) there, x e^r / e^-r here: equal to first order), w_max_dtod -> dtod_bounds (matched
  on the upper bound's spread in units of the range), corrupt_devices_prob -> stuck_fraction.

Everything else that would change how the device trains and has no counterpart is refused
with the field named (ImportRefused), unless the caller lists it in `ignore`, which then is
recorded with the preset. Read noise lives in aihwkit's IOParameters, not in the device:
noise and the conductance range and pulse response come from the base preset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.config import DeviceConfig
from simulators.presets import BASE_PRESET, preset

_PULSED = {
    "dw_min": 0.001,
    "dw_min_dtod": 0.3,
    "dw_min_dtod_log_normal": False,
    "dw_min_std": 0.3,
    "up_down": 0.0,
    "up_down_dtod": 0.01,
    "w_max": 0.6,
    "w_max_dtod": 0.3,
    "w_min": -0.6,
    "w_min_dtod": 0.3,
    "corrupt_devices_prob": 0.0,
    "corrupt_devices_range": 0.1,
    "diffusion": 0.0,
    "diffusion_dtod": 0.0,
    "lifetime": 0.0,
    "lifetime_dtod": 0.0,
    "reset": 0.0,
    "reset_dtod": 0.0,
    "reset_std": 0.01,
    "enforce_consistency": True,
    "perfect_bias": False,
    "construction_seed": 0,
    "count_pulses": False,
    "drift": None,
    "write_noise_std": 0.0,
    "apply_write_noise_on_set": True,
}
_REVERSE = {"reverse_up": False, "reverse_down": False, "reverse_offset": 0.01, "mult_noise": True}
# aihwkit's defaults per class (its dataclasses at HEAD); a field not listed is not aihwkit's.
DEFAULTS: dict[str, dict[str, Any]] = {
    "SoftBoundsDevice": {**_PULSED, **_REVERSE},
    "LinearStepDevice": {
        **_PULSED,
        **_REVERSE,
        "gamma_up": 0.0,
        "gamma_down": 0.0,
        "gamma_up_dtod": 0.05,
        "gamma_down_dtod": 0.05,
        "allow_increasing": False,
        "mean_bound_reference": True,
    },
    "PowStepDevice": {
        **_PULSED,
        "pow_gamma": 1.0,
        "pow_gamma_dtod": 0.1,
        "pow_up_down": 0.0,
        "pow_up_down_dtod": 0.0,
    },
    "ExpStepDevice": {
        **_PULSED,
        "A_up": 0.00081,
        "A_down": 0.36833,
        "gamma_up": 12.44625,
        "gamma_down": 12.78785,
        "a": 0.244,
        "b": 0.2425,
        "dw_min_std_add": 0.0,
        "dw_min_std_slope": 0.0,
    },
}
# Fields that must keep their default (no counterpart here), with what they would change.
_MUST_BE_DEFAULT = {
    "diffusion": "a random walk of the weights between updates",
    "lifetime": "decay of the weights towards the reset value",
    "write_noise_std": "write noise on a hidden persistent weight",
    "perfect_bias": "ideal devices on the bias row",
    "reverse_up": "an up step that grows with the weight",
    "reverse_down": "a down step that grows as the weight falls",
    "allow_increasing": "steps that grow towards a bound",
    "w_min_dtod": "a spread of the lower bound independent of the upper one (one sigma here for "
    "both, matched on the upper bound)",
    "gamma_up_dtod": "a device-to-device spread of gamma+",
    "gamma_down_dtod": "a device-to-device spread of gamma-",
    "pow_gamma_dtod": "a device-to-device spread of the power-step exponent",
    "pow_up_down_dtod": "a device-to-device spread of the exponents' up/down bias",
    "dw_min_std_add": "an additive part of the exp step's cycle-to-cycle noise",
    "dw_min_std_slope": "a state-dependent part of the exp step's cycle-to-cycle noise",
}
# Fields with no effect on training in this simulator (used by explicit resets, inference drift,
# seeding, counters), accepted and recorded.
_NO_EFFECT = (
    "reset",
    "reset_dtod",
    "reset_std",
    "diffusion_dtod",
    "lifetime_dtod",
    "construction_seed",
    "count_pulses",
    "drift",
    "apply_write_noise_on_set",
    "enforce_consistency",
    "reverse_offset",
    "corrupt_devices_range",
)


class ImportRefused(ValueError):
    """The config holds something this simulator cannot represent; the message names the field."""


@dataclass(frozen=True)
class ImportedDevice:
    """The converted config and what the conversion did (for the preset file's [source])."""

    config: DeviceConfig
    device_class: str
    fields: dict[str, Any]
    approximations: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def source(self, origin: str) -> dict[str, Any]:
        return {
            "converted_from": f"aihwkit {self.device_class}",
            "file": origin,
            "aihwkit_fields": {k: v for k, v in self.fields.items() if v is not None and k != "drift"},
            "approximations": self.approximations,
            "ignored_fields": self.ignored,
            "from_base_preset": "conductance range, pulse response, read and VMM noise, initial state",
        }


def read_config(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(device class, fields) from a JSON file: {"class": "SoftBoundsDevice", "dw_min": ...} or
    {"SoftBoundsDevice": {"dw_min": ...}}."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no aihwkit config at {p}") from None
    except json.JSONDecodeError as exc:
        raise ImportRefused(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImportRefused(f"{p}: expected a JSON object naming the device class")
    if "class" in data:
        fields = {k: v for k, v in data.items() if k != "class"}
        return str(data["class"]), fields
    if len(data) == 1 and isinstance(next(iter(data.values())), dict):
        name, fields = next(iter(data.items()))
        return str(name), dict(fields)
    raise ImportRefused(
        f'{p}: name the device class, as {{"class": "SoftBoundsDevice", "dw_min": 0.001, ...}} '
        f'or {{"SoftBoundsDevice": {{...}}}}; supported: {", ".join(DEFAULTS)}'
    )


def convert(
    device_class: str, given: Mapping[str, Any], base: str = BASE_PRESET, ignore: Iterable[str] = ()
) -> ImportedDevice:
    """The DeviceConfig of an aihwkit device (class name and its fields, aihwkit's names).

    base: the preset that gives what an aihwkit device config does not hold (conductance range,
    pulse response, read and VMM noise, initial state). ignore: fields to drop knowingly
    instead of being refused. Raises ImportRefused naming the first field it cannot represent.
    """
    if device_class not in DEFAULTS:
        raise ImportRefused(
            f"aihwkit device class {device_class!r} is not supported; supported: {', '.join(DEFAULTS)}"
        )
    defaults = DEFAULTS[device_class]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ImportRefused(f"{', '.join(unknown)}: not a field of aihwkit's {device_class}")
    fields = {**defaults, **given}
    ignored = sorted(set(ignore))
    _refuse_unrepresentable(device_class, fields, defaults, ignored)
    step, approximations = _step(device_class, fields)
    variation, notes = _variation(fields, ignored)
    variation["c2c_noise"] = _number(fields, "dw_min_std")
    base_config = preset(base)
    for name, value in variation.items():  # one at a time, so that a refusal names its field
        try:
            base_config.with_overrides(**{name: value})
        except ValueError as exc:
            origin = _ORIGIN[name]
            raise ImportRefused(f"{origin} = {fields[origin]!r} gives {name} = {value:.4g}: {exc}") from None
    try:
        config = base_config.with_overrides(**step, **variation)
    except ValueError as exc:
        used = "dw_min, up_down, w_min, w_max and the shape fields"
        raise ImportRefused(f"the step model from {used} is outside this simulator's ranges: {exc}") from None
    return ImportedDevice(config, device_class, fields, approximations + notes, ignored)


# The aihwkit field each variation and noise field of DeviceConfig comes from.
_ORIGIN = {
    "dtod_step": "dw_min_dtod",
    "dtod_imbalance": "up_down_dtod",
    "dtod_bounds": "w_max_dtod",
    "stuck_fraction": "corrupt_devices_prob",
    "c2c_noise": "dw_min_std",
}


def _refuse_unrepresentable(
    device_class: str, fields: dict[str, Any], defaults: dict[str, Any], ignored: list[str]
) -> None:
    for name, meaning in _MUST_BE_DEFAULT.items():
        if name in defaults and name not in ignored and _is_set(fields[name]):
            raise ImportRefused(
                f"{name} = {fields[name]!r}: {meaning} has no counterpart in this simulator; set it to "
                f"0 (or False), or pass it to ignore (--ignore {name}) to import without it"
            )
    if not fields.get("mult_noise", True) and _number(fields, "dw_min_std") > 0:
        raise ImportRefused(
            "mult_noise = False: additive cycle-to-cycle noise has no counterpart here (the noise is "
            "relative to each step); set mult_noise true or dw_min_std 0"
        )
    w_min, w_max = _number(fields, "w_min"), _number(fields, "w_max")
    if not w_min < 0 < w_max:
        raise ImportRefused(
            f"w_min = {w_min!r}, w_max = {w_max!r}: the converter needs w_min < 0 < w_max (aihwkit's "
            "steps are relative to the bounds, and 0 must lie between them)"
        )
    if abs(_number(fields, "up_down")) >= 1:
        raise ImportRefused(
            f"up_down = {fields['up_down']!r}: one direction would have no step (|up_down| < 1)"
        )


def _step(device_class: str, f: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Step-model overrides and the approximations made, from the bounds, dw_min and up_down."""
    b_up, b_down = _number(f, "w_max"), -_number(f, "w_min")  # both > 0
    r = b_up + b_down
    ud = _number(f, "up_down")
    dw_up, dw_down = _number(f, "dw_min") * (1 + min(ud, 0.0)), _number(f, "dw_min") * (1 - max(ud, 0.0))
    if device_class == "PowStepDevice":
        g, bias = _number(f, "pow_gamma"), _number(f, "pow_up_down")
        step = {"gamma_up": g * (1 + bias), "gamma_down": g * (1 - bias)}
        return {"model": "power-step", "step_up": dw_up / r, "step_down": dw_down / r, **step}, []
    if device_class == "ExpStepDevice":
        a, b = _number(f, "a"), _number(f, "b")
        shape = {k: _number(f, k) for k in ("A_up", "A_down", "gamma_up", "gamma_down")}
        offset = b + a * (b_up - b_down) / r
        return {
            "model": "exp-step",
            "step_up": dw_up / r,
            "step_down": dw_down / r,
            **shape,
            "slope": a,
            "offset": offset,
        }, []
    g_up, g_down = (
        (1.0, 1.0)
        if device_class == "SoftBoundsDevice"
        else (_number(f, "gamma_up"), _number(f, "gamma_down"))
    )
    step = {
        "step_up": dw_up * (b_up + g_up * b_down) / (b_up * r),
        "step_down": dw_down * (b_down + g_down * b_up) / (b_down * r),
    }
    if device_class == "SoftBoundsDevice":
        notes = [] if _number(f, "w_max_dtod") == 0 and _number(f, "w_min_dtod") == 0 else [_OWN_BOUNDS]
        return {"model": "soft-bounds", **step}, notes
    shape = {
        "gamma_up": g_up * r / (b_up + g_up * b_down),
        "gamma_down": g_down * r / (b_down + g_down * b_up),
    }
    bounds_vary = _number(f, "w_max_dtod") > 0 or _number(f, "w_min_dtod") > 0
    notes = [_OWN_BOUNDS] if bounds_vary and f.get("mean_bound_reference", True) else []
    return {"model": "linear-step", **step, **shape}, notes


_OWN_BOUNDS = (
    "steps shrink towards each device's own bounds here; aihwkit (mean_bound_reference, soft "
    "bounds) takes the nominal bounds, so a device whose bound varies stops by clipping there"
)


def _variation(f: dict[str, Any], ignored: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Device-to-device overrides: step spread, imbalance, bound spread, stuck fraction."""
    base = preset(BASE_PRESET)
    notes = []
    if not f["dw_min_dtod_log_normal"] and _number(f, "dw_min_dtod") > 0:
        notes.append("dw_min_dtod: aihwkit's normal spread of the step as a log-normal of the same sigma")
    if _number(f, "up_down_dtod") > 0:
        notes.append("up_down_dtod: (1 +/- r) as e^(+/-r), equal to first order in r")
    # aihwkit: b+ (1 + s xi), a spread of s b+ / R of the range; here G_max e^(s' xi): s' G_max / dG.
    b_up, r = _number(f, "w_max"), _number(f, "w_max") - _number(f, "w_min")
    dg = base.g_max - base.g_min
    sigma_bounds = _number(f, "w_max_dtod") * b_up / r * dg / base.g_max
    if "w_min_dtod" in ignored:
        notes.append("w_min_dtod ignored: the lower bounds vary by dtod_bounds x G_min only")
    return {
        "dtod_step": _number(f, "dw_min_dtod"),
        "dtod_imbalance": _number(f, "up_down_dtod"),
        "dtod_bounds": sigma_bounds,
        "stuck_fraction": _number(f, "corrupt_devices_prob"),
    }, notes


def _number(fields: Mapping[str, Any], name: str) -> float:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ImportRefused(f"{name} = {value!r}: expected a finite number")
    return float(value)


def _is_set(value: Any) -> bool:
    """True for a non-zero number or True; False for 0, False and None."""
    return bool(value) if isinstance(value, bool) or value is None else value != 0
