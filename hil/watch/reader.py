"""The viewer's side of the run store: a read-only connection and what a page shows of a run.

The store is a SQLite database in WAL mode (hil.store): a reader sees every committed point
and never blocks the writer, so the viewer reads it while a run writes, from another
process. The connection is opened with mode=ro, so a viewer cannot change a run whatever it
is asked to do (SQLite refuses every write).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil.store import Point, RunInfo, RunStore, _decode

__all__ = ["Progress", "ProgressTracker", "ReadOnlyStore", "figure_path", "run_json"]

# A page asks for at most this many points per update, so one update stays small.
BATCH = 2000
FIGURE_SUFFIXES = (".png", ".svg")


class ReadOnlyStore(RunStore):
    """RunStore's readers (runs, run, points, last_checkpoint) on a read-only connection.

    The database must exist and hold the store's tables (else FileNotFoundError); it is opened
    with RunStore(path, read_only=True), which sets no pragma, creates no table and cannot write.
    """

    def __init__(self, path: str | Path):
        if not Path(path).is_file():
            raise FileNotFoundError(f"no run store at {path} yet")
        super().__init__(path, read_only=True)
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"runs", "points", "arrays", "checkpoints"} <= tables:  # its first writer is creating it
            self._db.close()
            raise FileNotFoundError(f"no runs in {self.path} yet")

    def points_after(
        self, run_id: int, after: int, limit: int = BATCH, arrays_of: Container[str] | None = None
    ) -> list[Point]:
        """The run's points with seq > after, oldest first, at most limit of them.

        arrays_of: the kinds whose arrays are wanted (None: all); other points come without.
        """
        rows = self._db.execute(
            "SELECT id, seq, kind, step, t, scalars FROM points"
            " WHERE run_id=? AND seq>? ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        ).fetchall()
        wanted = [row[0] for row in rows if arrays_of is None or row[2] in arrays_of]
        arrays: dict[int, dict[str, np.ndarray]] = {pid: {} for pid in wanted}
        if wanted:
            for pid, name, blob in self._db.execute(
                "SELECT point_id, name, npy FROM arrays WHERE point_id BETWEEN ? AND ?",
                (wanted[0], wanted[-1]),
            ):
                if pid in arrays:  # another run's points may lie in between
                    arrays[pid][name] = _decode_npy(blob)
        return [
            Point(seq, kind, step, t, json.loads(scalars), arrays.get(pid, {}))
            for pid, seq, kind, step, t, scalars in rows
        ]


@functools.lru_cache(maxsize=64)
def _npy_layout(header: bytes) -> tuple[np.dtype, tuple[int, ...]] | None:
    """dtype and shape of a version-1 .npy header; None for what only np.load reads."""
    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(io.BytesIO(header[8:]))
    if fortran_order or dtype.hasobject:
        return None
    return dtype, shape


def _decode_npy(blob: bytes) -> np.ndarray:
    """np.load of a .npy blob (hil.store's format), parsing each distinct header once: a run
    stores thousands of arrays alike. Version 1: magic (6 bytes), version (2), header length
    (2, little-endian), header, data."""
    if blob[6:8] == b"\x01\x00":
        start = 10 + int.from_bytes(blob[8:10], "little")
        layout = _npy_layout(blob[:start])
        if layout is not None:
            dtype, shape = layout
            return np.frombuffer(blob, dtype=dtype, offset=start).reshape(shape).copy()
    return _decode(blob)


# ---------------------------------------------------------------------- progress and ETA
@dataclass(frozen=True)
class Progress:
    """How far a run is: done of total units; eta_s (seconds) at the rate since its first counted point."""

    done: float
    total: float
    unit: str
    eta_s: float | None

    def json(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "unit": self.unit, "eta_s": self.eta_s}


class _Counter:
    """Counts one run's progress from its points, incrementally (each point is read once)."""

    ARRAYS: frozenset[str] = frozenset()  # kinds whose arrays the count needs

    def __init__(self, unit: str, total: float):
        self.unit, self.total = unit, total
        self.done = 0.0
        self.seq = -1
        self.first: tuple[float, float] | None = None  # (time, done) of the first counted point
        self.last_t = 0.0

    def count(self, point: Point) -> float:
        return 0.0

    def feed(self, points: list[Point]) -> None:
        for point in points:
            self.seq = point.seq
            added = self.count(point)
            if added <= 0:
                continue
            self.done += added
            self.last_t = point.t
            if self.first is None:  # the rate counts from the end of the first counted point
                self.first = (point.t, self.done)

    def progress(self, running: bool) -> Progress:
        eta = None
        if running and self.first is not None and self.done > self.first[1] and self.total > 0:
            rate = (self.done - self.first[1]) / max(self.last_t - self.first[0], 1e-9)
            eta = max(self.total - self.done, 0.0) / rate
        return Progress(self.done, self.total, self.unit, eta)


class _SymmetryCounter(_Counter):
    def __init__(self, info: RunInfo, store: ReadOnlyStore):
        max_pairs, window = int(info.params.get("max_pairs", 0)), int(info.params.get("window", 1))
        super().__init__("pairs", (max_pairs // max(window, 1)) * window)  # only whole windows run

    def count(self, point: Point) -> float:
        return 1.0 if point.kind == "pair" else 0.0


class _JumpCounter(_Counter):
    """Pulse-read cycles of one device each (what the command line's progress bar counts)."""

    ARRAYS = frozenset({"jump_train"})

    def __init__(self, info: RunInfo, store: ReadOnlyStore):
        plan = (store.last_checkpoint(info.id, "jump_table") or {}).get("plan", {})
        self.n_devices = len(plan.get("devices", ()))
        per_device = plan.get("n_cycles", 0) * (plan.get("n_up", 0) + plan.get("n_down", 0))
        super().__init__("pulse-read cycles", self.n_devices * per_device)

    def count(self, point: Point) -> float:
        if point.kind == "jump":
            return float(self.n_devices)
        if point.kind == "jump_train":
            return float(point.arrays["g"].size)
        if point.kind == "jump_train_lost":
            return float(point.scalars.get("count", 0))
        return 0.0


class _TrainCounter(_Counter):
    def __init__(self, info: RunInfo, store: ReadOnlyStore):
        configs = info.params.get("configs", {})
        total = sum(int(c.get("epochs", 0)) for c in configs.values() if isinstance(c, dict))
        super().__init__("epochs", total)

    def count(self, point: Point) -> float:
        return 1.0 if point.kind == "epoch" and (point.step or 0) > 0 else 0.0


class _SweepCounter(_Counter):
    """Points of a sweep that came back completed (hil sweep stores each once)."""

    def __init__(self, info: RunInfo, store: ReadOnlyStore):
        super().__init__("points", int(info.params.get("points", 0)))

    def count(self, point: Point) -> float:
        return 1.0 if point.kind == "sweep_point" and point.scalars.get("status") == "completed" else 0.0


COUNTERS: dict[str, type[_Counter]] = {
    "symmetry-point": _SymmetryCounter,
    "jump-table": _JumpCounter,
    "train": _TrainCounter,
    "sweep": _SweepCounter,
}


class ProgressTracker:
    """Progress of runs, kept up to date by reading only the points added since the last call."""

    def __init__(self, store: ReadOnlyStore):
        self.store = store
        self._counters: dict[int, _Counter] = {}

    def progress(self, info: RunInfo) -> Progress | None:
        kind = COUNTERS.get(info.protocol)
        if kind is None:
            return None
        counter = self._counters.get(info.id)
        if counter is None or (counter.total == 0 and info.protocol == "jump-table"):
            counter = self._counters[info.id] = kind(info, self.store)  # the plan may come later
        while batch := self.store.points_after(info.id, counter.seq, arrays_of=counter.ARRAYS):
            counter.feed(batch)
        return counter.progress(info.status == "running")


# ---------------------------------------------------------------------- what a page gets
def _transactions(info: RunInfo) -> dict[str, Any] | None:
    """Instrument transactions of a completed run on instruments: total, per second, per step."""
    stored = (info.summary or {}).get("instrument_transactions")
    if not stored or info.ended is None:
        return None
    seconds = max(info.ended - info.started, 1e-9)
    return {
        "total": stored["total"],
        "per_second": stored["total"] / seconds,
        "per_step": stored.get("per_step"),
    }


def run_json(info: RunInfo, progress: Progress | None, detail: bool = False) -> dict[str, Any]:
    """A run as a page shows it: metadata and progress; with detail, its parameters and summary."""
    bench = info.bench if isinstance(info.bench, dict) else {}
    out: dict[str, Any] = {
        "id": info.id,
        "uid": info.uid,
        "protocol": info.protocol,
        "status": info.status,
        "bench": bench.get("bench") or bench.get("kind") or bench.get("name") or "",
        "started": info.started,
        "ended": info.ended,
        "points": info.points,
        "progress": progress.json() if progress is not None else None,
    }
    if detail:
        out |= {
            "params": info.params,
            "bench_description": info.bench,
            "error": info.error,
            "summary": info.summary,
            "figures": figure_names(info),
            "transactions": _transactions(info),
        }
    return out


def figure_names(info: RunInfo) -> list[str]:
    """The figures the run's summary lists that the viewer may serve (see figure_path)."""
    names = (info.summary or {}).get("figures", [])
    return [n for n in names if isinstance(n, str) and figure_path(info, n) is not None]


def figure_path(info: RunInfo, name: str) -> Path | None:
    """The file of figure `name` of the run, or None unless every rule holds.

    The name must be listed in the run's summary, be a bare file name (no separator, no
    leading dot) ending in .png or .svg, and the file it resolves to (symlinks followed) must be
    a regular file inside the run's folder. A relative run folder is taken from the viewer's
    working directory, as the command line that wrote it took it from its own.
    """
    listed = (info.summary or {}).get("figures", [])
    if info.out_dir is None or name not in listed:
        return None
    if name != Path(name).name or name.startswith(".") or "\\" in name or not name.endswith(FIGURE_SUFFIXES):
        return None
    folder = Path(info.out_dir).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path
