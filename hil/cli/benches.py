"""`hil bench up` and `hil bench check`: serve the virtual bench, check a bench file's instruments.

Which bench a command runs on (`--bench sim|virtual|PATH.toml`) is hil.benches.open_bench.
"""

from __future__ import annotations

import argparse
import math
import re
import signal
import threading
from pathlib import Path

from hil.benches import virtual_bench_file
from hil.cli.common import UsageError

SIGNAL_POLL_S = 0.2  # seconds between the main thread's looks for a pending Ctrl-C


# ---------------------------------------------------------------------- hil bench up / check
def cmd_bench_up(args: argparse.Namespace) -> int:
    """Serve the virtual instruments until Ctrl-C; write a bench file with their live addresses."""
    from simulators.virtual.launch import start_virtual_bench

    source = Path(args.config) if args.config else virtual_bench_file()
    for option, value in (("--latency", args.latency), ("--time-scale", args.time_scale)):
        if not 0.0 <= value < math.inf:
            raise UsageError(f"{option} must be a finite number >= 0, got {value!r}")
    virtual, config = start_virtual_bench(
        source, preset=args.preset, seed=args.seed, latency=args.latency, time_scale=args.time_scale
    )
    try:
        text = f"# Written by `hil bench up` from {source}: the addresses are live while it runs.\n"
        text += source.read_text(encoding="utf-8")
        for role, instrument in config.instruments.items():
            text = _set_address(text, role, instrument.address)
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        print(f"virtual bench up ({config.name}, preset {args.preset}, seed {args.seed}):")
        for role, instrument in config.instruments.items():
            print(f"  {role:<7} {instrument.driver:<15} {instrument.address}")
        print(
            f"wrote {args.write}: hil bench check {args.write}, or --bench {args.write} --g-range GMIN,GMAX"
        )
        print("Ctrl-C stops the instruments", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            # Wake now and then: the kernel may deliver Ctrl-C to a server thread, and a main thread
            # blocked in an untimed wait would never run Python's handler for it.
            while not stop.wait(SIGNAL_POLL_S):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        virtual.stop()
    print("virtual bench stopped")
    return 0


def _set_address(text: str, role: str, address: str) -> str:
    """Replace the address line of [instruments.ROLE] in a bench file's text."""
    table = re.search(rf"^\[instruments\.{role}\]\s*$", text, flags=re.MULTILINE)
    if table is None:
        raise ValueError(f"the bench file has no [instruments.{role}] table")
    line = re.compile(r'^address\s*=\s*"[^"]*"', flags=re.MULTILINE)
    found = line.search(text, table.end())
    if found is None:
        raise ValueError(f"[instruments.{role}] has no address line")
    return text[: found.start()] + f'address = "{address}"' + text[found.end() :]


def cmd_bench_check(args: argparse.Namespace) -> int:
    """Connect, identify, verify routing and limits; print the table; exit 1 if anything failed."""
    from drivers.bench import check_bench, format_check_table
    from drivers.registry import known_drivers
    from hil.benchconfig import load_bench_config

    if args.config == "virtual":
        from simulators.virtual.launch import virtual_bench

        with virtual_bench(virtual_bench_file(), seed=args.seed) as (_, config):
            rows = check_bench(config)
    else:
        rows = check_bench(load_bench_config(Path(args.config), known_drivers()))
    print(format_check_table(rows))
    failed = [r for r in rows if r.status == "FAIL"]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} checks passed"
        + (": fix the FAIL rows" if failed else "")
    )
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="start the virtual bench, or check a bench file's instruments")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="ACTION", required=True)
    p = bench_sub.add_parser(
        "up",
        help="serve the virtual instruments on loopback and write a bench file with their addresses",
        description="Starts the virtual SMU, pulse generator and switch matrix of a bench file (default: "
        "the shipped virtual bench), wired to a simulated chip, and writes the file again with the "
        "live addresses. Anything that speaks VISA can then drive them; Ctrl-C stops them.",
    )
    p.add_argument("config", nargs="?", help="bench file to serve (default: the shipped virtual bench)")
    p.add_argument(
        "--write", type=Path, default=Path("runs/virtual-bench.toml"), help="live bench file to write"
    )
    p.add_argument("--preset", default="protonic-asymmetric", help="simulated device preset")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated chip (default: 0)")
    p.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every transaction (default: 0)"
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        metavar="S",
        help="wall seconds the instruments stay busy per second their commands take on real instruments "
        "(readings, delays, bursts, relay settling; docs/virtual-timing.md): 0 off (default), 1 real time",
    )
    p.set_defaults(func=cmd_bench_up)

    p = bench_sub.add_parser(
        "check",
        help="connect a bench file's instruments, identify them, verify routing and limits",
        description="Connects every instrument of CONFIG, asks each for *IDN?, puts it into the state "
        "the drivers rely on (one row per setting that had to change), checks the matrix size, closes "
        "and reads back one crosspoint per bench terminal, checks that the instruments can honour the "
        "limits, and reports the scan handshake, the train gap and the gate load. Prints a table; exit "
        "status 1 if any check failed. Leaves the bench safe.",
    )
    p.add_argument("config", help="bench file (*.toml), or 'virtual' for the shipped virtual bench")
    p.add_argument("--seed", type=int, default=0, help="seed of the virtual chip (with 'virtual')")
    p.set_defaults(func=cmd_bench_check)
