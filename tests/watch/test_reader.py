"""What the viewer reads from the store: read-only, and the numbers of each view equal the stored ones."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from hil.store import RunStore, _decode, _encode
from hil.watch.reader import ProgressTracker, ReadOnlyStore, _decode_npy, figure_path
from hil.watch.views import view_for
from protocols.replay import jump_table_result_from_run
from tests.watch.conftest import FilledStore


def test_the_viewer_cannot_write_to_the_store(filled_store: FilledStore) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        before = store.run(filled_store.symmetry).points
        for statement in (
            "INSERT INTO points (run_id, seq, kind, step, t, scalars) VALUES (1, 9999, 'x', 0, 0, '{}')",
            "UPDATE runs SET status='failed'",
            "DELETE FROM points",
            "CREATE TABLE t (x)",
        ):
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                store._db.execute(statement)
        assert store.run(filled_store.symmetry).points == before


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReadOnlyStore(tmp_path / "none.sqlite")
    assert list(tmp_path.iterdir()) == []


ROWS = {"pairs", "windows", "reads", "steps", "epochs"}


def _all(store: ReadOnlyStore, run: int, device: int = 0) -> tuple[str, dict]:
    info = store.run(run)
    view = view_for(info.protocol, device)
    update: dict = {}
    after = -1
    while batch := store.points_after(
        run, after, limit=50, arrays_of=view.ARRAYS
    ):  # several batches, as a stream sends them
        after = batch[-1].seq
        for key, value in view.feed(batch).items():  # lists of rows add up, the rest is the newest
            if key in ROWS:
                update[key] = update.get(key, []) + value
            elif value is not None:
                update[key] = value
    return view.name, update


def test_symmetry_view_follows_one_device_and_gives_every_estimate(filled_store: FilledStore) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        pairs = list(store.points(filled_store.symmetry, "pair"))
        windows = list(store.points(filled_store.symmetry, "window"))
        name, update = _all(store, filled_store.symmetry, device=4)
    assert name == "symmetry" and update["shape"] == [2, 3]
    np.testing.assert_array_equal(
        np.array(update["pairs"], dtype=float),
        [[p.step, p.arrays["g_up"][1, 1], p.arrays["g_down"][1, 1]] for p in pairs],
    )
    assert [w[0] for w in update["windows"]] == [40, 80, 120]
    assert [w[1] for w in update["windows"]] == [w.arrays["mean"][1, 1] for w in windows]
    last = windows[-1].arrays
    assert update["estimates"]["mean"] == last["mean"].ravel().tolist()
    assert update["estimates"]["converged"] == last["converged"].ravel().tolist()


@pytest.mark.parametrize("which", ["jump", "jump_trains"])
def test_jump_table_view_steps_equal_the_differences_of_the_stored_reads(
    filled_store: FilledStore, which: str
) -> None:
    run = getattr(filled_store, which)
    with RunStore(filled_store.path) as writer:
        g = jump_table_result_from_run(writer, run).g  # (pulses + 1, devices) as the protocol read them
    with ReadOnlyStore(filled_store.path) as store:
        name, update = _all(store, run)
    assert name == "jump-table"
    reads = np.full_like(g, np.nan)
    for device, step, value in update["reads"]:
        reads[step, device] = value
    np.testing.assert_array_equal(reads, g)
    steps = np.array(update["steps"])
    assert len(steps) == (g.shape[0] - 1) * g.shape[1]
    for device in range(g.shape[1]):
        mine = steps[steps[:, 0] == device]
        np.testing.assert_array_equal(mine[:, 1], g[:-1, device])
        np.testing.assert_allclose(mine[:, 2], np.diff(g[:, device]), rtol=0, atol=1e-20)


def test_training_view_has_every_stored_epoch(filled_store: FilledStore) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        epochs = list(store.points(filled_store.train, "epoch"))
        name, update = _all(store, filled_store.train)
    assert name == "train"
    assert [(r["algorithm"], r["epoch"]) for r in update["epochs"]] == [("fp", e) for e in range(4)]
    assert [r["test_accuracy"] for r in update["epochs"]] == [p.scalars["test_accuracy"] for p in epochs]


def test_progress_of_completed_runs_is_their_whole_plan(filled_store: FilledStore) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        tracker = ProgressTracker(store)
        got = {run: tracker.progress(store.run(run)) for run in (1, 2, 3, 4)}
    assert (got[1].done, got[1].total, got[1].unit) == (120, 120, "pairs")
    assert (got[2].done, got[2].total) == (2 * 2 * 40, 2 * 2 * 40)  # devices x cycles x (up + down)
    assert (got[3].done, got[3].total) == (3 * 30, 3 * 30)
    assert (got[4].done, got[4].total, got[4].unit) == (3, 3, "epochs")
    assert all(p.eta_s is None for p in got.values())  # not running


def test_eta_of_a_running_run_is_what_is_left_at_the_rate_so_far(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter(range(1000, 2000))
    monkeypatch.setattr("hil.store.time.time", lambda: float(next(clock)))
    with RunStore(tmp_path / "s.sqlite") as writer:
        run = writer.start_run("symmetry-point", {"max_pairs": 105, "window": 10}, {"bench": "test"})
        for pair in range(1, 11):  # one pair per second of the fake clock
            run.record("pair", pair, g_up=np.zeros(2), g_down=np.zeros(2))
        with ReadOnlyStore(tmp_path / "s.sqlite") as store:
            progress = ProgressTracker(store).progress(store.run(run.id))
        run.finish("completed")
    # 100 pairs planned (whole windows only), 10 done at 1 pair/s: 90 s left.
    assert (progress.done, progress.total) == (10, 100)
    assert progress.eta_s == pytest.approx(90.0, rel=1e-12)


def test_a_figure_is_served_only_when_listed_and_inside_the_run_folder(
    filled_store: FilledStore, tmp_path: Path
) -> None:
    with ReadOnlyStore(filled_store.path) as store:
        info = store.run(filled_store.symmetry)
    listed = info.summary["figures"]
    assert figure_path(info, listed[0]) == Path(info.out_dir).resolve() / listed[0]
    for name in ("summary.json", "../run1/symmetry_convergence.png", "/etc/passwd", "..", ".", ""):
        assert figure_path(info, name) is None


@pytest.mark.parametrize(
    "array",
    [
        np.linspace(0, 1, 64).reshape(8, 8),
        np.arange(5),
        np.array(3.0),
        np.zeros((2, 3), dtype=bool),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array(["a", "bc"]),
        np.zeros((0, 3)),
        np.arange(6, dtype=">i4").reshape(2, 3),
    ],
)
def test_the_fast_decoder_reads_what_np_load_reads(array: np.ndarray) -> None:
    blob = _encode(array)
    for _ in range(2):  # the second time from the cached header
        fast, slow = _decode_npy(blob), _decode(blob)
        assert (fast.dtype, fast.shape) == (slow.dtype, slow.shape)
        np.testing.assert_array_equal(fast, slow)
        assert fast.flags.writeable and fast.flags.c_contiguous


def test_after_a_resume_the_next_step_starts_from_the_fresh_read(tmp_path: Path) -> None:
    """A resumed jump table reads its devices again; whatever they did while the run stood
    still belongs to no pulse (docs/run-store.md)."""
    with RunStore(tmp_path / "s.sqlite") as writer:
        run = writer.start_run("jump-table", {}, {"bench": "test"})
        run.record("jump_start", 0, g=np.array([10.0, 20.0]), read_noise=np.zeros(2))
        run.record("jump", 1, direction=1, g=np.array([11.0, 22.0]))
        run.record("jump_resume", 1, g=np.array([15.0, 25.0]))  # drifted while stopped
        run.record("jump", 2, direction=-1, g=np.array([14.0, 23.0]))
        run.record("jump_train", 3, device=1, direction=1, g=np.array([24.0, 26.0]))
        run.record("jump_resume", 4, device=1, g=np.array([30.0]))
        run.record("jump_train", 5, device=1, direction=-1, g=np.array([29.0]))
        run.finish("completed")
    with ReadOnlyStore(tmp_path / "s.sqlite") as store:
        _, update = _all(store, 1)
    assert update["steps"] == [
        [0, 10.0, 1.0, 1], [1, 20.0, 2.0, 1],  # pulse 1
        [0, 15.0, -1.0, -1], [1, 25.0, -2.0, -1],  # pulse 2 from the fresh reads, not 11 and 22
        [1, 23.0, 1.0, 1], [1, 24.0, 2.0, 1],  # a train of two
        [1, 30.0, -1.0, -1],  # after the second resume
    ]  # fmt: skip
