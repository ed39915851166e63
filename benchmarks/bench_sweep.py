"""Sweep scaling: cluster start-up, per-point overhead, and the speed-up of 2 workers over 1.

    python -m benchmarks.bench_sweep [--points 4] [--epochs 2] [--rounds 2]

Not part of `make bench` (BENCHMARKS is empty): each measurement starts a Dask cluster.

overhead: 40 floating-point trainings on Iris for one epoch (a few milliseconds each) on 2
    workers; per point, the time a worker slot is held beyond the point's own work:
    workers x wall / points - mean seconds inside the point (dispatch, pickling, the result's
    trip back, the client's store write).
speed-up: the same digits SGD points (--points, --epochs) on 1 and on 2 workers, the two
    orders interleaved over --rounds rounds; the ratio of wall times (cluster start excluded),
    and the cores the points kept busy (their CPU seconds over the wall time): on a machine
    whose cores other work shares, the second worker gains only the CPU left over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hil.cli.sweep import SimulatedDevices
from hil.store import RunStore
from protocols.sweep import ClusterOptions, PointWriter, compute, dask_client, expand, parse_spec

BENCHMARKS: list = []  # run as a script: every measurement starts a cluster


def _spec(dataset: str, algorithm: str, epochs: int, seeds: int) -> Any:
    return parse_spec(
        {
            "name": f"bench {dataset} {algorithm}",
            "base": {
                "preset": "protonic-asymmetric",
                "dataset": dataset,
                "hidden": [8] if dataset == "iris" else [32],
                "epochs": epochs,
                "algorithms": [algorithm],
            },
            "axes": {"seed": list(range(seeds))},
        }
    )


def timed_sweep(tasks: list, workers: int) -> dict[str, float]:
    """Start a local cluster, run the tasks into a scratch store; seconds of each phase."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp) / "s.sqlite") as store:
        run = store.start_run("sweep", {}, {})
        with dask_client(ClusterOptions(workers=workers, dashboard=False)) as client:
            client.wait_for_workers(workers)
            client.run(lambda: __import__("protocols.sweep.runner"))  # imports paid before timing
            up = time.perf_counter()
            writer = PointWriter(run, {})
            compute(client, tasks, SimulatedDevices(), writer)
            done = time.perf_counter()
        inside = [p.seconds for p in writer.stored.values()]
        cpu = sum(p.cpu_seconds or 0.0 for p in writer.stored.values())
    return {
        "start_s": up - started,
        "wall_s": done - up,
        "inside_mean_s": statistics.fmean(inside),
        "busy": cpu / (done - up),  # cores the points kept busy on average
    }


def overhead(points: int = 40) -> dict[str, float]:
    tasks = expand(_spec("iris", "fp", 1, points))
    t = timed_sweep(tasks, 2)
    t["overhead_per_point_s"] = 2 * t["wall_s"] / points - t["inside_mean_s"]
    return t


def speedup(points: int, epochs: int, rounds: int) -> dict[str, Any]:
    tasks = expand(_spec("digits", "sgd", epochs, points))
    walls: dict[int, list[float]] = {1: [], 2: []}
    busy: dict[int, list[float]] = {1: [], 2: []}
    inside: list[float] = []
    for r in range(rounds):
        for workers in (1, 2) if r % 2 == 0 else (2, 1):
            t = timed_sweep(tasks, workers)
            walls[workers].append(t["wall_s"])
            busy[workers].append(t["busy"])
            inside.append(t["inside_mean_s"])
            print(
                f"  round {r}, {workers} worker(s): {t['wall_s']:.1f} s for {points} points, "
                f"{t['busy']:.2f} cores busy"
            )
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    return {
        "wall_1_s": one,
        "wall_2_s": two,
        "speedup": one / two,
        "point_s": statistics.median(inside),
        "busy_1": statistics.median(busy[1]),
        "busy_2": statistics.median(busy[2]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sweep", description=__doc__)
    parser.add_argument("--points", type=int, default=4, help="digits SGD points per speed-up run")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per digits point")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of 1 and 2 workers")
    args = parser.parse_args(argv)
    o = overhead()
    print(
        f"cluster start (2 workers): {o['start_s']:.1f} s; per-point overhead "
        f"{1000 * o['overhead_per_point_s']:.0f} ms (40 points of {1000 * o['inside_mean_s']:.0f} ms each)"
    )
    s = speedup(args.points, args.epochs, args.rounds)
    print(
        f"{args.points} digits SGD points of {args.epochs} epochs "
        f"({s['point_s']:.1f} s each inside the worker): "
        f"1 worker {s['wall_1_s']:.1f} s, 2 workers {s['wall_2_s']:.1f} s, speed-up {s['speedup']:.2f}x; "
        f"cores kept busy (CPU seconds of the points / wall): {s['busy_1']:.2f} and {s['busy_2']:.2f}"
    )
    print(f"load average over the last 1/5/15 min at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
