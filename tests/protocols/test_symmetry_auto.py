"""Symmetry point with automatic sampling (window and read_every chosen by the run) and a
precision to average to: against the analytic point on varied arrays, and resumed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from hil import Pulse
from hil.store import RunStore
from protocols.records.symmetry import SymmetryPlan
from protocols.symmetry import PRECISION, TAU_READS, find_symmetry_point
from simulators.crossbar import SimulatedCrossbar
from tests.hil.delegating import DelegatingBackend
from tests.protocols.stopping import Stop, stop_at

PULSE = Pulse(6.0, 20e-9)  # the demo's pulse: 4x the nominal one's step on the protonic presets


def soft_bounds_truth(sim: SimulatedCrossbar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(midpoint bias, relaxation time in pairs, step) of a soft-bounds array at PULSE, closed
    forms of test_symmetry: the mean midpoint sits s (a⁺ − a⁻)/(2(a⁺ + a⁻)) above the point."""
    m = sim.config.pulse_factor(PULSE)
    d = sim.device_parameters()
    a, b, span = d.step_up * m, d.step_down * m, d.g_max - d.g_min
    step = a * b / (a + b) * span
    return step * (a - b) / (2 * (a + b)), 1 / (1 - (1 - a) * (1 - b)), step


def test_automatic_sampling_on_soft_bounds_arrays_is_accurate_with_honest_uncertainties() -> None:
    """10 varied 4 x 4 protonic-asymmetric arrays (~150 moving devices), every option default:
    every moving device converges, each array's standard errors reach the default precision
    (0.25 % of the range), the read interval lands between an eighth of the relaxation time and
    one relaxation time, and the errors are consistent with the reported standard errors."""
    zs = []
    for seed in range(10):
        sim = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=seed)
        res = find_symmetry_point(sim, PULSE)
        truth, moving = sim.symmetry_points(), ~sim.device_parameters().stuck
        bias, tau, _ = soft_bounds_truth(sim)
        assert res.converged[moving].all() and not res.responsive[~moving].any()
        span = sim.config.g_max - sim.config.g_min
        assert np.all(res.g_sym_std[moving] <= PRECISION * span)
        k = res.summary()["parameters"]["read_every_pairs"]
        # at least a quarter of the relaxation time over the doubling's factor 2, at most one
        # relaxation time (where sparse reads cost 4 % of the standard error)
        assert np.median(tau[moving]) / (2 * TAU_READS) <= k <= np.median(tau[moving])
        zs.append(((res.g_sym - truth - bias) / res.g_sym_std)[moving])
    z = np.concatenate(zs)
    # No bias beyond 4/√N standard errors; variance within the chi-square 0.1 % tails (the
    # reported errors scatter ±20 % around the closed form, which inflates z² a little); at
    # most 2 % beyond |z| = 3 (0.3 % expected).
    assert abs(z.mean()) <= 4 / np.sqrt(z.size)
    assert chi2.ppf(0.0005, z.size) / z.size <= np.mean(z**2) <= chi2.ppf(0.9995, z.size) / z.size
    assert np.mean(np.abs(z) > 3) <= 0.02


def test_automatic_sampling_on_a_slow_linear_step_array() -> None:
    """protonic-near-symmetric (linear step, relaxation ~700 pairs at this pulse), 3 x 3 with a
    budget of 30 000 pairs: it reads every 128-256 pairs, converges, and the errors against
    the model's analytic point stay within 4 reported standard errors (jointly chi-square)."""
    sim = SimulatedCrossbar.from_preset("protonic-near-symmetric", shape=(3, 3), seed=1)
    res = find_symmetry_point(sim, PULSE, max_pairs=30_000)
    truth = sim.symmetry_points()
    moving = np.isfinite(truth)
    assert res.converged[moving].all()
    assert res.summary()["parameters"]["read_every_pairs"] in (128, 256)
    z = ((res.g_sym - truth) / res.g_sym_std)[moving]
    assert np.all(np.abs(z) <= 4)
    assert np.mean(z**2) <= chi2.ppf(0.999, z.size) / z.size


def test_an_automatic_search_resumes_through_its_sampling_decisions(tmp_path: Path) -> None:
    """Stopped at pair 104 (a train's end of the first window, 128 pairs read every 4),
    the resume replays the reads and the sampling decisions and equals an unbroken run."""

    def chip() -> DelegatingBackend:
        return DelegatingBackend(SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 3), seed=3))

    whole = chip()
    expected = find_symmetry_point(whole, PULSE)
    backend = chip()
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("symmetry-point", {}, {}) as run:
            find_symmetry_point(backend, PULSE, recorder=run, progress=stop_at(104))
        checkpoint = store.load_checkpoint(run.uid)
        plan = SymmetryPlan.from_checkpoint(checkpoint)
        assert plan is not None and plan.window is None and plan.read_every is None
        with store.resume_run(run.uid) as resumed:
            result = find_symmetry_point(backend, PULSE, recorder=resumed, resume_from=checkpoint)
    assert expected.summary()["parameters"]["read_every_pairs"] > 4  # the interval did change
    np.testing.assert_array_equal(backend.pulses, whole.pulses)
    assert result.pairs_used == expected.pairs_used
    np.testing.assert_array_equal(result.g_sym, expected.g_sym)
    np.testing.assert_array_equal(result.g_sym_std, expected.g_sym_std)
    # the same plan and sampling; trains and wall time count what each process did
    this_process = ("trains", "wall_time_s")
    got, want = (
        {k: v for k, v in r.summary()["parameters"].items() if k not in this_process}
        for r in (result, expected)
    )
    assert got == want
