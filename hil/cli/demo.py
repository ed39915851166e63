"""`hil demo`: the main job on the built-in bench, each protocol in its own run folder."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hil.cli import measure, train
from hil.cli.common import add_common
from hil.cli.measure import cmd_jump_table, cmd_symmetry_point
from hil.cli.train import cmd_train
from hil.cli.watch import add_watch, watching

Step = tuple[str, Callable[[argparse.Namespace], int], dict[str, Any]]
# The command each step runs, as it is typed: a step starts from that command's defaults.
STEP_COMMANDS = {
    "symmetry-point": ("run", "symmetry-point"),
    "jump-table": ("run", "jump-table"),
    "train-iris": ("train",),
}


def demo_steps(bench: str) -> list[Step]:
    """What a first session at a bench does: characterise the devices, then train on them;
    each step gives only what differs from its command's defaults.

    On instruments (the virtual bench) every read is a round trip, so the demo pulses harder:
    6 V x 20 ns moves the simulated devices 4x as far as their nominal pulse, their symmetry
    points settle within ~55 pairs instead of ~230, and a 150-pair window suffices. The bare
    simulator keeps the nominal pulse and the protocols' default windows.
    """
    symmetry: dict[str, Any] = {}
    # Trains long enough to sweep most of the range, so the steps stand above the read noise.
    jumps: dict[str, Any] = {"cycles": 4, "bins": 30}
    training: dict[str, Any] = {"algorithm": ("shd", "fp"), "dataset": "iris"}
    if bench != "sim":
        strong = {"amplitude": 6.0, "width": 20e-9}
        symmetry |= {**strong, "max_pairs": 1500, "window": 150}
        jumps |= {**strong, "cycles": 3, "train": 150}
        # The virtual bench's Iris arrays are those of a 4-4-3 network; VMMs re-read only
        # the devices pulsed since their last reading.
        training |= {**strong, "hidden": (4,), "epochs": 5, "cal_window": 150, "cal_max_pairs": 1500}
        training |= {"vmm_reads": "after_write"}
    return [
        ("symmetry-point", cmd_symmetry_point, symmetry),
        ("jump-table", cmd_jump_table, jumps),
        ("train-iris", cmd_train, training),
    ]


def command_defaults(argv: Sequence[str]) -> dict[str, Any]:
    """Every option of the command `argv` at its default, as that command's parser gives it."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    measure.register(sub)
    train.register(sub)
    return vars(parser.parse_args(argv))


def step_arguments(args: argparse.Namespace, name: str, extra: dict[str, Any]) -> argparse.Namespace:
    """The namespace the demo's step `name` runs with: its command's defaults, the demo's own
    options, then the step's (a demo step never resumes a stopped run, and is watched by the
    demo's own viewer, if any)."""
    options = {**command_defaults(STEP_COMMANDS[name]), **vars(args), "resume": None, **extra}
    options["watch"] = False
    out = Path(args.out if args.out is not None else args.out_base)
    return argparse.Namespace(**{**options, "out": out / name})


def cmd_demo(args: argparse.Namespace) -> int:
    if args.out is None:  # each demo its own folder, named by when it started
        args.out = Path(args.out_base) / time.strftime("%Y%m%d-%H%M%S")
    print(f"protonic-hil demo on the {args.bench} bench, preset {args.preset}, seed {args.seed}")
    started = time.perf_counter()
    with watching(args):
        for name, func, extra in demo_steps(args.bench):
            print(f"\n== {name}")
            func(step_arguments(args, name, extra))
    print(
        f"\nAll results under {args.out}/ ({time.perf_counter() - started:.0f} s); "
        f"stored runs: hil runs list --store {args.store}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main protocols end to end on the built-in bench and write their figures",
        description="Symmetry point, a jump table, then SHD against floating-point training on Iris: "
        "what a first session at a bench does, by default on the virtual bench (virtual SMU, pulse "
        "generator and relay matrix on loopback, driven through the real drivers; --bench sim for "
        "the bare simulator). Each step writes summary.json and figures in its own folder and is "
        "stored in the run database.",
    )
    add_common(p, "runs/demo", bench_default="virtual")
    add_watch(p)
    p.set_defaults(func=cmd_demo)
