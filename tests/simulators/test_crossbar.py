"""SimulatedCrossbar: the simulator-only API, exact (noise-free) dynamics, bad input, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hil import Capabilities, DeviceKind, LimitError, Pulse, SafetyLimits
from simulators.crossbar import SimulatedCrossbar
from simulators.presets import PRESETS

NOMINAL = PRESETS["protonic-asymmetric"].nominal_pulse


def quiet(name: str = "protonic-asymmetric", shape=(3, 4), seed: int = 0, **kw) -> SimulatedCrossbar:
    """No noise of any kind; variation kept unless overridden."""
    settings = {"read_noise": 0.0, "vmm_noise": 0.0, "c2c_noise": 0.0, "stuck_fraction": 0.0, **kw}
    return SimulatedCrossbar.from_preset(name, shape, seed=seed, **settings)


def normalised(sim: SimulatedCrossbar) -> np.ndarray:
    p = sim.device_parameters()
    return (sim.conductance - p.g_min) / p.span


# ------------------------------------------------------------------ description
def test_description_and_capabilities() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 3), seed=7)
    assert sim.capabilities == Capabilities(
        physical_vmm=True,
        native_stochastic_update=True,
        parallel_pulses=True,
        fused_vmm_difference=True,
        fused_update=sim.compiled,  # the plan inside the update kernel
    )
    assert sim.device_kind == DeviceKind.PROTONIC
    assert SimulatedCrossbar.from_preset("ideal", (2, 2)).device_kind == DeviceKind.IDEAL
    assert sim.conductance_range == (1e-6, 20e-6)
    assert sim.read_voltage == 0.1 and sim.limits.max_read_voltage == 0.1
    d = json.loads(json.dumps(sim.describe()))
    assert d["simulator"]["config"] == PRESETS["protonic-asymmetric"].to_dict()
    assert d["simulator"]["seed"]["entropy"] == 7
    assert d["simulator"]["nominal_pulse"] == {"amplitude_V": 6.0, "width_s": 5e-9}
    # The default limits allow the nominal pulse.
    sim.limits.check_pulse(sim.nominal_pulse)


def test_fresh_entropy_is_recorded() -> None:
    a = SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 3), seed=None)
    entropy = a.describe()["simulator"]["seed"]["entropy"]
    b = SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 3), seed=entropy)
    np.testing.assert_array_equal(a.conductance, b.conductance)


def test_initial_state_and_variation() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (40, 50), seed=3)
    c = sim.config
    p = sim.device_parameters()
    x = normalised(sim)
    assert np.all((x >= c.init_state - c.init_spread - 1e-12) & (x <= c.init_state + c.init_spread + 1e-12))
    assert np.all(p.g_min < p.g_max)
    # Log-normal spreads: the std of log(bound) is dtod_bounds within 4 standard errors
    # (SE of a sample std is sigma / sqrt(2(n-1))).
    n = x.size
    for values, nominal in ((p.g_min, c.g_min), (p.g_max, c.g_max)):
        assert abs(np.std(np.log(values / nominal), ddof=1) - c.dtod_bounds) < 4 * c.dtod_bounds / np.sqrt(
            2 * (n - 1)
        )
    # Up and down steps share the log-normal multiplier and split by e^(+-r).
    log_ratio = np.log(p.step_up / p.step_down / (c.step_up / c.step_down))
    assert abs(np.std(log_ratio, ddof=1) - 2 * c.dtod_imbalance) < 4 * 2 * c.dtod_imbalance / np.sqrt(
        2 * (n - 1)
    )
    # Stuck fraction: binomial, 4 standard errors.
    assert abs(p.stuck.mean() - c.stuck_fraction) < 4 * np.sqrt(c.stuck_fraction * (1 - c.stuck_fraction) / n)


# ------------------------------------------------------------------ reads and VMMs
def test_quiet_reads_and_vmms_are_exact() -> None:
    sim = quiet(shape=(4, 5))
    g = sim.conductance
    np.testing.assert_array_equal(sim.read(), g)
    np.testing.assert_array_equal(sim.read([(3, 4), (0, 1)]), [g[3, 4], g[0, 1]])
    v = np.array([0.1, -0.05, 0.0, 0.02])
    np.testing.assert_allclose(sim.vmm(v), v @ g, rtol=1e-12)
    u = np.array([0.1, 0.0, -0.1, 0.05, 0.03])
    np.testing.assert_allclose(sim.vmm_transposed(u), g @ u, rtol=1e-12)


def test_reads_never_disturb_the_state() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (4, 4), seed=2)
    before = sim.conductance
    for _ in range(50):
        sim.read()
        sim.vmm(np.full(4, sim.read_voltage))
        sim.vmm_transposed(np.full((3, 4), -sim.read_voltage))
    np.testing.assert_array_equal(sim.conductance, before)


# ------------------------------------------------------------------ exact dynamics (no c2c noise)
def test_one_soft_bounds_pulse_matches_the_formula() -> None:
    sim = quiet(shape=(5, 6), seed=4)
    p = sim.device_parameters()
    x0 = normalised(sim)
    counts = np.where(np.arange(30).reshape(5, 6) % 2 == 0, 1, -1)
    m = sim.pulse_factor(Pulse(6.5, 8e-9))
    sim.apply_pulses(counts, Pulse(6.5, 8e-9))
    expected = np.where(counts > 0, x0 + p.step_up * m * (1 - x0), x0 - p.step_down * m * x0)
    np.testing.assert_allclose(normalised(sim), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("model", ["linear-step", "power-step"])
def test_gamma_one_is_soft_bounds(model: str) -> None:
    """Linear step with γ = 1 and power step with exponent 1 are soft bounds, noise included."""
    counts = np.array([[7, -3, 0], [-12, 5, 1]])
    runs = []
    for m in ("soft-bounds", model):
        sim = SimulatedCrossbar.from_preset(
            "protonic-asymmetric", (2, 3), seed=9, model=m, stuck_fraction=0.0
        )
        for _ in range(3):
            sim.apply_pulses(counts, NOMINAL)
            sim.apply_pulses(-counts, NOMINAL)
        runs.append(sim.conductance)
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-12)


def test_constant_step_and_power_step_formulas() -> None:
    sim = quiet("ideal", shape=(2, 2))
    x0 = normalised(sim)
    sim.apply_pulses(np.array([[3, -3], [0, 1]]), NOMINAL)
    np.testing.assert_allclose(normalised(sim) - x0, [[0.003, -0.003], [0.0, 0.001]], atol=1e-15)

    sim = quiet(shape=(1, 2), model="power-step", gamma_up=0.5, gamma_down=2.0, dtod_step=0.0,
                dtod_imbalance=0.0, init_spread=0.0)  # fmt: skip
    sim.apply_pulses(np.array([[1, -1]]), NOMINAL)
    c = sim.config
    np.testing.assert_allclose(
        normalised(sim)[0], [0.5 + c.step_up * 0.5**0.5, 0.5 - c.step_down * 0.5**2], rtol=1e-12
    )


# The fast engine computes a burst's factor (1 - c)^n as expm1 of a float32 exponent: relative
# error ~3 float32 roundings (2e-7) of the change, which is at most the conductance itself.
@pytest.mark.parametrize(("engine", "rtol"), [("reference", 1e-13), ("fast", 1e-6)])
def test_pulses_are_applied_in_sequence_per_device(engine: str, rtol: float) -> None:
    """n pulses in one call equal n calls of one pulse (noise-free, so exactly the same map)."""
    a, b = quiet(seed=5, engine=engine), quiet(seed=5, engine=engine)
    counts = np.arange(-6, 6).reshape(3, 4)
    a.apply_pulses(counts, NOMINAL)
    for k in range(6):
        b.apply_pulses(np.sign(counts) * (np.abs(counts) > k), NOMINAL)
    np.testing.assert_allclose(a.conductance, b.conductance, rtol=rtol)
    assert not np.allclose(a.conductance, quiet(seed=5).conductance, rtol=1e-3)  # the pulses moved it


def test_saturation_clips_at_the_device_bounds() -> None:
    sim = quiet(shape=(2, 2), seed=1)
    p = sim.device_parameters()
    sim.apply_pulses(np.array([[5000, -5000], [0, 0]]), Pulse(9.0, 1e-6))
    g = sim.conductance
    assert g[0, 0] == pytest.approx(p.g_max[0, 0], rel=1e-12)
    assert g[0, 1] == pytest.approx(p.g_min[0, 1], rel=1e-12)


def test_sub_threshold_pulses_change_nothing() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (4, 4), seed=6)  # all noise on
    before = sim.conductance
    for amplitude in (0.5, 2.0, sim.config.v_threshold):
        sim.apply_pulses(np.full((4, 4), 1000), Pulse(amplitude, 1e-3))
        sim.apply_pulses(np.full((4, 4), -1000), Pulse(amplitude, 1e-3))
    np.testing.assert_array_equal(sim.conductance, before)
    up, down = sim.expected_step(Pulse(2.0, 1e-3))
    assert not np.any(up) and not np.any(down)


def test_stuck_devices_never_move() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (10, 10), seed=8, stuck_fraction=0.3)
    stuck = sim.device_parameters().stuck
    assert 0 < stuck.sum() < stuck.size
    before = sim.conductance
    sim.apply_pulses(np.full((10, 10), 50), NOMINAL)
    sim.stochastic_update(np.ones(10), -np.ones(10), 20, NOMINAL)
    after = sim.conductance
    np.testing.assert_array_equal(after[stuck], before[stuck])
    assert np.all(after[~stuck] != before[~stuck])
    up, _ = sim.expected_step(NOMINAL)
    assert not np.any(up[stuck]) and np.all(up[~stuck] > 0)
    assert np.all(np.isnan(sim.symmetry_points()[stuck]))


# ------------------------------------------------------------------ set_conductance, expected_step
def test_set_conductance() -> None:
    sim = quiet(shape=(2, 3))
    sim.set_conductance(10e-6)
    np.testing.assert_allclose(sim.conductance, 10e-6, rtol=1e-12)
    target = np.linspace(5e-6, 15e-6, 6).reshape(2, 3)
    sim.set_conductance(target)
    np.testing.assert_allclose(sim.read(), target, rtol=1e-12)
    p = sim.device_parameters()
    sim.set_conductance(p.g_max)  # the bounds themselves are allowed
    with pytest.raises(ValueError, match="outside their device's bounds"):
        sim.set_conductance(p.g_max * 1.01)
    with pytest.raises(ValueError, match="expected a scalar or shape"):
        sim.set_conductance(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        sim.set_conductance(np.full((2, 3), np.nan))


def test_expected_step_is_the_mean_step_in_siemens() -> None:
    sim = quiet(shape=(3, 3), seed=2)
    p = sim.device_parameters()
    x = normalised(sim)
    pulse = Pulse(7.0, 2e-9)
    m = sim.pulse_factor(pulse)
    up, down = sim.expected_step(pulse)
    np.testing.assert_allclose(up, p.step_up * m * (1 - x) * p.span, rtol=1e-12)
    np.testing.assert_allclose(down, p.step_down * m * x * p.span, rtol=1e-12)
    g0 = sim.conductance
    sim.apply_pulses(np.ones((3, 3), dtype=int), pulse)
    np.testing.assert_allclose(sim.conductance - g0, up, rtol=1e-9)


# ------------------------------------------------------------------ bad input through the simulator
def test_bad_input_raises_before_writing() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 4), seed=0)
    before = sim.conductance
    with pytest.raises(ValueError, match="expected shape"):
        sim.apply_pulses(np.ones((4, 3), dtype=int), NOMINAL)
    with pytest.raises(TypeError, match="must be integers"):
        sim.apply_pulses(np.full((3, 4), 2.0), NOMINAL)
    with pytest.raises(ValueError, match="width must be a finite number > 0"):
        sim.apply_pulses(np.ones((3, 4), dtype=int), Pulse(6.0, -5e-9))
    with pytest.raises(LimitError, match="amplitude"):
        sim.apply_pulses(np.ones((3, 4), dtype=int), Pulse(11.0, 5e-9))
    with pytest.raises(ValueError, match="NaN or inf"):
        sim.vmm(np.array([0.1, np.inf, 0.0]))
    with pytest.raises(ValueError, match="expected shape"):
        sim.vmm(np.zeros(4))
    with pytest.raises(LimitError, match="read/VMM voltage"):
        sim.vmm(np.full(3, 0.2))
    with pytest.raises(ValueError, match="NaN or inf"):
        sim.stochastic_update(np.full(3, np.nan), np.ones(4), 5, NOMINAL)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        sim.stochastic_update(np.ones(3), np.full(4, 1.5), 5, NOMINAL)
    with pytest.raises(TypeError, match=r"hil\.Pulse"):
        sim.expected_step((6.0, 5e-9))  # type: ignore[arg-type]
    np.testing.assert_array_equal(sim.conductance, before)


def test_bad_construction_raises() -> None:
    with pytest.raises(ValueError, match="unknown device preset 'nope'; known presets: ideal"):
        SimulatedCrossbar.from_preset("nope", (2, 2))
    with pytest.raises(ValueError, match="step_up must be"):
        SimulatedCrossbar.from_preset("ideal", (2, 2), step_up=-1.0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        SimulatedCrossbar.from_preset("ideal", (2, 2), seed=-1)
    with pytest.raises(ValueError, match="array shape"):
        SimulatedCrossbar.from_preset("ideal", (0, 2))
    with pytest.raises(ValueError, match="needs a JumpTable"):
        SimulatedCrossbar.from_preset("ideal", (2, 2), model="table")
    with pytest.raises(ValueError, match="no read may write"):
        SimulatedCrossbar.from_preset("ideal", (2, 2), limits=SafetyLimits(max_read_voltage=5.0))
    with pytest.raises(TypeError, match="DeviceConfig"):
        SimulatedCrossbar((2, 2), "ideal")  # type: ignore[arg-type]


# ------------------------------------------------------------------ reproducibility
def run(seed: int) -> list[np.ndarray]:
    """A bit of everything, returning every observable."""
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (6, 5), seed=seed)
    out = [sim.conductance, sim.symmetry_points(), sim.read()]
    sim.apply_pulses(np.arange(30).reshape(6, 5) - 15, NOMINAL)
    out.append(sim.vmm(np.full((2, 6), 0.05)))
    counts = sim.stochastic_update(np.linspace(-1, 1, 6), np.linspace(0.2, 1, 5), 31, Pulse(7.0, 5e-9))
    out += [counts, sim.read(), sim.conductance]
    return out


def test_same_seed_same_chip_and_run() -> None:
    for a, b in zip(run(11), run(11), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run(11)[-1], run(12)[-1])


def test_reads_do_not_change_what_pulses_do() -> None:
    """Reads draw from their own noise stream: the state after pulses is the same with or without them."""
    a = SimulatedCrossbar.from_preset("protonic-asymmetric", (4, 4), seed=3)
    b = SimulatedCrossbar.from_preset("protonic-asymmetric", (4, 4), seed=3)
    counts = np.full((4, 4), 20)
    for _ in range(3):
        a.apply_pulses(counts, NOMINAL)
        b.read()
        b.vmm(np.full(4, 0.1))
        b.apply_pulses(counts, NOMINAL)
    np.testing.assert_array_equal(a.conductance, b.conductance)


def test_a_seed_sequence_gives_the_same_array_every_time() -> None:
    ss = np.random.SeedSequence(17, spawn_key=(1, 2))
    a = SimulatedCrossbar((3, 3), PRESETS["protonic-asymmetric"], seed=ss)
    b = SimulatedCrossbar((3, 3), PRESETS["protonic-asymmetric"], seed=ss)
    np.testing.assert_array_equal(a.conductance, b.conductance)
