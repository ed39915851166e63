"""The multi-threaded update of large arrays: when a job asks for helper threads, and that the
rows' results do not depend on it.

The kernels' agreement with the numpy path, the split over a fixed number of threads and the
cancellation and failure of a helper are tests/simulators/test_kernels.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("numba")

from simulators import kernels
from simulators.crossbar import SimulatedCrossbar
from tests.simulators.test_fast_paths import NOMINAL

ROWS = 512


def _kernel(progress: np.ndarray, chunk: int, helper_rows: int, helper_done: threading.Event) -> int:
    """A stand-in for a row kernel: the helper takes helper_rows rows (if any), the caller the rest
    (after the helper, so that the split is the one asked for, or at once if there is none)."""
    if threading.current_thread() is not threading.main_thread():
        if helper_rows:
            progress[0] += helper_rows
            progress[1] += helper_rows
            helper_done.set()
        return helper_rows
    if helper_rows:
        assert helper_done.wait(10)
    rest = ROWS - int(progress[0])
    progress[0] = ROWS
    progress[1] += rest
    return rest


def _job(helper_rows: int) -> kernels._RowJob:
    """Run one job of ROWS x ROWS devices in which a helper (if asked for) does helper_rows rows."""
    done = threading.Event()
    job = kernels._RowJob(_kernel, ROWS, ROWS, (helper_rows, done), ready=True)
    if not job.helpers:
        done.set()  # the caller does every row
    job.run()
    for helper in job.helpers:
        helper.result(timeout=10)
    return job


@pytest.fixture
def fresh_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """HIL_SIM_THREADS unset on a two-CPU machine, no jobs recorded yet."""
    monkeypatch.delenv("HIL_SIM_THREADS", raising=False)
    monkeypatch.setattr(kernels, "_CPUS", 2)
    monkeypatch.setattr(kernels, "_helper_record", kernels._HelperRecord())


@pytest.mark.usefixtures("fresh_record")
def test_jobs_run_alone_after_helpers_that_did_not_help_and_ask_again_after_a_while() -> None:
    """A helper that took no rows: the next job runs alone; a second miss: the next two, then
    four; a helper that took its share resets the count (one job alone after the next miss)."""
    asked = []
    for helper_rows in [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ROWS // 2, 0, 0]:
        job = _job(helper_rows)
        asked.append(len(job.helpers))
    # jobs:    miss, alone, miss, alone x2, miss, alone x4, helped, miss, alone
    assert asked == [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0]


@pytest.mark.usefixtures("fresh_record")
def test_a_helper_that_took_an_eighth_of_the_rows_helped() -> None:
    """An eighth of the rows is a quarter of a second thread's share: it counts as help."""
    assert len(_job(ROWS // 8).helpers) == 1
    assert len(_job(ROWS // 8 - 1).helpers) == 1  # no job alone before this
    assert len(_job(0).helpers) == 0  # one row less was a miss


@pytest.mark.usefixtures("fresh_record")
def test_runs_alone_stop_at_the_limit() -> None:
    for _ in range(12):  # misses of runs 1, 2, 4, ... 256: the backoff is capped
        _job(0)
        while not kernels._helper_record.helpers_wanted():
            pass
    assert kernels._helper_record.backoff == kernels.MAX_SOLO_CALLS


def test_a_thread_setting_asks_for_helpers_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIL_SIM_THREADS", "2")
    monkeypatch.setattr(kernels, "_helper_record", kernels._HelperRecord())
    assert [len(_job(0).helpers) for _ in range(4)] == [1, 1, 1, 1]


def _run(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> tuple[np.ndarray, np.ndarray]:
    if setting is None:
        monkeypatch.delenv("HIL_SIM_THREADS", raising=False)
    else:
        monkeypatch.setenv("HIL_SIM_THREADS", setting)
    sim = SimulatedCrossbar.from_preset("protonic-asymmetric", (256, 256), seed=80)
    rng = np.random.default_rng(81)
    counts = []
    for call in range(6):  # 0.1 to 1 pulse per device: rows of every kind
        scale = 0.06 if call % 2 else 0.2
        counts.append(
            sim.stochastic_update(rng.uniform(-scale, scale, 256), rng.uniform(-1, 1, 256), 31, NOMINAL)
        )
    return np.array(counts), sim.conductance


def test_the_default_threads_give_the_one_thread_run_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a job asked for helpers or not, the counts and states are those of one thread."""
    monkeypatch.setattr(kernels, "_CPUS", 2)
    alone = _run(monkeypatch, "1")
    for solo in (0, 3):  # the record asks for helpers at once, or after three jobs alone
        record = kernels._HelperRecord()
        record.solo = solo
        monkeypatch.setattr(kernels, "_helper_record", record)
        default = _run(monkeypatch, None)
        np.testing.assert_array_equal(default[0], alone[0])
        np.testing.assert_array_equal(default[1], alone[1])
