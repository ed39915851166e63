"""What every CrossbarBackend must do, whatever it is built on (see tests/backends.py)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from hil import BackendClosedError, Capabilities, CrossbarBackend, LimitError, Pulse, PulsePair
from hil.backend import MAX_TRAIN
from hil.mock import IdealCrossbar
from tests.backends import FACTORIES

SHAPE = (4, 3)
# Exactness of reads and VMMs: quiet backends compute them from the same state; a bench
# backend measures them through an SMU with finite resolution.
RTOL = 1e-6


@pytest.fixture(params=sorted(FACTORIES))
def backend(request: pytest.FixtureRequest):
    with FACTORIES[request.param](SHAPE, 1234) as b:
        yield b


@pytest.fixture(params=["mock", "sim"])
def mock_or_sim(request: pytest.FixtureRequest):
    """The argument checks are the base class's: the quick backends show them for all."""
    with FACTORIES[request.param](SHAPE, 1234) as b:
        yield b


def pulse_for(b: CrossbarBackend) -> Pulse:
    """A legal write pulse for this backend: the largest amplitude, a mid-range width."""
    lim = b.limits
    width = min(max(lim.min_pulse_width, 1e-6), lim.max_pulse_width)
    return Pulse(amplitude=lim.max_pulse_amplitude, width=width)


def test_description(backend: CrossbarBackend) -> None:
    assert backend.shape == SHAPE
    assert isinstance(backend.capabilities, Capabilities)
    g_min, g_max = backend.conductance_range
    assert 0 < g_min < g_max
    assert 0 < backend.read_voltage <= backend.limits.max_read_voltage
    json.dumps(backend.describe())


def test_read_all_in_range(backend: CrossbarBackend) -> None:
    g = backend.read()
    g_min, g_max = backend.conductance_range
    assert g.shape == SHAPE
    assert np.all(np.isfinite(g))
    span = g_max - g_min
    assert np.all((g > g_min - 0.5 * span) & (g < g_max + 0.5 * span))


def test_read_subsets_match_full_read(backend: CrossbarBackend) -> None:
    full = backend.read()
    mask = np.zeros(SHAPE, dtype=bool)
    mask[0, 1] = mask[2, 0] = mask[3, 2] = True
    np.testing.assert_allclose(backend.read(mask), full[mask], rtol=RTOL)
    pairs = [(3, 2), (0, 0), (1, 2)]
    np.testing.assert_allclose(backend.read(pairs), [full[3, 2], full[0, 0], full[1, 2]], rtol=RTOL)


def test_vmm_is_ohm_and_kirchhoff(backend: CrossbarBackend) -> None:
    g = backend.read()
    v = backend.read_voltage * np.array([1.0, -0.5, 0.25, 0.0])
    np.testing.assert_allclose(backend.vmm(v), v @ g, rtol=RTOL, atol=1e-15)
    batch = backend.read_voltage * np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, -1.0, 0.2]])
    np.testing.assert_allclose(backend.vmm(batch), batch @ g, rtol=RTOL, atol=1e-15)
    u = backend.read_voltage * np.array([0.5, -1.0, 0.75])
    np.testing.assert_allclose(backend.vmm_transposed(u), g @ u, rtol=RTOL, atol=1e-15)


def test_vmm_refuses_voltages_above_the_read_limit(backend: CrossbarBackend) -> None:
    before = backend.read()
    v = np.zeros(SHAPE[0])
    v[1] = 1.01 * backend.limits.max_read_voltage
    with pytest.raises(LimitError, match="exceeds the limit"):
        backend.vmm(v)
    with pytest.raises(LimitError):
        backend.vmm_transposed(np.full(SHAPE[1], -2 * backend.limits.max_read_voltage))
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


def test_pulses_move_only_the_addressed_devices(backend: CrossbarBackend) -> None:
    before = backend.read()
    counts = np.zeros(SHAPE, dtype=int)
    counts[1, 2] = 5
    counts[2, 0] = -5
    backend.apply_pulses(counts, pulse_for(backend))
    after = backend.read()
    assert after[1, 2] > before[1, 2]
    assert after[2, 0] < before[2, 0]
    untouched = counts == 0
    np.testing.assert_allclose(after[untouched], before[untouched], rtol=RTOL)


