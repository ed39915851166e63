"""Jump-table measurement: traces, the 'start' convention, selection, and a simulator round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2, norm

from hil import LimitError, Pulse
from hil.backend import FloatArray, IntArray
from hil.jumptable import JumpTable
from hil.mock import IdealCrossbar
from protocols.jumptable import NoTableError, measure_jump_table
from protocols.plots import plot_jump_table
from protocols.records import jumptable as jump_records
from simulators.crossbar import SimulatedCrossbar

PULSE = Pulse(amplitude=5.0, width=1e-6)
STEP = 20e-9


def test_ideal_device_gives_exact_steps_and_touches_only_chosen_devices() -> None:
    g0 = np.full((3, 3), 10e-6)
    b = IdealCrossbar((3, 3), g_init=g0, g_step=STEP)
    chosen = [(2, 1), (0, 0)]
    calls: list[tuple[int, int]] = []
    res = measure_jump_table(b, PULSE, chosen, n_cycles=2, n_up=30, n_down=20, n_bins=5,
                             progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    assert calls == [(k, 100) for k in range(1, 101)]
    assert res.convention == "start"
    np.testing.assert_array_equal(res.devices, chosen)
    assert res.g.shape == (2 * (30 + 20) + 1, 2)
    np.testing.assert_array_equal(res.direction[:30], 1)
    np.testing.assert_array_equal(res.direction[30:50], -1)
    np.testing.assert_array_equal(res.cycle, np.repeat([0, 1], 50))
    # Convention "start": each step is paired with the read taken before its pulse.
    g_start, dg, direction = res.samples(device=0)
    np.testing.assert_array_equal(g_start, res.g[:-1, 0])
    np.testing.assert_allclose(dg, direction * STEP, rtol=1e-6)
    np.testing.assert_allclose(res.table.median(1), STEP, rtol=1e-6)
    np.testing.assert_allclose(res.table.median(-1), -STEP, rtol=1e-6)
    np.testing.assert_allclose(res.table.spread(1), 0.0, atol=1e-6 * STEP)
    # Two cycles of +30 and -20 pulses leave the chosen devices 20 steps up, the others untouched.
    expected = g0.copy()
    for r, c in chosen:
        expected[r, c] += 2 * (30 - 20) * STEP
    np.testing.assert_allclose(b.g, expected, rtol=1e-9)
    np.testing.assert_array_equal(res.read_noise, 0.0)


def test_boolean_mask_selects_in_row_major_order() -> None:
    b = IdealCrossbar((2, 3), g_step=STEP)
    mask = np.array([[False, True, False], [True, False, True]])
    res = measure_jump_table(b, PULSE, mask, n_cycles=1, n_up=5, n_bins=2, noise_reads=0)
    np.testing.assert_array_equal(res.devices, [(0, 1), (1, 0), (1, 2)])
    assert np.isnan(res.read_noise).all()


@pytest.mark.parametrize(
    ("devices", "error", "message"),
    [
        ([(0, 0), (0, 0)], ValueError, "more than once"),
        (np.zeros((2, 2), dtype=bool), ValueError, "no device"),
        ([(0, 5)], IndexError, "outside"),
        (np.zeros((3, 3), dtype=bool), ValueError, "expected shape"),
        ([0.5, 1.0], ValueError, "boolean mask"),
    ],
)
def test_bad_selection_raises_before_any_pulse(devices: object, error: type[Exception], message: str) -> None:
    b = IdealCrossbar((2, 2))
    before = b.g.copy()
    with pytest.raises(error, match=message):
        measure_jump_table(b, PULSE, devices, n_cycles=1, n_up=3)  # type: ignore[arg-type]
    assert b.calls["apply_pulses"] == 0
    np.testing.assert_array_equal(b.g, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 0}, "n_bins"),
        ({"n_quantiles": 1}, "n_quantiles"),
        ({"g_range": (5e-6, 1e-6)}, "g_range"),
        ({"noise_reads": 1}, "noise_reads"),
    ],
)
def test_bad_table_settings_raise_before_any_pulse(kwargs: dict[str, object], message: str) -> None:
    b = IdealCrossbar((2, 2))
    with pytest.raises(ValueError, match=message):
        measure_jump_table(b, PULSE, [(0, 0)], n_cycles=1, n_up=3, **kwargs)  # type: ignore[arg-type]
    assert b.calls["apply_pulses"] == 0


def test_devices_that_never_move_keep_their_reads_in_the_error() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(2, 2), seed=3, read_noise=0.0)
    weak = Pulse(amplitude=0.9 * sim.config.v_threshold, width=sim.nominal_pulse.width)
    with pytest.raises(NoTableError, match="did the devices move") as info:
        measure_jump_table(sim, weak, [(0, 1)], n_cycles=1, n_up=4)
    assert info.value.g.shape == (9, 1) and np.ptp(info.value.g) == 0.0


def test_summary_save_and_figures(tmp_path: Path) -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(2, 2), seed=2)
    res = measure_jump_table(sim, sim.nominal_pulse, [(0, 0), (1, 1)], n_cycles=1, n_up=150, n_bins=10)
    s = res.summary()
    json.dumps(s, allow_nan=False)
    assert s["convention"] == "start" and s["up"]["n_samples"] == s["down"]["n_samples"] == 300
    table_path, traces_path = res.save(tmp_path)
    loaded = JumpTable.load(table_path)
    np.testing.assert_array_equal(loaded.up, res.table.up)
    np.testing.assert_array_equal(np.load(traces_path)["g"], res.g)
    # Read noise of the preset is 5e-4 of the 19 uS range; 10 reads estimate it within ~50 %.
    np.testing.assert_allclose(res.read_noise, 5e-4 * 19e-6, rtol=0.6)
    for path in plot_jump_table(res, tmp_path / "figs"):
        assert path.suffix == ".png" and path.stat().st_size > 10_000


# ------------------------------------------------------------------------------- round trip
def test_round_trip_through_a_table_driven_simulated_device() -> None:
    """Measure a soft-bounds device (read noise on), build its table, simulate a device from the
    table, measure that one: per state, its mean step and spread match the original's table."""
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(1, 1), seed=0)
    # a⁺ ≈ 2a⁻: down trains twice as long as up trains sweep about 15-85 % of the range.
    protocol = {"n_cycles": 2, "n_up": 500, "n_down": 1000, "n_bins": 20}
    first = measure_jump_table(sim, sim.nominal_pulse, [(0, 0)], **protocol)
    table = first.table
    twin = SimulatedCrossbar.from_jump_table(table, shape=(1, 1), seed=1)
    g_range = (float(table.g_edges[0]), float(table.g_edges[-1]))
    second = measure_jump_table(twin, sim.nominal_pulse, [(0, 0)], g_range=g_range, **protocol)
    np.testing.assert_array_equal(second.table.g_edges, table.g_edges)

    # The table is the device: per bin, the mean step equals the soft-bounds mean step at the
    # bins' own starting reads, a⁺(G_max − G) up and −a⁻(G − G_min) down (linear in G, so the
    # bin average is exact). The plain standard error is conservative here: the read noise of
    # consecutive steps telescopes.
    d = sim.device_parameters()
    g, dg, direction = first.samples()
    a_up, a_down, g_min, g_max = d.step_up[0, 0], d.step_down[0, 0], d.g_min[0, 0], d.g_max[0, 0]
    physics = np.where(direction > 0, a_up * (g_max - g), -a_down * (g - g_min))
    g2, dg2, direction2 = second.samples()
    z_mean, z_spread = [], []
    for sign in (1, -1):
        sel = direction == sign
        n, mean, sd = _per_bin(table, g[sel], dg[sel] - physics[sel])
        ok = n >= 20
        assert np.all(np.abs(mean[ok]) <= 4 * sd[ok] / np.sqrt(n[ok]))

        # The twin draws every step from the original's per-bin distribution, so its per-bin
        # statistics scatter around the table's: the mean with sd/√n, the spread (half the
        # 16-84 % range) with 0.96 sd/√n (asymptotic variance and covariance of two sample
        # quantiles of a normal). Edge bins are left out: the twin's range ends at them and
        # clipping there shortens its steps.
        sel2 = direction2 == sign
        n2, mean2, sd2 = _per_bin(table, g2[sel2], dg2[sel2])
        ok = n2 >= 20
        ok[[0, -1]] = False
        se = sd2[ok] / np.sqrt(n2[ok])
        z_mean += list((mean2[ok] - table.mean(sign)[ok]) / se)
        z_spread += list((second.table.spread(sign)[ok] - table.spread(sign)[ok]) / (0.96 * se))
    k = len(z_mean)
    assert k >= 25  # most of the 2 x 18 interior bins were crossed often enough
    # Every state within the Bonferroni bound of a 0.1 % family-wise error (≈ 4.4 standard
    # errors), and jointly within the 0.1 % tail of chi-square with k degrees of freedom.
    z_max = norm.isf(0.0005 / k)
    for z in (np.asarray(z_mean), np.asarray(z_spread)):
        assert np.all(np.abs(z) <= z_max)
        assert np.sum(z**2) <= chi2.ppf(0.999, k)


