"""`hil demo`: the main job on the built-in bench, each protocol in its own run folder."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.cli.common import add_common
from hil.cli.measure import SYMMETRY_MAX_PAIRS, SYMMETRY_WINDOW, cmd_jump_table, cmd_symmetry_point
from hil.cli.train import cmd_train
from hil.cli.watch import add_watch, watching

Step = tuple[str, Callable[[argparse.Namespace], int], dict[str, Any]]


def demo_steps(bench: str) -> list[Step]:
    """What a first session at a bench does: characterise the devices, then train on them.

    On instruments (the virtual bench) every read is a round trip, so the demo pulses harder:
    6 V x 20 ns moves the simulated devices 4x as far as their nominal pulse, their symmetry
    points settle within ~55 pairs instead of ~230, and a 150-pair window suffices. The bare
    simulator keeps the nominal pulse and the protocols' default windows.
    """
    array = {"shape": (4, 4), "array": "A_main"}
    training = {
        "algorithm": ("shd", "fp"), "dataset": "iris", "hidden": None, "epochs": None,
        "eta_a": 0.1, "eta_c": None, "tau": 1, "lr_sgd": 0.02, "sgd_reference": "symmetry",
        "lr_fp": 0.05, "bl_max": 31, "cal_window": 500, "cal_max_pairs": 4000,
    }  # fmt: skip
    symmetry = {**array, "max_pairs": SYMMETRY_MAX_PAIRS, "window": SYMMETRY_WINDOW, "tolerance": None}
    # Trains long enough to sweep most of the range, so the steps stand above the read noise.
    jumps = {**array, "devices": 2, "cycles": 4, "train": 400, "bins": 30, "trains": "auto"}
    if bench != "sim":
        strong = {"amplitude": 6.0, "width": 20e-9}
        symmetry |= {**strong, "max_pairs": 1500, "window": 150}
        jumps |= {**strong, "cycles": 3, "train": 150}
        # The virtual bench's Iris arrays are those of a 4-4-3 network; VMMs re-read only
        # the devices pulsed since their last reading.
        training |= {**strong, "hidden": (4,), "epochs": 5, "cal_window": 150, "cal_max_pairs": 1500,
                     "vmm_reads": "after_write"}  # fmt: skip
    return [
        ("symmetry-point", cmd_symmetry_point, symmetry),
        ("jump-table", cmd_jump_table, jumps),
        ("train-iris", cmd_train, training),
    ]


def step_arguments(args: argparse.Namespace, name: str, extra: dict[str, Any]) -> argparse.Namespace:
    """The namespace the demo's step `name` runs with: the demo's own options, then the step's
    (a demo step never resumes a stopped run, and is watched by the demo's viewer, if any)."""
    return argparse.Namespace(
        **{**vars(args), "resume": None, "watch": False, **extra, "out": Path(args.out) / name}
    )


def cmd_demo(args: argparse.Namespace) -> int:
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
