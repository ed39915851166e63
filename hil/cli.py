"""The `hil` command line: the composition root that puts benches and protocols together.

It is the one place in hil/ that imports protocols and simulators, lazily, inside the
commands; the contract modules import neither.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hil import __version__
from hil.bench import Bench
from hil.progress import progress_bar
from hil.pulses import Pulse

BENCHES = ("sim",)


class UsageError(Exception):
    """A command-line value is wrong; the message says what to do instead."""


# ---------------------------------------------------------------------- argument types
def shape_arg(text: str) -> tuple[int, int]:
    """'8x8' -> (8, 8)."""
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 8x8 (rows x cols), got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got {text!r}")
    return rows, cols


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


# ---------------------------------------------------------------------- benches
def open_bench(args: argparse.Namespace) -> Bench:
    """The bench named by --bench, built from --preset and --seed."""
    if args.bench == "sim":
        from simulators.chip import SimulatedChip
        from simulators.presets import PRESETS

        if args.preset not in PRESETS:
            raise UsageError(f"unknown preset {args.preset!r}; choose one of: {', '.join(sorted(PRESETS))}")
        return SimulatedChip(preset=args.preset, seed=args.seed)
    raise UsageError(f"unknown bench {args.bench!r}; choose one of: {', '.join(BENCHES)}")


def pulse_from(args: argparse.Namespace, backend: Any) -> Pulse:
    """--amplitude/--width, or the simulated device's nominal pulse when both are omitted."""
    if args.amplitude is None and args.width is None:
        nominal = getattr(backend, "nominal_pulse", None)
        if nominal is None:
            raise UsageError("this bench has no nominal pulse: give --amplitude VOLTS and --width SECONDS")
        return nominal
    if args.amplitude is None or args.width is None:
        raise UsageError("give both --amplitude VOLTS and --width SECONDS, or neither")
    return Pulse(args.amplitude, args.width)


def add_common(parser: argparse.ArgumentParser, out_default: str) -> None:
    group = parser.add_argument_group("bench and output")
    group.add_argument("--bench", choices=BENCHES, default="sim", help="where to run (default: sim)")
    group.add_argument(
        "--preset",
        default="protonic-asymmetric",
        help="simulated device preset (see `hil presets`; default: protonic-asymmetric)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of the chip and the run (default: 0)")
    group.add_argument(
        "--out", type=Path, default=Path(out_default), help=f"run folder (default: {out_default})"
    )
    group.add_argument("--amplitude", type=positive_float, help="write pulse amplitude in volts")
    group.add_argument("--width", type=positive_float, help="write pulse width in seconds")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--store",
        type=Path,
        default=Path("runs/hil-runs.sqlite"),
        help="run database (default: runs/hil-runs.sqlite)",
    )


@contextmanager
def stored_run(
    args: argparse.Namespace, protocol: str, params: dict[str, Any], bench: Bench
) -> Iterator[Any]:
    """A run in the store: status completed, aborted (Ctrl-C/SIGTERM) or failed with the error."""
    from hil.store import RunStore

    with (
        RunStore(args.store) as store,
        store.start_run(protocol, params, bench.describe(), seed=args.seed, out_dir=args.out) as run,
    ):
        yield run


def finish(run: Any, args: argparse.Namespace, summary: dict[str, Any], figures: list[Path]) -> None:
    """summary.json beside the figures, the summary in the store, and a short report."""
    from hil.results import write_summary

    summary = {**summary, "run": run.uid, "figures": [str(f.name) for f in figures]}
    path = write_summary(args.out, summary)
    run.finish("completed", summary=summary)
    print(f"run {run.uid}: wrote {path}" + (f" and {len(figures)} figures" if figures else ""))


