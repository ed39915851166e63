"""SIGKILL mid-protocol: the database opens, every committed point is there, the run is incomplete."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from hil.store import RunStore
from protocols.jumptable import SCOPE

ROOT = Path(__file__).resolve().parents[2]
N_UP = 100  # the child's train length: pulses 1-100 are up, 101-200 down, ...


def committed_points(db: Path) -> int:
    """Points committed so far, read through a read-only connection (the child keeps writing)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)) as ro:
        return int(ro.execute("SELECT COUNT(*) FROM points").fetchone()[0])


def test_sigkill_mid_jump_table_keeps_every_committed_point(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    cmd = [sys.executable, "-m", "tests.hil.jump_child", str(db), str(tmp_path / "marker")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        before = committed_points(db)
        for _ in range(5_000):  # let it run into its second train (a timeout, not an assert)
            if before > N_UP + 20:
                break
            time.sleep(0.002)
            before = committed_points(db)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()

    with RunStore(db) as store:
        (info,) = store.runs()
        checkpoint = store.load_checkpoint(info.id)
    # The process died without a word: its run is reported incomplete, not running.
    assert info.status == "incomplete" and info.ended is None
    points = checkpoint.points
    assert before <= len(points) == info.points
    # Every committed point is whole and in order: the start reads, then pulses 1..n without gaps,
    # each with the direction of the plan and a finite read of both devices.
    assert points[0].kind == "jump_start" and points[0].arrays["g"].shape == (2,)
    jumps = points[1:]
    assert [p.kind for p in jumps] == ["jump"] * len(jumps)
    assert [p.step for p in jumps] == list(range(1, len(jumps) + 1))
    assert len(jumps) > N_UP
    for p in jumps:
        assert p.scalars["direction"] == (1 if (p.step - 1) % (2 * N_UP) < N_UP else -1)
        assert p.arrays["g"].shape == (2,) and np.all(np.isfinite(p.arrays["g"]))
    # The plan is there for a resume.
    assert checkpoint.state(SCOPE)["plan"]["n_up"] == N_UP
    # The incomplete run can be reopened to continue it.
    with RunStore(db) as store:
        store.resume_run(info.id).finish("aborted", "test over")
        assert store.run(info.id).status == "aborted"
