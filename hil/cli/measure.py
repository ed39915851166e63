"""`hil run symmetry-point` and `hil run jump-table`: the device-characterisation protocols."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.backend import CrossbarBackend
from hil.bench import Bench
from hil.cli import balance
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
    shape_arg,
    stored_run,
)
from hil.cli.watch import add_watch, watching
from hil.progress import ProgressCallback, progress_bar
from hil.pulses import Pulse
from protocols.symmetry import MAX_PAIRS, PRECISION, WINDOW_READS

TRAINS = {"auto": None, "on": True, "off": False}  # --trains -> measure_jump_table(trains=...)


@dataclass(frozen=True)
class ArrayRun:
    """What a characterisation protocol runs with: its name, the bench, the bench's array
    --array, the write pulse, the stored run and the progress callback."""

    protocol: str
    bench: Bench
    array: CrossbarBackend
    pulse: Pulse
    run: Any
    progress: ProgressCallback

    def finish(
        self,
        args: argparse.Namespace,
        summary: dict[str, Any],
        figures: list[Path],
        step: tuple[str, int] | None,
    ) -> None:
        """common.finish with the protocol's name and the bench's description in front."""
        summary = {"protocol": self.protocol, "bench": self.bench.describe(), **summary}
        finish(self.run, args, summary, figures, step)


@contextmanager
def array_run(
    args: argparse.Namespace,
    protocol: str,
    params: dict[str, Any],
    check: Callable[[CrossbarBackend, Pulse], object],
) -> Iterator[ArrayRun]:
    """The bench under the interrupt guard, its array --array of --shape, the pulse (also stored
    in the run's params) and a stored run of `protocol` with a progress bar.

    check(array, pulse) validates the protocol's settings first: a refused setting leaves no run
    behind, and neither does an output folder that cannot be written."""
    check_output(args)
    with guarded_bench(args) as bench:
        array = bench.array(args.array, args.shape)
        pulse = pulse_from(args, bench)
        check(array, pulse)
        with (
            stored_run(args, protocol, {**params, "pulse": pulse}, bench) as run,
            progress_bar(protocol.replace("-", " "), not args.no_progress) as progress,
        ):
            yield ArrayRun(protocol, bench, array, pulse, run, progress)


def cmd_symmetry_point(args: argparse.Namespace) -> int:
    from protocols.plots import plot_symmetry
    from protocols.symmetry import check_settings, find_symmetry_point

    prepare_resume(args, "symmetry-point")
    settings = {
        "max_pairs": args.max_pairs,
        "tolerance": args.tolerance,
        "window": args.window,
        "read_every": args.read_every,
        "precision": args.precision,
    }
    names = ("shape", "array", "max_pairs", "window", "tolerance", "read_every", "precision")
    params = {"shape": args.shape, **settings, "cli": cli_params(args, names)}

    def check(array: CrossbarBackend, pulse: Pulse) -> object:
        plan = check_settings(array, pulse, **settings)
        print(_time_estimate(array, plan))
        return plan

    with watching(args), array_run(args, "symmetry-point", params, check) as on:
        result = find_symmetry_point(
            on.array,
            on.pulse,
            progress=on.progress,
            recorder=on.run,
            resume_from=args.checkpoint,
            **settings,
        )
        summary = result.summary()
        on.finish(args, summary, plot_symmetry(result, args.out), ("pair", result.pairs_used))
        _report_symmetry(summary)
    return 0


def _report_symmetry(summary: dict[str, Any]) -> None:
    g, p = summary["g_sym_S"], summary["parameters"]
    print(
        f"  {summary['n_converged']} of {summary['n_devices']} devices converged after "
        f"{summary['pairs_used']} pairs; symmetry points {_us(g.get('median'))} median, "
        f"{_us(g.get('min'))} to {_us(g.get('max'))}"
    )
    spent = f"  {_minutes(p['wall_time_s'])} wall time"
    if p.get("instrument_time_estimate_s") is not None:
        spent += f", {_minutes(p['instrument_time_estimate_s'])} instrument time by the bench's timing"
    print(f"{spent}; read every {p['read_every_pairs']} pairs, {p['trains']} trains")


def _time_estimate(array: CrossbarBackend, plan: Any) -> str:
    """The line printed before a run: the budget's instrument time from the bench's timing."""
    from protocols.symmetry import budget_seconds

    seconds = budget_seconds(array, plan)
    if seconds is None:
        return "  no instrument time: this backend gives no timing to estimate it from"
    least, most = seconds
    span = _minutes(most) if least == most else f"{_minutes(least)} to {_minutes(most)}"
    return (
        f"  instrument time for the budget of {plan.max_pairs:,} pairs: {span} by the bench's timing "
        "(the run ends earlier once every device has converged and reached the precision)"
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _us(siemens: float | None) -> str:
    return "n/a" if siemens is None else f"{siemens * 1e6:.2f} uS"


def _ns(siemens: float | None) -> str:
    return "n/a" if siemens is None else f"{siemens * 1e9:.1f} nS"


def cmd_jump_table(args: argparse.Namespace) -> int:
    from protocols.jumptable import check_settings, measure_jump_table
    from protocols.plots import plot_jump_table

    prepare_resume(args, "jump-table")
    rows, cols = args.shape
    if args.devices > rows * cols:
        raise UsageError(f"--devices {args.devices} exceeds the {rows} x {cols} array")
    devices = [(k // cols, k % cols) for k in range(args.devices)]
    params = {
        "shape": args.shape,
        "devices": devices,
        "cycles": args.cycles,
        "pulses_per_train": args.train,
        "cli": cli_params(args, ("shape", "array", "devices", "cycles", "train", "bins", "trains")),
    }
    settings = {
        "n_cycles": args.cycles,
        "n_up": args.train,
        "n_bins": args.bins,
        "resume_from": args.checkpoint,
        "trains": TRAINS[args.trains],
    }

    def check(array: CrossbarBackend, pulse: Pulse) -> object:
        return check_settings(array, pulse, devices, **settings)

    with watching(args), array_run(args, "jump-table", params, check) as on:
        result = measure_jump_table(
            on.array, on.pulse, devices, progress=on.progress, recorder=on.run, **settings
        )
        Path(args.out).mkdir(parents=True, exist_ok=True)
        result.table.save(Path(args.out) / "jump_table.npz")
        summary = result.summary()
        # Per pulse-read cycle of one device; a resumed run's bench counted only its own part.
        cycles = (result.g.shape[0] - 1) * len(result.devices)
        step = ("pulse-read cycle", cycles) if args.checkpoint is None else None
        on.finish(args, summary, plot_jump_table(result, args.out), step)
        up, down = summary["up"]["mean_dG_S"], summary["down"]["mean_dG_S"]
        noise = summary["read_noise_S"]
        print(f"  mean step up {_ns(up)}, down {_ns(down)}")
        print(f"  {_read_noise_line(noise)}")
        print(f"  {_how_trained(summary['parameters']['trains'], on.array.instrument_trains)}")
    return 0


def _read_noise_line(noise: dict[str, object]) -> str:
    """One line for the summary: the read noise the table keeps apart, and the check beside it."""
    repeated = noise["median"]  # of the repeated reads
    check = "" if repeated is None or repeated != repeated else f"; repeated reads {_ns(repeated)}"
    if not noise["deconvolved"]:
        return f"read noise left inside the steps (trains too short to estimate it){check}"
    se = noise["from_steps_stderr"]
    return f"read noise {_ns(noise['from_steps'])} ± {_ns(se)} (from the steps, kept apart from them){check}"


def _how_trained(trains: bool, instrument_trains: bool) -> str:
    """One line for the summary: how the cycles ran."""
    if not trains:
        return "trains off: every device pulsed at once, all read after each pulse"
    how = "run by the instruments" if instrument_trains else "as pulse and read calls (no instrument trains)"
    return f"trains on: one device after another, each train {how}"


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run a measurement protocol (symmetry-point, jump-table, balance)")
    run_sub = run.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    p = run_sub.add_parser(
        "symmetry-point",
        help="find every device's symmetry point with parallel alternating up/down pulses",
        description="Pulse the whole array with strictly alternating up and down pulses, read every "
        "few pairs (an interval the run chooses from the relaxation time it measures, unless "
        "given), and average both phases until the estimate stops moving and reaches the "
        "precision. Prints the bench's estimate of the instrument time first. Writes "
        "summary.json (per-device estimate, uncertainty, step, convergence, time taken, "
        "transactions per pair) and figures.",
    )
    add_common(p, "runs/symmetry-point")
    add_watch(p)
    add_resume(p)
    _add_array(p)
    p.add_argument(
        "--max-pairs",
        type=positive_int,
        default=MAX_PAIRS,
        help=f"pulse budget in up+down pairs (default: {MAX_PAIRS})",
    )
    p.add_argument(
        "--window",
        type=positive_int,
        help="pairs per averaging window; at least one relaxation time (default: chosen by the "
        f"run, {WINDOW_READS} read intervals; given alone, every pair is read)",
    )
    p.add_argument(
        "--tolerance", type=positive_float, help="convergence tolerance in siemens (default: auto)"
    )
    p.add_argument(
        "--read-every",
        type=positive_int,
        help="read the array on every N-th pair only, dividing the window; up to a quarter of the "
        "relaxation time costs under 1 %% of the uncertainty (default: chosen by the run, a quarter "
        "to a whole relaxation time)",
    )
    p.add_argument(
        "--precision",
        type=positive_float,
        help="siemens: after convergence, average until every device's standard error is at most "
        f"this (default: {100 * PRECISION:g} %% of the conductance range with automatic sampling; "
        "with --window, stop at convergence)",
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
    add_watch(p)
    add_resume(p)
    _add_array(p)
    p.add_argument("--devices", type=positive_int, default=2, help="how many devices, row-major (default: 2)")
    p.add_argument("--cycles", type=positive_int, default=5, help="up/down cycles (default: 5)")
    p.add_argument("--train", type=positive_int, default=400, help="pulses per train (default: 400)")
    p.add_argument("--bins", type=positive_int, default=40, help="conductance bins (default: 40)")
    p.add_argument(
        "--trains",
        choices=tuple(TRAINS),
        default="auto",
        help="on: each device in turn runs its up and down trains as pulse-read trains; off: all "
        "devices are pulsed at once with a read after every pulse; auto: trains when the bench runs "
        "them in its instruments (an SMU -> pulse generator trigger cable: a fixed number of "
        "transactions per train). 'on' works on any bench: without instrument trains each cycle is a "
        "pulse call and a read call of one device, more transactions than off (default: auto)",
    )
    p.set_defaults(func=cmd_jump_table)

    balance.register(run_sub, array_run, _add_array)  # `hil run balance`, in a module of its own


def _add_array(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shape", type=shape_arg, default=(4, 4), help="array rows x cols (default: 4x4)")
    p.add_argument("--array", default="A_main", help="name of the array on the bench (default: A_main)")
