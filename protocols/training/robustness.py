"""Robustness of the Tiki-Taka family: a misplaced reference and more read noise.

On one device population (the caller's), SHD, TTv2, chopped TTv2 and AGAD train the same
network under conditions that break SHD in theory: A_ref programmed off A_main's symmetry
point by a fraction of the conductance range, and the read noise (conductance reads and VMM
outputs, the transfer reads included) scaled up. Every algorithm places A_ref at the symmetry
point plus the condition's offset, so they are compared on the same reference error.

open_chip(noise_factor, seed) returns an open hil.bench.Bench whose devices' read noise is
noise_factor times the population's (the example script examples/robustness_study.py opens
SimulatedChip("protonic-asymmetric") with scaled read_noise and vmm_noise). Results go to
on_result as each run finishes, so a study that is stopped keeps what it measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hil.bench import Bench
from hil.pulses import Pulse
from protocols.training.datasets import Dataset, load_dataset
from protocols.training.network import MLPSpec
from protocols.training.preparation import CalibrationSettings
from protocols.training.registry import algorithm
from protocols.training.transfer import ReferenceSettings

ChipOpener = Callable[[float, int], Bench]
"""open_chip(noise_factor, seed) -> an open Bench (closed by the study)."""


@dataclass(frozen=True)
class Condition:
    """A reference offset (fraction of the conductance range above the symmetry point) and a
    read-noise factor (times the population's)."""

    name: str
    reference_offset: float = 0.0
    noise_factor: float = 1.0


CONDITIONS = (
    Condition("nominal"),
    Condition("reference +1 % of range", reference_offset=0.01),
    Condition("reference +3 % of range", reference_offset=0.03),
    Condition("reference +10 % of range", reference_offset=0.10),
    Condition("read noise 3x", noise_factor=3.0),
    Condition("read noise 10x", noise_factor=10.0),
)

# The algorithms the study compares (rows of protocols.training.registry) and the fields of
# each configuration it sets beyond the defaults; every condition places the reference (for
# SHD that builds its placed configuration).
ALGORITHMS: dict[str, dict[str, Any]] = {
    "shd": {"eta_a": 0.1, "eta_c": 0.01},
    "ttv2": {},
    "cttv2": {},
    "agad": {},
}


@dataclass(frozen=True)
class StudySettings:
    """What to run: conditions, algorithms (keys of ALGORITHMS), seeds (chip, initial weights,
    sample order and split), epochs, the network (digits, one hidden layer), and calibration
    settings replacing the algorithms' own (None: keep theirs)."""

    conditions: Sequence[Condition] = CONDITIONS
    algorithms: Sequence[str] = ("shd", "ttv2", "cttv2", "agad")
    seeds: Sequence[int] = (0, 1, 2)
    epochs: int = 20
    hidden: int = 32
    dataset: str = "digits"
    calibration: CalibrationSettings | None = None


def run_study(
    open_chip: ChipOpener,
    settings: StudySettings,
    on_result: Callable[[dict[str, Any]], None],
    done: set[tuple[str, str, int]] | None = None,
) -> None:
    """Train every (seed, condition, algorithm), seed by seed so that a partial study is balanced.

    done: (condition name, algorithm, seed) already measured, skipped (to continue a study).
    """
    unknown = [a for a in settings.algorithms if a not in ALGORITHMS]
    if unknown:
        raise ValueError(f"unknown algorithm(s) {unknown}; choose from {sorted(ALGORITHMS)}")
    for seed in settings.seeds:
        data = load_dataset(settings.dataset, 0.25, seed, 3.0)
        spec = MLPSpec((data.n_features, settings.hidden, data.n_classes))
        for condition in settings.conditions:
            for name in settings.algorithms:
                if done is not None and (condition.name, name, seed) in done:
                    continue
                on_result(_one_run(open_chip, condition, name, seed, data=data, spec=spec, settings=settings))


def _one_run(
    open_chip: ChipOpener,
    condition: Condition,
    name: str,
    seed: int,
    *,
    data: Dataset,
    spec: MLPSpec,
    settings: StudySettings,
) -> dict[str, Any]:
    row = algorithm(name)
    reference = ReferenceSettings("symmetry", condition.reference_offset)
    values = ALGORITHMS[name] | {"reference": reference, "epochs": settings.epochs, "seed": seed}
    if settings.calibration is not None:
        values["calibration"] = settings.calibration
    config = row.build_config(values)
    with open_chip(condition.noise_factor, seed) as bench:
        pulse: Pulse | None = bench.nominal_pulse
        result = row.train(spec, data, config, label=name, arrays=bench.array, pulse=pulse)
    return {
        "condition": condition.name,
        "reference_offset": condition.reference_offset,
        "noise_factor": condition.noise_factor,
        "algorithm": name,
        "seed": seed,
        "test_accuracy": result.final.test_accuracy,
        "train_loss": result.final.train_loss,
        "best_test_accuracy": max(e.test_accuracy for e in result.epochs),
        "seconds_per_epoch": result.seconds_per_epoch,
    }


def summary_table(rows: Sequence[dict[str, Any]], algorithms: Sequence[str]) -> list[str]:
    """Markdown: one line per condition, per algorithm the mean test accuracy in percent ± the
    standard deviation over seeds (n = seeds measured)."""
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    lines = ["| condition | " + " | ".join(algorithms) + " |", "|---" * (len(algorithms) + 1) + "|"]
    for condition in conditions:
        cells = []
        for name in algorithms:
            acc = [
                100 * r["test_accuracy"]
                for r in rows
                if r["condition"] == condition and r["algorithm"] == name
            ]
            cells.append(_mean_spread(acc))
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return lines


def _mean_spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.1f} (n 1)"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.1f} ± {sd:.1f} (n {len(values)})"