def test_zero_counts_change_nothing(backend: CrossbarBackend) -> None:
    before = backend.read()
    backend.apply_pulses(np.zeros(SHAPE, dtype=int), pulse_for(backend))
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


@pytest.mark.parametrize(
    ("counts", "error", "message"),
    [
        (np.zeros((3, 4), dtype=int), ValueError, "expected shape"),
        (np.full(SHAPE, 1.5), TypeError, "must be integers"),
        (np.full(SHAPE, 1.0), TypeError, "must be integers"),
    ],
)
def test_bad_counts_raise_before_writing(backend, counts, error, message) -> None:
    before = backend.read()
    with pytest.raises(error, match=message):
        backend.apply_pulses(counts, pulse_for(backend))
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


def test_pulses_outside_limits_raise_before_writing(backend: CrossbarBackend) -> None:
    before = backend.read()
    ones = np.ones(SHAPE, dtype=int)
    lim = backend.limits
    good = pulse_for(backend)
    with pytest.raises(LimitError, match="amplitude"):
        backend.apply_pulses(ones, Pulse(lim.max_pulse_amplitude * 1.01, good.width))
    with pytest.raises(LimitError, match="width"):
        backend.apply_pulses(ones, Pulse(good.amplitude, lim.max_pulse_width * 2))
    with pytest.raises(LimitError, match="max_pulses_per_call"):
        backend.apply_pulses(ones * (lim.max_pulses_per_call + 1), good)
    with pytest.raises(TypeError, match="Pulse"):
        backend.apply_pulses(ones, (1.0, 1e-6))
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_voltages_raise(backend: CrossbarBackend, bad: float) -> None:
    v = np.zeros(SHAPE[0])
    v[0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        backend.vmm(v)


def test_wrong_vmm_shape_raises(backend: CrossbarBackend) -> None:
    with pytest.raises(ValueError, match="expected shape"):
        backend.vmm(np.zeros(SHAPE[1]))


def test_stochastic_update_signs_and_counts(backend: CrossbarBackend) -> None:
    before = backend.read()
    p = np.array([1.0, -1.0, 0.0, 0.0])
    q = np.array([1.0, 0.0, 1.0])
    counts = backend.stochastic_update(p, q, 3, pulse_for(backend))
    after = backend.read()
    # Probability 1 on both sides fires on every slot: exactly bl coincidences.
    expected = np.zeros(SHAPE, dtype=int)
    expected[0, [0, 2]] = 3
    expected[1, [0, 2]] = -3
    if counts is not None:
        np.testing.assert_array_equal(counts, expected)
    assert np.all(after[expected > 0] > before[expected > 0])
    assert np.all(after[expected < 0] < before[expected < 0])
    np.testing.assert_allclose(after[expected == 0], before[expected == 0], rtol=RTOL)


def test_stochastic_update_rejects_bad_probabilities(backend: CrossbarBackend) -> None:
    pulse = pulse_for(backend)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        backend.stochastic_update(np.full(4, 1.5), np.ones(3), 5, pulse)
    with pytest.raises(ValueError, match="expected shape"):
        backend.stochastic_update(np.ones(3), np.ones(4), 5, pulse)
    with pytest.raises(ValueError, match="positive integer"):
        backend.stochastic_update(np.ones(4), np.ones(3), 0, pulse)


def test_planned_update_fires_its_plan(backend: CrossbarBackend) -> None:
    """With lr = 3 dw_min, bl_max 3 and no BL management the plan's probabilities are exactly
    +-1 where x and d are +-1: every slot fires, as in the stochastic update test above."""
    before = backend.read()
    x, d = np.array([1.0, -1.0, 0.0, 0.0]), np.array([1.0, 0.0, 1.0])
    done = backend.planned_update(x, d, 3.0, 1.0, pulse_for(backend), bl_max=3, bl_management=False)
    after = backend.read()
    expected = np.zeros(SHAPE, dtype=int)
    expected[0, [0, 2]] = 3
    expected[1, [0, 2]] = -3
    assert done.fired and done.bl == 3 and not done.clipped
    assert done.pulses in (None, 12)
    assert np.all(after[expected > 0] > before[expected > 0])
    assert np.all(after[expected < 0] < before[expected < 0])
    np.testing.assert_allclose(after[expected == 0], before[expected == 0], rtol=RTOL)


def test_planned_update_checks_before_firing(mock_or_sim: CrossbarBackend) -> None:
    b, lim = mock_or_sim, mock_or_sim.limits
    pulse, x, d = pulse_for(b), np.ones(SHAPE[0]), np.ones(SHAPE[1])
    before = b.read()
    with pytest.raises(ValueError, match="NaN or inf"):
        b.planned_update(np.array([1.0, np.nan, 0.0, 0.0]), d, 0.1, 1.0, pulse)
    with pytest.raises(ValueError, match="expected x of shape"):
        b.planned_update(d, x, 0.1, 1.0, pulse)
    with pytest.raises(ValueError, match="learning rate"):
        b.planned_update(x, d, 0.0, 1.0, pulse)
    with pytest.raises(ValueError, match="dw_min"):
        b.planned_update(x, d, 0.1, -1.0, pulse)
    with pytest.raises(ValueError, match="bl_max"):
        b.planned_update(x, d, 0.1, 1.0, pulse, bl_max=0)
    with pytest.raises(LimitError, match="max_pulses_per_call"):
        b.planned_update(x, d, 1e9, 1.0, pulse, bl_max=lim.max_pulses_per_call + 1)
    with pytest.raises(LimitError):
        b.planned_update(x, d, 0.1, 1.0, Pulse(2 * lim.max_pulse_amplitude, pulse.width))
    assert b.planned_update(np.zeros(SHAPE[0]), d, 0.1, 1.0, pulse) == (False, 0, False, 0)
    np.testing.assert_allclose(b.read(), before, rtol=RTOL)
    b.close()
    with pytest.raises(BackendClosedError):
        b.planned_update(x, d, 0.1, 1.0, pulse)


def test_close_is_final_and_idempotent(backend: CrossbarBackend) -> None:
    backend.close()
    backend.close()
    assert backend.closed
    with pytest.raises(BackendClosedError):
        backend.read()
    with pytest.raises(BackendClosedError):
        backend.apply_pulses(np.zeros(SHAPE, dtype=int), Pulse(1.0, 1e-6))


# ---------------------------------------------------------------------- pulse-read trains
DEVICE = (2, 1)
STEP = 20e-9  # siemens per pulse of the ideal array


def test_a_train_pulses_and_reads_only_its_device(backend: CrossbarBackend) -> None:
    assert isinstance(backend.instrument_trains, bool)
    before = backend.read()
    pulse = pulse_for(backend)
    up = backend.pulse_read_train(DEVICE, 4, +1, pulse)
    middle = backend.read()
    down = backend.pulse_read_train(DEVICE, 3, -1, pulse)
    after = backend.read()
    assert up.shape == (4,) and down.shape == (3,) and up.dtype == down.dtype == np.float64
    # Every pulse of a polarity moves the device that way; each read is the state it left.
    assert np.all(np.diff(np.concatenate([[before[DEVICE]], up])) > 0)
    assert np.all(np.diff(np.concatenate([[middle[DEVICE]], down])) < 0)
    np.testing.assert_allclose([up[-1], down[-1]], [middle[DEVICE], after[DEVICE]], rtol=RTOL)
    others = np.ones(SHAPE, dtype=bool)
    others[DEVICE] = False
    np.testing.assert_allclose(after[others], before[others], rtol=RTOL)


def test_a_train_on_the_ideal_array_moves_as_apply_pulses_would() -> None:
    trained, pulsed = IdealCrossbar(SHAPE, g_step=STEP), IdealCrossbar(SHAPE, g_step=STEP)
    pulse = Pulse(1.0, 1e-6)
    reads = np.concatenate([trained.pulse_read_train(DEVICE, 5, +1, pulse),
                            trained.pulse_read_train(DEVICE, 2, -1, pulse)])  # fmt: skip
    expected = []
    for sign in [1] * 5 + [-1] * 2:
        counts = np.zeros(SHAPE, dtype=int)
        counts[DEVICE] = sign
        pulsed.apply_pulses(counts, pulse)
        expected.append(pulsed.g[DEVICE])
    np.testing.assert_array_equal(reads, expected)
    np.testing.assert_array_equal(trained.g, pulsed.g)
    # The default runs each cycle as one pulse call and one read.
    assert trained.calls["apply_pulses"] == trained.calls["read"] == 7


@pytest.mark.parametrize(
    ("device", "count", "sign", "match"),
    [((4, 0), 1, 1, "inside the 4 x 3 array"), ((0,), 1, 1, "pair"), ((0, 1.0), 1, 1, "integers"),
     ((True, 0), 1, 1, "integers"), ([0, -1], 1, 1, "inside"), ((0, 0), 0, 1, "from 1 to"),
     ((0, 0), 2.0, 1, "whole number"), ((0, 0), MAX_TRAIN + 1, 1, "split longer trains"),
     ((0, 0), 1, 0, "pulse_sign"), ((0, 0), 1, True, "pulse_sign"), ((0, 0), 1, 2, "pulse_sign")],
)  # fmt: skip
def test_bad_trains_raise_before_writing(mock_or_sim: CrossbarBackend, device, count, sign, match) -> None:
    before = mock_or_sim.read()
    with pytest.raises(ValueError, match=match):
        mock_or_sim.pulse_read_train(device, count, sign, pulse_for(mock_or_sim))
    np.testing.assert_array_equal(mock_or_sim.read(), before)


def test_trains_outside_the_limits_raise_before_writing(backend: CrossbarBackend) -> None:
    before = backend.read()
    lim = backend.limits
    good = pulse_for(backend)
    with pytest.raises(LimitError, match="amplitude"):
        backend.pulse_read_train(DEVICE, 3, 1, Pulse(lim.max_pulse_amplitude * 1.01, good.width))
    with pytest.raises(LimitError, match="width"):
        backend.pulse_read_train(DEVICE, 3, -1, Pulse(good.amplitude, lim.max_pulse_width * 2))
    with pytest.raises(TypeError, match="Pulse"):
        backend.pulse_read_train(DEVICE, 3, 1, (1.0, 1e-6))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pulse_sign"):
        backend.pulse_read_train(DEVICE, 3, 0, good)
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)


