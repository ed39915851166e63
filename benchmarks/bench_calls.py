"""Per-call cost of the contract on the small arrays a training step uses.

Each benchmark times one call of a `protonic-asymmetric` SimulatedCrossbar (engine "fast")
2,000 times, one perf_counter pair around each call after 200 warm-up calls, and reports the
median call: on arrays this small the call's fixed cost (validation, dispatch, allocation) is
most of it, and the median keeps a preempted call (a shared machine) out of the figure.

Calls: `vmm` of one vector (uniform in +-read voltage); `plan_update` of x, d uniform in [-1, 1]
with lr 0.4, dw_min 1 and BL management on (a mean of 0.1 pulses per device in one slot, the
density of most of an SHD epoch's updates: `python -m benchmarks.training_density`);
`stochastic_update` of that plan; `update_step`, the update a training step makes of those
x and d: `planned_update` where the library has it (the plan computed inside the update, the
same pulses), else `plan_update` then `stochastic_update`; `read` of the whole array.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from benchmarks.core import Benchmark, Case
from hil.update import plan_update
from simulators.crossbar import SimulatedCrossbar

SHAPES = ((8, 8), (32, 10), (64, 32))
CALLS = 2000
WARMUP = 200
LR = 0.4  # with dw_min 1: E[pulses] = lr E|x| E|d| = 0.1 per device


def median_call(call: Callable[[], object], calls: int = CALLS, warmup: int = WARMUP) -> float:
    """Seconds of the median of `calls` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter
    times = []
    for _ in range(calls):
        t0 = clock()
        call()
        times.append(clock() - t0)
    return statistics.median(times)


def workload(shape: tuple[int, int]) -> dict[str, Callable[[], object]]:
    """The calls on a fresh array of `shape`, by name."""
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape, seed=0, engine="fast")
    rng = np.random.default_rng(1)
    v = rng.uniform(-1, 1, shape[0]) * sim.read_voltage
    x, d = rng.uniform(-1, 1, shape[0]), rng.uniform(-1, 1, shape[1])
    plan = plan_update(x, d, LR, 1.0)
    pulse = sim.nominal_pulse

    def planned_then_fired() -> object:  # a library without planned_update
        step = plan_update(x, d, LR, 1.0)
        return sim.stochastic_update(step.p, step.q, step.bl, pulse)

    fused = getattr(sim, "planned_update", None)
    update_step = planned_then_fired if fused is None else lambda: fused(x, d, LR, 1.0, pulse)

    return {
        "vmm": lambda: sim.vmm(v),
        "plan_update": lambda: plan_update(x, d, LR, 1.0),
        "stochastic_update": lambda: sim.stochastic_update(plan.p, plan.q, plan.bl, pulse),
        "update_step": update_step,
        "read": lambda: sim.read(),
    }


def _call(name: str, shape: tuple[int, int]) -> Benchmark:
    def setup(quick: bool) -> Case:
        call = workload(shape)[name]
        calls = CALLS // 4 if quick else CALLS
        return Case(lambda: median_call(call, calls), info=f"median of {calls} calls", self_timed=True)

    size = f"{shape[0]}x{shape[1]}"
    return Benchmark(f"call.{name}[{size}]", size, setup, repeats=3, quick_repeats=1, warmup=0)


BENCHMARKS: list[Benchmark] = [
    _call(name, shape)
    for name in ("vmm", "plan_update", "stochastic_update", "update_step", "read")
    for shape in SHAPES
]
