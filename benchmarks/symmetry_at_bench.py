"""Symmetry point on the virtual bench with the 707B: instrument time, transactions per pair and
accuracy against the analytic point, at the protocol's defaults (automatic sampling) or for
each read interval asked for.

    python -m benchmarks.symmetry_at_bench
    python -m benchmarks.symmetry_at_bench --preset protonic-near-symmetric --shape 3x3
    python -m benchmarks.symmetry_at_bench --read-every 1 50 --window 1000 --max-pairs 10000

The bench is the file's instruments and trigger cables with a chip of one array of the shape
asked for (simulators.virtual.layout: a gate and a drain pad per device, as the file's
A_main). Instrument time is what the virtual instruments account
for their commands (InstrumentClock.busy_total over all of them, simulators.virtual.timing),
counted at time_scale 0 so that a run takes minutes, not its instrument time: it is what a
client waits for at time_scale 1, without the transport. The pulse is the demo's, 6 V x 20 ns.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from drivers.bench import HardwareBench
from hil import Pulse
from hil.bench import total_transactions
from hil.benchconfig import load_bench_config
from protocols.symmetry import MAX_PAIRS, budget_seconds, check_settings, find_symmetry_point
from simulators.virtual.launch import DEFAULT_CONFIG, start_virtual_bench
from simulators.virtual.layout import carrying

PULSE = Pulse(6.0, 20e-9)
ARRAY = "S"


def measure(args: argparse.Namespace, read_every: int | None) -> dict[str, object]:
    """One search on a fresh virtual bench: the figures of one row."""
    # the file's 707B and cables, its chip replaced by one array of the shape asked for
    config = carrying(dataclasses.replace(load_bench_config(DEFAULT_CONFIG), arrays={}), {ARRAY: args.shape})
    vb, live = start_virtual_bench(config, preset=args.preset, seed=args.seed)
    try:
        with HardwareBench(live, conductance_range=vb.conductance_range, seed=args.seed) as bench:
            array = bench.array(ARRAY, args.shape)
            clocks = [inst.clock for inst in vb.instruments.values()]
            busy0 = sum(c.busy_total for c in clocks)
            tx0 = _transactions(bench)
            settings = {"max_pairs": args.max_pairs, "window": args.window, "read_every": read_every}
            estimate = budget_seconds(array, check_settings(array, PULSE, tolerance=None, **settings))
            res = find_symmetry_point(array, PULSE, **settings)
            busy, tx = sum(c.busy_total for c in clocks) - busy0, _transactions(bench) - tx0
        truth = vb.chip.arrays[ARRAY].symmetry_points()
        g_min, g_max = vb.conductance_range
    finally:
        vb.stop()
    ok = np.isfinite(truth)
    err = (res.g_sym - truth)[ok] / (g_max - g_min)
    parameters = res.summary()["parameters"]
    return {
        "read_every": parameters["read_every_pairs"],
        "sampling": parameters["sampling"],
        "window": res.window,
        "pairs": res.pairs_used,
        "converged": f"{int(res.converged[ok].sum())}/{int(ok.sum())}",
        "rms_%": 100 * float(np.sqrt(np.mean(err**2))),
        "max_%": 100 * float(np.max(np.abs(err))),
        "instrument_min": busy / 60,
        "estimated_budget_min": None if estimate is None else [e / 60 for e in estimate],
        "estimated_run_min": _minutes(parameters["instrument_time_estimate_s"]),
        "tx_per_pair": tx / res.pairs_used,
        "trains": parameters["trains"],
    }


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _transactions(bench: HardwareBench) -> int:
    return total_transactions(bench.transactions())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--read-every",
        type=lambda t: None if t == "auto" else int(t),
        nargs="+",
        default=[None],
        help="read intervals to measure, one run each; auto: chosen by the run (default)",
    )
    p.add_argument("--preset", default="protonic-asymmetric")
    p.add_argument("--shape", type=lambda t: tuple(int(n) for n in t.split("x")), default=(4, 4))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=None, help="pairs (default: chosen by the run)")
    p.add_argument("--max-pairs", type=int, default=MAX_PAIRS)
    args = p.parse_args()
    for k in args.read_every:
        print(measure(args, k), flush=True)


if __name__ == "__main__":
    main()
