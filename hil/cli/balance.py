"""`hil run balance`: the down pulse that puts the symmetry point at a chosen conductance."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from hil.backend import CrossbarBackend
from hil.cli.common import (
    UsageError,
    add_common,
    cli_params,
    positive_float,
    positive_int,
)
from hil.pulses import Pulse, PulsePair
from hil.units import eng

OPTIONS = ("shape", "array", "target", "vary", "tolerance", "max_points", "first_step", "lowest")
OPTIONS += ("max_pairs", "window")


def settings_from(args: argparse.Namespace) -> Any:
    """The BalanceSettings of the command's options."""
    from protocols.balance import BalanceSettings

    symmetry = {k: getattr(args, k) for k in ("max_pairs", "window") if getattr(args, k) is not None}
    try:
        return BalanceSettings(
            target=args.target,
            knob=args.vary,
            tolerance=args.tolerance,
            max_points=args.max_points,
            first_step=args.first_step,
            lowest=args.lowest,
            symmetry=symmetry,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_balance(args: argparse.Namespace, array_run: Callable[..., Any]) -> int:
    """array_run: hil.cli.measure.array_run (passed in: that module registers this command)."""
    from protocols.balance import check_balance, pulse_balance
    from protocols.balance_plots import plot_balance

    settings = settings_from(args)
    params = {"shape": args.shape, "settings": settings, "cli": cli_params(args, OPTIONS)}

    def check(array: CrossbarBackend, pulse: Pulse | PulsePair) -> object:
        return check_balance(array, pulse, settings)

    args.checkpoint = args.resume_id = None  # a balance starts afresh: each point relaxes anew
    with array_run(args, "balance", params, check) as on:
        result = pulse_balance(on.array, on.pulse, settings, recorder=on.run, on_point=_report_point)
        summary = result.summary()
        on.finish(args, summary, plot_balance(result, args.out), None)
        _report(result)
    return 0


def _report_point(point: Any) -> None:
    """One line per symmetry-point measurement of the search (a protocols.balance.BalancePoint)."""
    mean, sem = point.mean()
    print(f"  down {point.value:.6g}: mean symmetry point {eng(mean, 'S', 4)} ± {eng(sem, 'S', 2)}"
          f" after {point.pairs} pairs")  # fmt: skip


def _report(result: Any) -> None:
    unit = result.knob.unit
    finite = result.per_device_value[result.per_device_reachable]
    spread = f"{eng(finite.min(), unit, 4)} to {eng(finite.max(), unit, 4)}" if finite.size else "n/a"
    print(
        f"  down {result.knob} {eng(result.value, unit, 4)} ± {eng(result.value_std, unit, 2)} puts the "
        f"mean symmetry point at {eng(result.predicted, 'S', 4)} (target {eng(result.target, 'S', 4)}); "
        f"pulses: {result.pulses}"
    )
    print(
        f"  per device: {spread}; {int(result.per_device_reachable.sum())} of "
        f"{result.per_device_value.size} devices within the limits"
    )


def register(
    run_sub: argparse._SubParsersAction,
    array_run: Callable[..., Any],
    add_array: Callable[[argparse.ArgumentParser], None],
) -> None:
    """`hil run balance` under the `run` command's subcommands (hil.cli.measure passes its
    array_run and its --shape/--array options)."""
    p = run_sub.add_parser(
        "balance",
        help="find the down pulse that puts the symmetry point at a chosen conductance",
        description="Measure the symmetry point at a few settings of the down pulse's amplitude (or "
        "width) and solve for the one that puts the array's mean symmetry point at --target "
        "(default: mid-range), within the limits, with its uncertainty; each device's own answer "
        "too. The up pulse is --up (or --amplitude/--width); --down is the first down pulse tried. "
        "Writes summary.json and balance.png.",
    )
    add_common(p, "runs/balance")
    add_array(p)
    p.add_argument("--target", type=positive_float, help="siemens (default: the middle of the nominal range)")
    p.add_argument("--vary", choices=("amplitude", "width"), default="amplitude",
                   help="what of the down pulse is tuned (default: amplitude)")  # fmt: skip
    p.add_argument("--tolerance", type=positive_float,
                   help="siemens: stop once the mean point is this close (default: 1%% of the range "
                   "or 2 standard errors)")  # fmt: skip
    p.add_argument("--max-points", type=positive_int, default=6,
                   help="symmetry-point measurements at most (default: 6)")  # fmt: skip
    p.add_argument("--first-step", type=positive_float,
                   help="the first move: volts (default 0.25) or a width factor (default 1.5)")  # fmt: skip
    p.add_argument("--lowest", type=positive_float,
                   help="the weakest down setting tried, volts or seconds (default: half the up "
                   "amplitude, or the shortest width allowed)")  # fmt: skip
    p.add_argument("--max-pairs", type=positive_int, help="pair budget of each symmetry-point measurement")
    p.add_argument("--window", type=positive_int, help="averaging window of each measurement, pairs")
    p.set_defaults(func=functools.partial(cmd_balance, array_run=array_run), resume=None)
