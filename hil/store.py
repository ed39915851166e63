"""The run store: one SQLite database (WAL mode) per project directory.

Every measured point is committed as it is measured, so a crash, a Ctrl-C or a SIGKILL
loses at most the point in flight. Arrays are stored as binary .npy blobs. A run's status
is one of running, completed, aborted, failed; a run still marked running whose process is
gone is reported as incomplete. A stopped run is continued in place: resume_run reopens it,
load_checkpoint hands its points and checkpoint states to the protocol (docs/run-store.md).
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np

from hil import __version__
from hil.benchlock import BenchLock
from hil.faults import StoreFault, UsageFault
from hil.interrupts import critical
from hil.recording import Checkpoint, Point
from hil.results import to_jsonable

__all__ = ["DEFAULT_STORE", "STATUSES", "Point", "Run", "RunInfo", "RunNotFoundError", "RunStore"]

DEFAULT_STORE = Path("runs") / "hil-runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    uid TEXT UNIQUE NOT NULL,
    protocol TEXT NOT NULL,
    params TEXT NOT NULL,
    bench TEXT NOT NULL,
    instruments TEXT NOT NULL,
    software TEXT NOT NULL,
    seed INTEGER,
    out_dir TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    status TEXT NOT NULL,
    error TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step INTEGER,
    t REAL NOT NULL,
    scalars TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE TABLE IF NOT EXISTS arrays (
    point_id INTEGER NOT NULL REFERENCES points(id),
    name TEXT NOT NULL,
    npy BLOB NOT NULL,
    PRIMARY KEY (point_id, name)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    scope TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (run_id, scope, seq)
);
CREATE TABLE IF NOT EXISTS chip_states (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""
# chip_states: the state of a simulated chip (Bench.chip_state) as it was when the run's newest
# point ("point") and newest checkpoint ("checkpoint") were committed, in the same transaction
# as each; seq as for checkpoints. Only the newest of each key is kept.
# seq of a checkpoint: points committed before it. A newer state of the same scope with no
# point in between replaces the older one, so frequent checkpoints do not pile up.

# Databases written before checkpoints had scopes: move their checkpoints to scope "".
_MIGRATE_CHECKPOINTS = """
ALTER TABLE checkpoints RENAME TO checkpoints_unscoped;
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    scope TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (run_id, scope, seq)
);
INSERT INTO checkpoints (run_id, scope, seq, t, state)
    SELECT run_id, '', seq, t, state FROM checkpoints_unscoped ORDER BY run_id, seq;
DROP TABLE checkpoints_unscoped;
"""

STATUSES = ("running", "completed", "aborted", "failed", "incomplete")
# The runs columns RunStore reads, in the order of its SELECT.
_RUN_COLUMNS = (
    "id",
    "uid",
    "protocol",
    "params",
    "bench",
    "instruments",
    "software",
    "seed",
    "out_dir",
    "host",
    "pid",
    "started",
    "ended",
    "status",
    "error",
    "summary",
)


class RunNotFoundError(LookupError):
    """No run matches the given id or uid prefix."""


def _encode(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _decode(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _git_commit() -> str | None:
    """The commit of the installed source tree, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


MAX_SEED = 2**63 - 1  # SQLite's largest INTEGER: a seed must be stored exactly to repeat a run


def check_seed(seed: int | None) -> None:
    """Refuse a seed the store cannot keep exactly (a whole number from 0 to MAX_SEED)."""
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise UsageFault(f"a seed is a whole number from 0 to {MAX_SEED} (2**63 - 1), got {seed!r}")


