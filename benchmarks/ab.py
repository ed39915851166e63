"""Interleaved A/B timing of the per-call table and the training epochs against another checkout.

    .venv/bin/python -m benchmarks.ab OTHER_CHECKOUT [--what calls|epochs|update] [--rounds 5]

OTHER_CHECKOUT: a directory holding another revision (e.g. `git worktree add ../base REV`).
Each round runs the workload in a fresh process for each side, alternating which side goes
first, and prints both sides' figures and their ratio (at the end, each figure's median ratio
and range over the rounds): a drift of the machine's speed
(docs/benchmarks.md) hits both sides of a round alike. The workloads are this checkout's
benchmarks/bench_calls.py (the median call of vmm, plan_update, stochastic_update and read on
8x8, 32x10, 64x32) and benchmarks/bench_training.py (one epoch of SHD, SGD and FP on the
digits, each trained twice from scratch and the second one timed: the first pays the loading
of the compiled kernels from numba's cache, once per process) and benchmarks/bench_simulator.py's
sim.update.fast[0.1/dev] (the 512 x 512 update at 0.1 pulses per device), run on the other
side's library: they call only functions both revisions have.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILDREN = {
    "calls": """
import json, runpy
ns = runpy.run_path({file!r})
out = {{}}
for shape in ns["SHAPES"]:
    for name, call in ns["workload"](shape).items():
        out[f"{{name}} {{shape[0]}}x{{shape[1]}}"] = ns["median_call"](call)
print(json.dumps(out))
""",
    "epochs": """
import json, runpy
ns = runpy.run_path({file!r})
from protocols.training import load_dataset
data = load_dataset("digits", clip=3.0)
# Each epoch twice, the second one timed: the first loads the compiled kernels from their cache.
print(json.dumps({{name: [ns["_" + name]("fast", data) for _ in "ab"][1].epochs[-1].seconds
                  for name in ("shd", "sgd", "fp")}}))
""",
    "update": """
import json, runpy
from benchmarks.core import run_benchmark
ns = runpy.run_path({file!r})
bench = next(b for b in ns["BENCHMARKS"] if b.name == "sim.update.fast[0.1/dev]")
print(json.dumps({{bench.name: run_benchmark(bench).seconds_per_op}}))
""",
}
FILES = {"calls": "bench_calls.py", "epochs": "bench_training.py", "update": "bench_simulator.py"}


def measure(checkout: Path, what: str) -> dict[str, float]:
    """The workload `what` in a fresh process importing the library from `checkout`."""
    code = CHILDREN[what].format(file=str(ROOT / "benchmarks" / FILES[what]))
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    summary = "Interleaved A/B timing of the per-call table, epochs or an update against another checkout."
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=summary)
    parser.add_argument("other", type=Path, help="another checkout of the project (the baseline)")
    parser.add_argument("--what", choices=sorted(CHILDREN), default="epochs", help="workload (epochs)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations (default 5)")
    args = parser.parse_args(argv)
    sides = {"other": args.other.resolve(), "this": ROOT}
    scale, unit = (1.0, "s") if args.what == "epochs" else (1e6, "us")
    print(f"round  {'figure':24s}  other ({unit})  this ({unit})  other/this")
    ratios: dict[str, list[float]] = {}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        got = {side: measure(sides[side], args.what) for side in order}
        for name, a in got["other"].items():
            b = got["this"][name]
            ratios.setdefault(name, []).append(a / b)
            print(f"{r + 1:5d}  {name:24s}  {scale * a:10.3g}  {scale * b:9.3g}  {a / b:9.2f}x", flush=True)
    print(f"\n{'figure':24s}  other/this: median and range over {args.rounds} rounds")
    for name, values in ratios.items():
        print(f"{name:24s}  {statistics.median(values):.2f}x  ({min(values):.2f}-{max(values):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
