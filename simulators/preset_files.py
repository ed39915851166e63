"""Device presets as files: a fitted (or hand-written) DeviceConfig in TOML that the simulator loads.

Format (TOML, read with the standard library's tomllib; written by the small writer below,
since the standard library has no TOML writer and the project takes no dependency for one):

    format = "protonic-hil-preset"
    version = 1

    [device]            # every flat DeviceConfig field of its model, SI units (S, V, s)
    model = "soft-bounds"
    g_min = 1e-06
    ...

    [source]            # where the numbers came from: free-form, e.g. the fit's summary

TOML rather than JSON: the project's bench files are TOML, it takes comments, and a person
can edit a preset by hand. TOML has no null: None values in `source` are left out.
[device] holds DeviceConfig.to_dict(): the flat names of every field, the step model's
parameters being those of the model it names (hil.stepmodels).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulators.config import OPTIONAL_FIELDS, DeviceConfig

FORMAT = "protonic-hil-preset"
VERSION = 1
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
    try:
        names = DeviceConfig.field_names(device.get("model", DeviceConfig().model))
    except ValueError as exc:
        raise ValueError(f"preset file {path}: {exc}") from None
    unknown = sorted(set(device) - set(names))
    missing = [n for n in names if n not in device and n not in OPTIONAL_FIELDS]
    if unknown or missing:
        raise ValueError(
            f"preset file {path}: [device] must hold exactly the DeviceConfig fields of its model; "
            + (f"unknown: {', '.join(unknown)}; " if unknown else "")
            + (f"missing: {', '.join(missing)}" if missing else "")
        )
    try:
        return DeviceConfig.from_dict(device)
    except ValueError as exc:
        raise ValueError(f"preset file {path}: {exc}") from None


def preset_source(path: str | Path) -> dict[str, Any]:
    """The [source] table of a preset file ({} if it has none)."""
    return dict(_read(path).get("source", {}))


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
