"""Alternating pulse pairs on the virtual bench with the 707B: transactions and instrument time
per pair, sequenced inside the instruments against the default apply_pulses and read calls.

    .venv/bin/python -m benchmarks.alternating_pairs [--pairs 500] [--every 1,10,50]

The 4 x 4 array A_main of simulators/virtual/benches/virtual-bench.toml (protonic-asymmetric,
chip seed 0), the demo's pulse (6 V x 20 ns) for both polarities. Instrument time is what the
virtual instruments account (busy_total summed over them, docs/virtual-timing.md): what a client
waits at --time-scale 1; it is accounted here without waiting. Each row is one call after a
warm-up call that sets the instruments up.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from hil import Pulse, PulsePair
from hil.backend import CrossbarBackend
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench

PULSES = PulsePair.symmetric(Pulse(6.0, 20e-9))


def transactions(bench: HardwareBench) -> int:
    return sum(sum(c.values()) for c in bench.transactions().values())


def busy(vb: VirtualBench) -> float:
    return sum(instrument.clock.busy_total for instrument in vb.instruments.values())


def default_path(a: HardwareCrossbar, pairs: int, every: int) -> object:
    """The base class's apply_pulses and read calls on the same array."""
    return CrossbarBackend._alternating_pairs(a, pairs, every, PULSES)


def instrument_path(a: HardwareCrossbar, pairs: int, every: int) -> object:
    return a.alternating_pairs(pairs, read_every=every, pulses=PULSES)


def measure(run: Callable[[HardwareCrossbar, int, int], object], pairs: int, every: int) -> dict[str, float]:
    """One call of `run` after a warm-up call: per pair transactions and instrument seconds."""
    with virtual_bench() as (vb, config):
        with HardwareBench(config, conductance_range=vb.conductance_range) as bench:
            a = bench.array("A_main", (4, 4))
            run(a, every, every)  # warm-up: the instruments' set-up
            n0, t0, w0 = transactions(bench), busy(vb), time.perf_counter()
            run(a, pairs, every)
            n1, t1, w1 = transactions(bench), busy(vb), time.perf_counter()
            estimate = a.alternating_pairs_seconds(pairs, read_every=every)
    return {
        "transactions": (n1 - n0) / pairs,
        "seconds": (t1 - t0) / pairs,
        # the backend estimates the path it takes itself: the instruments' on this bench
        "estimate": estimate / pairs if run is instrument_path else float("nan"),
        "wall": w1 - w0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--every", default="1,10,50", help="read_every values, comma separated")
    args = parser.parse_args(argv)
    print("| N (read_every) | path | transactions per pair | instrument time per pair | estimate | wall |")
    print("|---|---|---|---|---|---|")
    for every in (int(x) for x in args.every.split(",")):
        for name, run in (
            ("default (apply_pulses + read)", default_path),
            ("in the instruments", instrument_path),
        ):
            m = measure(run, args.pairs, every)
            estimate = "—" if math.isnan(m["estimate"]) else f"{m['estimate'] * 1e3:.3g} ms"
            print(
                f"| {every} | {name} | {m['transactions']:.3g} | {m['seconds'] * 1e3:.3g} ms "
                f"| {estimate} | {m['wall']:.1f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
