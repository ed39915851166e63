"""Resume keeps the chip: a simulated chip's state goes into the store with the run's points and
checkpoints, and a resumed run continues on the chip as the stopped run left it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hil import Pulse
from hil.bench import Bench
from hil.cli import main
from hil.store import RunStore
from simulators.chip import SimulatedChip
from simulators.snapshot import SnapshotError

PULSE = Pulse(6.0, 5e-9)


def _exercise(chip: SimulatedChip) -> tuple[np.ndarray, np.ndarray]:
    """Pulses, a stochastic update and reads on array "A": (conductances, reads)."""
    a = chip.array("A", (3, 4))
    rng = np.random.default_rng(0)
    a.apply_pulses(rng.integers(-3, 4, a.shape), PULSE)
    a.stochastic_update(rng.random(3), rng.random(4), 31, PULSE)
    return a.conductance, a.read()


def test_a_restored_chip_continues_draw_for_draw() -> None:
    first = SimulatedChip(seed=3)
    _exercise(first)
    first.array("B", (2, 2)).apply_pulses(np.ones((2, 2), dtype=np.int64), PULSE)
    state = first.chip_state()
    expected = _exercise(first)
    # A chip of another seed takes the stored devices, states and streams: array A exists when
    # restored, B only afterwards (it takes its stored state when first asked for).
    other = SimulatedChip(seed=99)
    other.array("A", (3, 4))
    other.restore_chip_state(state)
    got = _exercise(other)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)
    np.testing.assert_array_equal(other.array("B", (2, 2)).conductance, first.array("B", (2, 2)).conductance)
    with pytest.raises(SnapshotError, match="was \\(2, 2\\)"):
        fresh = SimulatedChip(seed=3)
        fresh.restore_chip_state(state)
        fresh.array("B", (3, 3))
    with pytest.raises(SnapshotError):
        SimulatedChip().restore_chip_state(b"not a chip")


def test_a_bench_keeps_its_own_chip_state_by_default() -> None:
    class Plain(Bench):
        def array(self, name, shape):  # pragma: no cover - not asked
            raise AssertionError

        def describe(self):
            return {}

        def close(self):
            return None

    assert Plain().chip_state() is None
    with pytest.raises(NotImplementedError, match="keeps its chip's state"):
        Plain().restore_chip_state(b"")


def test_the_chip_state_is_stored_in_the_transaction_of_each_point_and_checkpoint(tmp_path: Path) -> None:
    chip = SimulatedChip(seed=1)
    array = chip.array("A", (2, 2))
    with RunStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("test", {}, chip.describe())
        run.keep_chip(chip.chip_state)
        run.checkpoint({"at": 0}, scope="x")
        at_checkpoint = chip.chip_state()
        array.apply_pulses(np.ones((2, 2), dtype=np.int64), PULSE)
        run.record("p", 1, g=array.read())
        at_point = chip.chip_state()
        array.apply_pulses(np.ones((2, 2), dtype=np.int64), PULSE)  # after the newest point
        states = store.load_checkpoint(run.id).chip_states
    assert states == {"checkpoint": at_checkpoint, "point": at_point}


# ---------------------------------------------------------------------- the command line, stopped
def _count(store: Path, kind: str) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM points WHERE kind=?", (kind,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def _stopped(
    argv: list[str], cwd: Path, store: Path, *, kind: str, count: int, sig: signal.Signals, prelude: str = ""
) -> str:
    """Run `hil argv` in a child (after the Python statements `prelude`), send sig once `count`
    points of `kind` are stored; the run's uid."""
    code = f"{prelude}import sys; from hil.cli import main; sys.exit(main({argv!r}))"
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, cwd=cwd)
    deadline = time.monotonic() + 120
    while _count(store, kind) < count and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, "the child ended before it could be stopped"
    child.send_signal(sig)
    _, err = child.communicate(timeout=120)
    assert child.returncode in (-signal.SIGKILL, 128 + signal.SIGTERM), err
    with sqlite3.connect(store) as db:
        ((uid,),) = db.execute("SELECT uid FROM runs").fetchall()
    return uid


