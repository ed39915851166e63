"""A run store that cannot be used ends in plain words (StoreFault), never in a sqlite3 traceback."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from hil.faults import ExitStatus, StoreFault, UsageFault, exit_status
from hil.store import RunNotFoundError, RunStore


def _store_with_a_run(path: Path) -> str:
    with RunStore(path) as store, store.start_run("symmetry-point", {"pairs": 3}, {"bench": "sim"}) as run:
        run.record("pair", 0, g=np.ones((2, 2)))
        return run.uid


def test_a_folder_is_refused_with_a_file_name_to_use(tmp_path: Path) -> None:
    with pytest.raises(StoreFault, match=r"is a folder, not a file; .*--store .*hil-runs.sqlite") as info:
        RunStore(tmp_path)
    assert exit_status(info.value) == ExitStatus.STORE


def test_a_file_that_is_not_a_database_is_named_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "hil-runs.sqlite"
    path.write_bytes(b"these are notes, not a database\n" * 200)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for read_only in (False, True):
        with pytest.raises(StoreFault, match=r"not a SQLite database, or it is damaged\. Nothing"):
            RunStore(path, read_only=read_only)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_damaged_store_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "hil-runs.sqlite"
    _store_with_a_run(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the header's tail and the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreFault, match="damaged"):
        with RunStore(path, read_only=True) as store:
            store.runs()


def test_read_only_opening_reads_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "hil-runs.sqlite"
    uid = _store_with_a_run(path)
    with RunStore(path, read_only=True) as store:
        assert [r.uid for r in store.runs()] == [uid]
        assert len(list(store.points(uid))) == 1
        with pytest.raises(StoreFault, match=r"could not start a run: .*readonly.* it is read-only"):
            store.start_run("jump-table", {}, {})
    with RunStore(path) as store:
        assert [r.uid for r in store.runs()] == [uid]


def test_read_only_opening_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreFault, match="no run store at"):
        RunStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to any file; the permission check cannot fail")
def test_a_write_protected_store_is_refused_for_recording(tmp_path: Path) -> None:
    path = tmp_path / "hil-runs.sqlite"
    _store_with_a_run(path)
    path.chmod(0o444)
    with pytest.raises(StoreFault, match="is read-only: no run can be recorded"):
        RunStore(path)
    with RunStore(path, read_only=True) as store:
        assert len(store.runs()) == 1


def test_an_all_digit_uid_prefix_finds_the_run(tmp_path: Path) -> None:
    path = tmp_path / "hil-runs.sqlite"
    uid = _store_with_a_run(path)
    with RunStore(path) as store:
        assert store.run(uid[:8]).uid == uid  # the date part: no run has that id
        assert store.run("1").uid == uid  # the numeric id still counts first
        with pytest.raises(RunNotFoundError):
            store.run("19990101")


@pytest.mark.parametrize("seed", [-1, 2**63, 12345678901234567890123, 1.5, True])
def test_a_seed_the_store_cannot_keep_is_refused_before_the_run_exists(tmp_path: Path, seed: object) -> None:
    with RunStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(UsageFault, match=r"a seed is a whole number from 0 to 9223372036854775807"):
            store.start_run("symmetry-point", {}, {}, seed=seed)  # type: ignore[arg-type]
        assert store.runs() == []
        store.start_run("symmetry-point", {}, {}, seed=2**63 - 1).finish("completed")
        assert store.runs()[0].seed == 2**63 - 1
