"""A sweep's points in the store: written once per key, a resume runs only what is missing
(failed points again), the table has one row per point, and the live view counts them."""

from __future__ import annotations

import csv
from pathlib import Path

from hil.store import RunStore
from hil.watch.reader import ProgressTracker, ReadOnlyStore
from protocols.records.sweep import SweepPoint
from protocols.sweep import PointWriter, expand, latest, ordered, parse_spec, pending, summary, write_csv

RAW = {
    "name": "t",
    "base": {"preset": "ideal", "dataset": "iris", "hidden": [4], "epochs": 1, "algorithms": ["sgd", "fp"]},
    "axes": {"device.c2c_noise": [0.0, 0.1], "seed": [0]},
}


def _fields(task, status: str = "completed", accuracy: float = 0.9) -> dict:
    return {
        "step": task.index,
        "key": task.key,
        "algorithm": task.algorithm,
        "status": status,
        "coords": task.coords,
        "config": {"algorithm": task.config},
        "metrics": {"test_accuracy": accuracy} if status == "completed" else {},
        "curve": [accuracy],
        "seconds": 1.5,
        "cpu_seconds": 1.0,
        "worker": "host:1",
        "threads": {},
        "error": None if status == "completed" else "ValueError: no symmetry point",
    }


def test_points_are_written_once_and_a_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    spec = parse_spec(RAW)
    tasks = expand(spec)  # sgd x 2 noises, fp once
    assert [t.algorithm for t in tasks] == ["sgd", "fp", "sgd"]
    with (
        RunStore(tmp_path / "s.sqlite") as store,
        store.start_run("sweep", {"points": len(tasks)}, {}) as run,
    ):
        writer = PointWriter(run, {})
        assert writer(_fields(tasks[0])) is True
        assert writer(_fields(tasks[0], accuracy=0.5)) is False  # the same point again: dropped
        assert writer(_fields(tasks[1], status="failed")) is True
        stored = latest(store.points(run.id))
        assert [t.index for t in pending(tasks, stored)] == [1, 2]  # the failed one is tried again
        assert writer(_fields(tasks[1])) is True  # its completed result replaces the failure
        stored = latest(store.points(run.id))
        assert [t.index for t in pending(tasks, stored)] == [2]
        with ReadOnlyStore(tmp_path / "s.sqlite") as reader:
            progress = ProgressTracker(reader).progress(reader.run(run.id))
        assert (progress.done, progress.total, progress.unit) == (2, 3, "points")
    points = ordered(tasks, stored)
    assert [p.metrics["test_accuracy"] for p in points] == [0.9, 0.9]
    assert writer.duplicates == 1
    table = list(csv.DictReader(write_csv(tmp_path / "points.csv", spec, points).open()))
    assert [(r["algorithm"], r["device.c2c_noise"], r["seed"]) for r in table] == [
        ("sgd", "0.0", "0"),
        ("fp", "", "0"),
    ]
    counts = summary(spec, tasks, points)
    assert (counts["completed"], counts["failed"], counts["not_run"]) == (2, 0, 1)


def test_a_point_reads_back_as_it_was_written(tmp_path: Path) -> None:
    task = expand(parse_spec(RAW))[0]
    with RunStore(tmp_path / "s.sqlite") as store, store.start_run("sweep", {}, {}) as run:
        SweepPoint(**_fields(task)).write(run)
        (point,) = SweepPoint.read(store.points(run.id))
    assert point == SweepPoint(**_fields(task))
