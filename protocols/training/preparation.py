"""One-time preparation of a layer's arrays before training (the only serial writes).

measure the main array's symmetry point and step (protocols.symmetry), program the reference
to a chosen conductance (protocols.programming), and program a main array to reference +
initial weights. The step measured at the symmetry point, mapped to weight units, is the
dw_min every stochastic update of the layer is planned with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.backend import CrossbarBackend, FloatArray
from hil.mapping import WeightMapping
from hil.pulses import Pulse, PulsePair
from protocols.programming import ProgrammingResult, program_conductances
from protocols.symmetry import MAX_PAIRS, SymmetryPointResult, find_symmetry_point

ArraySource = Callable[[str, tuple[int, int]], CrossbarBackend]
"""get_array(name, (rows, cols)) -> backend, e.g. hil.bench.Bench.array."""


@dataclass(frozen=True)
class CalibrationSettings:
    """Budgets of the one-time serial steps.

    symmetry_max_pairs, symmetry_window, symmetry_read_every, symmetry_precision:
        find_symmetry_point's pair budget, averaging window (pairs), read interval (pairs) and
        precision (siemens). Window and read interval None (default): chosen by the run from the
        relaxation time it measures, reading a few dozen times per window, so a bench spends its
        time on pulses rather than reads; a window given alone reads every pair and must exceed
        the relaxation time (~230 pairs on the protonic preset at its nominal pulse).
        Precision None: the protocol's default with automatic sampling (0.25 % of the range).
    program_tolerance_steps: write-verify tolerance in units of the measured step (one step is
        the finest a pulse can do; above ~1 it also covers read noise of a few tenths of a step).
    program_max_iterations: write-verify rounds at most.
    """

    symmetry_max_pairs: int = MAX_PAIRS
    symmetry_window: int | None = None
    symmetry_read_every: int | None = None
    symmetry_precision: float | None = None
    program_tolerance_steps: float = 1.5
    program_max_iterations: int = 100

    def __post_init__(self) -> None:
        if not (np.isfinite(self.program_tolerance_steps) and self.program_tolerance_steps > 0):
            raise ValueError(
                f"program_tolerance_steps must be a finite number > 0, got {self.program_tolerance_steps!r}"
            )


@dataclass
class MainCalibration:
    """What the symmetry-point measurement of a main array gave.

    step: siemens, median over responsive devices of the step at the symmetry point;
    mapping: weights <-> siemens for this layer; dw_min: step in weight units.
    """

    symmetry: SymmetryPointResult
    step: float
    mapping: WeightMapping
    dw_min: float

    def summary(self) -> dict[str, Any]:
        s = {k: v for k, v in self.symmetry.summary().items() if k != "per_device"}
        return {
            "symmetry_point": s,
            "step_S": self.step,
            "g_unit_S": self.mapping.g_unit,
            "input_voltage_V": self.mapping.input_voltage,
            "dw_min": self.dw_min,
        }


def restored_calibration(record: dict[str, Any]) -> tuple[WeightMapping, float]:
    """(mapping, dw_min) of a layer from the setup record its preparation wrote (no writes)."""
    cal = record["calibration"]
    return WeightMapping(float(cal["g_unit_S"]), float(cal["input_voltage_V"])), float(cal["dw_min"])


def calibrate_main(
    main: CrossbarBackend, pulse: Pulse | PulsePair, w_max: float, settings: CalibrationSettings
) -> MainCalibration:
    """Symmetry point and step of every device of `main`; leaves the devices at their points.

    w_max: the weight represented by half the nominal conductance range (dimensionless).
    """
    if not (np.isfinite(w_max) and w_max > 0):
        raise ValueError(f"w_max must be a finite number > 0, got {w_max!r}")
    sym = find_symmetry_point(
        main,
        pulse,
        max_pairs=settings.symmetry_max_pairs,
        window=settings.symmetry_window,
        read_every=settings.symmetry_read_every,
        precision=settings.symmetry_precision,
    )
    steps = sym.step[sym.responsive]
    if steps.size == 0 or not np.median(steps) > 0:
        raise ValueError(
            "no device of the main array responded to the pulses (no measurable step); check the "
            f"pulse {pulse} (above the write threshold?) and the wiring"
        )
    step = float(np.median(steps))
    mapping = WeightMapping.for_backend(main, w_max)
    return MainCalibration(sym, step, mapping, mapping.dw(step))


def program_reference(
    ref: CrossbarBackend,
    target: FloatArray,
    pulse: Pulse | PulsePair,
    step: float,
    settings: CalibrationSettings,
) -> tuple[ProgrammingResult, int]:
    """Program `ref` to target (siemens) where the target lies in the nominal range.

    Returns the programming result and the number of devices left unprogrammed because their
    target lay outside the nominal range (a device whose symmetry point the protocol placed
    outside it: it keeps its state, and the count is reported, never hidden).
    """
    g_min, g_max = ref.conductance_range
    inside = np.isfinite(target) & (target >= g_min) & (target <= g_max)
    if not np.any(inside):
        raise ValueError(
            f"no reference target lies in the nominal range [{g_min:g}, {g_max:g}] S; the symmetry "
            "point measurement looks wrong (check the pulse and the array)"
        )
    prog = program_conductances(
        ref,
        target,
        pulse,
        tolerance=settings.program_tolerance_steps * step,
        max_iterations=settings.program_max_iterations,
        step=step,
        devices=inside,
    )
    return prog, int(np.sum(~inside))


def program_weights(
    main: CrossbarBackend,
    g_ref: FloatArray,
    weights: FloatArray,
    *,
    mapping: WeightMapping,
    pulse: Pulse | PulsePair,
    step: float,
    settings: CalibrationSettings,
) -> tuple[ProgrammingResult, int]:
    """Program `main` so that (G_main - g_ref) / g_unit equals the initial `weights`.

    A weight whose conductance would lie outside the nominal range (its reference sits near a
    bound, e.g. a device with a high symmetry point) is programmed to the nearest bound
    instead: it is only a starting value, and the number of such weights is returned (and
    recorded in the run's setup) so that nothing is hidden. More than a quarter of them means the
    initial weights do not fit the arrays at all and raises: lower init_scale or raise w_max.
    """
    target = g_ref + mapping.g_unit * weights
    g_min, g_max = main.conductance_range
    outside = (target < g_min) | (target > g_max)
    if np.mean(outside) > 0.25:
        raise ValueError(
            f"{int(np.sum(outside))} of {outside.size} initial weights need conductances outside "
            f"[{g_min:g}, {g_max:g}] S (largest |w| {np.max(np.abs(weights)):.3g}, g_unit "
            f"{mapping.g_unit:.3g} S); lower init_scale or raise w_max"
        )
    prog = program_conductances(
        main,
        np.clip(target, g_min, g_max),
        pulse,
        tolerance=settings.program_tolerance_steps * step,
        max_iterations=settings.program_max_iterations,
        step=step,
    )
    return prog, int(np.sum(outside))


def programming_summary(prog: ProgrammingResult, mapping: WeightMapping) -> dict[str, Any]:
    """Compact JSON-ready numbers of a write-verify run (no per-device arrays)."""
    s = {k: v for k, v in prog.summary().items() if k not in ("per_device", "parameters")}
    res = np.abs(prog.residual[prog.selected])
    s["abs_residual_weight_median"] = float(np.median(res)) / mapping.g_unit if res.size else None
    return s
