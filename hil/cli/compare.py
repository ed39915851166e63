"""`hil compare`: the same protocols on a bench and on a model of it, quantity by quantity."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.bench import Bench
from hil.cli.common import (
    UsageError,
    add_common,
    check_output,
    cli_params,
    finish,
    guarded_bench,
    positive_int,
    pulse_from,
    seed_arg,
    shape_arg,
    stored_run,
)
from hil.pulses import Pulse


def cmd_compare(args: argparse.Namespace) -> int:
    from protocols.compare import CompareSettings, compare
    from protocols.compare_plots import plot_training_comparison
    from protocols.plots import plot_comparison

    check_output(args)
    rows, cols = args.shape
    model_shape = args.model_shape or (2 * rows, 2 * cols)
    settings = CompareSettings(
        devices=args.devices, cycles=args.cycles, train=args.train, pairs=args.pairs, window=args.window
    )
    params = {
        "shape": args.shape,
        "model": str(args.model),
        "model_shape": model_shape,
        "model_seed": args.model_seed,
        "cli": cli_params(args, ("shape", "array", "model", "model_seed", "devices", "cycles", "train")),
        "training": {"epochs": args.training_epochs, "tail": args.training_tail},
    }
    # A virtual bench is built to carry the array at the asked shape: more devices sharpen the
    # comparison (the population's scatter, not the measurement, sets its resolution).
    training = _training(args)
    args.bench_arrays = {args.array: tuple(args.shape), **(training.arrays if training else {})}
    with guarded_bench(args) as bench:
        array = bench.array(args.array, args.shape)
        pulse = pulse_from(args, bench)
        model = _model_chip(args)
        plan = None if training is None else training.plan(pulse, bench, model, args.training_tail)
        with model, stored_run(args, "compare", {**params, "pulse": pulse}, bench) as run:
            result = compare(
                array, model.array(args.array, model_shape), pulse, settings, recorder=run, training=plan
            )
            summary = {"bench": bench.describe(), "model": model.describe(), **result.summary()}
            figures = plot_comparison(result, args.out) + plot_training_comparison(result, args.out)
            finish(run, args, summary, figures)
    _report(result)
    return 0


def _report(result: Any) -> None:
    """Each side's learning curve (if trained), then every quantity with its verdict."""
    if result.training is not None:
        bench, model = result.training["bench"], result.training["model"]
        print(f"  {bench.label}: test accuracy and train loss per epoch, bench | model")
        for b, m in zip(bench.epochs, model.epochs, strict=True):
            print(
                f"    epoch {b.epoch:>2}: {100 * b.test_accuracy:6.2f} % {b.train_loss:.4f} | "
                f"{100 * m.test_accuracy:6.2f} % {m.train_loss:.4f}"
            )
    for q in result.quantities:
        mark = "inside" if q.inside else "OUTSIDE"
        print(
            f"  {q.name:<58} bench {_value(q.bench, q.unit)} ± {_value(q.bench_se, q.unit)}, model "
            f"{_value(q.model, q.unit)} ± {_value(q.model_se, q.unit)}, z {q.z:+.1f} {mark}"
        )
    flagged = result.flagged
    print(f"  {len(result.quantities) - len(flagged)} of {len(result.quantities)} quantities inside")


@dataclass(frozen=True)
class _Training:
    """compare's short training: analog SGD of Iris on one layer (4 inputs and a bias row to 3
    outputs), reference at mid-range (no symmetry point to program: short and the same on both
    sides); the main array's calibration takes CALIBRATION_PAIRS pairs."""

    data: Any
    spec: Any
    config: Any

    @property
    def arrays(self) -> dict[str, tuple[int, int]]:
        from protocols.training.arrays import network_arrays

        return network_arrays(["sgd"], self.spec)

    def plan(self, pulse: Pulse, bench: Bench, model: Bench, tail: int) -> Any:
        from protocols.compare import TrainingPlan
        from protocols.training import train_sgd

        def train(arrays: Any) -> Any:
            return train_sgd(arrays, self.spec, self.data, pulse, self.config, "analog SGD on Iris")

        return TrainingPlan(train, bench.array, model.array, tail=tail)


CALIBRATION_PAIRS = 200  # pairs of the SGD main array's symmetry search, in windows of a quarter