@contextmanager
def _store_errors(path: Path, doing: str, kept: str = "") -> Iterator[None]:
    """sqlite3 errors as StoreFault naming the file, what was being done and what is kept."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        # The primary result code (the low byte) says what kind of failure it was.
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            why = (
                "it is not a SQLite database, or it is damaged. Nothing was written to it. Move it "
                "aside (a new store is then started) or pass --store PATH; `sqlite3 FILE .recover` "
                "may save a damaged store's runs"
            )
        elif primary == sqlite3.SQLITE_READONLY:
            why = "it is read-only. Make it writable or pass --store with another file"
        else:
            why = "check the disk (space, permissions) and the file"
        raise StoreFault(f"run store {path}: could not {doing}: {exc}; {why}{kept}") from exc


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write; on a write-protected folder SQLite cannot make the WAL
    index file, and the store is then opened as immutable (nobody can be writing it). Threads
    may share it (a viewer's request threads): it only reads, and SQLite serialises the calls."""
    uri = path.resolve().as_uri()
    db = sqlite3.connect(
        f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db.close()
        db = sqlite3.connect(
            f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


@dataclass(frozen=True)
class RunInfo:
    """A run's metadata as stored."""

    id: int
    uid: str
    protocol: str
    params: dict[str, Any]
    bench: dict[str, Any]
    instruments: dict[str, Any]
    software: dict[str, Any]
    seed: int | None
    out_dir: str | None
    started: float
    ended: float | None
    status: str
    error: str | None
    summary: dict[str, Any] | None
    points: int


class RunStore:
    """A SQLite run database. Open one per process; it is safe to read while another writes."""

    def __init__(self, path: str | Path = DEFAULT_STORE, must_exist: bool = False, read_only: bool = False):
        """Open (or create) the store at `path`; read_only opens an existing store for reading
        only, which works on a write-protected file too. Raises StoreFault in plain words."""
        self.path = Path(path)
        self.read_only = read_only
        if self.path.is_dir():
            raise StoreFault(
                f"the run store {self.path} is a folder, not a file; pass --store with a file name, "
                f"e.g. --store {self.path / 'hil-runs.sqlite'}"
            )
        if (must_exist or read_only) and not self.path.is_file():
            raise StoreFault(
                f"no run store at {self.path}; runs are stored there when a protocol runs, "
                "or pass --store PATH"
            )
        if not read_only and self.path.is_file() and not os.access(self.path, os.W_OK):
            raise StoreFault(
                f"the run store {self.path} is read-only: no run can be recorded in it. Make it "
                "writable or pass --store with another file; reading it (hil runs list, show, "
                "export) still works"
            )
        with _store_errors(self.path, "open"):
            self._db = _connect_read_only(self.path) if read_only else self._connect_writable()

    def _connect_writable(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any crash of this process; only a power cut can lose
            # the last commits.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            columns = {row[1] for row in db.execute("PRAGMA table_info(checkpoints)")}
            if columns and "scope" not in columns:
                db.executescript(f"BEGIN; {_MIGRATE_CHECKPOINTS} COMMIT;")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def start_run(
        self,
        protocol: str,
        params: Mapping[str, Any],
        bench: Mapping[str, Any],
        *,
        instruments: Mapping[str, Any] | None = None,
        seed: int | None = None,
        out_dir: str | Path | None = None,
    ) -> Run:
        """Register a new run (status running) and return its writer."""
        check_seed(seed)
        uid = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        software = {"protonic-hil": __version__, "git_commit": _git_commit()}
        row = (
            uid,
            protocol,
            json.dumps(to_jsonable(dict(params))),
            json.dumps(to_jsonable(dict(bench))),
            json.dumps(to_jsonable(dict(instruments or {}))),
            json.dumps(software),
            seed,
            str(out_dir) if out_dir is not None else None,
            socket.gethostname(),
            os.getpid(),
            time.time(),
        )
        with _store_errors(self.path, "start a run"):
            cur = self._db.execute(
                "INSERT INTO runs (uid, protocol, params, bench, instruments, software, seed, out_dir,"
                " host, pid, started, status) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'running')",
                row,
            )
        return Run(self, int(cur.lastrowid), uid)

    def resume_run(self, key: str | int) -> Run:
        """Reopen an aborted, failed or incomplete run to continue it (status back to running).

        New points continue the run's sequence; load_checkpoint (called before) says where the
        protocol stood.
        """
        info = self.run(key)
        if info.status in ("completed", "running"):
            raise ValueError(
                f"run {info.uid} is {info.status}; only aborted, failed or incomplete runs can be resumed"
            )
        self._db.execute(
            "UPDATE runs SET status='running', ended=NULL, error=NULL, pid=?, host=? WHERE id=?",
            (os.getpid(), socket.gethostname(), info.id),
        )
        last = self._db.execute("SELECT MAX(seq) FROM points WHERE run_id=?", (info.id,)).fetchone()[0]
        return Run(self, info.id, info.uid, next_seq=(last + 1) if last is not None else 0)

    # ------------------------------------------------------------------ reading
    def runs(self) -> list[RunInfo]:
        rows = self._db.execute(f"{self._select} GROUP BY r.id ORDER BY r.id").fetchall()
        return [self._info(row) for row in rows]

    def run(self, key: str | int) -> RunInfo:
        """A run by numeric id or by a unique prefix of its uid.

        A number that is no run's id is read as a uid prefix: uids start with the date
        (20261207-...), and `--resume 20261207` means that day's run.
        """
        text = str(key).strip()
        rows = []
        if text.isdigit():
            rows = self._db.execute(f"{self._select} WHERE r.id=? GROUP BY r.id", (int(text),)).fetchall()
        if not rows:
            rows = self._db.execute(
                f"{self._select} WHERE r.uid LIKE ? GROUP BY r.id", (text.replace("%", "") + "%",)
            ).fetchall()
        if not rows:
            raise RunNotFoundError(f"no run {text!r} in {self.path}; `hil runs list` shows the runs")
        if len(rows) > 1:
            raise RunNotFoundError(f"{text!r} matches {len(rows)} runs; give more of the uid")
        return self._info(rows[0])

    def points(self, key: str | int, kind: str | None = None) -> Iterator[Point]:
        info = self.run(key)
        query = "SELECT id, seq, kind, step, t, scalars FROM points WHERE run_id=?"
        params: tuple[Any, ...] = (info.id,)
        if kind is not None:
            query += " AND kind=?"
            params += (kind,)
        for pid, seq, k, step, t, scalars in self._db.execute(query + " ORDER BY seq", params).fetchall():
            arrays = {
                name: _decode(blob)
                for name, blob in self._db.execute("SELECT name, npy FROM arrays WHERE point_id=?", (pid,))
            }
            yield Point(seq, k, step, t, json.loads(scalars), arrays)

    def last_checkpoint(self, key: str | int, scope: str = "") -> dict[str, Any] | None:
        """The newest checkpoint state of the run under scope, or None."""
        info = self.run(key)
        row = self._db.execute(
            "SELECT state FROM checkpoints WHERE run_id=? AND scope=? ORDER BY id DESC LIMIT 1",
            (info.id, scope),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def load_checkpoint(self, key: str | int) -> Checkpoint:
        """Everything a protocol needs to continue run `key`: its points and newest states."""
        info = self.run(key)
        states: dict[str, dict[str, Any]] = {}
        for scope, state in self._db.execute(
            "SELECT scope, state FROM checkpoints WHERE run_id=? ORDER BY id", (info.id,)
        ):
            states[scope] = json.loads(state)
        try:
            chip = dict(self._db.execute("SELECT key, state FROM chip_states WHERE run_id=?", (info.id,)))
        except sqlite3.OperationalError:  # a store written before chip states, opened read-only
            chip = {}
        return Checkpoint(info.uid, states, tuple(self.points(info.id)), chip_states=chip)

    # A run's points are numbered 0, 1, 2, ... without a gap (Run.record, resume_run), so its
    # count is the largest number + 1: one look-up in the (run_id, seq) index per run instead of
    # a join over every point of the store.
    _select = (
        f"SELECT {', '.join(f'r.{c}' for c in _RUN_COLUMNS)},"
        " (SELECT COALESCE(MAX(p.seq) + 1, 0) FROM points p WHERE p.run_id = r.id)"
        " FROM runs r"
    )

    def _info(self, row: tuple[Any, ...]) -> RunInfo:
        values = dict(zip((*_RUN_COLUMNS, "points"), row, strict=True))
        host, pid = values.pop("host"), values.pop("pid")
        for name in ("params", "bench", "instruments", "software"):
            values[name] = json.loads(values[name])
        values["summary"] = json.loads(values["summary"]) if values["summary"] else None
        if values["status"] == "running" and host == socket.gethostname() and not _process_alive(pid):
            values["status"] = "incomplete"
        return RunInfo(**values)


class Run:
    """Writer for one run: record points as they are measured, checkpoint, finish."""

    def __init__(self, store: RunStore, run_id: int, uid: str, next_seq: int = 0):
        self.store, self.id, self.uid = store, run_id, uid
        self._seq = next_seq
        self._chip: Callable[[], bytes | None] | None = None
        BenchLock.note_run(uid)  # a refused second controller is told which run holds the bench
        self._finished = False

    def record(self, kind: str, step: int | None = None, /, **values: Any) -> None:
        """Commit one point now. Array values go in as .npy blobs, the rest as JSON."""
        arrays = {k: np.asarray(v) for k, v in values.items() if isinstance(v, np.ndarray)}
        scalars = {k: v for k, v in values.items() if k not in arrays}
        encoded = json.dumps(to_jsonable(scalars))
        blobs = [(name, _encode(a)) for name, a in arrays.items()]
        db = self.store._db
        kept = f"; the {self._seq} points recorded before it are kept (hil runs show {self.uid})"
        # A first Ctrl-C waits for the commit and the sequence number to agree.
        with critical(), _store_errors(self.store.path, f"record a point of run {self.uid}", kept):
            db.execute("BEGIN")
            try:
                cur = db.execute(
                    "INSERT INTO points (run_id, seq, kind, step, t, scalars) VALUES (?,?,?,?,?,?)",
                    (self.id, self._seq, kind, step, time.time(), encoded),
                )
                db.executemany(
                    "INSERT INTO arrays (point_id, name, npy) VALUES (?,?,?)",
                    [(cur.lastrowid, name, blob) for name, blob in blobs],
                )
                self._store_chip("point", self._seq + 1)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._seq += 1

    def set_out_dir(self, out_dir: str | Path) -> None:
        """Where the run's summary and figures go (a new folder, or a resume's new --out)."""
        with _store_errors(self.store.path, f"set the output folder of run {self.uid}"):
            self.store._db.execute("UPDATE runs SET out_dir=? WHERE id=?", (str(out_dir), self.id))

    def checkpoint(self, state: Mapping[str, Any], scope: str = "") -> None:
        """Commit what a resumed run needs to continue without repeating applied pulses.

        The newest state per scope counts; one with no point recorded since the last state of
        its scope replaces that state.
        """
        encoded = json.dumps(to_jsonable(dict(state)))
        db = self.store._db
        with critical(), _store_errors(self.store.path, f"checkpoint run {self.uid}"):
            db.execute("BEGIN")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO checkpoints (run_id, scope, seq, t, state) VALUES (?,?,?,?,?)",
                    (self.id, scope, self._seq, time.time(), encoded),
                )
                self._store_chip("checkpoint", self._seq)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def keep_chip(self, state: Callable[[], bytes | None]) -> None:
        """Store state() (a simulated chip's Bench.chip_state) with every point and checkpoint
        from now on, in the same transaction, so that the stored chip is the one the newest
        point or state was measured on. None from state() stores nothing (a real chip)."""
        self._chip = state

    def _store_chip(self, key: str, seq: int) -> None:
        """Inside a transaction: the chip's state now, under key ("point" or "checkpoint")."""
        blob = None if self._chip is None else self._chip()
        if blob is not None:
            self.store._db.execute(
                "INSERT OR REPLACE INTO chip_states (run_id, key, seq, t, state) VALUES (?,?,?,?,?)",
                (self.id, key, seq, time.time(), blob),
            )

    def finish(self, status: str, error: str | None = None, summary: Mapping[str, Any] | None = None) -> None:
        if status not in ("completed", "aborted", "failed"):
            raise ValueError(f"a run finishes completed, aborted or failed, not {status!r}")
        with _store_errors(self.store.path, f"mark run {self.uid} {status}"):
            self._finish(status, error, summary)
        self._finished = True

    def _finish(self, status: str, error: str | None, summary: Mapping[str, Any] | None) -> None:
        self.store._db.execute(
            "UPDATE runs SET status=?, error=?, ended=?, summary=? WHERE id=?",
            (
                status,
                error,
                time.time(),
                json.dumps(to_jsonable(dict(summary))) if summary is not None else None,
                self.id,
            ),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc is None:
            self.finish("completed")
        elif isinstance(exc, KeyboardInterrupt):
            why = str(exc) or "interrupted (Ctrl-C or SIGTERM)"
            if exc.__cause__ is not None:
                why += f"; the write in flight failed: {type(exc.__cause__).__name__}: {exc.__cause__}"
            self.finish("aborted", why)
        else:
            self.finish("failed", f"{type(exc).__name__}: {exc}")
