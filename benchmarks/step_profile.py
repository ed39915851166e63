"""Where one SHD step's time goes: the median cost of each call a 65 x 32 SHD layer makes.

    PYTHONPATH=. .venv/bin/python benchmarks/step_profile.py
    PYTHONPATH=OTHER_CHECKOUT .venv/bin/python benchmarks/step_profile.py   # another revision

A layer of the digits network's first weight matrix (64 inputs and the bias, 32 outputs) on
three `protonic-asymmetric` arrays (A_main, A_ref, C_main; engine "fast"), built directly
(hil.mapping.DifferentialArray, protocols.training.analog.SHDLayer) without the preparation.
Each line is the median of 3,000 calls after 200 warm-up calls (benchmarks.bench_calls):
forward and backward (a differential VMM each), learn (the gradient into A, then a transfer:
one row of A read by a VMM and written into C), and the parts of an update. x is uniform in
[-1, 1] and delta in [-0.1, 0.1] (eta_a 0.1, dw_min 0.01: 0.25 pulses per device in one
slot). The last line is one sample of the floating-point trainer on the digits network
(64-32-10, protocols.training.loop.train_sample on FloatLayer): the loop's digital part (bias
inputs, activations, softmax, loss, backpropagation) plus float64 products through the Layer
calls; the line below it is that digital part alone (layers that hand back fixed vectors and
learn nothing), what every trainer pays per sample beside its arrays; the last line is the
floating-point trainer's own step (protocols.training.floating_point.compiled_step: one
compiled call per sample), left out on revisions without it. Otherwise only functions that
older revisions have are called, so the same script profiles them.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hil.mapping import DifferentialArray, WeightMapping
from hil.update import plan_update
from protocols.training.analog import CountedOps, SHDLayer, UpdateSettings
from protocols.training.floating_point import FloatLayer
from protocols.training.loop import train_sample
from protocols.training.network import MLPSpec, init_rng, init_weights
from simulators.crossbar import SimulatedCrossbar

SHAPE = (65, 32)
CALLS = 3000


class FixedLayer:
    """A layer whose forward and backward hand back fixed vectors and whose learn does nothing:
    train_sample through it costs the loop's digital part alone."""

    def __init__(self, shape: tuple[int, int], rng: np.random.Generator):
        self.y, self.z = rng.uniform(-1, 1, shape[1]), rng.uniform(-1, 1, shape[0])

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.y

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.z

    def learn(self, x: np.ndarray, delta: np.ndarray) -> None:
        return None


def compiled_fp_step(weights: list[np.ndarray]) -> Callable[[], float] | None:
    """One sample of the FP trainer's compiled step (lr 1e-9), or None on a revision without it."""
    try:
        from protocols.training.floating_point import compiled_step
    except ImportError:
        return None
    step = compiled_step([FloatLayer(w, 1e-9) for w in weights])
    xin = np.append(np.random.default_rng(1).uniform(-1, 1, 64), 1.0)
    return lambda: step(xin, 3)


def main() -> int:
    # The timer from this file's folder: an older checkout on PYTHONPATH may not have it.
    median_call = runpy.run_path(str(Path(__file__).with_name("bench_calls.py")))["median_call"]
    a_main, a_ref, c_main = (
        SimulatedCrossbar.from_preset("protonic-asymmetric", SHAPE, seed=seed) for seed in (1, 2, 3)
    )
    mapping = WeightMapping.for_backend(a_main)
    a, c = DifferentialArray(a_main, a_ref, mapping), DifferentialArray(c_main, a_ref, mapping)
    pulse = a_main.nominal_pulse
    io = CountedOps(UpdateSettings(pulse))
    layer = SHDLayer(a, c, eta_a=0.1, eta_c=0.01, tau=1, dw_min_a=0.01, dw_min_c=0.01, io=io)
    rng = np.random.default_rng(0)
    x, delta = rng.uniform(-1, 1, SHAPE[0]), rng.uniform(-0.1, 0.1, SHAPE[1])
    plan = plan_update(x, -delta, 0.1, 0.01)
    fp_weights = init_weights(MLPSpec((64, 32, 10)), init_rng(0))
    fp_layers = [FloatLayer(w, 1e-9) for w in fp_weights]
    fixed = [FixedLayer(shape, rng) for shape in MLPSpec((64, 32, 10)).layer_shapes]
    calls = {
        "forward (differential VMM)": lambda: layer.forward(x),
        "backward (differential VMM)": lambda: layer.backward(delta),
        "learn (update A, transfer)": lambda: layer.learn(x, delta),
        "  update A (CountedOps)": lambda: io.update(a, x, -delta, 0.1, 0.01),
        "    plan_update": lambda: plan_update(x, -delta, 0.1, 0.01),
        "    stochastic_update": lambda: a_main.stochastic_update(plan.p, plan.q, plan.bl, pulse),
        "  transfer (VMM of A, update C)": lambda: layer.transfer(),
        "FP sample (loop + float64)": lambda: train_sample(fp_layers, x[:64], 3),
        "  the loop's digital part alone": lambda: train_sample(fixed, x[:64], 3),
    }
    fp_step = compiled_fp_step(fp_weights)
    if fp_step is not None:
        calls["FP sample, compiled step"] = fp_step
    print(f"SHD layer {SHAPE[0]} x {SHAPE[1]}: median of {CALLS} calls")
    for name, call in calls.items():
        print(f"  {name:32s} {1e6 * median_call(call, CALLS):7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
