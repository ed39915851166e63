"""Stored-point records: each reads back as written, reads the rows earlier versions wrote, and is
what resume, fitting and export see."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil import Pulse
from hil.mock import IdealCrossbar
from hil.recording import Checkpoint
from hil.store import RunStore
from protocols.fitting import traces_from_run
from protocols.jumptable import SCOPE, measure_jump_table
from protocols.records import Record, Row
from protocols.records.jumptable import (
    Jump,
    JumpPlan,
    JumpResume,
    JumpStart,
    JumpTrain,
    JumpTrainLost,
    RecordedPulses,
    recorded_trains,
)
from protocols.records.programming import Verify
from protocols.records.symmetry import Pair, Window
from protocols.records.training import Epoch
from protocols.training.result import EpochRecord
from tests.protocols.stopping import Stop, stop_at

PULSE = Pulse(amplitude=5.0, width=1e-6)
STEP = 20e-9
_rng = np.random.default_rng(3)
G3 = _rng.uniform(1e-6, 2e-5, 3)
NOISE = np.array([1e-8, np.nan, 2e-8])
TRAIN = _rng.uniform(1e-6, 2e-5, 40)
UP, DOWN = _rng.uniform(1e-6, 2e-5, (2, 2, 3))
SEM = np.array([[1e-9, np.inf, 2e-9], [3e-9, 4e-9, 5e-9]])
CONVERGED = np.array([[True, False, True], [False, True, True]])
EPOCH = EpochRecord(2, 0.5, 0.8, 0.6, 0.75, 0.55, 1.25)
FIRST_EPOCH = EpochRecord(0, 2.3, 0.1, 2.3, 0.1, None, 0.5)

# Each record beside the row the protocols wrote before the records existed (the calls of
# protocols/jumptable.py, symmetry.py, programming.py and training/loop.py, copied as they were).
OLD_ROWS: list[tuple[Record, str, int, dict[str, Any]]] = [
    (JumpStart(g=G3, read_noise=NOISE), "jump_start", 0, {"g": G3, "read_noise": NOISE}),
    (Jump(step=4, direction=-1, g=G3), "jump", 4, {"direction": -1, "g": G3}),
    (JumpResume(step=7, g=G3), "jump_resume", 7, {"g": G3}),
    (JumpResume(step=40, g=G3[:1], device=2), "jump_resume", 40, {"device": 2, "g": G3[:1]}),
    (
        JumpTrain(step=41, device=1, direction=1, g=TRAIN),
        "jump_train",
        41,
        {"device": 1, "direction": 1, "g": TRAIN},
    ),
    (
        JumpTrainLost(step=81, device=0, direction=-1, count=45, error="RuntimeError: cable unplugged"),
        "jump_train_lost",
        81,
        {"device": 0, "direction": -1, "count": 45, "error": "RuntimeError: cable unplugged"},
    ),
    (Pair(step=3, g_up=UP, g_down=DOWN), "pair", 3, {"g_up": UP, "g_down": DOWN}),
    (
        Window(step=10, mean=UP, sem=SEM, step_size=DOWN, converged=CONVERGED),
        "window",
        10,
        {"mean": UP, "sem": SEM, "step_size": DOWN, "converged": CONVERGED.copy()},
    ),
    (
        Verify(step=2, g=G3, counts=np.array([3, -2, 0], dtype=np.int64)),
        "verify",
        2,
        {"g": G3, "counts": np.array([3, -2, 0], dtype=np.int64)},
    ),
    (Epoch("shd", EPOCH), "epoch", 2, {"algorithm": "shd", **asdict(EPOCH)}),
    (Epoch("fp", FIRST_EPOCH), "epoch", 0, {"algorithm": "fp", **asdict(FIRST_EPOCH)}),
]
IDS = [f"{kind}-{i}" for i, (_, kind, _, _) in enumerate(OLD_ROWS)]


def _stored(tmp_path: Path, write: Any) -> list[Any]:
    """The points a run holds after write(run)."""
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run("p", {}, {})
        write(run)
        return list(store.points(run.uid))


@pytest.mark.parametrize(("record", "kind", "step", "values"), OLD_ROWS, ids=IDS)
def test_each_record_reads_back_as_written(tmp_path: Path, record: Record, kind: str, step: int,
                                           values: dict[str, Any]) -> None:  # fmt: skip
    (point,) = _stored(tmp_path, record.write)
    back = type(record).from_row(point)
    assert back == record
    for f in dataclasses.fields(back):  # type: ignore[arg-type]
        if isinstance(getattr(record, f.name), np.ndarray):
            assert getattr(back, f.name).dtype == getattr(record, f.name).dtype, f.name


@pytest.mark.parametrize(("record", "kind", "step", "values"), OLD_ROWS, ids=IDS)
def test_old_rows_read_as_records_and_records_write_the_old_rows(
    tmp_path: Path, record: Record, kind: str, step: int, values: dict[str, Any]
) -> None:
    (point,) = _stored(tmp_path, lambda run: run.record(kind, step, **values))
    assert type(record).from_row(point) == record
    # The row a record writes is the old one: same kind and step, the same values stored as
    # arrays (blobs) and as JSON scalars.
    (new,) = _stored(tmp_path / "new", record.write)
    assert (new.kind, new.step) == (point.kind, point.step)
    assert new.scalars == point.scalars
    assert new.arrays.keys() == point.arrays.keys()
    for name, a in point.arrays.items():
        np.testing.assert_array_equal(new.arrays[name], a)
        assert new.arrays[name].dtype == a.dtype


def test_records_compare_their_arrays_by_value() -> None:
    jump = Jump(step=4, direction=-1, g=G3)
    assert jump == Jump(step=4, direction=-1, g=G3.copy())
    assert jump != Jump(step=4, direction=-1, g=G3 * (1 + 1e-12))
    assert jump != Jump(step=4, direction=1, g=G3)
    assert jump != Jump(step=4, direction=-1, g=G3.astype(np.float32))  # dtype counts
    assert JumpStart(g=G3, read_noise=NOISE) == JumpStart(g=G3, read_noise=NOISE.copy())  # NaN == NaN
    assert Jump(step=4, direction=-1, g=G3) != JumpResume(step=4, g=G3)
    # A device index left unset is not written: pulse-by-pulse resumes keep their old rows.
    row = JumpResume(step=4, g=G3).to_row()
    assert isinstance(row, Row) and (row.kind, row.step, list(row.values)) == ("jump_resume", 4, ["g"])
    assert list(JumpResume(step=4, g=G3[:1], device=1).to_row().values) == ["g", "device"]


def test_a_point_of_another_kind_or_missing_a_field_is_refused(tmp_path: Path) -> None:
    (point,) = _stored(tmp_path, lambda run: run.record("jump", 3, g=G3))  # no direction
    with pytest.raises(ValueError, match="'jump' point 0 has no 'direction'"):
        Jump.from_row(point)
    with pytest.raises(ValueError, match="is a 'jump' point, not 'pair'"):
        Pair.from_row(point)


# ---------------------------------------------------------------------- jump-table plan
PLAN = {
    "devices": [[0, 1], [1, 0]],
    "n_cycles": 2,
    "n_up": 3,
    "n_down": 2,
    "noise_reads": 0,
    "pulse": {"amplitude_V": 5.0, "width_s": 1e-6},
    "trains": True,
}


def test_plan_reads_back_as_stored_and_gives_the_pulse_order() -> None:
    plan = JumpPlan.from_state({"protocol": "jump_table", "plan": PLAN})
    assert plan is not None and plan.to_dict() == PLAN and plan.to_state()["plan"] == PLAN
    assert plan.pulse == PULSE and plan.n_pulses == 10
    np.testing.assert_array_equal(plan.pairs, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(plan.directions(), [1, 1, 1, -1, -1] * 2)
    np.testing.assert_array_equal(plan.cycles(), [0] * 5 + [1] * 5)
    # Per cycle, per device: its up train, then its down train.
    expected = [
        (d, s, c * 5 + (0 if s == 1 else 3), 3 if s == 1 else 2)
        for c in (0, 1)
        for d in (0, 1)
        for s in (1, -1)
    ]
    assert [(t.device, t.sign, t.first, t.count) for t in plan.schedule()] == expected
    # A plan recorded before trains existed ran pulse by pulse.
    old = {k: v for k, v in PLAN.items() if k != "trains"}
    assert JumpPlan.from_dict(old).trains is False
    assert JumpPlan.from_state({"protocol": "jump_table"}) is None and JumpPlan.from_state(None) is None


# ---------------------------------------------------------------------- the readers see the records
def _jump_table(backend: IdealCrossbar, **kwargs: Any) -> Any:
    """2 devices, 2 cycles of 10 up and 10 down pulses."""
    return measure_jump_table(
        backend, PULSE, [(0, 0), (1, 1)], n_cycles=2, n_up=10, n_bins=2, noise_reads=2, **kwargs
    )


def _stopped_jump_table(store: RunStore, backend: IdealCrossbar, trains: bool = False) -> str:
    """The uid of a run stopped after 7 pulses (pulse by pulse) or 3 trains of 10."""
    with pytest.raises(Stop), store.start_run("jump-table", {}, {}) as run:
        _jump_table(backend, trains=trains, recorder=run, progress=stop_at(30 if trains else 7))
    return run.uid


def test_resume_reads_the_start_through_its_record(tmp_path: Path) -> None:
    """A jump_start row without its read noise is refused by name before any pulse."""
    backend = IdealCrossbar((2, 2), g_step=STEP)
    with RunStore(tmp_path / "runs.sqlite") as store:
        uid = _stopped_jump_table(store, backend)
        checkpoint = store.load_checkpoint(uid)
    start = checkpoint.of_kind("jump_start")[0]
    assert start.arrays.keys() == {"g", "read_noise"}
    damaged = Checkpoint(
        checkpoint.run,
        checkpoint.states,
        tuple(
            dataclasses.replace(p, arrays={"g": p.arrays["g"]}) if p.kind == "jump_start" else p
            for p in checkpoint.points
        ),
    )
    before = backend.g.copy()
    with pytest.raises(ValueError, match="'jump_start' point 0 has no 'read_noise'"):
        _jump_table(backend, resume_from=damaged)
    np.testing.assert_array_equal(backend.g, before)
    # The intact checkpoint resumes, reading the stored reads through the same records.
    recorded = RecordedPulses.read(checkpoint.points)
    result = _jump_table(backend, resume_from=checkpoint)
    np.testing.assert_array_equal(result.g[: len(recorded.jumps) + 1], recorded.reads())
    np.testing.assert_array_equal(result.read_noise, recorded.start.read_noise)  # type: ignore[union-attr]


def test_fit_reads_old_rows_through_the_records(tmp_path: Path) -> None:
    """A pulse-by-pulse run written row by row as the old code wrote it gives the traces its
    values say; a jump row without its direction is refused by name."""
    direction = np.repeat([1, -1], 25)
    g = 1e-6 * (np.array([1.0, 2.0]) + np.concatenate([[0], np.cumsum(direction)])[:, None] * 0.01)
    devices = [[0, 0], [1, 1]]
    plan = {**PLAN, "devices": devices, "n_cycles": 1, "n_up": 25, "n_down": 25, "trains": False}
    with RunStore(tmp_path / "runs.sqlite") as store:
        run = store.start_run(
            "jump-table", {"devices": devices, "pulse": {"amplitude": 5.0, "width": 1e-6}}, {}
        )
        run.checkpoint({"protocol": "jump_table", "plan": plan}, SCOPE)
        run.record("jump_start", 0, g=g[0], read_noise=np.array([1e-8, 2e-8]))
        for k in range(1, 31):
            run.record("jump", k, direction=int(direction[k - 1]), g=g[k])
        run.record("jump_resume", 30, g=g[30] + 1e-8)
        for k in range(31, 51):
            run.record("jump", k, direction=int(direction[k - 1]), g=g[k])
        run.finish("aborted")
        traces = traces_from_run(store, run.uid)
        broken = store.start_run("jump-table", {}, {})
        broken.record("jump", 1, g=g[1])
        with pytest.raises(ValueError, match="'jump' point 0 has no 'direction'"):
            traces_from_run(store, broken.uid)
    np.testing.assert_array_equal(traces.g, g)
    np.testing.assert_array_equal(traces.direction, direction)
    np.testing.assert_array_equal(traces.read_noise, [1e-8, 2e-8])
    np.testing.assert_array_equal(traces.resumed_at, [30])
    np.testing.assert_array_equal(traces.resume_reads, [g[30] + 1e-8])
    np.testing.assert_array_equal(traces.devices, devices)
    assert traces.pulse == PULSE


@pytest.mark.parametrize("trains", [False, True])
def test_export_carries_every_field_of_every_record(tmp_path: Path, trains: bool) -> None:
    """What a jump-table run records, exported to HDF5, holds every field of its records."""
    import h5py

    from hil.export import export_run

    backend = IdealCrossbar((2, 2), g_step=STEP)
    with RunStore(tmp_path / "runs.sqlite") as store:
        uid = _stopped_jump_table(store, backend, trains)
        with store.resume_run(uid) as run:
            _jump_table(backend, trains=trains, recorder=run, resume_from=store.load_checkpoint(uid))
        points = list(store.points(uid))
        plan = JumpPlan.from_store(store, uid)
        path = export_run(store, uid, tmp_path / "run.h5", "hdf5")
    kinds = {JumpStart, Jump, JumpResume, JumpTrain, JumpTrainLost}
    records = {k.KIND: k.read(points) for k in kinds}
    written = {kind for kind, rs in records.items() if rs}
    assert written == (
        {"jump_start", "jump_train", "jump_resume"} if trains else {"jump_start", "jump", "jump_resume"}
    )
    with h5py.File(path) as h5:
        assert set(h5) == written
        for kind in written:
            group = h5[kind]
            scalars = json.loads(group.attrs["scalars"])
            for i, (record, seq) in enumerate(zip(records[kind], group["seq"][:], strict=True)):
                row = record.to_row()
                assert group["step"][i] == row.step
                for name, value in row.values.items():
                    if isinstance(value, np.ndarray):
                        stored = (
                            group[name][str(seq)] if isinstance(group[name], h5py.Group) else group[name][i]
                        )
                        np.testing.assert_array_equal(stored, value, err_msg=f"{kind} {name}")
                    else:
                        assert scalars[i][name] == value, f"{kind} {name}"
    if trains:  # and the train reader sees the records the export holds
        assert plan is not None
        recorded = recorded_trains(plan, points)
        assert recorded is not None and recorded.trains_done == recorded.n_trains == 8
