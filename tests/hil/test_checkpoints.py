"""Checkpoint states per scope, what a resume is handed, and databases from before scopes."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from hil.store import RunStore


def test_newest_state_per_scope_and_every_point_are_handed_back(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("train", {}, {})
        run.checkpoint({"epoch": 0}, scope="fp")
        run.checkpoint({"epoch": 1}, scope="fp")  # no point in between: replaces epoch 0
        run.record("epoch", 1, g=np.arange(3.0))
        run.checkpoint({"stage": "preparation"}, scope="shd")
        run.checkpoint({"epoch": 2}, scope="fp")
        run.finish("aborted", "Ctrl-C")
        checkpoint = store.load_checkpoint(run.uid)
        assert store.last_checkpoint(run.uid, scope="shd") == {"stage": "preparation"}
        assert store.last_checkpoint(run.uid) is None  # nothing under the default scope
        with closing(sqlite3.connect(store.path)) as db:
            kept = db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    assert checkpoint.run == run.uid
    assert checkpoint.state("fp") == {"epoch": 2} and checkpoint.state("shd") == {"stage": "preparation"}
    assert checkpoint.state("sgd") is None
    assert [p.kind for p in checkpoint.points] == ["epoch"]
    np.testing.assert_array_equal(checkpoint.of_kind("epoch")[0].arrays["g"], [0.0, 1.0, 2.0])
    assert kept == 3  # fp's epoch-0 state was replaced, not piled up


def test_a_database_from_before_scopes_keeps_its_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with RunStore(path) as store:
        run = store.start_run("jump-table", {}, {})
    # Rebuild the checkpoint table as the first version of the store wrote it.
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            """
            DROP TABLE checkpoints;
            CREATE TABLE checkpoints (run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,
                t REAL NOT NULL, state TEXT NOT NULL, PRIMARY KEY (run_id, seq));
            """
        )
        db.execute("INSERT INTO checkpoints VALUES (?, 0, 0.0, ?)", (run.id, json.dumps({"cycle": 3})))
        db.commit()
    with RunStore(path) as store:
        assert store.last_checkpoint(run.uid) == {"cycle": 3}
        new = store.start_run("train", {}, {})
        new.checkpoint({"epoch": 1}, scope="shd")
        assert store.last_checkpoint(new.uid, scope="shd") == {"epoch": 1}
