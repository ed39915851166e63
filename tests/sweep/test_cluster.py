"""The sweep on a real 2-worker local cluster: a worker killed mid-point has its point
computed again elsewhere and stored once; a stopped sweep keeps its points and resumes
without computing them again; workers run one thread each and listen on 127.0.0.1 only.

One cluster serves the package (tests/sweep/conftest.py); the points are floating-point
trainings on Iris, a few milliseconds each, so the cluster's behaviour is what is timed.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

import protocols.sweep
from hil.cli import main
from hil.cli.sweep import SimulatedDevices
from hil.faults import ExitStatus
from hil.store import RunStore
from protocols.records.sweep import SweepPoint
from protocols.sweep import PointWriter, compute, expand, parse_spec
from tests.sweep.helpers import KillOnce

SPEC = """
name = "iris fp"
[base]
preset = "protonic-asymmetric"
dataset = "iris"
hidden = [4]
epochs = 2
algorithms = ["fp"]
[axes]
"fp.lr" = [0.05, 0.1]
seed = [0, 1, 2]
"""


def _spec():
    import tomllib

    return parse_spec(tomllib.loads(SPEC))


def _stored(store: Path) -> list[SweepPoint]:
    with RunStore(store, read_only=True) as s:
        return SweepPoint.read(s.points(s.runs()[-1].id))


def test_the_local_cluster_listens_on_loopback_and_caps_threads(client) -> None:
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert client.dashboard_link.startswith("http://127.0.0.1:")
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers.values())
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)


def test_a_killed_worker_has_its_point_computed_elsewhere_and_stored_once(client, tmp_path: Path) -> None:
    tasks = expand(_spec())
    marker = tmp_path / "killed-pid"
    with RunStore(tmp_path / "s.sqlite") as store, store.start_run("sweep", {}, {}) as run:
        writer = PointWriter(run, {})
        outcomes = compute(client, tasks, SimulatedDevices(), writer, function=KillOnce(str(marker), 2))
    assert outcomes.returned == len(tasks) and not outcomes.lost
    points = _stored(tmp_path / "s.sqlite")
    assert Counter(p.key for p in points) == Counter(t.key for t in tasks)  # every point, each once
    killed = int(marker.read_text())
    victim = next(p for p in points if p.step == 2)
    assert victim.completed and not victim.worker.endswith(f":{killed}")
    for p in points:  # the caps the nanny set before each worker process started
        assert set(p.threads["environment"].values()) == {"1"}
        assert set(p.threads["pools"].values()) == {1}
        assert p.cpu_seconds is not None and p.cpu_seconds > 0


class _StopAfterTwo(PointWriter):
    def __call__(self, fields: dict) -> bool:
        if len(self.stored) == 2:
            raise KeyboardInterrupt
        return super().__call__(fields)


def test_a_stopped_sweep_keeps_its_points_and_resumes_without_them(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "s.sqlite"
    common = ["--store", str(store), "--scheduler", client.scheduler.address, "--no-progress"]
    monkeypatch.setattr(protocols.sweep, "PointWriter", _StopAfterTwo)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), *common]) == ExitStatus.INTERRUPTED
    err = capsys.readouterr()
    with RunStore(store, read_only=True) as s:
        info = s.runs()[-1]
    assert info.status == "aborted"
    assert "2 of 6 points are stored" in err.out
    assert f"continue it with: hil sweep --resume {info.uid} --store {store}" in err.err
    with RunStore(store, read_only=True) as s:
        first = {p.scalars["key"]: p.t for p in s.points(info.id)}

    monkeypatch.setattr(protocols.sweep, "PointWriter", PointWriter)
    assert main(["sweep", "--resume", info.uid, *common]) == 0
    assert "6 points (2 stored, 4 to run)" in capsys.readouterr().out
    points = _stored(store)
    assert len(points) == 6 and len({p.key for p in points}) == 6
    with RunStore(store, read_only=True) as s:
        assert s.run(info.uid).status == "completed"
        assert {
            p.scalars["key"]: p.t for p in list(s.points(info.id))[:2]
        } == first  # kept, not written again
    rows = list(csv.DictReader((tmp_path / "out" / "points.csv").open()))
    assert sorted((r["fp.lr"], r["seed"]) for r in rows) == sorted(
        (lr, s) for lr in ("0.05", "0.1") for s in ("0", "1", "2")
    )
    assert (tmp_path / "out" / "accuracy_vs_fp_lr.png").is_file()


def test_points_whose_workers_kept_dying_leave_a_failed_run_that_resumes(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from protocols.sweep.engine import Outcomes

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "s.sqlite"
    common = ["--store", str(store), "--scheduler", client.scheduler.address, "--no-progress"]
    real = protocols.sweep.compute

    def lose_the_last(client, tasks, devices, on_outcome, **kw):  # as after a third KilledWorker
        outcomes = real(client, tasks[:-1], devices, on_outcome, **kw)
        return Outcomes(outcomes.returned, [(tasks[-1], "KilledWorker: attempted 3 times")])

    monkeypatch.setattr(protocols.sweep, "compute", lose_the_last)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), *common]) == ExitStatus.INTERNAL
    err = capsys.readouterr().err
    with RunStore(store, read_only=True) as s:
        info = s.runs()[-1]
    assert info.status == "failed" and "1 of 6 points were not computed" in info.error
    assert f"continue it with: hil sweep --resume {info.uid}" in err
    assert len(list(csv.DictReader((tmp_path / "out" / "points.csv").open()))) == 5

    monkeypatch.setattr(protocols.sweep, "compute", real)
    assert main(["sweep", "--resume", info.uid, *common]) == 0
    assert "6 points (5 stored, 1 to run)" in capsys.readouterr().out
    assert len({p.key for p in _stored(store)}) == 6
