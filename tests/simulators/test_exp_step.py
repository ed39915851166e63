"""aihwkit's exponential step (hil.stepmodels.ExpStep): simulated, fitted, loaded from a preset file.

The model lives in one file and is registered by name; nothing in the simulator's engines, the
fitter or the preset files knows it. Statistical checks use fixed seeds and a tolerance of
Z = 4 standard errors (the closed form's, or the fit's own reported ones).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hil import Pulse
from hil.stepmodels import MODELS, ExpStep
from protocols.fitting import PulseTraces, fit_traces
from protocols.jumptable import measure_jump_table
from simulators.config import DeviceConfig, Noise, Variation
from simulators.crossbar import SimulatedCrossbar
from simulators.preset_files import load_preset, save_preset
from simulators.presets import preset

Z = 4.0
# A pronounced exponential in both directions (the up step falls from 0.9 to 0.3 of a⁺ over
# the range, the down step from 0.96 to 0.7 of a⁻ towards the bottom), so that a fit sees it.
SHAPE = {"gamma_up": 4.0, "gamma_down": 4.0, "A_up": 0.1, "A_down": 0.3}
STEPS = {"step_up": 0.004, "step_down": 0.004}


def aihwkit_rates(x: np.ndarray, m: ExpStep) -> tuple[np.ndarray, np.ndarray]:
    """ExpStepDevice's update_once, written out in aihwkit's terms for w in [-1, 1] (b_max - b_min = 2)."""
    w = 2.0 * x - 1.0
    z = 2.0 * m.slope * w / 2.0 + m.offset
    y_up = np.maximum(1.0 - m.A_up * np.exp(m.gamma_up * z), 0.0)
    y_down = np.maximum(1.0 - m.A_down * np.exp(-m.gamma_down * z), 0.0)
    return y_up, y_down


def config(**noise: float) -> DeviceConfig:
    return DeviceConfig(step=ExpStep(**STEPS, **SHAPE), noise=Noise(**noise))


def normalised(sim: SimulatedCrossbar) -> np.ndarray:
    p = sim.device_parameters()
    return (sim.conductance - p.g_min) / p.span


@pytest.mark.parametrize("model", [ExpStep(), ExpStep(**SHAPE)], ids=["aihwkit-defaults", "test-shape"])
def test_rates_are_aihwkits_update(model: ExpStep) -> None:
    x = np.linspace(0.0, 1.0, 101)
    for ours, theirs in zip(model.rates(x), aihwkit_rates(x, model), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)
    assert MODELS["exp-step"] is ExpStep


def test_mean_step_matches_the_closed_form() -> None:
    """4096 devices at one state take one pulse each; the mean step is a m r(x) (c2c noise s)."""
    shape, s = (64, 64), 0.3
    sim = SimulatedCrossbar(shape, config(c2c_noise=s), seed=3, engine="reference")
    n = shape[0] * shape[1]
    pulse = Pulse(6.5, 5e-9)
    m = sim.pulse_factor(pulse)
    for x0 in (0.1, 0.5, 0.9):
        up_rate, down_rate = aihwkit_rates(np.array([x0]), sim.config.step)
        for sign, a, rate in ((1, STEPS["step_up"], up_rate[0]), (-1, STEPS["step_down"], down_rate[0])):
            sim.set_conductance(1e-6 + x0 * 19e-6)
            sim.apply_pulses(np.full(shape, sign), pulse)
            mean, expected = float(np.mean(normalised(sim) - x0)), sign * a * m * rate
            se = abs(expected) * s / math.sqrt(n)
            assert abs(mean - expected) < Z * se, (x0, sign, mean, expected, se)


def test_fast_engine_is_the_reference_pulse_for_pulse() -> None:
    """No closed form for bursts: the fast engine steps pulse by pulse, with the reference's draws."""
    make = {
        e: SimulatedCrossbar((6, 7), config(c2c_noise=0.3), seed=5, engine=e) for e in ("fast", "reference")
    }
    fast, ref = make["fast"], make["reference"]
    counts = np.arange(42).reshape(6, 7) - 21
    for sim in (fast, ref):
        sim.apply_pulses(counts, sim.nominal_pulse)
        sim.apply_pulses(-counts // 3, sim.nominal_pulse)
    np.testing.assert_array_equal(fast.conductance, ref.conductance)
    # The fused stochastic update applies its coincidences as the reference applies the same counts.
    applied = fast.stochastic_update(np.linspace(-1, 1, 6), np.linspace(1, -1, 7), 31, fast.nominal_pulse)
    assert applied is not None and np.abs(applied).sum() > 0
    ref.apply_pulses(applied, ref.nominal_pulse)
    np.testing.assert_array_equal(fast.conductance, ref.conductance)


def test_symmetry_point_equalises_the_mean_steps() -> None:
    sim = SimulatedCrossbar((4, 5), config().with_overrides(dtod_step=0.2, dtod_imbalance=0.05), seed=8)
    g_sym = sim.symmetry_points()
    assert np.all(np.isfinite(g_sym))
    sim.set_conductance(g_sym)
    up, down = sim.expected_step(sim.nominal_pulse)
    np.testing.assert_allclose(up, down, rtol=1e-9)


def test_overrides_switch_to_it_and_validate() -> None:
    c = preset("protonic-asymmetric", model="exp-step", A_up=0.2)
    assert isinstance(c.step, ExpStep) and c.A_up == 0.2 and c.step_up == 0.003  # step sizes kept
    assert c.gamma_up == ExpStep.gamma_up  # soft bounds' γ = 1 is not carried into another model's γ
    with pytest.raises(ValueError, match="A_down must be >= 0 for exp-step"):
        c.with_overrides(A_down=-0.1)
    with pytest.raises(ValueError, match="exponential would overflow"):
        c.with_overrides(gamma_up=2000.0)


def test_preset_file_round_trip_and_hand_written_file(tmp_path: Path) -> None:
    c = config(c2c_noise=0.1, read_noise=2e-4).with_overrides(dtod_bounds=0.05)
    path = save_preset(tmp_path / "exp.toml", c, {"note": "test"})
    assert load_preset(path) == c
    assert preset(path, read_noise=0.0).read_noise == 0.0
    # A hand-written file names the model and its parameters like any other.
    text = path.read_text().replace("A_up = 0.1\n", "A_up = 0.05\n")
    (tmp_path / "edited.toml").write_text(text)
    sim = SimulatedCrossbar((2, 2), preset(tmp_path / "edited.toml"), seed=0)
    assert sim.config.step == ExpStep(**{**STEPS, **SHAPE, "A_up": 0.05})
    sim.apply_pulses(np.ones((2, 2), dtype=int), sim.nominal_pulse)


def test_fit_recovers_the_parameters() -> None:
    """Jump-table traces of 6 devices (3 cycles of 350 pulses each way, into both bounds)."""
    truth = config(c2c_noise=0.1, read_noise=2e-4)
    sim = SimulatedCrossbar((2, 3), truth, seed=1)
    res = measure_jump_table(
        sim, sim.nominal_pulse, np.ones((2, 3), dtype=bool), n_cycles=3, n_up=350, n_down=350, noise_reads=10
    )
    fit = fit_traces(PulseTraces.from_jump_table(res), model="exp-step")
    assert fit.model == "exp-step" and not fit.notes
    expected = {"g_min": truth.g_min, "g_max": truth.g_max, **STEPS, **SHAPE}
    for name, value in expected.items():
        got = fit.nominal[name]
        assert abs(got["value"] - value) < Z * got["stderr"], (name, got, value)
    assert fit.nominal["slope"]["value"] == ExpStep.slope  # held: A± and γ± absorb it
    assert abs(fit.c2c_noise["value"] - 0.1) < Z * fit.c2c_noise["stderr"]


def test_variation_and_stuck_devices_apply_to_it() -> None:
    c = config().with_overrides(stuck_fraction=0.5, dtod_step=0.2)
    assert c.variation == Variation(dtod_step=0.2, stuck_fraction=0.5)
    sim = SimulatedCrossbar((10, 10), c, seed=2)
    stuck = sim.device_parameters().stuck
    before = sim.conductance
    sim.apply_pulses(np.full((10, 10), 5), sim.nominal_pulse)
    np.testing.assert_array_equal(sim.conductance[stuck], before[stuck])
    assert np.all(sim.conductance[~stuck] > before[~stuck])