def test_vmm_difference_is_main_minus_reference(backend: CrossbarBackend) -> None:
    """The default (two VMMs) for every backend, against a mock reference; simulated pairs take
    their own one-call path in tests/simulators/test_kernels.py."""
    with IdealCrossbar(SHAPE, seed=99, limits=backend.limits) as ref:
        v = backend.read_voltage * np.array([1.0, -0.5, 0.25, 0.0])
        np.testing.assert_allclose(backend.vmm_difference(ref, v), backend.vmm(v) - ref.vmm(v), rtol=RTOL)
        u = backend.read_voltage * np.array([[0.5, -1.0, 0.75], [0.0, 0.2, -0.1]])
        np.testing.assert_allclose(
            backend.vmm_difference(ref, u, transposed=True),
            backend.vmm_transposed(u) - ref.vmm_transposed(u),
            rtol=RTOL,
        )


def test_vmm_difference_checks_before_measuring(mock_or_sim: CrossbarBackend) -> None:
    b, lim = mock_or_sim, mock_or_sim.limits
    ref = IdealCrossbar(SHAPE, limits=lim)
    v = np.zeros(SHAPE[0])
    v[2] = 1.01 * lim.max_read_voltage
    with pytest.raises(LimitError, match="exceeds the limit"):
        b.vmm_difference(ref, v)
    with pytest.raises(ValueError, match="NaN or inf"):
        b.vmm_difference(ref, np.full(SHAPE[1], np.nan), transposed=True)
    with pytest.raises(ValueError, match="expected shape"):
        b.vmm_difference(ref, np.zeros(SHAPE[1]))
    with pytest.raises(ValueError, match="another CrossbarBackend"):
        b.vmm_difference(b, np.zeros(SHAPE[0]))
    with IdealCrossbar((SHAPE[1], SHAPE[0]), limits=lim) as wrong, pytest.raises(ValueError, match="shape"):
        b.vmm_difference(wrong, np.zeros(SHAPE[0]))
    # The reference's own, stricter limit holds too.
    strict = replace(lim, max_read_voltage=lim.max_read_voltage / 2)
    with IdealCrossbar(SHAPE, limits=strict) as low, pytest.raises(LimitError, match="exceeds the limit"):
        b.vmm_difference(low, np.full(SHAPE[0], 0.75 * lim.max_read_voltage))
    ref.close()
    with pytest.raises(BackendClosedError):
        b.vmm_difference(ref, np.zeros(SHAPE[0]))


