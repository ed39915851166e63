"""Symmetry point by strictly alternating pulses: protocol behaviour and physics on the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from hil import Pulse
from hil.backend import IntArray
from hil.mock import IdealCrossbar
from protocols.plots import plot_symmetry
from protocols.symmetry import find_symmetry_point
from simulators.crossbar import SimulatedCrossbar

PULSE = Pulse(amplitude=5.0, width=1e-6)


class LoggingCrossbar(IdealCrossbar):
    """The ideal mock that logs every write and lets chosen devices ignore pulses (stuck)."""

    def __init__(self, *args: object, stuck: tuple[int, int] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.writes: list[IntArray] = []
        self.stuck = stuck

    def _apply_pulses(self, counts: IntArray, pulse: Pulse) -> None:
        self.writes.append(counts.copy())
        if self.stuck is not None:
            counts = counts.copy()
            counts[self.stuck] = 0
        super()._apply_pulses(counts, pulse)


def test_ideal_device_strict_alternation_and_exact_estimate() -> None:
    g0 = np.linspace(5e-6, 15e-6, 6).reshape(2, 3)
    b = LoggingCrossbar((2, 3), g_init=g0, g_step=20e-9)
    calls: list[tuple[int, int]] = []
    res = find_symmetry_point(b, PULSE, max_pairs=100, window=10, progress=lambda d, t: calls.append((d, t)))
    # Every call pulses every device once, and calls alternate +1, -1, +1, ...
    assert len(b.writes) == 2 * res.pairs_used
    for k, w in enumerate(b.writes):
        np.testing.assert_array_equal(w, np.full((2, 3), 1 if k % 2 == 0 else -1))
    # A constant symmetric step has no drift: two windows agree exactly and the run stops there.
    assert res.pairs_used == 20
    assert res.converged.all() and res.responsive.all()
    # Post-up reads sit at g0 + step, post-down reads at g0: the midpoint is g0 + step/2.
    np.testing.assert_allclose(res.g_sym, g0 + 10e-9, rtol=1e-12)
    np.testing.assert_allclose(res.step, 20e-9, rtol=1e-9)
    # No noise: the standard error is round-off of the reads (1 ulp of 1e-5 S is 1.7e-21 S).
    assert np.all(res.g_sym_std < 1e-9 * 20e-9)
    assert calls == [(k, 100) for k in range(1, 21)]
    h = res.history
    assert h["g_up"].shape == h["g_down"].shape == (20, 2, 3)
    np.testing.assert_array_equal(h["window_end"], [10, 20])


class ListRecorder:
    """A hil.recording.Recorder that keeps (kind, step, value names) in memory."""

    def __init__(self) -> None:
        self.points: list[tuple[str, int | None, tuple[str, ...]]] = []
        self.scopes: list[str] = []

    def record(self, kind: str, step: int | None = None, **values: object) -> None:
        self.points.append((kind, step, tuple(sorted(values))))

    def checkpoint(self, state: dict[str, object], scope: str = "") -> None:
        self.scopes.append(scope)


def test_every_pair_and_window_is_recorded_as_measured() -> None:
    rec = ListRecorder()
    res = find_symmetry_point(IdealCrossbar((2, 2)), PULSE, max_pairs=100, window=5, recorder=rec)
    pairs = [p for p in rec.points if p[0] == "pair"]
    windows = [p for p in rec.points if p[0] == "window"]
    assert rec.scopes == ["symmetry_point"]  # the plan, once, before anything is read
    assert rec.points[0] == ("symmetry_start", None, ("g",))
    assert [p[1] for p in pairs] == list(range(1, res.pairs_used + 1))
    assert pairs[0][2] == ("g_down", "g_up")
    assert [p[1] for p in windows] == [5, 10]


def test_stuck_device_is_unresponsive_and_does_not_hold_the_run() -> None:
    b = LoggingCrossbar((2, 2), g_step=20e-9, stuck=(1, 0))
    res = find_symmetry_point(b, PULSE, max_pairs=1000, window=10)
    assert res.pairs_used == 20
    assert not res.responsive[1, 0] and not res.converged[1, 0]
    assert res.step[1, 0] == 0.0
    others = np.ones((2, 2), dtype=bool)
    others[1, 0] = False
    assert res.converged[others].all()
    s = res.summary()
    json.dumps(s, allow_nan=False)
    assert s["n_unresponsive"] == 1 and s["n_converged"] == 3 and s["pulses_per_device"] == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_pairs": 30, "window": 20}, "two windows"),
        ({"window": 1}, "at least 2"),
        ({"tolerance": -1e-9}, "tolerance"),
        ({"max_pairs": 0}, "positive whole number"),
    ],
)
def test_bad_parameters_raise_before_any_pulse(kwargs: dict[str, float], message: str) -> None:
    b = LoggingCrossbar((2, 2))
    with pytest.raises(ValueError, match=message):
        find_symmetry_point(b, PULSE, **kwargs)  # type: ignore[arg-type]
    assert b.writes == []


def test_save_and_figures(tmp_path: Path) -> None:
    b = IdealCrossbar((3, 3), g_init=np.linspace(4e-6, 16e-6, 9).reshape(3, 3))
    res = find_symmetry_point(b, PULSE, max_pairs=40, window=10)
    saved = np.load(res.save(tmp_path / "sym.npz"))
    np.testing.assert_array_equal(saved["g_sym"], res.g_sym)
    np.testing.assert_array_equal(saved["history_g_up"], res.history["g_up"])
    for path in plot_symmetry(res, tmp_path / "figs"):
        assert path.suffix == ".png" and path.stat().st_size > 10_000


# ------------------------------------------------------------------------------- simulator
def test_estimates_match_the_analytic_symmetry_point_on_a_varied_array() -> None:
    """protonic-asymmetric: soft bounds, a⁺ ≈ 2a⁻, device-to-device variation, c2c noise 0.3,
    read noise half a step. Seed 22 has one stuck device among the 16."""
    window = 2000
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=22)
    res = find_symmetry_point(sim, sim.nominal_pulse, max_pairs=12_000, window=window)
    truth = sim.symmetry_points()
    d = sim.device_parameters()
    moving = ~d.stuck
    assert d.stuck.any(), "seed 22 no longer draws a stuck device: pick a seed that does"
    assert not res.responsive[d.stuck].any() and not res.converged[d.stuck].any()
    assert res.responsive[moving].all() and res.converged[moving].all()

    # Closed forms per device (normalised steps a± at the nominal pulse, range span):
    # step at the point s = a⁺a⁻/(a⁺ + a⁻) span; per pair the deviation relaxes by
    # β = (1 − a⁺)(1 − a⁻) with noise variance 2(σ s)², σ = c2c noise; the mean of `window`
    # midpoints then has std √2 σ s / ((1 − β) √window) (≈ 2 steps here: the c2c floor),
    # plus read noise σ_r/√(2 window). The midpoint of a post-up and a post-down read sits
    # s (a⁺ − a⁻)/(2(a⁺ + a⁻)) above the point (s/6 for a⁺ = 2a⁻).
    a_up, a_down, span = d.step_up, d.step_down, d.g_max - d.g_min
    step = a_up * a_down / (a_up + a_down) * span
    rate = 1 - (1 - a_up) * (1 - a_down)
    sigma_read = sim.config.read_noise * (sim.config.g_max - sim.config.g_min)
    se = np.hypot(np.sqrt(2) * sim.config.c2c_noise * step / (rate * np.sqrt(window)),
                  sigma_read / np.sqrt(2 * window))  # fmt: skip
    bias = step * (a_up - a_down) / (2 * (a_up + a_down))
    err = (res.g_sym - truth)[moving]
    # Every device within 4 standard errors plus the stated bias (≈ 9 steps at most here).
    assert np.all(np.abs(err) <= 4 * se[moving] + np.abs(bias[moving]))
    # Jointly: the normalised errors are consistent with unit variance (chi-square, 0.1 % tail).
    z = (err - bias[moving]) / se[moving]
    assert np.mean(z**2) <= chi2.ppf(0.999, z.size) / z.size
    # The reported uncertainty is right to within a factor 1.5 (its own scatter is ~10 %, from
    # ~200 blocks of residuals, plus the fitted relaxation rate's error).
    ratio = res.g_sym_std[moving] / se[moving]
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5))
    # The step: within 4 of its derived standard errors of the oscillation step (below).
    delta, step_se = oscillation_step(sim, window, read_every=1)
    assert np.all(np.abs(res.step - delta)[moving] <= 4 * step_se[moving])
    # The fitted relaxation time is 1/(1 − β) pairs (about 220 here).
    np.testing.assert_allclose(res.relaxation_pairs[moving], 1 / rate[moving], rtol=0.3)


def oscillation_step(
    sim: SimulatedCrossbar, window: int, *, read_every: int
) -> tuple[np.ndarray, np.ndarray]:
    """Closed forms of the step estimate of a soft-bounds array (docs/protocols/symmetry-point.md,
    "Step"): its expectation δ = s/(1 − s/range), the step of the up/down oscillation, and its
    standard error over a window: (σ²δ²/2 + 2σ_r²)/n for n pairs read every pair (each read is
    shared by two steps), (σ²δ² + 2σ_r²)/n for n sparse read pairs (σ the c2c noise, σ_r the
    read noise in siemens)."""
    d = sim.device_parameters()
    span = d.g_max - d.g_min
    s = d.step_up * d.step_down / (d.step_up + d.step_down)  # at the point, fraction of range
    delta = s / (1 - s) * span
    sigma, sigma_read = sim.config.c2c_noise, sim.config.read_noise * (sim.config.g_max - sim.config.g_min)
    n = window // read_every
    c2c = (sigma * delta) ** 2 / (2 if read_every == 1 else 1)
    return delta, np.sqrt((c2c + 2 * sigma_read**2) / n)


@pytest.mark.parametrize("read_every", [1, 20])
def test_the_step_estimate_is_unbiased_with_its_derived_spread_over_many_devices(read_every: int) -> None:
    """8 varied 4 x 4 protonic-asymmetric arrays (~120 moving devices): the step estimates scatter
    about δ with the derived standard error (read noise, half a step, dominates it), and the
    reported step_std agrees with it."""
    window, zs, ratios = 1000, [], []
    for seed in range(8):
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=seed)
        res = find_symmetry_point(
            sim, sim.nominal_pulse, max_pairs=6 * window, window=window, read_every=read_every
        )
        moving = ~sim.device_parameters().stuck
        delta, se = oscillation_step(sim, window, read_every=read_every)
        zs.append(((res.step - delta) / se)[moving])
        ratios.append((res.step_std / se)[moving])
    z, ratio = np.concatenate(zs), np.concatenate(ratios)
    # At most 3 of ~120 beyond |z| = 3 (expected 0.3; P(>= 4) ~ 4e-4); no bias beyond 4/√N (a
    # bias of 0.4 standard errors, ~0.6 % of a step, would fail); the variance as derived
    # (chi-square, two-sided 0.1 %).
    assert np.sum(np.abs(z) > 3) <= 3
    assert abs(z.mean()) <= 4 / np.sqrt(z.size)
    assert chi2.ppf(0.0005, z.size) / z.size <= np.mean(z**2) <= chi2.ppf(0.9995, z.size) / z.size
    # The reported standard error, from the window's own steps: within 25 % of the closed form.
    assert np.all((ratio > 0.75) & (ratio < 1.33))


def test_pulses_below_threshold_move_nothing_and_stop_the_run_early() -> None:
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=1)
    weak = Pulse(amplitude=0.9 * sim.config.v_threshold, width=sim.nominal_pulse.width)
    res = find_symmetry_point(sim, weak, max_pairs=2000, window=50)
    # Read noise alone never makes a step 4 standard errors above zero (false rate 3e-5).
    assert not res.responsive.any() and not res.converged.any()
    assert res.pairs_used == 100


def test_summary_statistics_skip_infinite_uncertainties() -> None:
    """A window too short to estimate an uncertainty gives inf; the summary counts it apart."""
    from protocols.symmetry import _stats

    stats = _stats(np.array([1.0, 3.0, np.inf]))
    assert stats["mean"] == 2.0 and stats["max"] == 3.0 and stats["non_finite"] == 1
    assert _stats(np.array([np.inf]))["mean"] is None
