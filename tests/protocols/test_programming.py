"""Write-verify programming: closed loop, caps, never blind, stuck devices, on the mock and simulator."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from hil import Pulse
from hil.backend import FloatArray, IntArray
from hil.mock import IdealCrossbar
from protocols.plots import plot_programming
from protocols.programming import program_conductances
from simulators.crossbar import SimulatedCrossbar

PULSE = Pulse(amplitude=5.0, width=1e-6)
STEP = 20e-9


class LoggingCrossbar(IdealCrossbar):
    """The ideal mock that logs the order of reads and writes; chosen devices ignore pulses."""

    def __init__(self, *args: object, stuck: tuple[int, int] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.log: list[tuple[str, IntArray | None]] = []
        self.stuck = stuck

    def _read(self, rows: IntArray, cols: IntArray) -> FloatArray:
        self.log.append(("read", None))
        return super()._read(rows, cols)

    def _read_all(self) -> FloatArray:
        self.log.append(("read", None))
        return super()._read_all()

    def _apply_pulses(self, counts: IntArray, pulse: Pulse) -> None:
        self.log.append(("write", counts.copy()))
        if self.stuck is not None:
            counts = counts.copy()
            counts[self.stuck] = 0
        super()._apply_pulses(counts, pulse)

    @property
    def writes(self) -> list[IntArray]:
        return [c for kind, c in self.log if kind == "write" and c is not None]


def targets(shape: tuple[int, int], seed: int = 0) -> FloatArray:
    return np.random.default_rng(seed).uniform(3e-6, 17e-6, shape)


@pytest.mark.parametrize("serial", [False, True])
def test_ideal_device_reaches_every_target_within_half_a_step(serial: bool) -> None:
    b = LoggingCrossbar((3, 3), g_step=STEP)
    goal = targets((3, 3))
    # Tolerance just above half a step: the exact reach of a constant-step device.
    res = program_conductances(b, goal, PULSE, tolerance=0.51 * STEP, max_iterations=2000, step=STEP,
                               max_pulses_per_iteration=50, serial=serial)  # fmt: skip
    assert res.converged.all() and not res.stalled.any()
    assert np.all(np.abs(res.residual) <= 0.51 * STEP)
    np.testing.assert_allclose(res.g_final, b.g)
    # The step was given exactly, so every device needs exactly round(|error| / step) pulses.
    np.testing.assert_array_equal(res.pulses, np.rint(np.abs(goal - 10.5e-6) / STEP).astype(int))
    # Never blind: a read comes between any two writes, and no write exceeds the cap.
    kinds = [k for k, _ in b.log]
    assert kinds[0] == "read" and kinds[-1] == "read"
    assert ("write", "write") not in set(pairwise(kinds))
    assert max(int(np.max(np.abs(w))) for w in b.writes) <= 50
    if serial:
        assert all(np.count_nonzero(w) == 1 for w in b.writes)
    json.dumps(res.summary(), allow_nan=False)


def test_learned_step_without_a_guess() -> None:
    b = LoggingCrossbar((2, 2), g_step=STEP)
    res = program_conductances(b, targets((2, 2), 1), PULSE, tolerance=0.51 * STEP, max_iterations=200)
    assert res.converged.all()
    # The first round probes with one pulse per device, as documented.
    assert np.all(np.abs(b.writes[0]) == 1)


def test_stuck_device_is_given_up_not_retried_forever() -> None:
    b = LoggingCrossbar((2, 2), g_step=STEP, stuck=(0, 1))
    goal = np.full((2, 2), 12e-6)
    res = program_conductances(b, goal, PULSE, tolerance=0.51 * STEP, max_iterations=10_000, step=STEP,
                               max_pulses_per_iteration=20, patience=4)  # fmt: skip
    assert res.stalled[0, 1] and not res.converged[0, 1]
    assert res.converged.sum() == 3
    # It was pulsed in its first round and then `patience` more rounds without progress, at the cap.
    assert res.pulses[0, 1] <= (4 + 1) * 20
    assert res.iterations < 200
    s = res.summary()
    assert s["n_stalled"] == 1 and s["all_converged"] is False
    # history: row 0 is the error before any pulse, then one row per round.
    assert res.history["abs_error"].shape == (res.iterations + 1, 2, 2)
    np.testing.assert_array_equal(np.abs(res.history["counts"]).sum(axis=0), res.pulses)


def test_unselected_devices_are_never_pulsed_and_reported_nan() -> None:
    b = LoggingCrossbar((2, 3), g_step=STEP)
    mask = np.array([[True, False, True], [False, True, False]])
    res = program_conductances(b, targets((2, 3), 2), PULSE, tolerance=0.51 * STEP, step=STEP,
                               max_iterations=500, devices=mask)  # fmt: skip
    assert all(not np.any(w[~mask]) for w in b.writes)
    assert np.isnan(res.residual[~mask]).all() and not res.converged[~mask].any()
    assert res.converged[mask].all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": np.full((2, 2), 25e-6)}, "outside the nominal conductance range"),
        ({"target": np.full((2, 2), np.nan)}, "NaN"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"step": -1e-9}, "step"),
        ({"max_pulses_per_iteration": 10**6}, "max_pulses_per_call"),
        ({"devices": np.zeros((2, 2), dtype=bool)}, "no device"),
    ],
)
def test_bad_input_raises_before_any_pulse(kwargs: dict[str, object], message: str) -> None:
    b = LoggingCrossbar((2, 2))
    args = {"target": np.full((2, 2), 8e-6), "tolerance": STEP, **kwargs}
    with pytest.raises(ValueError, match=message):
        program_conductances(b, pulse=PULSE, **args)  # type: ignore[arg-type]
    assert b.writes == []


def test_figure(tmp_path: Path) -> None:
    b = IdealCrossbar((3, 3), g_step=STEP)
    res = program_conductances(b, targets((3, 3)), PULSE, tolerance=STEP, step=STEP, max_iterations=500)
    (path,) = plot_programming(res, tmp_path)
    assert path.name == "programming_residuals.png" and path.stat().st_size > 10_000


def test_simulated_reference_reaches_symmetry_points_and_stuck_device_gives_up() -> None:
    """Program a protonic-asymmetric reference array (seed 21: one stuck device) to the symmetry
    points of another array (seed 20: one stuck device, NaN target, left out)."""
    main = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=20)
    ref = SimulatedCrossbar.from_preset("protonic-asymmetric", shape=(4, 4), seed=21)
    target = main.symmetry_points()
    selected = np.isfinite(target)
    stuck = ref.device_parameters().stuck
    assert np.any(stuck & selected), "seed 21 no longer draws a stuck device: pick a seed that does"
    # One step at the symmetry point is a⁺a⁻/(a⁺ + a⁻) of the range, 0.001 x 19 uS = 19 nS. The
    # tolerance must exceed half a step (the last pulse's quantisation) plus read noise (σ_r = 9.5
    # nS): 1.5 steps leaves a step's margin of two σ_r.
    step = 0.001 * 19e-6
    tol = 1.5 * step
    res = program_conductances(ref, np.where(selected, target, np.nan), ref.nominal_pulse, tol,
                               max_iterations=200, devices=selected, patience=5)  # fmt: skip
    good = selected & ~stuck
    assert res.converged[good].all()
    assert np.all(np.abs(res.residual[good]) <= tol)
    # The true states are within the tolerance plus 4 read-noise standard deviations (the
    # verifying read was noisy).
    sigma_read = ref.config.read_noise * (ref.config.g_max - ref.config.g_min)
    assert np.all(np.abs(ref.conductance - target)[good] <= tol + 4 * sigma_read)
    # The stuck device: reported, not converged, and given up after patience + 1 capped rounds.
    assert res.stalled[stuck].all() and not res.converged[stuck].any()
    assert res.pulses[stuck].max() <= (5 + 1) * 20
    assert res.iterations < 200