def _assert_same_curves(folder: Path, epochs: int) -> None:
    """The stopped-and-resumed run's learning curve (folder/cut) equals the unbroken one's
    (folder/whole), epoch by epoch, to the last bit."""
    curves = [
        json.loads((folder / run / "summary.json").read_text())["runs"][0]["curves"]
        for run in ("whole", "cut")
    ]
    whole, cut = curves
    assert len(cut) == len(whole) == epochs
    for w, c in zip(whole, cut, strict=True):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert c[key] == w[key], (key, w["epoch"])


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


# (bench, shape, window, max_pairs, pairs recorded before the stop). On the virtual bench the
# chip lives behind the instruments, and the resumed run's bench takes its state back through the
# launcher's side channel.
SEARCHES = {
    "sim": ("sim", "2x2", 50, 700, 200),
    "virtual": pytest.param(("virtual", "4x4", 25, 150, 50), marks=pytest.mark.slow),
}


@pytest.mark.parametrize("search", SEARCHES.values(), ids=SEARCHES.keys())
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_resumed_symmetry_search_ends_bit_identical_to_an_unbroken_one(in_tmp: Path, search, sig) -> None:
    bench, shape, window, max_pairs, count = search
    argv = ["run", "symmetry-point", "--bench", bench, "--shape", shape, "--window", str(window),
            "--max-pairs", str(max_pairs), "--tolerance", "1e-15", "--no-progress"]  # fmt: skip
    assert main([*argv, "--store", "whole.sqlite", "--out", "whole"]) == 0
    store = in_tmp / "s.sqlite"
    uid = _stopped(
        [*argv, "--store", str(store), "--out", "cut"], in_tmp, store, kind="pair", count=count, sig=sig
    )
    assert count <= _count(store, "pair") < max_pairs
    assert main(["run", "symmetry-point", "--resume", uid, "--store", str(store), "--no-progress"]) == 0
    whole = json.loads((in_tmp / "whole" / "summary.json").read_text())["per_device"]
    cut = json.loads((in_tmp / "cut" / "summary.json").read_text())["per_device"]
    assert cut == whole  # every estimate, standard error and step to the last bit
    with RunStore(store) as s:
        (resume,) = [p for p in s.points(uid) if p.kind == "resume"]
    assert resume.scalars == {"chip_restored": True}


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_resumed_training_ends_bit_identical_to_an_unbroken_one(in_tmp: Path, sig) -> None:
    argv = ["train", "--algorithm", "shd", "--epochs", "3", "--no-progress"]
    assert main([*argv, "--store", "whole.sqlite", "--out", "whole"]) == 0
    store = in_tmp / "s.sqlite"
    # Epoch points 0 and 1 stored: the stop falls in epoch 2 (SIGKILL: resumed from the end of
    # epoch 1; SIGTERM: from the checkpoint written on the way out, mid-epoch).
    uid = _stopped(
        [*argv, "--store", str(store), "--out", "cut"], in_tmp, store, kind="epoch", count=2, sig=sig
    )
    assert _count(store, "epoch") < 4
    assert main(["train", "--resume", uid, "--store", str(store), "--no-progress"]) == 0
    _assert_same_curves(in_tmp, epochs=4)


# The child stops itself when epoch 2's test-set evaluation starts, after the training-set
# evaluation of that epoch has taken its reads: the run keeps the checkpoint taken before the
# evaluation, and the resumed run evaluates epoch 2 again on the chip as it stood then.
_STOP_INSIDE_EVALUATION = """import os, signal
import protocols.training.loop as loop
_evaluate, _calls = loop.evaluate, []
def _stopping(*args):
    _calls.append(1)
    if len(_calls) == 6:
        os.kill(os.getpid(), signal.SIGTERM)
    return _evaluate(*args)
loop.evaluate = _stopping
"""


@pytest.mark.slow
def test_a_run_stopped_inside_an_evaluation_resumes_bit_identical(in_tmp: Path) -> None:
    argv = ["train", "--algorithm", "shd", "--epochs", "3", "--no-progress"]
    assert main([*argv, "--store", "whole.sqlite", "--out", "whole"]) == 0
    store = in_tmp / "s.sqlite"
    cut = [*argv, "--store", str(store), "--out", "cut"]
    code = f"{_STOP_INSIDE_EVALUATION}import sys; from hil.cli import main; sys.exit(main({cut!r}))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=in_tmp)
    assert child.returncode == 128 + signal.SIGTERM, child.stderr
    assert _count(store, "epoch") == 2  # epochs 0 and 1; epoch 2 was being evaluated
    with sqlite3.connect(store) as db:
        ((uid,),) = db.execute("SELECT uid FROM runs").fetchall()
    assert main(["train", "--resume", uid, "--store", str(store), "--no-progress"]) == 0
    _assert_same_curves(in_tmp, epochs=4)


