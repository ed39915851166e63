"""planned_update on the simulator: the plan computed inside the update kernel fires the same
streams and applies the same pulses as plan_update followed by stochastic_update."""

from __future__ import annotations

import numpy as np
import pytest

from hil.update import plan_update
from simulators.crossbar import SimulatedCrossbar
from simulators.kernels import PARALLEL_DEVICES

# (lr, update management, BL management): 0.1-0.4 pulses per device, BL 31 at ~5 per device,
# and a plan whose probabilities are clipped at 1.
PLANS = [(0.4, True, True), (5.0, True, False), (40.0, False, False)]


@pytest.mark.parametrize("engine", ["fast", "numpy", "reference"])
@pytest.mark.parametrize("shape", [(8, 8), (64, 32), (260, 256)], ids=["8x8", "64x32", "260x256"])
def test_the_fused_update_applies_what_plan_then_update_applies(engine: str, shape: tuple[int, int]) -> None:
    assert (shape[0] * shape[1] >= PARALLEL_DEVICES) == (shape == (260, 256))  # both kernel paths
    fused, plain = (
        SimulatedCrossbar.from_preset("protonic-asymmetric", shape, seed=3, engine=engine) for _ in "ab"
    )
    assert fused.capabilities.fused_update == (engine == "fast" and shape != (260, 256))
    rng = np.random.default_rng(1)
    clipped = set()
    for lr, um, blm in PLANS * 3:
        x, d = rng.uniform(-1, 1, shape[0]), rng.uniform(-1, 1, shape[1])
        done = fused.planned_update(
            x, d, lr, 1.0, fused.nominal_pulse, update_management=um, bl_management=blm
        )
        plan = plan_update(x, d, lr, 1.0, update_management=um, bl_management=blm)
        counts = plain.stochastic_update(plan.p, plan.q, plan.bl, plain.nominal_pulse)
        assert (done.fired, done.bl, done.clipped) == (True, plan.bl, plan.clipped)
        assert done.pulses == int(np.abs(counts).sum()) > 0
        clipped.add(done.clipped)
    assert clipped == {False, True}
    np.testing.assert_array_equal(fused.conductance, plain.conductance)  # every device to the bit
    np.testing.assert_array_equal(fused.read(), plain.read())  # and the random streams after them


def test_the_compiled_abs_maxima_are_hil_abs_max_of_each_vector() -> None:
    from hil.arrays import abs_max
    from simulators.kernels import abs_maxima

    rng = np.random.default_rng(5)
    for size in (1, 7, 65):
        x, d = rng.normal(size=size), -np.abs(rng.normal(size=3))
        assert abs_maxima(x, d) == (abs_max(x), abs_max(d))
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[-1] = bad
            got, want = abs_maxima(y, d)[0], abs_max(y)
            assert (got == want) or (np.isnan(got) and np.isnan(want)), (bad, got, want)


def test_the_compiled_voltage_test_is_hil_within() -> None:
    from hil.arrays import within as hil_within
    from simulators.kernels import within

    rng = np.random.default_rng(6)
    v = rng.uniform(-0.1, 0.1, 64)
    for bound in (0.1, 0.05, 0.0):
        assert within(v, bound) == hil_within(v, bound)
    for bad in (np.nan, np.inf, -np.inf, 0.1 + 1e-12, -0.1 - 1e-12):
        w = v.copy()
        w[17] = bad
        assert within(w, 0.1) is hil_within(w, 0.1) is False
    edge = np.array([0.1, -0.1])
    assert within(edge, 0.1) is hil_within(edge, 0.1) is True
