"""A sweep's results: its stored points read back, what is left to run, the tidy table.

The client alone writes the run store (SQLite must not be shared over a network file system):
PointWriter stores each outcome as a SweepPoint, once per point key, whichever worker sent it
and however often. A resumed sweep reads the points back and runs only those without a
completed record; a failed point is tried again.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hil.recording import Point, Recorder
from protocols.records.sweep import SweepPoint
from protocols.sweep.spec import PointTask, SweepSpec

METRICS = (
    "test_accuracy",
    "train_accuracy",
    "best_test_accuracy",
    "test_loss",
    "epochs",
    "seconds_per_epoch",
)


def latest(points: Iterable[Point]) -> dict[str, SweepPoint]:
    """The newest SweepPoint per key among a run's stored points."""
    return {p.key: p for p in SweepPoint.read(points)}


def pending(tasks: Sequence[PointTask], stored: dict[str, SweepPoint]) -> list[PointTask]:
    """The tasks without a completed point."""
    return [t for t in tasks if not (t.key in stored and stored[t.key].completed)]


class PointWriter:
    """on_outcome for protocols.sweep.engine.compute: store each returned point once.

    stored: the points already in the run (a resume's), updated as points are written.
    Returns from each call whether the point was written (False: a duplicate, dropped).
    """

    def __init__(self, recorder: Recorder, stored: dict[str, SweepPoint]):
        self.recorder, self.stored = recorder, stored
        self.duplicates = 0

    def __call__(self, fields: dict[str, Any]) -> bool:
        previous = self.stored.get(fields["key"])
        if previous is not None and previous.completed:
            self.duplicates += 1
            return False
        point = SweepPoint(**fields)
        point.write(self.recorder)
        self.stored[point.key] = point
        return True


def ordered(tasks: Sequence[PointTask], stored: dict[str, SweepPoint]) -> list[SweepPoint]:
    """The stored points of these tasks in the sweep's order (tasks without a point left out)."""
    return [stored[t.key] for t in tasks if t.key in stored]


def seed_of(point: SweepPoint) -> int:
    return int(point.config["algorithm"]["seed"])


def table_rows(spec: SweepSpec, points: Sequence[SweepPoint]) -> list[dict[str, Any]]:
    """One row per point: its axes (blank where an axis does not apply), seed, metrics, time."""
    axes = [a for a in spec.axes if a != "seed"]
    rows = []
    for p in points:
        row: dict[str, Any] = {"point": p.step, "key": p.key, "algorithm": p.algorithm, "status": p.status}
        row |= {axis: p.coords.get(axis, "") for axis in axes}
        row["seed"] = seed_of(p)
        row |= {m: p.metrics.get(m, "") for m in METRICS}
        cpu = "" if p.cpu_seconds is None else round(p.cpu_seconds, 3)
        row |= {
            "seconds": round(p.seconds, 3),
            "cpu_seconds": cpu,
            "worker": p.worker,
            "error": p.error or "",
        }
        rows.append(row)
    return rows


def write_csv(path: str | Path, spec: SweepSpec, points: Sequence[SweepPoint]) -> Path:
    """The tidy table (one point a row; accuracies as fractions, losses in nats, seconds)."""
    path = Path(path)
    rows = table_rows(spec, points)
    fields = list(rows[0]) if rows else ["point", "key", "algorithm", "status"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def summary(spec: SweepSpec, tasks: Sequence[PointTask], points: Sequence[SweepPoint]) -> dict[str, Any]:
    """Counts, and per algorithm the mean final test accuracy and the best point."""
    done = [p for p in points if p.completed]
    by_algorithm: dict[str, Any] = {}
    for name in spec.base.algorithms:
        mine = [p for p in done if p.algorithm == name]
        if mine:
            best = max(mine, key=lambda p: p.metrics["test_accuracy"])
            accuracies = [p.metrics["test_accuracy"] for p in mine]
            by_algorithm[name] = {
                "points": len(mine),
                "mean_test_accuracy": math.fsum(accuracies) / len(accuracies),
                "best_test_accuracy": best.metrics["test_accuracy"],
                "best_point": {"point": best.step, **best.coords},
            }
    return {
        "name": spec.name,
        "axes": list(spec.axes),
        "points": len(tasks),
        "completed": len(done),
        "failed": sum(1 for p in points if not p.completed),
        "not_run": len(tasks) - len(points),
        "worker_seconds": math.fsum(p.seconds for p in points),
        "by_algorithm": by_algorithm,
        "failures": [
            {"point": p.step, "algorithm": p.algorithm, "error": p.error} for p in points if not p.completed
        ],
    }
