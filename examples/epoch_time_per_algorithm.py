"""Seconds per training epoch of SHD, TTv2, chopped TTv2, AGAD and SGD on the digits network.

    .venv/bin/python examples/epoch_time_per_algorithm.py [--rounds 3] [--epochs 2]

MLP 64-32-10 on the digits (1347 samples a epoch, both evaluation passes included, the
one-time preparation not), on SimulatedChip("protonic-asymmetric", seed 0). The algorithms run
in turn, round after round, so that a machine whose speed drifts slows them alike; the
printout gives each one's median seconds per epoch and its median ratio to SHD within a round.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from protocols.training import (
    AGADConfig,
    CalibrationSettings,
    ChoppedConfig,
    MLPSpec,
    SGDConfig,
    SHDConfig,
    TTv2Config,
    load_dataset,
    train_agad,
    train_chopped,
    train_sgd,
    train_shd,
    train_ttv2,
)
from simulators.chip import SimulatedChip

# The preparation is not part of an epoch: a short calibration keeps the rounds short.
CAL = CalibrationSettings(symmetry_max_pairs=300, symmetry_window=100)
TRAINERS = {
    "shd": (train_shd, SHDConfig(eta_a=0.1, eta_c=0.01, calibration=CAL)),
    "ttv2": (train_ttv2, TTv2Config(calibration=CAL)),
    "cttv2": (train_chopped, ChoppedConfig(calibration=CAL)),
    "agad": (train_agad, AGADConfig(calibration=CAL)),
    "sgd": (train_sgd, SGDConfig(lr=0.02, calibration=CAL)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("digits", 0.25, 0, 3.0)
    spec = MLPSpec((data.n_features, 32, data.n_classes))
    seconds: dict[str, list[float]] = {name: [] for name in TRAINERS}
    for _ in range(args.rounds):
        for name, (train, config) in TRAINERS.items():
            with SimulatedChip("protonic-asymmetric", seed=0) as chip:
                cfg = dataclasses.replace(config, epochs=args.epochs)
                result = train(chip.array, spec, data, chip.nominal_pulse, cfg)
            seconds[name].append(result.seconds_per_epoch)
    for name, values in seconds.items():
        ratios = [v / s for v, s in zip(values, seconds["shd"], strict=True)]
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:<6} {statistics.median(values):6.2f} s per epoch (rounds {rounds}), "
              f"x{statistics.median(ratios):.2f} of SHD")  # fmt: skip


if __name__ == "__main__":
    main()
