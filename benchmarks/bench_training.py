"""Training benchmark: one epoch of SHD on the digits (MLP 64-32-10) on a SimulatedChip.

The epoch's seconds are the training loop's own measurement (TrainingResult.epochs[1].seconds:
1347 training samples, each forward, backward, update and transfer on the arrays, plus the
evaluation passes over the training and test sets); the one-time preparation (symmetry points,
programming) runs before it and is not counted. Settings as in docs/protocols/training.md:
protonic-asymmetric, eta_a 0.1, eta_c 0.01, tau 1, BL 31, clip 3, seed 0.
"""

from __future__ import annotations

from benchmarks.core import Benchmark, Case
from protocols.training import MLPSpec, SHDConfig, load_dataset, train_shd
from simulators.chip import SimulatedChip
from simulators.presets import PRESETS


def _epoch(engine: str) -> Benchmark:
    def setup(quick: bool) -> Case:
        data = load_dataset("digits", clip=3.0)
        pulse = PRESETS["protonic-asymmetric"].nominal_pulse

        def run() -> float:
            chip = SimulatedChip("protonic-asymmetric", seed=0, engine=engine)
            result = train_shd(chip.array, MLPSpec((64, 32, 10)), data, pulse, SHDConfig(epochs=1))
            return result.epochs[-1].seconds

        return Case(run, info=f"{engine} engine, epoch incl. evaluation", self_timed=True)

    name = f"train.shd-epoch.digits[{engine}]"
    return Benchmark(name, "64-32-10", setup, repeats=3, quick_repeats=1, warmup=0)


BENCHMARKS: list[Benchmark] = [_epoch("fast"), _epoch("reference")]
