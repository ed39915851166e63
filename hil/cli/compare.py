"""`hil compare`: the same protocols on a bench and on a model of it, quantity by quantity."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def cmd_compare(args: argparse.Namespace) -> int:
    from protocols.compare import CompareSettings, compare
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
    }
    # A virtual bench is built to carry the array at the asked shape: more devices sharpen the
    # comparison (the population's scatter, not the measurement, sets its resolution).
    args.bench_arrays = {args.array: tuple(args.shape)}
    with guarded_bench(args) as bench:
        array = bench.array(args.array, args.shape)
        pulse = pulse_from(args, bench)
        model = _model_chip(args)
        with model, stored_run(args, "compare", {**params, "pulse": pulse}, bench) as run:
            result = compare(array, model.array(args.array, model_shape), pulse, settings, recorder=run)
            summary = {"bench": bench.describe(), "model": model.describe(), **result.summary()}
            finish(run, args, summary, plot_comparison(result, args.out))
    for q in result.quantities:
        mark = "inside" if q.inside else "OUTSIDE"
        print(
            f"  {q.name:<58} bench {_eng(q.bench, q.unit)} ± {_eng(q.bench_se, q.unit)}, model "
            f"{_eng(q.model, q.unit)} ± {_eng(q.model_se, q.unit)}, z {q.z:+.1f} {mark}"
        )
    flagged = result.flagged
    print(f"  {len(result.quantities) - len(flagged)} of {len(result.quantities)} quantities inside")
    return 0


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


def _eng(value: float, unit: str) -> str:
    from hil.units import eng

    return eng(value, unit)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="run the same protocols on the bench and on a model of it; residuals per quantity",
        description="Measures a jump table and a symmetry point on the bench's array and on a simulated "
        "model (a preset name, a preset file from `hil fit` or a jump table file), with the same pulse "
        "and settings, and reports per quantity the bench value, the model value, the residual and "
        "whether it lies within 3 combined standard errors. Writes summary.json and compare.png; the "
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
    p.set_defaults(func=cmd_compare)
