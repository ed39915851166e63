"""A stopped symmetry-point search resumes from the run store: the pairs it recorded are
replayed through the estimator without pulsing, and the result equals an unbroken run's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil import Pulse
from hil.store import RunStore
from protocols.symmetry import SymmetryPointResult, find_symmetry_point
from simulators.crossbar import SimulatedCrossbar
from tests.hil.delegating import DelegatingBackend
from tests.protocols.stopping import Stop, stop_at

PULSE = Pulse(6.0, 5e-9)
SETTINGS = {"max_pairs": 400, "window": 40}


def chip() -> DelegatingBackend:
    """A chip whose state lives on between a stop and its resume, as a real chip's does."""
    return DelegatingBackend(SimulatedCrossbar.from_preset("protonic-asymmetric", (3, 3), seed=3))


def assert_same(result: SymmetryPointResult, expected: SymmetryPointResult) -> None:
    assert result.pairs_used == expected.pairs_used
    np.testing.assert_array_equal(result.g_sym, expected.g_sym)
    np.testing.assert_array_equal(result.g_sym_std, expected.g_sym_std)
    np.testing.assert_array_equal(result.converged, expected.converged)
    for key, value in expected.history.items():
        np.testing.assert_array_equal(result.history[key], value, err_msg=key)


def test_a_resumed_search_pulses_each_pair_once_and_equals_an_unbroken_one(tmp_path: Path) -> None:
    whole = chip()
    expected = find_symmetry_point(whole, PULSE, **SETTINGS)
    assert expected.pairs_used > 130  # the stops below fall inside the run

    backend = chip()
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("symmetry-point", {}, {}) as run:
            find_symmetry_point(backend, PULSE, recorder=run, progress=stop_at(57), **SETTINGS)
        with pytest.raises(Stop), store.resume_run(run.uid) as resumed:
            checkpoint = store.load_checkpoint(run.uid)
            find_symmetry_point(
                backend, PULSE, recorder=resumed, progress=stop_at(120), resume_from=checkpoint, **SETTINGS
            )
        with store.resume_run(run.uid) as resumed:
            checkpoint = store.load_checkpoint(run.uid)
            result = find_symmetry_point(backend, PULSE, recorder=resumed, resume_from=checkpoint, **SETTINGS)
        steps = [p.step for p in store.points(run.uid, kind="pair")]
        windows = [p.step for p in store.points(run.uid, kind="window")]
        starts = list(store.points(run.uid, kind="symmetry_start"))

    assert steps == list(range(1, expected.pairs_used + 1))  # each pair stored once, in order
    assert windows == list(range(40, expected.pairs_used + 1, 40))  # no window recorded twice
    assert len(starts) == 1
    np.testing.assert_array_equal(backend.pulses, whole.pulses)  # no pulse applied twice
    assert_same(result, expected)


def test_a_resume_with_other_settings_is_refused_before_any_pulse(tmp_path: Path) -> None:
    backend = chip()
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(Stop), store.start_run("symmetry-point", {}, {}) as run:
            find_symmetry_point(backend, PULSE, recorder=run, progress=stop_at(10), **SETTINGS)
        before = backend.pulses.copy()
        with pytest.raises(ValueError, match="searched with other settings"):
            find_symmetry_point(
                backend, PULSE, max_pairs=400, window=20, resume_from=store.load_checkpoint(run.uid)
            )
    np.testing.assert_array_equal(backend.pulses, before)


def test_a_run_without_a_start_read_cannot_be_resumed(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with store.start_run("symmetry-point", {}, {}) as run:
            run.record("pair", 1, g_up=np.ones((3, 3)), g_down=np.ones((3, 3)))
        with pytest.raises(ValueError, match="stored no symmetry-point plan and start read"):
            find_symmetry_point(chip(), PULSE, resume_from=store.load_checkpoint(run.uid), **SETTINGS)
