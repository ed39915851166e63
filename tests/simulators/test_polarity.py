"""Pulses per polarity in the simulator: each polarity's own pulse response, applied to its steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil import Pulse, PulsePair
from simulators.config import DeviceConfig
from simulators.crossbar import ENGINES, SimulatedCrossbar
from simulators.preset_files import load_preset, save_preset
from simulators.presets import PRESETS, preset

NOMINAL = Pulse(6.0, 5e-9)
DOWN = {"v_threshold_down": 3.5, "v_scale_down": 0.8}  # the down polarity needs more field


def quiet(**overrides: object) -> DeviceConfig:
    """protonic-asymmetric's devices (variation kept) without noise: steps are their means."""
    return preset("protonic-asymmetric", c2c_noise=0.0, read_noise=0.0, vmm_noise=0.0, **overrides)


def test_the_down_response_defaults_to_the_up_one_and_is_left_out_of_written_configs() -> None:
    for config in PRESETS.values():
        r = config.pulse_response
        assert (r.threshold(-1), r.scale(-1)) == (r.v_threshold, r.v_scale) and r.is_symmetric
        assert "v_threshold_down" not in config.to_dict() and "v_scale_down" not in config.to_dict()
    pulse = Pulse(5.2, 7e-9)
    c = PRESETS["protonic-asymmetric"]
    assert c.pulse_factors(PulsePair.symmetric(pulse)) == (c.pulse_factor(pulse),) * 2


def test_the_down_factor_is_the_closed_form_of_its_own_threshold_and_scale() -> None:
    c = quiet(**DOWN)
    pulse = Pulse(5.0, 10e-9)
    up = math.expm1((5.0 - 3.0) / 1.0) / math.expm1((6.0 - 3.0) / 1.0) * 2.0
    down = math.expm1((5.0 - 3.5) / 0.8) / math.expm1((6.0 - 3.5) / 0.8) * 2.0
    assert c.pulse_factors(PulsePair.symmetric(pulse)) == pytest.approx((up, down), rel=1e-12)
    assert c.pulse_factors(PulsePair.symmetric(NOMINAL)) == (1.0, 1.0)  # the nominal pulse: m = 1 both
    assert c.pulse_factor(Pulse(3.4, 5e-9), -1) == 0.0 < c.pulse_factor(Pulse(3.4, 5e-9), 1)
    assert "down: threshold 3.5 V, V0 0.8 V" in str(c)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"v_threshold_down": 6.5}, "v_ref must exceed v_threshold_down"),
        ({"v_threshold_down": 0.05}, "v_threshold_down must exceed read_voltage"),
        ({"v_scale_down": 0.0}, "v_scale_down must be > 0 volts"),
        ({"v_scale_down": math.nan}, "v_scale_down must be a finite number"),
    ],
)
def test_bad_down_responses_are_refused(overrides: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        quiet(**overrides)


def test_a_preset_file_with_or_without_the_down_response_loads(tmp_path) -> None:
    old = quiet()
    save_preset(tmp_path / "old.toml", old)
    assert "v_threshold_down" not in (tmp_path / "old.toml").read_text()
    assert load_preset(tmp_path / "old.toml") == old
    new = quiet(**DOWN)
    save_preset(tmp_path / "new.toml", new)
    assert load_preset(tmp_path / "new.toml") == new


def test_symmetry_points_follow_the_pulses_as_the_soft_bounds_closed_form() -> None:
    sim = SimulatedCrossbar((4, 5), quiet(**DOWN, stuck_fraction=0.0), seed=3)
    dev = sim.device_parameters()
    np.testing.assert_array_equal(sim.symmetry_points(), sim.symmetry_points(NOMINAL))
    for pair in (
        PulsePair(Pulse(6.0, 5e-9), Pulse(5.5, 5e-9)),
        PulsePair(Pulse(5.0, 20e-9), Pulse(6.5, 5e-9)),
        PulsePair.symmetric(Pulse(5.0, 5e-9)),  # one pulse, but the polarities respond apart
    ):
        m_up, m_down = sim.config.pulse_factors(pair)
        up, down = dev.step_up * m_up, dev.step_down * m_down
        closed = (up * dev.g_max + down * dev.g_min) / (up + down)
        np.testing.assert_allclose(sim.symmetry_points(pair), closed, rtol=1e-12)
    weaker_down = sim.symmetry_points(PulsePair(NOMINAL, Pulse(5.5, 5e-9)))
    assert np.all(weaker_down > sim.symmetry_points())  # weaker down steps: the balance moves up
    assert np.all(np.isnan(sim.symmetry_points(Pulse(3.0, 5e-9))))  # nothing moves at all


@pytest.mark.parametrize("engine", ENGINES)
def test_up_counts_step_with_the_up_factor_and_down_counts_with_the_down_one(engine: str) -> None:
    sim = SimulatedCrossbar((3, 4), quiet(**DOWN), seed=5, engine=engine)
    pair = PulsePair(Pulse(6.5, 5e-9), Pulse(5.0, 10e-9))
    m_up, m_down = sim.config.pulse_factors(pair)
    assert m_up != m_down
    up, down = sim.expected_step(pair)
    up_nominal, down_nominal = sim.expected_step(NOMINAL)
    np.testing.assert_allclose(up, up_nominal * m_up, rtol=1e-12)
    np.testing.assert_allclose(down, down_nominal * m_down, rtol=1e-12)
    counts = np.array([[1, -1, 0, 1], [-1, 1, -1, 0], [0, 0, 1, -1]])
    before = sim.conductance
    sim.apply_pulses(counts, pair)
    change = sim.conductance - before
    expected = np.where(counts > 0, up, -down) * (counts != 0)
    np.testing.assert_allclose(change, expected, rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize("engine", ["fast", "numpy"])
def test_bursts_of_a_pair_are_the_per_pulse_steps(engine: str) -> None:
    """Bursts take their closed forms per polarity at that polarity's factor: noise-free they are
    the reference engine's per-pulse steps (to the float32 rounding of the burst exponent)."""
    pair = PulsePair(Pulse(6.5, 5e-9), Pulse(5.0, 10e-9))
    fast = SimulatedCrossbar((6, 7), quiet(**DOWN), seed=9, engine=engine)
    reference = SimulatedCrossbar((6, 7), quiet(**DOWN), seed=9, engine="reference")
    counts = np.random.default_rng(2).integers(-40, 41, size=(6, 7))
    for sim in (fast, reference):
        sim.apply_pulses(counts, pair)
        sim.apply_pulses(-counts, pair)
    span = 19e-6
    np.testing.assert_allclose(fast.conductance, reference.conductance, rtol=0, atol=1e-6 * span)


def test_a_pair_of_equal_pulses_is_the_pulse_draw_for_draw() -> None:
    noisy = preset("protonic-asymmetric")
    one, two = (SimulatedCrossbar((5, 5), noisy, seed=4) for _ in range(2))
    counts = np.random.default_rng(0).integers(-5, 6, size=(5, 5))
    p = np.linspace(-1, 1, 5)
    one.apply_pulses(counts, NOMINAL)
    one.stochastic_update(p, p[::-1], 20, NOMINAL)
    two.apply_pulses(counts, PulsePair.symmetric(NOMINAL))
    two.stochastic_update(p, p[::-1], 20, PulsePair(Pulse(6.0, 5e-9), Pulse(6.0, 5e-9)))
    np.testing.assert_array_equal(one.conductance, two.conductance)