def _training(args: argparse.Namespace) -> _Training | None:
    """The short training of --training-epochs (None: 0, skipped)."""
    if args.training_epochs == 0:
        return None
    if args.training_epochs < args.training_tail:
        raise UsageError(
            f"--training-epochs {args.training_epochs} is fewer than --training-tail {args.training_tail}"
        )
    from hil.cli.train import INPUT_CLIP
    from protocols.training import CalibrationSettings, MLPSpec, SGDConfig, load_dataset

    data = load_dataset("iris", test_fraction=0.25, seed=args.seed, clip=INPUT_CLIP)
    calibration = CalibrationSettings(
        symmetry_max_pairs=CALIBRATION_PAIRS, symmetry_window=CALIBRATION_PAIRS // 4
    )
    config = SGDConfig(
        epochs=args.training_epochs, seed=args.seed, reference="midrange", calibration=calibration
    )
    return _Training(data, MLPSpec((data.n_features, data.n_classes)), config)


TRAINING_EPOCHS = 5


def _model_chip(args: argparse.Namespace) -> Bench:
    """The model named by --model: a jump table file (*.npz), a preset file (*.toml) or a name."""
    from hil.jumptable import JumpTable
    from simulators.chip import SimulatedChip

    path = Path(args.model)
    if path.suffix == ".npz":
        if not path.is_file():
            raise UsageError(f"--model {path}: no such jump table file")
        return SimulatedChip.from_jump_table(JumpTable.load(path), seed=args.model_seed)
    if path.suffix == ".toml" and not path.is_file():
        raise UsageError(f"--model {path}: no such preset file")
    try:
        return SimulatedChip(preset=args.model, seed=args.model_seed)
    except (KeyError, ValueError) as exc:
        raise UsageError(f"--model {args.model}: {exc}") from None


def _value(value: float, unit: str) -> str:
    """Siemens in engineering notation; percentages and plain numbers as they are."""
    from hil.units import eng

    if unit == "S":
        return eng(value, unit)
    return f"{value:.2f} %" if unit == "%" else f"{value:.4f}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="run the same protocols on the bench and on a model of it; residuals per quantity",
        description="Measures a jump table, a symmetry point and a short training (analog SGD on Iris; "
        "--training-epochs 0 skips it) on the bench and on a simulated "
        "model (a preset name, a preset file from `hil fit` or a jump table file), with the same pulse "
        "and settings, and reports per quantity the bench value, the model value, the residual and "
        "whether it lies within 3 combined standard errors. Writes summary.json, compare.png and "
        "compare_training.png; the "
        "comparison is a stored run (not resumable: run it again).",
    )
    p.add_argument("--model", required=True, help="preset name, preset.toml (hil fit) or jump_table.npz")
    p.add_argument("--model-seed", type=seed_arg, default=1, help="seed of the model chip (default: 1)")
    p.add_argument(
        "--model-shape",
        type=shape_arg,
        help="rows x cols of the model's array (default: twice the bench's each way: a larger "
        "simulated population leaves less of its own scatter in the comparison)",
    )
    add_common(p, "runs/compare")
    p.add_argument("--shape", type=shape_arg, default=(4, 4), help="bench array rows x cols (default: 4x4)")
    p.add_argument("--array", default="A_main", help="name of the array on the bench (default: A_main)")
    p.add_argument("--devices", type=positive_int, help="bench devices of the jump table (default: all)")
    p.add_argument("--cycles", type=positive_int, default=3, help="jump-table cycles (default: 3)")
    p.add_argument("--train", type=positive_int, default=400, help="pulses per train (default: 400)")
    p.add_argument("--pairs", type=positive_int, default=1500, help="symmetry-search pairs (default: 1500)")
    p.add_argument("--window", type=positive_int, default=300, help="pairs per window (default: 300)")
    p.add_argument(
        "--training-epochs",
        type=int,
        default=TRAINING_EPOCHS,
        help=f"epochs of the short training (analog SGD on Iris) on both sides; 0 skips it "
        f"(default: {TRAINING_EPOCHS})",
    )
    p.add_argument(
        "--training-tail",
        type=int,
        default=3,
        help="last epochs whose mean test accuracy and train loss are compared; their spread is "
        "the uncertainty (default: 3)",
    )
    p.set_defaults(func=cmd_compare)
