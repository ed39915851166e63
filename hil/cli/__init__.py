"""The `hil` command line: the composition root that puts benches and protocols together.

It is the one place in hil/ that imports protocols, simulators and drivers, lazily, inside
the commands; the contract modules import none of them (hil.benches, which opens a bench by
name for the commands and for scripts alike, names its implementations by module path).
Each command turns its options into arguments of library calls and prints what they return.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from hil import __version__
from hil.cli import benches, compare, demo, fit, measure, presets, runs, sweep, train, watch
from hil.cli.failures import explain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hil",
        description="Characterise and train analog crossbar chips (protonic, ECRAM, ReRAM) "
        "on a real bench, the virtual bench or the simulator.",
    )
    parser.add_argument("--version", action="version", version=f"protonic-hil {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (measure, train, fit, compare, demo, benches, presets, runs, watch, sweep):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    started = time.perf_counter()
    try:
        return func(args)
    except KeyboardInterrupt as exc:
        # StopRequested (hil.interrupts) carries 128 + the signal number; a bare Ctrl-C is 130.
        status, lines = explain(args, exc)
        print("\n" + "\n".join(lines), file=sys.stderr)
        return status
    except Exception as exc:
        if args.debug:
            raise
        status, lines = explain(args, exc)
        print("\n".join(lines), file=sys.stderr)
        return status
    finally:
        if args.debug:
            print(f"[{time.perf_counter() - started:.1f} s]", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
