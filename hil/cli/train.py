"""`hil train` (SHD, TTv2, chopped TTv2, AGAD, analog SGD, floating point) and `hil reproduce shd-paper`."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.bench import Bench
from hil.benches import open_bench
from hil.cli.common import (
    UsageError,
    add_common,
    add_resume,
    check_output,
    cli_params,
    finish,
    guarded_bench,
    positive_float,
    positive_int,
    prepare_resume,
    pulse_from,
    stored_run,
)
from hil.cli.watch import add_watch, watching
from hil.progress import progress_bar
from hil.pulses import Pulse

if TYPE_CHECKING:  # the command imports protocols when it runs, not when the parser is built
    from protocols.training import Dataset, MLPSpec, TrainingResult

DATASETS = ("iris", "digits")
# Per data set, what trains well on the simulator's protonic-asymmetric preset (scans of
# seeds 0 and 1, docs/protocols/training.md): on Iris a single 4-input layer under analog noise
# stays near 80-89 % test accuracy, a hidden layer of 8 reaches 97-100 % with a faster
# transfer eta_c = 0.05; the digits take one hidden layer of 32 and eta_c = 0.01.
DEFAULT_HIDDEN = {"iris": (8,), "digits": (32,)}
DEFAULT_ETA_C = {"iris": 0.05, "digits": 0.01}
DEFAULT_EPOCHS = {"iris": 15, "digits": 20}
# Standardised inputs beyond 3 std shrink every other input of the VMM vector (see load_dataset).
INPUT_CLIP = 3.0


def algorithms_arg(text: str) -> tuple[str, ...]:
    """'shd,fp' -> ("shd", "fp"): each a row of protocols.training.registry, none twice."""
    from protocols.training.registry import ALGORITHMS

    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in ALGORITHMS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown algorithm {', '.join(unknown) or repr(text)}; choose from {', '.join(ALGORITHMS)}, "
            "comma-separated to compare several on one plot (e.g. shd,sgd,fp)"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"an algorithm is named twice in {text!r}")
    return names


def hidden_arg(text: str) -> tuple[int, ...]:
    """'32' -> (32,), '64,32' -> (64, 32), '0' or 'none' -> () (a single layer)."""
    if text.strip().lower() in ("0", "none", ""):
        return ()
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hidden widths look like 32 or 64,32 (or 0), got {text!r}"
        ) from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"hidden widths must be >= 1, got {text!r}")
    return widths


TRAIN_OPTIONS = (
    "algorithm",
    "dataset",
    "hidden",
    "epochs",
    "eta_a",
    "eta_c",
    "tau",
    "eta_h",
    "n_max",
    "threshold",
    "chop_period",
    "reference_offset",
    "agad_reference",
    "lr_sgd",
    "sgd_reference",
    "lr_fp",
    "bl_max",
    "cal_window",
    "cal_max_pairs",
)


def _print_epoch(record: Any) -> None:
    print(
        f"    epoch {record.epoch:>3}: test accuracy {100 * record.test_accuracy:6.2f} %, "
        f"train loss {record.train_loss:.4f}"
    )


@dataclass(frozen=True)
class Training:
    """What `hil train` trains: the data set, the network, and each algorithm's config and label."""

    data: Dataset
    spec: MLPSpec
    configs: dict[str, Any]
    labels: dict[str, str]

    @property
    def epochs(self) -> int:
        return int(next(iter(self.configs.values())).epochs)


def training_from(args: argparse.Namespace) -> Training:
    """The data set, network and configurations the options (and the per-data-set defaults) give."""
    from hil.cli.bench_network import hidden_for_bench
    from protocols.training import CalibrationSettings, MLPSpec, load_dataset
    from protocols.training.registry import ALGORITHMS

    data = load_dataset(args.dataset, test_fraction=0.25, seed=args.seed, clip=INPUT_CLIP)
    hidden = hidden_for_bench(args, data.n_features, data.n_classes, DEFAULT_HIDDEN[args.dataset])
    epochs = DEFAULT_EPOCHS[args.dataset] if args.epochs is None else args.epochs
    calibration = CalibrationSettings(symmetry_max_pairs=args.cal_max_pairs, symmetry_window=args.cal_window)
    common = {"epochs": epochs, "seed": args.seed}
    analog = {"bl_max": args.bl_max, "calibration": calibration, **common}
    # An algorithm without options of its own trains at its defaults with the common settings.
    options = _configs(args, analog, common)
    configs = {
        row.name: row.build_config(options.get(row.name, analog if row.analog else common))
        for row in ALGORITHMS.values()
    }
    labels = {name: ALGORITHMS[name].label_for(config) for name, config in configs.items()}
    return Training(data, MLPSpec((data.n_features, *hidden, data.n_classes)), configs, labels)


