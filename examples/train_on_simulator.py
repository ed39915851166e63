"""Train an MLP with SHD on a simulated protonic chip, next to floating point, and plot both.

    .venv/bin/python examples/train_on_simulator.py [--dataset digits] [--epochs 5] [--out DIR]

The arrays come from the bench hil.benches.open_bench("sim") opens, a simulated chip; open
"virtual" or a bench TOML instead (with the arrays of the network and a pulse of your choice)
and nothing else changes: the trainers only call bench.array(name, shape).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.benches import open_bench
from protocols.training.datasets import load_dataset
from protocols.training.floating_point import FloatConfig, train_float
from protocols.training.network import MLPSpec
from protocols.training.plots import plot_learning_curves
from protocols.training.shd import SHDConfig, train_shd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("iris", "digits"), default="iris")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/example-training"))
    args = parser.parse_args()

    data = load_dataset(args.dataset, test_fraction=0.25, seed=args.seed, clip=3.0)
    hidden = 8 if args.dataset == "iris" else 32
    spec = MLPSpec((data.n_features, hidden, data.n_classes))  # one array per layer, bias row added

    eta_c = 0.05 if args.dataset == "iris" else 0.01
    with open_bench("sim", preset="protonic-asymmetric", seed=args.seed) as bench:
        # The simulated devices know their nominal write pulse; at a real bench you choose it.
        pulse = bench.nominal_pulse
        config = SHDConfig(epochs=args.epochs, eta_a=0.1, eta_c=eta_c, seed=args.seed)
        shd = train_shd(bench.array, spec, data, pulse, config)
    fp = train_float(spec, data, FloatConfig(epochs=args.epochs, lr=0.05, seed=args.seed))

    figure = plot_learning_curves([shd, fp], args.out / "learning_curves.png")
    for result in (shd, fp):
        print(f"{result.label:<14} test accuracy {100 * result.final.test_accuracy:6.2f} %")
    print(f"SHD issued {shd.ops.updates} parallel updates and {shd.ops.vmm_calls} array VMMs")
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
