"""Training benchmarks: one epoch of SHD, analog SGD and floating point on the digits (MLP 64-32-10).

The epoch's seconds are the training loop's own measurement (TrainingResult.epochs[1].seconds:
1347 training samples, each forward, backward and update (SHD: and a transfer) on the arrays,
plus the evaluation passes over the training and test sets); the one-time preparation
(symmetry points, programming) runs before it and is not counted. Settings as in
docs/protocols/training.md: protonic-asymmetric, SHD eta_a 0.1, eta_c 0.01, tau 1, BL 31,
clip 3, seed 0; SGD and FP at their defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.core import Benchmark, Case
from protocols.training import (
    FloatConfig,
    MLPSpec,
    SGDConfig,
    SHDConfig,
    TrainingResult,
    load_dataset,
    train_float,
    train_sgd,
    train_shd,
)
from protocols.training.datasets import Dataset
from simulators.chip import SimulatedChip
from simulators.presets import PRESETS

SPEC = MLPSpec((64, 32, 10))
PRESET = "protonic-asymmetric"


def _shd(engine: str, data: Dataset) -> TrainingResult:
    chip = SimulatedChip(PRESET, seed=0, engine=engine)
    return train_shd(chip.array, SPEC, data, PRESETS[PRESET].nominal_pulse, SHDConfig(epochs=1))


def _sgd(engine: str, data: Dataset) -> TrainingResult:
    chip = SimulatedChip(PRESET, seed=0, engine=engine)
    return train_sgd(chip.array, SPEC, data, PRESETS[PRESET].nominal_pulse, SGDConfig(epochs=1))


def _fp(engine: str, data: Dataset) -> TrainingResult:
    return train_float(SPEC, data, FloatConfig(epochs=1))


def _epoch(name: str, train: Callable[[str, Dataset], TrainingResult], engine: str) -> Benchmark:
    def setup(quick: bool) -> Case:
        data = load_dataset("digits", clip=3.0)

        def run() -> float:
            return train(engine, data).epochs[-1].seconds

        where = "in numpy" if train is _fp else f"{engine} engine"
        return Case(run, info=f"{where}, epoch incl. evaluation", self_timed=True)

    label = f"train.{name}-epoch.digits" + ("" if train is _fp else f"[{engine}]")
    # One warm-up epoch: the first loads the compiled kernels from numba's cache (once per process).
    return Benchmark(label, "64-32-10", setup, repeats=3, quick_repeats=1, warmup=1)


BENCHMARKS: list[Benchmark] = [
    _epoch("shd", _shd, "fast"),
    _epoch("shd", _shd, "reference"),
    _epoch("sgd", _sgd, "fast"),
    _epoch("fp", _fp, "fast"),
]