def test_alternating_pairs_read_the_array_after_every_read_every_th_pair(backend: CrossbarBackend) -> None:
    assert isinstance(backend.instrument_pairs, bool)
    before = backend.read()
    g_up, g_down = backend.alternating_pairs(6, read_every=3, pulses=pulse_for(backend))
    after = backend.read()
    assert g_up.shape == g_down.shape == (2, *SHAPE) and g_up.dtype == np.float64
    # A read after an up pulse sits above the down read that follows it, on every device.
    assert np.all(g_up > g_down)
    np.testing.assert_allclose(g_down[-1], after, rtol=RTOL)
    assert not np.allclose(g_up[0], before, rtol=RTOL)


def test_alternating_pairs_on_the_ideal_array_are_the_pulse_and_read_calls() -> None:
    paired, pulsed = IdealCrossbar(SHAPE, g_step=STEP), IdealCrossbar(SHAPE, g_step=STEP)
    up, down = Pulse(1.0, 1e-6), Pulse(0.5, 2e-6)
    g_up, g_down = paired.alternating_pairs(4, read_every=2, pulses=PulsePair(up, down))
    ones = np.ones(SHAPE, dtype=np.int64)
    expected_up, expected_down = [], []
    for k in range(1, 5):
        pulsed.apply_pulses(ones, up)
        if k % 2 == 0:
            expected_up.append(pulsed.g.copy())
        pulsed.apply_pulses(-ones, down)
        if k % 2 == 0:
            expected_down.append(pulsed.g.copy())
    np.testing.assert_array_equal(g_up, expected_up)
    np.testing.assert_array_equal(g_down, expected_down)
    assert paired.calls["apply_pulses"] == 8 and paired.calls["read"] == 4