def _configs(
    args: argparse.Namespace, analog: dict[str, Any], common: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each algorithm's configuration fields from the options (the registry row builds them)."""
    from protocols.training import BufferSettings, ReferenceSettings

    eta_c = DEFAULT_ETA_C[args.dataset] if args.eta_c is None else args.eta_c
    buffer = BufferSettings(eta_h=args.eta_h, threshold=args.threshold, n_max=args.n_max)
    at_symmetry = ReferenceSettings("symmetry", args.reference_offset)
    transfer = {"eta_a": args.eta_a, "tau": args.tau, "buffer": buffer, **analog}
    # SHD's reference is placed only when moved: a reference field makes its config a
    # PlacedSHDConfig (protocols.training.registry), the same preparation at offset 0.
    placed = {"reference": at_symmetry} if args.reference_offset else {}
    return {
        "shd": {"eta_a": args.eta_a, "eta_c": eta_c, "tau": args.tau, **placed, **analog},
        "ttv2": {"reference": at_symmetry, **transfer},
        "cttv2": {"reference": at_symmetry, "chop_period": args.chop_period, **transfer},
        "agad": {
            "reference": ReferenceSettings(args.agad_reference, args.reference_offset),
            "chop_period": args.chop_period,
            **transfer,
        },
        "sgd": {"lr": args.lr_sgd, "reference": args.sgd_reference, **analog},
        "fp": {"lr": args.lr_fp, **common},
    }


def train_one(
    name: str, training: Training, bench: Bench, pulse: Pulse | None, options: dict[str, Any]
) -> TrainingResult:
    """One algorithm's training on the bench's arrays (in memory if it takes none); options:
    TrainerOptions."""
    from protocols.training.registry import algorithm

    row = algorithm(name)
    return row.train(
        training.spec,
        training.data,
        training.configs[name],
        label=training.labels[name],
        arrays=bench.array if row.analog else None,
        pulse=pulse,
        **options,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from protocols.training import plot_learning_curves
    from protocols.training.checkpoints import resume_marks
    from protocols.training.registry import algorithm

    prepare_resume(args, "train")
    training = training_from(args)
    data, spec = training.data, training.spec
    params = {
        "algorithms": list(args.algorithm),
        "dataset": data.describe(),
        "network": spec.describe(),
        "configs": {name: asdict(training.configs[name]) for name in args.algorithm},
        "cli": cli_params(args, TRAIN_OPTIONS),
    }
    results = []
    check_output(args)
    with watching(args), guarded_bench(args) as bench:
        pulse = None
        analog = [name for name in args.algorithm if algorithm(name).analog]
        if analog:
            from protocols.training.arrays import network_arrays

            first_name, first_shape = next(iter(network_arrays(analog[:1], spec).items()))
            first = bench.array(first_name, first_shape)
            pulse = params["pulse"] = pulse_from(args, bench)
            first.limits.check_pulse(pulse)  # a pulse the bench refuses leaves no run behind
        with stored_run(args, "train", params, bench, chip_from="checkpoint") as run:
            for name in args.algorithm:
                print(
                    f"  training {training.labels[name]} on {data.name}, network {list(spec.sizes)}, "
                    f"{training.epochs} epochs"
                )
                with progress_bar(f"{name} epoch", not args.no_progress) as progress:
                    # The trainers record each epoch and checkpoint into the run themselves.
                    options = dict(
                        progress=progress, on_epoch=_print_epoch, recorder=run, resume_from=args.checkpoint
                    )
                    results.append(train_one(name, training, bench, pulse, options))
            title = f"MLP {list(spec.sizes)} on {data.name}"
            resumed = resume_marks(run.store.points(run.id))  # protocols.training.checkpoints
            figure = plot_learning_curves(results, Path(args.out) / "learning_curves.png", title, resumed)
            summary = {
                "protocol": "train",
                "bench": bench.describe(),
                "table": [_table_row(r) for r in results],
                "runs": [r.summary() for r in results],
            }
            finish(run, args, summary, [figure])
    for row in summary["table"]:
        print(f"  {row['label']:<28} test accuracy {100 * row['test_accuracy']:6.2f} %")
    return 0


def _table_row(result: TrainingResult) -> dict[str, Any]:
    final = result.final
    return {
        "algorithm": result.algorithm,
        "label": result.label,
        "test_accuracy": final.test_accuracy,
        "train_accuracy": final.train_accuracy,
        "seconds_per_epoch": result.seconds_per_epoch,
    }


def cmd_reproduce_shd_paper(args: argparse.Namespace) -> int:
    from protocols.reproduce import reproduce_shd_paper

    if args.sweep:  # the asymmetry sweep (hil.cli.sweep)
        from hil.cli.sweep import reproduce_paper_sweep

        return reproduce_paper_sweep(args)
    if args.bench != "sim":
        raise UsageError(
            "the SHD paper's experiments need fresh arrays of two presets; run them with --bench sim"
        )

    def open_preset(preset: str) -> Bench:
        return open_bench("sim", preset=preset, seed=args.seed)

    if args.out is None:  # not a stored run: its figures go to one known folder
        args.out = args.out_base
    check_output(args)
    with progress_bar("shd-paper", not args.no_progress) as progress:
        summary = reproduce_shd_paper(
            open_preset,
            args.out,
            seed=args.seed,
            quick=args.quick,
            progress=progress,
            centred_shd=args.centre_reference,
        )
    net = summary["network"]
    print(f"wrote {Path(args.out) / 'summary.json'} and {len(summary['figures'])} figures")
    for row in net["table"]:
        print(f"  {row['run']:<52} test accuracy {100 * row['test_accuracy']:6.2f} %")
    print(f"  (one test set: standard error about {net['test_standard_error_points']:.1f} points)")
    for label, spans in net["shd_c_span_weights"].items():
        shown = ", ".join(f"{s['low']:+.2f} to {s['high']:+.2f}" for s in spans if s)
        print(f"  {label}: C spans {shown} (per layer, median over devices, weight units)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _register_train(sub)
    _register_reproduce(sub)


def _register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP in closed loop on the arrays: SHD, TTv2, c-TTv2, AGAD, analog SGD, floating point",
        description="Closed-loop training: every VMM and every update runs on the bench's arrays, "
        "activations, loss and backpropagation digitally. SHD, TTv2, chopped TTv2 (cttv2) and "
        "AGAD use three arrays per layer (L<i>.A_main, L<i>.A_ref, L<i>.C_main), SGD two "
        "(L<i>.W_main, L<i>.W_ref). Writes "
        "summary.json and learning_curves.png; every epoch is stored as it is evaluated.",
    )
    add_common(p, "runs/train")
    add_watch(p)
    add_resume(p)
    p.add_argument(
        "--algorithm",
        type=algorithms_arg,
        default=("shd",),
        help="shd, ttv2, cttv2, agad, sgd or fp; comma-separated to compare on one plot (default: shd)",
    )
    p.add_argument("--dataset", choices=DATASETS, default="iris", help="data set (default: iris)")
    p.add_argument(
        "--hidden",
        type=hidden_arg,
        default=None,
        help="hidden widths, e.g. 32 or 64,32; 0 for a single layer (default: iris 8, digits 32)",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="passes over the training set (default: iris 15, digits 20)",
    )
    _add_hyperparameters(p.add_argument_group("hyperparameters (weights are dimensionless)"))
    _add_transfer_hyperparameters(p.add_argument_group("TTv2, c-TTv2 and AGAD; a misplaced reference"))
    p.set_defaults(func=cmd_train)


def _add_hyperparameters(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--eta-a",
        type=positive_float,
        default=0.1,
        help="SHD, TTv2, c-TTv2, AGAD: learning rate into A (default: 0.1)",
    )
    group.add_argument(
        "--eta-c",
        type=positive_float,
        default=None,
        help="SHD: transfer rate A -> C (default: iris 0.05, digits 0.01)",
    )
    group.add_argument(
        "--tau",
        type=positive_int,
        default=1,
        help="SHD, TTv2, c-TTv2, AGAD: samples between transfers (default: 1)",
    )
    group.add_argument(
        "--lr-sgd", type=positive_float, default=0.02, help="analog SGD learning rate (default: 0.02)"
    )
    group.add_argument(
        "--sgd-reference",
        choices=("symmetry", "midrange"),
        default="symmetry",
        help="SGD: reference array at the main array's symmetry point or mid-range (default: symmetry)",
    )
    group.add_argument("--lr-fp", type=positive_float, default=0.05, help="FP learning rate (default: 0.05)")
    group.add_argument(
        "--bl-max", type=positive_int, default=31, help="longest stochastic bit stream (default: 31)"
    )
    group.add_argument(
        "--cal-window",
        type=positive_int,
        help="calibration: symmetry-point window in pairs, at least one relaxation time, every pair "
        "read (default: window and read interval chosen by the run)",
    )
    group.add_argument(
        "--cal-max-pairs",
        type=positive_int,
        default=100_000,
        help="calibration: symmetry-point pulse budget in pairs (default: 100000)",
    )


def _add_transfer_hyperparameters(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--eta-h",
        type=positive_float,
        default=0.03,
        help="TTv2, c-TTv2, AGAD: buffer gain, each read of a row of A adds eta_h times it (default: 0.03)",
    )
    group.add_argument(
        "--threshold",
        type=positive_float,
        default=1.0,
        help="TTv2, c-TTv2, AGAD: buffer threshold in steps of C (default: 1)",
    )
    group.add_argument(
        "--n-max",
        type=positive_int,
        default=15,
        help="TTv2, c-TTv2, AGAD: most pulses per device of C and transfer (default: 15)",
    )
    group.add_argument(
        "--chop-period",
        type=positive_int,
        default=20,
        help="c-TTv2, AGAD: reads of a row between flips of its chopper sign (default: 20)",
    )
    group.add_argument(
        "--reference-offset",
        type=float,
        default=0.0,
        help="SHD, TTv2, c-TTv2, AGAD: program A_ref this fraction of the conductance range above "
        "its placement (robustness studies; default: 0)",
    )
    group.add_argument(
        "--agad-reference",
        choices=("midrange", "symmetry"),
        default="midrange",
        help="AGAD: A_ref at mid-range (no symmetry point needed) or at A_main's symmetry point "
        "(default: midrange)",
    )


def _register_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="reproduce a paper's experiments on the simulator")
    rep = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    p = rep.add_parser(
        "shd-paper",
        help="the SHD paper's Figs. 1-2 regressions and the digits network comparison",
        description="Single-parameter regressions (SGD residual against G_0 on symmetric and "
        "asymmetric devices; SHD phase portraits: closed orbit vs spiral) and an MLP on the 8x8 "
        "digits with FP, SHD, TTv2, c-TTv2, AGAD and SGD on asymmetric devices, SGD on symmetric "
        "devices with the same noise and variation, SGD and SHD on ideal devices. Writes PNG "
        "figures and summary.json. About 10 minutes on two cores; --quick is a smoke run (fewer "
        "points, 3 epochs), not the measured result.",
    )
    add_common(p, "runs/shd-paper")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer optima, shorter runs, 3 epochs")
    p.add_argument(
        "--centre-reference",
        action="store_true",
        help="also train SHD with its reference centred: each layer's down pulse balanced so that "
        "A's symmetry point sits mid-range (hil run balance; docs/protocols/balance.md)",
    )
    p.add_argument(
        "--sweep", action="store_true", help="the asymmetry sweep instead: SGD, SHD, FP (docs/sweeps.md)"
    )
    p.set_defaults(func=cmd_reproduce_shd_paper)
