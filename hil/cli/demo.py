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

Step = tuple[str, Callable[[argparse.Namespace], int], dict[str, Any]]


def demo_steps() -> list[Step]:
    """What a first session at a bench does: characterise the devices, then train on them."""
    array = {"shape": (4, 4), "array": "A_main"}
    symmetry = {**array, "max_pairs": SYMMETRY_MAX_PAIRS, "window": SYMMETRY_WINDOW, "tolerance": None}
    # 400-pulse trains sweep most of the range, so the steps stand well above the read noise.
    jumps = {**array, "devices": 2, "cycles": 4, "train": 400, "bins": 30}
    training = {
        "algorithm": ("shd", "fp"), "dataset": "iris", "hidden": None, "epochs": None,
        "eta_a": 0.1, "eta_c": None, "tau": 1, "lr_sgd": 0.02, "sgd_reference": "symmetry",
        "lr_fp": 0.05, "bl_max": 31, "cal_window": 500, "cal_max_pairs": 4000,
    }  # fmt: skip
    return [
        ("symmetry-point", cmd_symmetry_point, symmetry),
        ("jump-table", cmd_jump_table, jumps),
        ("train-iris", cmd_train, training),
    ]


def cmd_demo(args: argparse.Namespace) -> int:
    base = dict(vars(args))
    print(f"protonic-hil demo on the {args.bench} bench, preset {args.preset}, seed {args.seed}")
    started = time.perf_counter()
    for name, func, extra in demo_steps():
        print(f"\n== {name}")
        func(argparse.Namespace(**{**base, **extra, "out": Path(args.out) / name}))
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
        "what a first session at a bench does. Each step writes summary.json and figures in "
        "its own folder and is stored in the run database.",
    )
    add_common(p, "runs/demo")
    p.set_defaults(func=cmd_demo)
