"""The run store keeps every committed point through crashes and reports run status honestly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hil.store import RunNotFoundError, RunStore


def test_points_round_trip_with_arrays_and_scalars(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("symmetry-point", {"max_pairs": 10}, {"kind": "sim"}, seed=3)
        g = np.arange(12, dtype=np.float64).reshape(3, 4) * 1e-6
        run.record("read", 0, g=g, phase="up")
        run.record("read", 1, g=g + 1e-7, phase="down")
        run.finish("completed", summary={"pairs": 2})
        points = list(store.points(run.uid))
        info = store.run(run.uid[:12])
    assert [p.step for p in points] == [0, 1]
    np.testing.assert_array_equal(points[1].arrays["g"], g + 1e-7)
    assert points[0].arrays["g"].dtype == np.float64
    assert points[0].scalars == {"phase": "up"}
    assert info.status == "completed" and info.points == 2 and info.seed == 3
    assert info.summary == {"pairs": 2}
    assert info.software["protonic-hil"]


def test_context_manager_records_exit_status(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(RuntimeError), store.start_run("p", {}, {}) as run:
            run.record("x", a=1)
            raise RuntimeError("instrument fell over")
        with pytest.raises(KeyboardInterrupt), store.start_run("p", {}, {}) as run2:
            raise KeyboardInterrupt
        failed, aborted = store.run(run.id), store.run(run2.id)
    assert failed.status == "failed" and "instrument fell over" in failed.error
    assert aborted.status == "aborted"


def test_unknown_run_names_the_fix(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store, pytest.raises(RunNotFoundError, match="hil runs list"):
        store.run("nope")


def test_resume_continues_sequence_and_refuses_completed_runs(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("jump-table", {}, {})
        run.record("pulse", 0, n=1)
        run.checkpoint({"cycle": 1})
        run.finish("aborted", "Ctrl-C")
        resumed = store.resume_run(run.uid)
        resumed.record("pulse", 1, n=1)
        resumed.finish("completed")
        assert [p.seq for p in store.points(run.uid)] == [0, 1]
        assert store.last_checkpoint(run.uid) == {"cycle": 1}
        with pytest.raises(ValueError, match="only aborted, failed or incomplete"):
            store.resume_run(run.uid)


def test_sigkill_mid_run_keeps_every_committed_point(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    child = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from hil.store import RunStore
        store = RunStore({str(db)!r})
        run = store.start_run("endless", {{}}, {{}})
        step = 0
        while True:
            run.record("read", step, g=np.full((2, 2), float(step)))
            if step == 4:
                print("ready", flush=True)
            step += 1
            time.sleep(0.002)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    with RunStore(db) as store:
        (info,) = store.runs()
        points = list(store.points(info.id))
    assert info.status == "incomplete"
    assert len(points) >= 5 and info.points == len(points)
    # Every committed point is whole and in order: no gaps, arrays intact.
    assert [p.step for p in points] == list(range(len(points)))
    for p in points:
        np.testing.assert_array_equal(p.arrays["g"], np.full((2, 2), float(p.step)))


def test_export_csv_and_hdf5_carry_every_value(tmp_path: Path) -> None:
    import csv

    import h5py

    from hil.export import export_run

    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("p", {"a": 1}, {"kind": "sim"}, seed=7)
        for step in range(3):
            run.record("read", step, g=np.full((2, 3), step * 1e-6), phase="up")
        run.finish("completed")
        csv_path = export_run(store, run.uid, tmp_path / "run.csv", "csv")
        h5_path = export_run(store, run.uid, tmp_path / "run.h5", "hdf5")
        with pytest.raises(ValueError, match="csv, hdf5"):
            export_run(store, run.uid, tmp_path / "run.x", "xlsx")
    rows = list(csv.DictReader(csv_path.open()))
    g_rows = [r for r in rows if r["name"] == "g"]
    assert len(g_rows) == 3 * 6
    assert float(g_rows[-1]["value"]) == pytest.approx(2e-6)
    with h5py.File(h5_path) as h5:
        np.testing.assert_array_equal(h5["read/g"][:, 0, 0], [0.0, 1e-6, 2e-6])
        assert h5.attrs["seed"] == 7 and h5.attrs["status"] == "completed"
