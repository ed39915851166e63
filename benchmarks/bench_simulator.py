"""Simulator benchmarks: stochastic update and noisy VMM, all engines, scaling in N, mini-batches.

Engines: "fast" (the compiled numba kernels when numba is installed; the note says which ran),
"numpy" (the fast engine's numpy code) and "reference" (per pulse).

Devices: preset "protonic-asymmetric" (soft bounds, c2c noise 0.3, device-to-device variation,
1 % stuck, VMM output noise 2 %). An update is what a training step issues per input vector:
hil.plan_update (update management on, BL fixed at 31) then stochastic_update. Inputs x and d
are uniform in [-1, 1]; lr / dw_min sets the mean number of pulses per device,
E[n] = lr/dw_min E|x| E|d| = lr/dw_min / 4, so each workload is named by that mean.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from benchmarks.core import Benchmark, Case
from hil.update import plan_update
from simulators import kernels
from simulators.crossbar import SimulatedCrossbar

PRESET = "protonic-asymmetric"
BL = 31
POOL = 16  # distinct input vectors, cycled


def _sim(n: int, engine: str) -> SimulatedCrossbar:
    return SimulatedCrossbar.from_preset(PRESET, (n, n), seed=0, engine=engine)


def _update_case(
    n: int, engine: str, pulses_per_device: float, batch: int = 1, threads: int | None = None,
    bl_management: bool = False,
) -> Case:  # fmt: skip
    sim = _sim(n, engine)
    pulse = sim.nominal_pulse
    rng = np.random.default_rng(1)
    lr = 4.0 * pulses_per_device  # dw_min = 1: E[n] = lr E|x| E|d| = lr / 4
    inputs = [(rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)) for _ in range(POOL)]
    # Fraction of devices that get a pulse: n_ij ~ Binomial(BL, p_i q_j) for each device.
    plans = [plan_update(x, d, lr, 1.0, BL, bl_management=bl_management) for x, d in inputs]
    assert not any(p.clipped for p in plans)
    pulsed = np.mean([1 - np.mean((1 - np.abs(np.outer(p.p, p.q))) ** p.bl) for p in plans])
    cycle = itertools.cycle(inputs)
    setting = None if threads is None else str(threads)

    def run() -> None:
        with _thread_setting(setting):
            for _ in range(batch):
                x, d = next(cycle)
                plan = plan_update(x, d, lr, 1.0, BL, bl_management=bl_management)
                sim.stochastic_update(plan.p, plan.q, plan.bl, pulse)

    with _thread_setting(setting):
        used = kernels.threads() if n * n >= kernels.PARALLEL_DEVICES else 1
        adaptive = used > 1 and not os.environ.get("HIL_SIM_THREADS", "").strip()
    kind = (
        f" (compiled, {'up to ' if adaptive else ''}{used} thread{'s' if used > 1 else ''})"
        if sim.compiled
        else ""
    )
    bl = f", BL {np.mean([p.bl for p in plans]):.1f} on average" if bl_management else ""
    info = f"{pulses_per_device:g} pulses/device, {pulsed:.0%} of devices pulsed{bl}{kind}"
    return Case(run, ops=batch, info=info)


@contextmanager
def _thread_setting(setting: str | None) -> Iterator[None]:
    """HIL_SIM_THREADS = setting for the duration (None: leave it as it is)."""
    if setting is None:
        yield
        return
    before = os.environ.get("HIL_SIM_THREADS")
    os.environ["HIL_SIM_THREADS"] = setting
    try:
        yield
    finally:
        if before is None:
            del os.environ["HIL_SIM_THREADS"]
        else:
            os.environ["HIL_SIM_THREADS"] = before


def _vmm_case(n: int, batch: int | None = None) -> Case:
    sim = _sim(n, "fast")
    rng = np.random.default_rng(2)
    shape = (n,) if batch is None else (batch, n)
    v = rng.uniform(-1, 1, shape) * sim.read_voltage
    return Case(lambda: sim.vmm(v), ops=batch or 1, info="output noise 2 %")


def _update(
    name: str, n: int, engine: str, k: float, batch: int = 1, repeats: int = 15, threads: int | None = None,
    bl_management: bool = False,
) -> Benchmark:  # fmt: skip
    def setup(quick: bool) -> Case:
        return _update_case(n, engine, k, batch, threads, bl_management)

    return Benchmark(name, f"{n}x{n}", setup, repeats=repeats, quick_repeats=max(2, repeats // 3))


def _vmm(name: str, n: int, batch: int | None = None) -> Benchmark:
    def setup(quick: bool) -> Case:
        return _vmm_case(n, batch)

    return Benchmark(name, f"{n}x{n}" + ("" if batch is None else f", batch {batch}"), setup)


BENCHMARKS: list[Benchmark] = [
    # The peer figure: aihwkit 1.1.0 (C++, CPU), 512 x 512 soft bounds, BL 31: 1.5-2.0 ms per vector
    # (re-measured side by side in docs/benchmarks.md: aihwkit takes that long at about 0.3
    # pulses per device, hence the densities around it).
    *(_update(f"sim.update.fast[{k:g}/dev]", 512, "fast", k) for k in (0.1, 0.2, 0.3, 0.5, 1.0, 2.5)),
    *(_update(f"sim.update.fast.1thread[{k:g}/dev]", 512, "fast", k, threads=1) for k in (0.1, 1.0, 2.5)),
    # The peer's 1.5 ms is with its BL management on: BL = the fewest slots that carry the update.
    *(
        _update(f"sim.update.fast.bl-management[{k:g}/dev]", 512, "fast", k, bl_management=True)
        for k in (0.1, 1.0, 2.5)
    ),
    _update("sim.update.fast.1thread.bl-management[1/dev]", 512, "fast", 1.0, threads=1, bl_management=True),
    *(_update(f"sim.update.numpy[{k:g}/dev]", 512, "numpy", k) for k in (0.1, 1.0, 2.5)),
    *(_update(f"sim.update.reference[{k:g}/dev]", 512, "reference", k, repeats=5) for k in (0.1, 1.0, 2.5)),
    # Peer figure: about 0.08 ms per noisy forward VMM at 512 x 512.
    _vmm("sim.vmm", 512),
    *(_update(f"sim.update.scaling[N={n}]", n, "fast", 1.0) for n in (64, 128, 256, 1024)),
    *(_update(f"sim.update.numpy.scaling[N={n}]", n, "numpy", 1.0, repeats=7) for n in (64, 256, 1024)),
    *(_vmm(f"sim.vmm.scaling[N={n}]", n) for n in (64, 128, 256, 1024)),
    *(_update(f"sim.update.batch[{b}]", 512, "fast", 1.0, batch=b, repeats=7) for b in (16, 64)),
    *(_vmm(f"sim.vmm.batch[{b}]", 512, batch=b) for b in (16, 64)),
]
