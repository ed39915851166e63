"""What every `hil` command shares: argument types, the bench, the run store, run folders."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hil.bench import Bench
from hil.pulses import Pulse

BENCHES = ("sim",)
DEFAULT_STORE = "runs/hil-runs.sqlite"


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

        if args.preset.endswith(".toml"):
            if not Path(args.preset).is_file():
                raise UsageError(
                    f"no preset file {args.preset}: give a path `hil fit` wrote, or a preset name"
                )
        elif args.preset not in PRESETS:
            raise UsageError(
                f"unknown preset {args.preset!r}; choose one of: {', '.join(sorted(PRESETS))}, "
                "or the path of a preset file (*.toml) that `hil fit` wrote"
            )
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
        help="simulated device preset: a name (see `hil presets`) or a preset file from `hil fit` "
        "(default: protonic-asymmetric)",
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
        default=Path(DEFAULT_STORE),
        help=f"run database (default: {DEFAULT_STORE})",
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