@pytest.mark.parametrize(
    ("pairs", "read_every", "match"),
    [(0, 1, "pairs must be"), (5, 2, "multiple of read_every"), (4, 0, "read_every must be"),
     (2.0, 1, "whole number"), (MAX_TRAIN + 1, 1, "from 1 to"), (True, 1, "whole number")],
)  # fmt: skip
def test_bad_alternating_pairs_raise_before_writing(
    mock_or_sim: CrossbarBackend, pairs, read_every, match
) -> None:
    before = mock_or_sim.read()
    with pytest.raises(ValueError, match=match):
        mock_or_sim.alternating_pairs(pairs, read_every=read_every, pulses=pulse_for(mock_or_sim))
    np.testing.assert_array_equal(mock_or_sim.read(), before)


def test_alternating_pairs_check_each_polarity_against_the_limits(backend: CrossbarBackend) -> None:
    before = backend.read()
    good = pulse_for(backend)
    too_high = Pulse(backend.limits.max_pulse_amplitude * 1.01, good.width)
    with pytest.raises(LimitError, match="down pulse: pulse amplitude"):
        backend.alternating_pairs(2, read_every=1, pulses=PulsePair(good, too_high))
    with pytest.raises(LimitError, match="up pulse: pulse amplitude"):
        backend.alternating_pairs(2, read_every=1, pulses=PulsePair(too_high, good))
    with pytest.raises(TypeError, match="PulsePair"):
        backend.alternating_pairs(2, read_every=1, pulses=(good, good))  # type: ignore[arg-type]
    np.testing.assert_allclose(backend.read(), before, rtol=RTOL)