def _per_bin(table: JumpTable, g: FloatArray, values: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per bin of the table: count, mean and standard deviation of `values` at conductances g."""
    b = table.bin_of(g)
    n = np.bincount(b, minlength=table.n_bins)
    mean = np.bincount(b, values, minlength=table.n_bins) / np.maximum(n, 1)
    square = np.bincount(b, values**2, minlength=table.n_bins) / np.maximum(n, 1)
    return n, mean, np.sqrt(np.maximum(square - mean**2, 0.0))


# ------------------------------------------------------------------------------- trains
class TrainSpy(IdealCrossbar):
    """The ideal array, noting every pulse_read_train call as (device, count, sign)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trains: list[tuple[tuple[int, int], int, int]] = []

    def _pulse_read_train(self, row: int, col: int, count: int, sign: int, pulse: Pulse) -> FloatArray:
        self.trains.append(((row, col), count, sign))
        return super()._pulse_read_train(row, col, count, sign, pulse)


def test_trains_on_the_ideal_array_read_exactly_what_pulse_by_pulse_reads(monkeypatch) -> None:
    g0 = np.random.default_rng(1).uniform(5e-6, 15e-6, (3, 3))
    chosen = [(2, 1), (0, 0), (1, 2)]
    settings: dict[str, Any] = {"n_cycles": 2, "n_up": 30, "n_down": 20, "n_bins": 5, "noise_reads": 0}
    pulsed = TrainSpy((3, 3), g_init=g0, g_step=STEP)
    expected = measure_jump_table(pulsed, PULSE, chosen, **settings)  # trains=None: the mock has none
    assert expected.parameters["trains"] is False and pulsed.trains == []

    monkeypatch.setattr(jump_records, "MAX_TRAIN", 12)  # 30 pulses split as 12 + 12 + 6, 20 as 12 + 8
    trained = TrainSpy((3, 3), g_init=g0, g_step=STEP)
    calls: list[tuple[int, int]] = []
    result = measure_jump_table(trained, PULSE, chosen, trains=True, **settings,
                                progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    # Per cycle, per device in the given order: its up train, then its down train.
    one_device = [(12, 1), (12, 1), (6, 1), (12, -1), (8, -1)]
    assert trained.trains == [(d, n, s) for _ in range(2) for d in chosen for n, s in one_device]
    # Progress counts the pulses of all devices, after every train.
    counts = [n for _, n, _ in trained.trains]
    assert calls == [(int(done), 300) for done in np.cumsum(counts)]
    # Same pulses on each device, exact reads: the same traces, table and final state.
    assert result.parameters["trains"] is True
    np.testing.assert_array_equal(result.g, expected.g)
    np.testing.assert_array_equal(result.direction, expected.direction)
    np.testing.assert_array_equal(result.cycle, expected.cycle)
    for name in ("g_edges", "up", "down", "up_counts", "down_counts"):
        np.testing.assert_array_equal(getattr(result.table, name), getattr(expected.table, name))
    np.testing.assert_array_equal(trained.g, pulsed.g)


def test_trains_must_be_a_bool_or_none() -> None:
    b = IdealCrossbar((2, 2))
    with pytest.raises(TypeError, match="trains must be True, False or None"):
        measure_jump_table(b, PULSE, [(0, 0)], n_cycles=1, n_up=3, trains="on")  # type: ignore[arg-type]
    assert b.calls["apply_pulses"] == b.calls["read"] == 0


def test_a_pulse_outside_the_limits_raises_before_any_read() -> None:
    b = IdealCrossbar((2, 2))
    with pytest.raises(LimitError, match="amplitude"):
        measure_jump_table(b, Pulse(b.limits.max_pulse_amplitude * 2, 1e-6), [(0, 0)], n_up=3, trains=True)
    assert b.calls["apply_pulses"] == b.calls["read"] == 0


def test_trains_on_the_simulator_step_as_pulse_by_pulse_does() -> None:
    """Soft-bounds devices (device-to-device variation, c2c noise and read noise on): with trains
    and pulse by pulse, every step's mean is the device's a⁺(G_max − G) up and −a⁻(G − G_min)
    down at the conductance read before it. The two runs see other noise (the devices are pulsed
    in another order), so they agree in distribution, not value for value."""
    devices = [(0, 0), (0, 1), (1, 0), (1, 1)]
    residual = {}
    for trains in (False, True):
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (2, 2), seed=11, stuck_fraction=0.0)
        res = measure_jump_table(sim, sim.nominal_pulse, devices, n_cycles=2, n_up=100, n_down=200,
                                 noise_reads=0, trains=trains)  # fmt: skip
        assert res.parameters["trains"] is trains
        d = sim.device_parameters()
        for k, (r, c) in enumerate(devices):
            g, dg, direction = res.samples(device=k)
            physics = np.where(direction > 0, d.step_up[r, c] * (d.g_max[r, c] - g),
                               -d.step_down[r, c] * (g - d.g_min[r, c]))  # fmt: skip
            for sign in (1, -1):
                residual.setdefault((trains, sign), []).append((dg - physics)[direction == sign])
    # E[residual] = 0 given the starting read: its read noise e_k enters as -e_k + a e_k, mean 0.
    # The plain standard error is conservative: consecutive residuals share a read with negative
    # covariance -(1 - a) σ_r², and the c2c noise terms are uncorrelated.
    stats = {}
    for key, parts in residual.items():
        x = np.concatenate(parts)
        stats[key] = (x.mean(), x.std(ddof=1) / np.sqrt(x.size))
        assert abs(stats[key][0]) < 4 * stats[key][1], key
    for sign in (1, -1):
        (m0, s0), (m1, s1) = stats[(False, sign)], stats[(True, sign)]
        assert abs(m1 - m0) < 4 * np.hypot(s0, s1)


# ------------------------------------------------------------------------------- read noise
def test_table_keeps_the_read_noise_apart_from_the_steps() -> None:
    """On a simulated soft-bounds device with 10 nS read noise the table's read noise estimate
    (from the steps) is the simulator's within 4 standard errors, the repeated reads agree, and
    near the symmetry point the deconvolved spread is the device's cycle-to-cycle spread
    s·step (s = 0.3), not sqrt((s·step)² + 2σ_r²)."""
    config_span = 19e-6  # protonic-asymmetric: 1 to 20 µS
    sim = SimulatedCrossbar.from_preset(
        "protonic-asymmetric", shape=(1, 4), seed=5, read_noise=10e-9 / config_span, dtod_bounds=0.0,
        dtod_step=0.0, dtod_imbalance=0.0, stuck_fraction=0.0,
    )  # fmt: skip
    res = measure_jump_table(sim, sim.nominal_pulse, np.ones((1, 4), bool), n_cycles=5, trains=False)
    table = res.table
    assert abs(table.read_noise - 10e-9) < 4 * table.read_noise_se
    assert table.read_noise_se < 1e-9
    assert abs(np.median(res.read_noise) - 10e-9) < 3e-9  # 40 repeated reads
    g_sym = float(sim.symmetry_points()[0, 0])
    b = table.bin_of(g_sym)
    d = sim.device_parameters()
    a_up, g_max = float(d.step_up[0, 0]), float(d.g_max[0, 0])
    c2c = 0.3 * a_up * (g_max - g_sym)  # s x the mean step at G_sym (~5.7 nS)
    raw = JumpTable.from_samples(*res.samples(), pulse=res.pulse)
    assert raw.spread(1)[b] > 2 * c2c  # read noise dominates the raw spread
    # Four devices, ~60 steps per bin near G_sym: the smoothed variance pins s·step to ~15 %.
    for sign in (1, -1):
        assert table.spread(sign)[b] == pytest.approx(c2c, rel=0.3)
    summary = res.summary()["read_noise_S"]
    assert summary["deconvolved"] and summary["from_steps"] == table.read_noise
