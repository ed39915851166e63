"""A sweep's spec: the base configuration, the axes to vary, and the points they expand to.

A spec is a TOML file (docs/sweeps.md; examples/sweeps/):

    name = "asymmetry against number of states"
    mode = "grid"                       # every combination of the axes; "list": [[points]] rows

    [base]                              # what every point shares
    preset = "protonic-asymmetric"      # a preset name or a preset file (relative to the spec)
    dataset = "iris"                    # iris or digits
    hidden = [8]                        # hidden layer widths
    epochs = 10
    algorithms = ["sgd", "shd", "fp"]   # rows of protocols.training.registry.ALGORITHMS
    seed = 0                            # when seed is not an axis
    [base.device]                       # DeviceConfig fields, or asymmetry / states
    c2c_noise = 0.3
    [base.shd]                          # hyperparameters of one algorithm (its config's fields)
    eta_c = 0.05

    [axes]                              # grid mode: each axis a list of values
    "device.asymmetry" = [0.0, 0.5, 1.0]
    "shd.eta_c" = [0.01, 0.05]
    seed = [0, 1, 2]

An axis is "seed", "epochs", "device.<field>" (any DeviceConfig field, or a derived axis of
protocols.sweep.devices) or "<algorithm>.<field>" (a field of the algorithm's configuration
dataclass), "<algorithm>.<field>.<subfield>" for a field of a nested settings field (e.g.
"ttv2.buffer.threshold", "agad.reference.offset"). Each point is one algorithm's training at
one set of coordinates; an axis applies only where it means something (device axes to analog
algorithms, "shd.eta_c" to SHD), so the floating-point baseline is trained once per seed,
not once per device, and identical points are computed once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.faults import UsageFault
from protocols.sweep.devices import DeviceSource, device_overrides
from protocols.training.registry import ALGORITHMS, Algorithm, algorithm

MODES = ("grid", "list")
COMMON_AXES = ("seed", "epochs")
DATASETS = ("iris", "digits")
_BASE_KEYS = (
    "preset",
    "dataset",
    "hidden",
    "epochs",
    "algorithms",
    "seed",
    "test_fraction",
    "clip",
    "device",
)


class SpecError(UsageFault):
    """A sweep spec is wrong; the message names the key or point and what to write instead."""


@dataclass(frozen=True)
class Base:
    """What every point shares. hyper: algorithm name -> its configuration fields."""

    preset: str
    dataset: str
    hidden: tuple[int, ...]
    epochs: int
    algorithms: tuple[str, ...]
    seed: int = 0
    test_fraction: float = 0.25
    clip: float | None = 3.0
    device: dict[str, Any] = field(default_factory=dict)
    hyper: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """A parsed spec: name, base, the axes in order, and one coordinate dict per grid or list
    entry. raw is the spec as a JSON-ready dict (stored with the run, parsed again on resume)."""

    name: str
    base: Base
    axes: tuple[str, ...]
    coordinates: tuple[dict[str, Any], ...]
    raw: dict[str, Any]


@dataclass(frozen=True)
class PointTask:
    """One point as a worker runs it: plain data, so that it travels to any worker.

    coords: this point's values on the axes that apply to it; device: DeviceConfig overrides
    (empty for a digital algorithm, whose preset is None); config: the algorithm configuration's
    field values (epochs and seed included); key: a hash of everything that defines the point.
    """

    index: int
    key: str
    algorithm: str
    coords: dict[str, Any]
    preset: str | None
    device: dict[str, Any]
    config: dict[str, Any]
    dataset: str
    test_fraction: float
    clip: float | None
    hidden: tuple[int, ...]
    seed: int


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a spec file; a preset file it names is found relative to the spec."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"no sweep spec at {path}; examples/sweeps/ has examples") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the sweep spec {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"the sweep spec {path} is not valid TOML: {exc}") from None
    preset = raw.get("base", {}).get("preset") if isinstance(raw.get("base"), dict) else None
    if isinstance(preset, str) and preset.endswith(".toml") and not Path(preset).is_absolute():
        raw["base"]["preset"] = str(path.parent / preset)
    return parse_spec(raw, source=str(path))


def parse_spec(raw: Mapping[str, Any], source: str = "the sweep spec") -> SweepSpec:
    """The spec of a parsed TOML table (or of the raw dict stored with a run)."""
    try:
        return _parse(dict(raw))
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{source}: {exc}") from None


def _parse(raw: dict[str, Any]) -> SweepSpec:
    unknown = sorted(set(raw) - {"name", "description", "mode", "base", "axes", "points"})
    if unknown:
        raise SpecError(
            f"unknown top-level key {', '.join(unknown)}; the keys are name, mode, base, axes, points"
        )
    mode = raw.get("mode", "grid")
    if mode not in MODES:
        raise SpecError(f"mode must be grid or list, got {mode!r}")
    base = _base(_table(raw, "base"))
    if mode == "grid":
        axes_table = _table(raw, "axes")
        axes = tuple(axes_table)
        for name, values in axes_table.items():
            if not isinstance(values, list) or not values:
                raise SpecError(f"axis {name!r} needs a non-empty list of values, got {values!r}")
        coordinates = tuple(
            dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes_table.values())
        )
    else:
        rows = raw.get("points")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise SpecError("list mode needs [[points]] tables, one per point, each naming the axes' values")
        axes = tuple(rows[0])
        if any(tuple(sorted(r)) != tuple(sorted(axes)) for r in rows):
            raise SpecError(f"every [[points]] table must name the same axes ({', '.join(axes)})")
        coordinates = tuple(dict(r) for r in rows)
    for axis in axes:
        _check_axis(axis, base)
    name = str(raw.get("name", "sweep"))
    return SweepSpec(name, base, axes, coordinates, json.loads(json.dumps(raw)))


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict) or not value:
        raise SpecError(f"the spec needs a [{key}] table")
    return value


def _base(table: dict[str, Any]) -> Base:
    hyper = {k: v for k, v in table.items() if k in ALGORITHMS}
    unknown = sorted(set(table) - set(_BASE_KEYS) - set(hyper))
    if unknown:
        raise SpecError(
            f"[base] has no key {', '.join(unknown)}; its keys are {', '.join(_BASE_KEYS)} and one table "
            f"per algorithm ({', '.join(ALGORITHMS)})"
        )
    missing = [k for k in ("preset", "dataset", "hidden", "epochs", "algorithms") if k not in table]
    if missing:
        raise SpecError(f"[base] needs {', '.join(missing)}")
    if table["dataset"] not in DATASETS:
        raise SpecError(f"[base] dataset must be one of {', '.join(DATASETS)}, got {table['dataset']!r}")
    algorithms = tuple(table["algorithms"])
    for name in algorithms:
        algorithm(name)
    if not algorithms or len(set(algorithms)) != len(algorithms):
        raise SpecError(f"[base] algorithms must name each algorithm once, got {list(algorithms)}")
    hidden = table["hidden"]
    if not isinstance(hidden, list) or not all(isinstance(w, int) and w >= 1 for w in hidden):
        raise SpecError(
            f"[base] hidden is a list of widths >= 1 (e.g. [8]; [] for one layer), got {hidden!r}"
        )
    return Base(
        preset=str(table["preset"]),
        dataset=table["dataset"],
        hidden=tuple(hidden),
        epochs=_whole(table["epochs"], "[base] epochs", 1),
        algorithms=algorithms,
        seed=_whole(table.get("seed", 0), "[base] seed", 0),
        test_fraction=float(table.get("test_fraction", 0.25)),
        clip=table.get("clip", 3.0),
        device=dict(table.get("device", {})),
        hyper={k: dict(v) for k, v in hyper.items()},
    )


def _whole(value: Any, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{what} must be a whole number >= {low}, got {value!r}")
    return value


def _check_axis(axis: str, base: Base) -> None:
    if axis in COMMON_AXES:
        return
    group, _, name = axis.partition(".")
    if not name or (group != "device" and group not in ALGORITHMS):
        raise SpecError(
            f"axis {axis!r} is none of: seed, epochs, device.<field>, <algorithm>.<field> "
            f"(algorithms: {', '.join(ALGORITHMS)})"
        )
    if group in ALGORITHMS and group not in base.algorithms:
        raise SpecError(f"axis {axis!r} varies {group}, which [base] algorithms does not train")


def _applies(axis: str, row: Algorithm) -> bool:
    group = axis.partition(".")[0]
    return axis in COMMON_AXES or (group == "device" and row.analog) or group == row.name


def expand(spec: SweepSpec) -> list[PointTask]:
    """Every point of the spec, each once, in the order of the coordinates then the algorithms."""
    tasks: list[PointTask] = []
    seen: set[str] = set()
    for coords in spec.coordinates:
        for name in spec.base.algorithms:
            try:
                task = _task(spec.base, algorithm(name), coords, len(tasks))
            except (TypeError, ValueError) as exc:
                where = ", ".join(f"{k}={v}" for k, v in coords.items())
                raise SpecError(f"point {len(tasks)} ({name}, {where}): {exc}") from None
            if task.key not in seen:
                seen.add(task.key)
                tasks.append(task)
    return tasks


def _task(base: Base, row: Algorithm, coords: Mapping[str, Any], index: int) -> PointTask:
    own = {axis: value for axis, value in coords.items() if _applies(axis, row)}
    seed = _whole(own.get("seed", base.seed), "seed", 0)
    epochs = _whole(own.get("epochs", base.epochs), "epochs", 1)
    config = _hyperparameters(base.hyper.get(row.name, {}), row.name, own)
    config |= {"epochs": epochs, "seed": seed}
    device: dict[str, Any] = {}
    if row.analog:
        device = device_overrides(base.device | {a[7:]: v for a, v in own.items() if a.startswith("device.")})
    defining = {
        "algorithm": row.name,
        "preset": base.preset if row.analog else None,
        "device": device,
        "config": config,
        "data": [base.dataset, base.test_fraction, base.clip, list(base.hidden)],
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(defining, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return PointTask(
        index=index,
        key=key,
        algorithm=row.name,
        coords=own,
        preset=defining["preset"],
        device=device,
        config=config,
        dataset=base.dataset,
        test_fraction=base.test_fraction,
        clip=base.clip,
        hidden=base.hidden,
        seed=seed,
    )


def _hyperparameters(base: Mapping[str, Any], name: str, coords: Mapping[str, Any]) -> dict[str, Any]:
    """The algorithm's [base] fields with its axes' values over them: "shd.eta_c" sets eta_c,
    "ttv2.buffer.threshold" sets threshold in the table of the nested field buffer."""
    config = {k: dict(v) if isinstance(v, Mapping) else v for k, v in base.items()}
    prefix = f"{name}."
    for axis, value in coords.items():
        if not axis.startswith(prefix):
            continue
        field, _, sub = axis[len(prefix) :].partition(".")
        if not sub:
            config[field] = value
            continue
        table = config.setdefault(field, {})
        if not isinstance(table, dict):
            raise ValueError(f"axis {axis!r} sets a field of {field}, which [base.{name}] gives as {table!r}")
        table[sub] = value
    return config


def validate(tasks: Sequence[PointTask], devices: DeviceSource) -> None:
    """Build every point's configuration and resolve every device before any is trained:
    a bad value raises SpecError naming the point, and nothing has run."""
    resolved: set[str] = set()
    for task in tasks:
        try:
            algorithm(task.algorithm).build_config(task.config)
            if task.preset is not None:
                device_key = json.dumps([task.preset, task.device], sort_keys=True, default=str)
                if device_key not in resolved:
                    devices.resolve(task.preset, task.device)
                    resolved.add(device_key)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"point {describe(task)}: {exc}") from None


def describe(task: PointTask) -> str:
    """'12 (shd, device.asymmetry=0.5, seed=1)' for messages."""
    coords = ", ".join(f"{k}={v}" for k, v in task.coords.items())
    return f"{task.index} ({task.algorithm}{', ' + coords if coords else ''})"
