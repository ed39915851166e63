"""Jump table on the virtual bench with the 707B: instrument time and transactions, with the
trains run inside the instruments and pulse by pulse.

    python -m benchmarks.jumptable_at_bench
    python -m benchmarks.jumptable_at_bench --devices 4 --cycles 5 --train 400

The bench is the file's instruments and trigger cables with its own chip (A_main, 4 x 4). The
instrument time is what the virtual instruments account for their commands (InstrumentClock.
busy_total over all of them, simulators.virtual.timing), counted at time_scale 0 so that a run
takes seconds: it is what a client waits for at time_scale 1, without the transport. The
defaults are the demo's jump table (2 devices, 3 cycles of 150-pulse trains, 6 V x 20 ns).
"""

from __future__ import annotations

import argparse

from drivers.bench import HardwareBench
from hil import Pulse
from hil.bench import total_transactions
from hil.benchconfig import load_bench_config
from protocols.jumptable import measure_jump_table
from simulators.virtual.launch import DEFAULT_CONFIG, start_virtual_bench

PULSE = Pulse(6.0, 20e-9)
ARRAY = "A_main"


def measure(args: argparse.Namespace, trains: bool) -> dict[str, object]:
    """One jump table on a fresh virtual bench: the figures of one row."""
    vb, live = start_virtual_bench(load_bench_config(DEFAULT_CONFIG), preset=args.preset, seed=args.seed)
    try:
        with HardwareBench(live, conductance_range=vb.conductance_range, seed=args.seed) as bench:
            array = bench.array(ARRAY, (4, 4))
            clocks = [inst.clock for inst in vb.instruments.values()]
            busy0, tx0 = sum(c.busy_total for c in clocks), _transactions(bench)
            devices = [divmod(k, array.shape[1]) for k in range(args.devices)]
            measure_jump_table(
                array, PULSE, devices, n_cycles=args.cycles, n_up=args.train, n_bins=30, trains=trains
            )
            busy, tx = sum(c.busy_total for c in clocks) - busy0, _transactions(bench) - tx0
    finally:
        vb.stop()
    pulses = 2 * args.cycles * args.train * args.devices
    return {
        "trains": "in the instruments" if trains else "pulse by pulse",
        "devices": args.devices,
        "pulses": pulses,
        "instrument_s": round(busy, 1),
        "ms_per_pulse": round(1e3 * busy / pulses, 2),
        "transactions": tx,
    }


def _transactions(bench: HardwareBench) -> int:
    return total_transactions(bench.transactions())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="protonic-asymmetric")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--train", type=int, default=150, help="pulses per train")
    args = p.parse_args()
    for trains in (True, False):
        print(measure(args, trains), flush=True)


if __name__ == "__main__":
    main()