@pytest.mark.parametrize("sig", [signal.SIGKILL])
def test_a_resumed_jump_table_continues_on_the_chip_it_left(in_tmp: Path, sig) -> None:
    """The resumed run reads the devices once more before its next pulse (a real chip may have
    relaxed meanwhile), so the reads after the stop take other read-noise draws; the devices'
    states, driven by the pulses' own random stream, are those of the unbroken run: every read
    within 6 standard deviations of the read noise of the unbroken run's read (two reads differ
    by sqrt(2) sigma_r), where a fresh chip would sit microsiemens away."""
    argv = ["run", "jump-table", "--bench", "sim", "--shape", "1x2", "--devices", "2", "--cycles", "2",
            "--train", "100", "--trains", "off", "--no-progress"]  # fmt: skip
    assert main([*argv, "--store", "whole.sqlite", "--out", "whole"]) == 0
    store = in_tmp / "s.sqlite"
    uid = _stopped(
        [*argv, "--store", str(store), "--out", "cut"], in_tmp, store, kind="jump", count=150, sig=sig
    )
    stopped = _count(store, "jump")
    assert main(["run", "jump-table", "--resume", uid, "--store", str(store), "--no-progress"]) == 0
    whole, cut = _jump_reads(in_tmp / "whole.sqlite"), _jump_reads(store)
    assert whole.shape == cut.shape == (400, 2)
    np.testing.assert_array_equal(cut[:stopped], whole[:stopped])
    sigma_r = json.loads((in_tmp / "whole" / "summary.json").read_text())["read_noise_S"]["from_steps"]
    assert np.max(np.abs(cut[stopped:] - whole[stopped:])) < 6 * np.sqrt(2) * sigma_r


def _jump_reads(store: Path) -> np.ndarray:
    """(pulses, devices) the read after every pulse of the store's one jump-table run, siemens."""
    with RunStore(store) as s:
        (info,) = s.runs()
        return np.array([p.arrays["g"] for p in s.points(info.id, "jump")])


def test_learning_curves_mark_where_a_run_was_resumed() -> None:
    from hil.recording import Point
    from protocols.training.checkpoints import ResumeMark, resume_marks
    from protocols.training.plots import learning_curves_figure
    from protocols.training.result import EpochRecord, TrainingResult

    def epoch(seq: int, algorithm: str, k: int) -> Point:
        record = {"epoch": k, "train_loss": 1.0 / (k + 1), "train_accuracy": 0.5, "test_loss": 1.0 / (k + 1),
                  "test_accuracy": 0.5, "running_loss": None, "seconds": 0.1}  # fmt: skip
        return Point(seq, "epoch", k, 0.0, {"algorithm": algorithm, **record}, {})

    def resume(seq: int, restored: bool) -> Point:
        return Point(seq, "resume", None, 0.0, {"chip_restored": restored}, {})

    points = [epoch(0, "shd", 0), epoch(1, "shd", 1), resume(2, True), epoch(3, "shd", 2), epoch(4, "sgd", 0),
              resume(5, False)]  # fmt: skip
    marks = resume_marks(points)
    assert marks == {"shd": [ResumeMark(1, True)], "sgd": [ResumeMark(0, False)]}
    result = TrainingResult("shd", "SHD", {"name": "iris", "n_test": 38}, {"sizes": [4, 3]}, {"epochs": 2})
    result.epochs[:] = [EpochRecord(k, 1.0, 0.5, 1.0, 0.5, None, 0.1) for k in range(3)]
    fig = learning_curves_figure([result], resumed={"shd": marks["shd"]})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "stopped and resumed after this epoch (chip restored)" in labels
    assert any(line.get_xdata()[0] == 1 for line in fig.axes[0].get_lines() if line.get_linestyle() != "-")