# ---------------------------------------------------------------------- commands
def cmd_symmetry_point(args: argparse.Namespace) -> int:
    from protocols.plots import plot_symmetry
    from protocols.symmetry import find_symmetry_point

    params = {
        "shape": args.shape,
        "max_pairs": args.max_pairs,
        "window": args.window,
        "tolerance": args.tolerance,
    }
    with open_bench(args) as bench:
        array = bench.array("A_main", args.shape)
        pulse = pulse_from(args, array)
        params["pulse"] = pulse
        with (
            stored_run(args, "symmetry-point", params, bench) as run,
            progress_bar("symmetry point", not args.no_progress) as progress,
        ):
            result = find_symmetry_point(
                array, pulse, args.max_pairs, args.tolerance, args.window, progress=progress, recorder=run
            )
            figures = plot_symmetry(result, args.out)
            finish(
                run,
                args,
                {"protocol": "symmetry-point", "bench": bench.describe(), **result.summary()},
                figures,
            )
    return 0


def cmd_jump_table(args: argparse.Namespace) -> int:
    from protocols.jumptable import measure_jump_table
    from protocols.plots import plot_jump_table

    rows, cols = args.shape
    if args.devices > rows * cols:
        raise UsageError(f"--devices {args.devices} exceeds the {rows} x {cols} array")
    devices = [(k // cols, k % cols) for k in range(args.devices)]
    params = {"shape": args.shape, "devices": devices, "cycles": args.cycles, "pulses_per_train": args.train}
    with open_bench(args) as bench:
        array = bench.array("A_main", args.shape)
        pulse = pulse_from(args, array)
        params["pulse"] = pulse
        with (
            stored_run(args, "jump-table", params, bench) as run,
            progress_bar("jump table", not args.no_progress) as progress,
        ):
            result = measure_jump_table(
                array, pulse, devices, n_cycles=args.cycles, n_up=args.train, n_bins=args.bins,
                progress=progress, recorder=run,
            )  # fmt: skip
            Path(args.out).mkdir(parents=True, exist_ok=True)
            result.table.save(Path(args.out) / "jump_table.npz")
            figures = plot_jump_table(result, args.out)
            finish(
                run, args, {"protocol": "jump-table", "bench": bench.describe(), **result.summary()}, figures
            )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the built-in bench: each protocol in turn, each in its own run folder."""
    base = dict(vars(args))
    symmetry = {"shape": (4, 4), "max_pairs": 2000, "window": 100, "tolerance": None}
    jumps = {"shape": (4, 4), "devices": 2, "cycles": 3, "train": 150, "bins": 30}
    steps: list[tuple[str, Callable[[argparse.Namespace], int], dict[str, Any]]] = [
        ("symmetry-point", cmd_symmetry_point, symmetry),
        ("jump-table", cmd_jump_table, jumps),
    ]
    print(f"protonic-hil demo on the {args.bench} bench, preset {args.preset}, seed {args.seed}")
    for name, func, extra in steps:
        print(f"\n== {name}")
        step_args = argparse.Namespace(**{**base, **extra, "out": Path(args.out) / name})
        func(step_args)
    print(f"\nAll results under {args.out}/; stored runs: hil runs list --store {args.store}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from simulators.presets import PRESETS

    for name in sorted(PRESETS):
        print(f"{name}:\n  {PRESETS[name]}\n")
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    from hil.store import RunStore

    if not args.store.exists():
        print(f"no run store at {args.store} yet: runs appear here once a protocol has run")
        return 0
    with RunStore(args.store) as store:
        runs = store.runs()
    print(f"{'id':>4}  {'uid':<22} {'protocol':<16} {'status':<10} {'points':>7}  started")
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
        print(f"{r.id:>4}  {r.uid:<22} {r.protocol:<16} {r.status:<10} {r.points:>7}  {started}")
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    import json

    from hil.results import to_jsonable
    from hil.store import RunStore

    with RunStore(args.store, must_exist=True) as store:
        info = store.run(args.run)
    print(json.dumps(to_jsonable(info), indent=2))
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    from hil.export import export_run
    from hil.store import RunStore

    with RunStore(args.store, must_exist=True) as store:
        info = store.run(args.run)
        suffix = {"csv": ".csv", "hdf5": ".h5"}[args.format]
        out = args.output or Path(f"{info.uid}{suffix}")
        path = export_run(store, info.id, out, args.format)
    print(f"wrote {path} ({info.points} points of run {info.uid})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hil",
        description="Characterise and train analog crossbar chips (protonic, ECRAM, ReRAM) "
        "on a real bench, the virtual bench or the simulator.",
    )
    parser.add_argument("--version", action="version", version=f"protonic-hil {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a measurement protocol (symmetry-point, jump-table)")
    run_sub = run.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    p = run_sub.add_parser(
        "symmetry-point",
        help="find every device's symmetry point with parallel alternating up/down pulses",
        description="Pulse the whole array with strictly alternating up and down pulses, read after "
        "each, and average both phases over a window until the estimate stops moving.",
    )
    add_common(p, "runs/symmetry-point")
    p.add_argument("--shape", type=shape_arg, default=(4, 4), help="array rows x cols (default: 4x4)")
    p.add_argument("--max-pairs", type=positive_int, default=4000, help="pulse budget in up+down pairs")
    p.add_argument("--window", type=positive_int, default=200, help="pairs per averaging window")
    p.add_argument(
        "--tolerance", type=positive_float, help="convergence tolerance in siemens (default: auto)"
    )
    p.set_defaults(func=cmd_symmetry_point)

    p = run_sub.add_parser(
        "jump-table",
        help="measure the distribution of conductance change per pulse against conductance",
        description="Cycles of up trains and down trains on chosen devices with a read after every "
        "pulse; each step belongs to the conductance it started from. Writes jump_table.npz, which "
        "the simulator's table-driven device model loads.",
    )
    add_common(p, "runs/jump-table")
    p.add_argument("--shape", type=shape_arg, default=(4, 4), help="array rows x cols (default: 4x4)")
    p.add_argument("--devices", type=positive_int, default=2, help="how many devices, row-major (default: 2)")
    p.add_argument("--cycles", type=positive_int, default=5, help="up/down cycles (default: 5)")
    p.add_argument("--train", type=positive_int, default=200, help="pulses per train (default: 200)")
    p.add_argument("--bins", type=positive_int, default=50, help="conductance bins (default: 50)")
    p.set_defaults(func=cmd_jump_table)

    p = sub.add_parser(
        "demo",
        help="run the main protocols end to end on the built-in bench and write their figures",
        description="Symmetry point, then a jump table, on a simulated protonic chip: what a first "
        "session at a bench does. Each step writes summary.json and figures in its own folder.",
    )
    add_common(p, "runs/demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("presets", help="list the simulator's device presets and their parameters")
    p.set_defaults(func=cmd_presets)

    runs = sub.add_parser("runs", help="list, show and export stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    store_help = "the run database (default: runs/hil-runs.sqlite)"
    p = runs_sub.add_parser("list", help="one line per stored run")
    p.add_argument("--store", type=Path, default=Path("runs/hil-runs.sqlite"), help=store_help)
    p.set_defaults(func=cmd_runs_list)
    p = runs_sub.add_parser("show", help="a run's metadata, parameters, status and summary as JSON")
    p.add_argument("run", help="run id or a unique prefix of its uid")
    p.add_argument("--store", type=Path, default=Path("runs/hil-runs.sqlite"), help=store_help)
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser("export", help="write a run's points to CSV or HDF5")
    p.add_argument("run", help="run id or a unique prefix of its uid")
    p.add_argument("--format", choices=("csv", "hdf5"), default="csv", help="file format (default: csv)")
    p.add_argument("--output", "-o", type=Path, help="file to write (default: <uid>.csv or <uid>.h5)")
    p.add_argument("--store", type=Path, default=Path("runs/hil-runs.sqlite"), help=store_help)
    p.set_defaults(func=cmd_runs_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    started = time.perf_counter()
    try:
        return func(args)
    except KeyboardInterrupt:
        print("\ninterrupted; the bench was closed and left safe", file=sys.stderr)
        return 130
    except (UsageError, ValueError, LookupError, OSError) as exc:
        if args.debug:
            raise
        print(f"hil {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.debug:
            print(f"[{time.perf_counter() - started:.1f} s]", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
