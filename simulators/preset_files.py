"""Device presets as files: a fitted (or hand-written) DeviceConfig in TOML that the simulator loads.

Format (TOML, read with the standard library's tomllib; written by the small writer below,
since the standard library has no TOML writer and the project takes no dependency for one):

    format = "protonic-hil-preset"
    version = 1

    [device]            # every simulators.config.DeviceConfig field, SI units (S, V, s)
    model = "soft-bounds"
    g_min = 1e-06
    ...

    [source]            # where the numbers came from: free-form, e.g. the fit's summary

TOML rather than JSON: the project's bench files are TOML, it takes comments, and a person
can edit a preset by hand. TOML has no null: None values in `source` are left out.

config_from_fit maps a protocols.fitting.ArrayFit (its to_dict()) to DeviceConfig fields; it
lives here because simulators may import protocols' output formats, protocols never simulators.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from simulators.config import DeviceConfig
from simulators.presets import preset

FORMAT = "protonic-hil-preset"
VERSION = 1
BASE_PRESET = "protonic-asymmetric"
# Not measured by a pulse-response fit: taken from BASE_PRESET unless overridden.
UNMEASURED = (
    "vmm_noise", "v_threshold", "v_scale", "width_exponent", "read_voltage", "init_state", "init_spread",
)  # fmt: skip
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def save_preset(path: str | Path, config: DeviceConfig, source: Mapping[str, Any] | None = None) -> Path:
    """Write config (and where it came from) as a TOML preset file; returns the path.

    source: nested dicts of strings, numbers, booleans and lists of those (None values are left
    out; TOML has no null). Written atomically: a crash never leaves half a file.
    """
    if not isinstance(config, DeviceConfig):
        raise TypeError(f"config must be a simulators.config.DeviceConfig, got {type(config).__name__}")
    lines = [
        "# protonic-hil device preset: simulators.preset_files.load_preset reads it.",
        "# [device] holds simulators.config.DeviceConfig fields in SI units (siemens, volts, seconds).",
        f"format = {_value(FORMAT)}",
        f"version = {VERSION}",
        "",
    ]
    lines += _table("device", config.to_dict())
    if source:
        lines += _table("source", dict(source))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def load_preset(path: str | Path) -> DeviceConfig:
    """The DeviceConfig of a preset file (validated by DeviceConfig; unknown or missing fields raise)."""
    data = _read(path)
    device = data.get("device")
    if not isinstance(device, dict):
        raise ValueError(f"preset file {path}: no [device] table")
    names = [f.name for f in fields(DeviceConfig)]
    unknown = sorted(set(device) - set(names))
    missing = [n for n in names if n not in device]
    if unknown or missing:
        raise ValueError(
            f"preset file {path}: [device] must hold exactly the DeviceConfig fields; "
            + (f"unknown: {', '.join(unknown)}; " if unknown else "")
            + (f"missing: {', '.join(missing)}" if missing else "")
        )
    try:
        return DeviceConfig(**device)
    except ValueError as exc:
        raise ValueError(f"preset file {path}: {exc}") from None


def preset_source(path: str | Path) -> dict[str, Any]:
    """The [source] table of a preset file ({} if it has none)."""
    return dict(_read(path).get("source", {}))


def config_from_fit(fit: Mapping[str, Any], base: str = BASE_PRESET, **overrides: Any) -> DeviceConfig:
    """DeviceConfig of the population a protocols.fitting.ArrayFit describes (pass fit.to_dict()).

    Measured: model, g_min, g_max, step_up, step_down, gamma_up, gamma_down (nominal values),
    dtod_bounds (mean of the σ of ln g_min and ln g_max: the simulator has one σ for both),
    dtod_step (σ of ln √(a⁺a⁻)), dtod_imbalance (σ of ln √(a⁺/a⁻)), stuck_fraction,
    c2c_noise, read_noise (σ_r over g_max - g_min), and the pulse (v_ref, t_ref: the step sizes
    hold at the measured pulse, m = 1 there). Not measured: UNMEASURED fields come from the
    preset `base`. overrides: any DeviceConfig field. Values outside DeviceConfig's ranges raise
    (nothing is clipped); a pulse not above the base threshold asks for v_threshold.
    """
    model = fit.get("model")
    if model not in ("soft-bounds", "linear-step", "power-step"):
        raise ValueError(f"fit model must be soft-bounds, linear-step or power-step, got {model!r}")
    nominal, spread = fit["nominal"], fit["spread"]

    def value(block: Mapping[str, Any], name: str) -> float:
        v = (block.get(name) or {}).get("value")
        if v is None or not math.isfinite(v):
            raise ValueError(
                f"the fit has no finite {name}; it cannot make a preset (too few usable devices?). "
                "Pass the field as an override"
            )
        return float(v)

    g_min, g_max = value(nominal, "g_min"), value(nominal, "g_max")
    measured: dict[str, Any] = {
        "model": model,
        "g_min": g_min,
        "g_max": g_max,
        "step_up": value(nominal, "step_up"),
        "step_down": value(nominal, "step_down"),
        "gamma_up": 1.0 if model == "soft-bounds" else value(nominal, "gamma_up"),
        "gamma_down": 1.0 if model == "soft-bounds" else value(nominal, "gamma_down"),
        "stuck_fraction": float(fit["stuck_fraction"]),
        "c2c_noise": float(fit["c2c_noise"]["value"]),
        "read_noise": float(fit["read_noise"]["value_S"]) / (g_max - g_min),
    }
    if fit.get("n_moving", 0) >= 2:
        measured["dtod_bounds"] = 0.5 * (value(spread, "log_g_min") + value(spread, "log_g_max"))
        measured["dtod_step"] = value(spread, "log_step")
        measured["dtod_imbalance"] = value(spread, "log_imbalance")
    else:  # one device: no spread was measured
        measured.update(dtod_bounds=0.0, dtod_step=0.0, dtod_imbalance=0.0)
    base_config = preset(base)
    pulse = fit.get("pulse")
    if pulse:
        measured["v_ref"], measured["t_ref"] = float(pulse["amplitude_V"]), float(pulse["width_s"])
        if "v_threshold" not in overrides and measured["v_ref"] <= base_config.v_threshold:
            raise ValueError(
                f"the fitted pulse ({measured['v_ref']:g} V) is not above the base preset's write threshold "
                f"({base_config.v_threshold:g} V): pass v_threshold (volts) below the pulse amplitude"
            )
    return base_config.with_overrides(**{**measured, **overrides})


# ---------------------------------------------------------------------- TOML
def _read(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no preset file at {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"preset file {p} is not valid TOML: {exc}") from None
    if data.get("format") != FORMAT:
        raise ValueError(f"{p} is not a protonic-hil preset file (format = {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise ValueError(f"preset file {p} has version {data.get('version')!r}; this code reads {VERSION}")
    return data


def _table(name: str, values: Mapping[str, Any]) -> list[str]:
    """[name] with its scalar and array keys, then its sub-tables [name.key]."""
    lines = [f"[{name}]"]
    subtables = []
    for key, v in values.items():
        if v is None:
            continue
        if isinstance(v, Mapping):
            subtables.append((key, v))
        else:
            lines.append(f"{_key(key)} = {_value(v)}")
    lines.append("")
    for key, v in subtables:
        lines += _table(f"{name}.{_key(key)}", v)
    return lines


def _key(key: Any) -> str:
    text = str(key)
    return text if _BARE_KEY.match(text) else json.dumps(text)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # shortest text that reads back to the same double
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON string escapes are TOML basic-string escapes
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if hasattr(v, "item"):  # numpy scalar
        return _value(v.item())
    raise TypeError(
        f"cannot write {type(v).__name__} {v!r} to a preset file: use numbers, strings, lists and dicts"
    )