# ---------------------------------------------------------------------- the virtual bench
def _exercise_bench(bench: Bench) -> tuple[np.ndarray, np.ndarray]:
    """Pulses and a stochastic update through the instruments, then a read: (reads, reads)."""
    a = bench.array("A_main", (4, 4))
    rng = np.random.default_rng(0)
    a.apply_pulses(rng.integers(-2, 3, a.shape), bench.nominal_pulse)
    first = a.read()
    a.stochastic_update(rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 4), 7, bench.nominal_pulse)
    return first, a.read()


def test_the_virtual_bench_keeps_its_chip_and_bit_streams_through_a_side_channel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The chip behind the virtual instruments and the controller's bit streams are taken and
    put back without a message to any instrument; a bench restored from them continues read for
    read as the one they were taken from, where one of another seed does not."""
    from hil.benches import open_bench

    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path))
    with open_bench("virtual", seed=0) as first:
        _exercise_bench(first)
        sent = {role: dict(n) for role, n in first.transactions().items()}
        state = first.chip_state()
        assert first.transactions() == sent  # no message went to an instrument
        expected = _exercise_bench(first)
    assert state is not None
    with open_bench("virtual", seed=5) as other:
        other.restore_chip_state(state)  # before the array is asked for: its bit stream waits
        got = _exercise_bench(other)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)
    with open_bench("virtual", seed=5) as fresh:
        assert not np.array_equal(_exercise_bench(fresh)[1], expected[1])
        wrong = SimulatedChip(seed=0)
        wrong.array("A_main", (2, 2))
        with pytest.raises(SnapshotError, match="was \\(2, 2\\)"):
            fresh.restore_chip_state(wrong.chip_state())
        stranger = SimulatedChip(seed=0)
        stranger.array("B", (1, 1))
        with pytest.raises(SnapshotError, match="no simulated array 'B'"):
            fresh.restore_chip_state(stranger.chip_state())


TINY_IRIS = 12, 9  # training and test samples of the tiny training on the virtual bench


def shrink_iris() -> None:
    """Make hil train's data set its first TINY_IRIS samples (the virtual bench reads every
    device of a VMM through its instruments: a whole epoch of Iris takes a minute)."""
    import dataclasses

    import protocols.training as training

    full = training.load_dataset

    def tiny(*args, **kwargs):
        data = full(*args, **kwargs)
        (n, m) = TINY_IRIS
        return dataclasses.replace(
            data,
            x_train=data.x_train[:n],
            y_train=data.y_train[:n],
            x_test=data.x_test[:m],
            y_test=data.y_test[:m],
        )

    training.load_dataset = tiny


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_resumed_training_on_the_virtual_bench_ends_bit_identical(
    in_tmp: Path, sig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Analog SGD on a tiny Iris through the virtual instruments: the chip and the controller's
    bit streams come back on resume, and every epoch's loss and accuracy match the unbroken run."""
    monkeypatch.setattr(
        "protocols.training.load_dataset", __import__("protocols.training").training.load_dataset
    )
    shrink_iris()
    argv = ["train", "--bench", "virtual", "--algorithm", "sgd", "--hidden", "0",
            "--sgd-reference", "midrange", "--cal-window", "10", "--cal-max-pairs", "20",
            "--epochs", "3", "--no-progress"]  # fmt: skip
    assert main([*argv, "--store", "whole.sqlite", "--out", "whole"]) == 0
    store = in_tmp / "s.sqlite"
    root = str(Path(__file__).resolve().parents[2])
    prelude = (
        f"import sys; sys.path.insert(0, {root!r}); "
        "from tests.hil.test_chip_resume import shrink_iris; shrink_iris(); "
    )
    uid = _stopped(
        [*argv, "--store", str(store), "--out", "cut"],
        in_tmp,
        store,
        kind="epoch",
        count=2,
        sig=sig,
        prelude=prelude,
    )
    assert _count(store, "epoch") < 4
    assert main(["train", "--resume", uid, "--store", str(store), "--no-progress"]) == 0
    _assert_same_curves(in_tmp, epochs=4)
    with RunStore(store) as s:
        assert [p.scalars for p in s.points(uid) if p.kind == "resume"] == [{"chip_restored": True}]
