"""How many pulses per device the updates of a real training run carry.

    .venv/bin/python -m benchmarks.training_density [--epochs 1]

Trains SHD on the digits as benchmarks/bench_training.py does (64-32-10, protonic-asymmetric,
seed 0, BL management on) and records, for every stochastic update an array receives, its
pulses per device (sum of |counts| / devices). Prints per array shape the number of updates
and the median, mean and 90th percentile: the density at which the simulator's update speed
matters for training, next to the 0.1 / 1 / 2.5 pulses per device of the sim.update rows.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from protocols.training import MLPSpec, SHDConfig, load_dataset, train_shd
from simulators.chip import SimulatedChip
from simulators.crossbar import SimulatedCrossbar
from simulators.presets import PRESETS


@contextmanager
def recorded_densities() -> Iterator[dict[tuple[int, int], list[float]]]:
    """Within the block, every SimulatedCrossbar stochastic update appends its pulses per device
    to the list of its array's shape."""
    densities: dict[tuple[int, int], list[float]] = defaultdict(list)
    original = SimulatedCrossbar._stochastic_update

    def recording(self: SimulatedCrossbar, *args: object) -> object:
        counts = original(self, *args)
        if counts is not None:
            densities[self.shape].append(float(np.abs(counts).sum()) / counts.size)
        return counts

    SimulatedCrossbar._stochastic_update = recording  # type: ignore[method-assign]
    try:
        yield densities
    finally:
        SimulatedCrossbar._stochastic_update = original  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    summary = "Pulses per device of each stochastic update in an SHD training run on the digits."
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_density", description=summary)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    args = parser.parse_args(argv)
    data = load_dataset("digits", clip=3.0)
    chip = SimulatedChip("protonic-asymmetric", seed=0)
    with recorded_densities() as densities:
        train_shd(chip.array, MLPSpec((64, 32, 10)), data, PRESETS["protonic-asymmetric"].nominal_pulse,
                  SHDConfig(epochs=args.epochs))  # fmt: skip
    print(f"SHD on the digits, {args.epochs} epoch(s): pulses per device of each stochastic update")
    for shape, values in sorted(densities.items(), reverse=True):
        v = np.array(values)
        print(f"  {shape[0]} x {shape[1]}: {v.size} updates, median {np.median(v):.3g}, mean {v.mean():.3g}, "
              f"90th percentile {np.percentile(v, 90):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
