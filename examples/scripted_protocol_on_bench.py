"""A measurement scripted in Python against a bench file: symmetry points, stored as measured.

    .venv/bin/python examples/scripted_protocol_on_bench.py lab.toml --g-range 1e-6,20e-6
    .venv/bin/python examples/scripted_protocol_on_bench.py          # the shipped virtual bench

With a bench file it connects your instruments; without one it opens the virtual bench
(virtual instruments on loopback, a simulated chip behind them) through the same drivers, so
the script is exactly the one you would run at the real bench: hil.benches.open_bench is the
call `hil --bench` makes. Every pair of reads is committed to runs/hil-runs.sqlite as it is
measured; `hil runs plot RUN` redraws the figures.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from hil.benches import open_bench
from hil.pulses import Pulse
from hil.store import RunStore
from protocols.symmetry import find_symmetry_point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", nargs="?", default="virtual", help="bench TOML (default: the virtual bench)")
    parser.add_argument("--g-range", default="1e-6,20e-6", help="devices' nominal GMIN,GMAX in siemens")
    parser.add_argument("--shape", default="4x4", help="rows x cols of the bench's array A_main")
    parser.add_argument("--amplitude", type=float, default=6.0, help="write pulse amplitude, volts")
    parser.add_argument("--width", type=float, default=20e-9, help="write pulse width, seconds")
    parser.add_argument("--pairs", type=int, default=600, help="pulse budget in up+down pairs")
    parser.add_argument("--store", type=Path, default=Path("runs/hil-runs.sqlite"))
    args = parser.parse_args()
    low, high = (float(v) for v in args.g_range.split(","))
    rows, cols = (int(n) for n in args.shape.split("x"))

    with ExitStack() as stack:
        # Closing the bench turns every output off and opens every switch, whatever happens.
        bench = stack.enter_context(open_bench(args.bench, conductance_range=(low, high)))
        array = bench.array("A_main", (rows, cols))
        pulse = Pulse(args.amplitude, args.width)
        store = stack.enter_context(RunStore(args.store))
        window = min(150, args.pairs // 2)  # 6 V x 20 ns: the simulated devices settle in ~55 pairs
        params = {"pulse": pulse, "max_pairs": args.pairs, "window": window, "script": Path(__file__).name}
        with store.start_run("symmetry-point", params, bench.describe(), instruments=bench.identities) as run:
            result = find_symmetry_point(array, pulse, max_pairs=args.pairs, window=window, recorder=run)
            run.finish("completed", summary=result.summary())
        print(f"run {run.uid}: {int(result.converged.sum())} of {result.converged.size} devices converged")
        for (r, c), g in np.ndenumerate(result.g_sym):
            print(f"  device ({r}, {c}): G_sym {g * 1e6:6.2f} uS +- {result.g_sym_std[r, c] * 1e9:4.0f} nS")
        print(f"instrument transactions: {bench.transactions()}")


if __name__ == "__main__":
    main()
