"""Interleaved A/B timing of the simulator's update kernel against the kernel of another git revision.

    .venv/bin/python -m benchmarks.kernel_ab REV [--threads 1] [--size 512] [--rounds 40] [--density 0.1]

On a shared machine the speed of the same code drifts by up to 2x within minutes (other virtual
machines on the host), so two benchmark runs taken apart do not compare. This script loads
simulators/kernels.py as it was at REV (git show) next to the working tree's, and times both on
the same inputs in alternation (5 updates of one, then 5 of the other, `rounds` times, the
order swapped every round): a drift hits both alike and the ratio stays meaningful. It prints
the median time per call and the calling thread's CPU time per call (time.thread_time: without
the time the thread was not running, so on one thread it is robust to other processes taking
the CPU), and whether both
kernels left the same counts and states, bit for bit. It times the kernel call alone (the
512 x 512 update of benchmarks.bench_simulator without plan_update and the contract's checks),
on the devices of SimulatedCrossbar.from_preset("protonic-asymmetric", seed=0); every call fires
other streams (the same keys for both).

Where the hardware counters can be read (benchmarks.counters), it also prints the instructions
and cycles per call on the calling thread, which is all of the kernel with --threads 1 (the
default). Instructions do not drift with the machine at all; cycles much less than time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks.counters import CountersUnavailable, Counts, ThreadCounters
from hil.pulses import PulsePair
from hil.update import UpdatePlan, plan_update
from simulators import kernels
from simulators.crossbar import SimulatedCrossbar

ROOT = Path(__file__).resolve().parents[1]


def kernels_at(revision: str, where: Path) -> ModuleType:
    """simulators/kernels.py as of `revision`, imported as a module of its own."""
    show = ["git", "show", f"{revision}:simulators/kernels.py"]
    source = subprocess.run(show, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = where / f"kernels_{revision.replace('/', '_')}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    description = "Interleaved A/B timing of the update kernel against another git revision's."
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernel_ab", description=description)
    parser.add_argument("revision", help="git revision of the baseline simulators/kernels.py, e.g. HEAD~3")
    parser.add_argument(
        "--threads",
        default="1",
        help="HIL_SIM_THREADS of both kernels (1; 'default': unset, each kernel's own choice)",
    )
    parser.add_argument("--size", type=int, default=512, help="N of the N x N array (default 512)")
    parser.add_argument("--rounds", type=int, default=40, help="alternations (default 40)")
    parser.add_argument(
        "--density",
        type=float,
        action="append",
        help="mean pulses per device (repeatable; default 0.1, 1, 2.5)",
    )
    args = parser.parse_args(argv)
    if args.threads == "default":
        os.environ.pop("HIL_SIM_THREADS", None)
    else:
        os.environ["HIL_SIM_THREADS"] = args.threads
    try:
        counters: ThreadCounters | None = ThreadCounters()
    except CountersUnavailable as e:
        counters = None
        print(f"(no instruction counts: {e})")
    with tempfile.TemporaryDirectory() as tmp:
        base = kernels_at(args.revision, Path(tmp))
        contenders = {f"{args.revision}": base, f"working tree ({args.threads} thr)": kernels}
        size, rounds = args.size, args.rounds
        print(f"{size} x {size}, BL 31, median per kernel call over {rounds} rounds of 5 calls each")
        rng = np.random.default_rng(1)
        for k in args.density or (0.1, 1.0, 2.5):
            _compare(contenders, args.size, k, args.rounds, rng, counters)
    if counters:
        counters.close()
    return 0


def _compare(
    contenders: dict[str, ModuleType], n: int, k: float, rounds: int, rng: np.random.Generator,
    counters: ThreadCounters | None,
) -> None:  # fmt: skip
    """Time the contenders in alternation at k pulses per device on one state and one set of
    device constants (the memory one simulator's updates touch: with a copy each, every switch
    would start from a cache the other kernel filled); print each one's median, and whether
    they give the same counts and states bit for bit (_same_results)."""
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (n, n), seed=0)
    m = sim.config.pulse_factors(PulsePair.symmetric(sim.nominal_pulse))
    directions = sim._burst_directions(m)  # the engine's own constants, as it passes them
    assert directions is not None
    x, d = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    plan = plan_update(x, d, 4 * k, 1.0, 31, bl_management=False)
    consts = kernels.KernelDirections.from_directions(*directions, n * n)  # both kernels read its fields
    state = sim._x.copy()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    counts: dict[str, list[Counts]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for r in range(rounds):
        for name, mod in order if r % 2 == 0 else order[::-1]:  # ABBA: neither always goes first
            before = counters.read() if counters else Counts(0, 0)
            start, start_cpu = time.perf_counter(), time.thread_time()
            for call in range(5 * r, 5 * r + 5):
                mod.stochastic_update(plan.p, plan.q, 31, 123 + call, state, consts, 1123 + call)
            times[name].append((time.perf_counter() - start) / 5)
            cpu[name].append((time.thread_time() - start_cpu) / 5)
            if counters:
                counts[name].append(counters.read() - before)
    first_name = next(iter(contenders))
    first, first_cpu = float(np.median(times[first_name])), float(np.median(cpu[first_name]))
    same = "the same" if _same_results(contenders, plan, sim._x, consts) else "NOT the same"
    print(f"  {k:g} pulses/device (counts and states {same} bit for bit):")
    for name in contenders:
        t, c = float(np.median(times[name])), float(np.median(cpu[name]))
        cell = f"    {name:28s} {1e3 * t:.3f} ms ({t / first:.2f}x)"
        cell += f", thread CPU {1e3 * c:.3f} ms ({c / first_cpu:.2f}x)"
        if counters:
            instructions = np.median([c.instructions for c in counts[name]]) / 5
            cycles = np.median([c.cycles for c in counts[name]]) / 5
            cell += f", {instructions / 1e6:.2f} M instructions, {cycles / 1e6:.2f} M cycles"
        print(cell)


def _same_results(contenders: dict[str, ModuleType], plan: UpdatePlan, x: np.ndarray, consts: object) -> bool:
    """Five updates by each contender from the same state with the same keys: the same counts
    and states, bit for bit?"""
    results = []
    for mod in contenders.values():
        state = x.copy()
        counts = [mod.stochastic_update(plan.p, plan.q, 31, 7 + c, state, consts, 17 + c) for c in range(5)]
        results.append((np.array(counts), state))
    return all(np.array_equal(a, b) for r in results[1:] for a, b in zip(results[0], r, strict=True))


if __name__ == "__main__":
    sys.exit(main())
