"""Runs are addressed by id from their first line, never overwrite each other, leave nothing
behind when refused, and every ending has plain words and its documented exit status."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

import drivers.retry
import hil.benches
import hil.cli.common
import hil.cli.measure
from drivers.bench import HardwareBench
from drivers.registry import known_drivers
from hil.benchconfig import BenchConfig, load_bench_config
from hil.cli import main
from hil.cli.benches import _set_address
from hil.faults import ExitStatus, InstrumentFault
from hil.store import RunStore
from simulators.virtual.launch import DEFAULT_CONFIG, virtual_bench

QUICK = ["--bench", "sim", "--shape", "2x2", "--window", "20", "--max-pairs", "60", "--no-progress"]


def _runs(store: Path) -> list[tuple[str, str, str | None]]:
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        return db.execute("SELECT uid, status, out_dir FROM runs ORDER BY id").fetchall()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def test_each_run_names_itself_first_and_gets_its_own_folder(in_tmp: Path, capsys) -> None:
    for _ in range(2):
        assert main(["run", "symmetry-point", *QUICK]) == 0
    out = capsys.readouterr().out.splitlines()
    runs = _runs(in_tmp / "runs/hil-runs.sqlite")
    assert [status for _, status, _ in runs] == ["completed", "completed"]
    for uid, _, out_dir in runs:
        assert out_dir == f"runs/symmetry-point/{uid}"
        assert json.loads((in_tmp / out_dir / "summary.json").read_text())["run"] == uid
    starts = [n for n, line in enumerate(out) if line.startswith("run ") and ": symmetry-point, out" in line]
    finishes = [n for n, line in enumerate(out) if "wrote" in line and "summary.json" in line]
    assert len(starts) == 2 and all(s < f for s, f in zip(starts, finishes, strict=True))


def test_an_unwritable_out_is_refused_before_a_run_exists(in_tmp: Path, capsys) -> None:
    (in_tmp / "a-file").write_text("not a folder")
    store = in_tmp / "s.sqlite"
    status = main(["run", "symmetry-point", *QUICK, "--out", "a-file/results", "--store", str(store)])
    assert status == ExitStatus.USAGE
    assert "cannot write to --out a-file/results" in capsys.readouterr().err
    assert _runs(store) == []


def test_a_refused_setting_leaves_no_run_behind(in_tmp: Path, capsys) -> None:
    store = in_tmp / "s.sqlite"
    argv = ["run", "symmetry-point", "--shape", "2x2", "--window", "50", "--max-pairs", "60"]
    assert main([*argv, "--store", str(store)]) == ExitStatus.USAGE
    assert "max_pairs (60) must allow two windows of 50 pairs" in capsys.readouterr().err
    jump = ["run", "jump-table", "--bench", "sim", "--shape", "2x2", "--amplitude", "50", "--width", "5e-9"]
    assert main([*jump, "--store", str(store)]) == ExitStatus.USAGE
    assert "50 V" in capsys.readouterr().err
    train = ["train", "--algorithm", "shd", "--dataset", "iris", "--amplitude", "50", "--width", "5e-9"]
    assert main([*train, "--store", str(store)]) == ExitStatus.USAGE
    assert "50 V" in capsys.readouterr().err
    assert _runs(store) == []


def test_a_shape_or_seed_beyond_reach_is_refused_in_plain_words(in_tmp: Path, capsys) -> None:
    store = in_tmp / "s.sqlite"
    assert main(["run", "symmetry-point", "--shape", "100000x100000", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "100000 x 100000 array needs about 1.46 TiB" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as refused:
        main(["run", "symmetry-point", "--seed", "12345678901234567890123"])
    assert refused.value.code == 2
    assert "a seed is a whole number from 0 to 9223372036854775807 (2**63 - 1)" in capsys.readouterr().err
    assert _runs(store) == []


def test_a_symmetry_point_stopped_by_sigterm_resumes_with_the_printed_command(in_tmp: Path) -> None:
    store = in_tmp / "s.sqlite"
    argv = ["run", "symmetry-point", "--bench", "sim", "--shape", "2x2", "--window", "200", "--max-pairs",
            "100000", "--tolerance", "1e-15", "--store", str(store), "--no-progress"]  # fmt: skip
    code = f"import sys; from hil.cli import main; sys.exit(main({argv!r}))"
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, cwd=in_tmp)
    deadline = time.monotonic() + 60
    while _pairs(store) < 300 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    ((uid, status, out_dir),) = _runs(store)
    assert status == "aborted"
    resume = f"hil run symmetry-point --resume {uid} --store {store}"
    assert f"continue it with: {resume}" in err

    # The printed command, with a new output folder and a budget that ends it soon.
    new_out = in_tmp / "moved"
    args = [*resume.split()[1:], "--out", str(new_out), "--no-progress"]
    stopped_at = _pairs(store)
    assert main(args) == 0
    ((_, status, out_dir),) = _runs(store)
    assert status == "completed" and out_dir == str(new_out)
    summary = json.loads((new_out / "summary.json").read_text())
    assert summary["run"] == uid and summary["pairs_used"] > stopped_at
    with sqlite3.connect(store) as db:
        steps = [s for (s,) in db.execute("SELECT step FROM points WHERE kind='pair' ORDER BY seq")]
    assert steps == list(range(1, summary["pairs_used"] + 1))  # each pair once, none missing


def _pairs(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM points WHERE kind='pair'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (RuntimeError("boom"), ExitStatus.INTERNAL, "internal error: boom"),
        (InstrumentFault("the smu went silent"), ExitStatus.INSTRUMENT, "instrument fault: the smu"),
    ],
)
def test_a_fault_mid_run_keeps_the_run_and_says_how_to_go_on(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys, error: Exception, status: int, words: str
) -> None:
    import protocols.symmetry

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(protocols.symmetry, "find_symmetry_point", fail)
    assert main(["run", "symmetry-point", *QUICK]) == status
    err = capsys.readouterr().err
    ((uid, stored, _),) = _runs(in_tmp / "runs/hil-runs.sqlite")
    assert stored == "failed"
    assert words in err and "Traceback" not in err
    assert f"kept: run {uid}" in err
    assert "the bench was closed and left safe" in err
    assert f"continue it with: hil run symmetry-point --resume {uid}" in err
    assert ("--debug" in err) == (status == ExitStatus.INTERNAL)


def test_broken_run_stores_end_with_status_5_and_a_readonly_one_lists(in_tmp: Path, capsys) -> None:
    (in_tmp / "junk.sqlite").write_text("not a database" * 100)
    assert main(["runs", "list", "--store", "junk.sqlite"]) == ExitStatus.STORE
    assert "not a SQLite database, or it is damaged" in capsys.readouterr().err
    (in_tmp / "folder.sqlite").mkdir()
    assert main(["run", "symmetry-point", *QUICK, "--store", "folder.sqlite"]) == ExitStatus.STORE
    assert "is a folder, not a file" in capsys.readouterr().err

    assert main(["run", "symmetry-point", *QUICK, "--store", "good.sqlite"]) == 0
    capsys.readouterr()
    os.chmod(in_tmp / "good.sqlite", 0o444)
    assert main(["runs", "list", "--store", "good.sqlite"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["id", "uid", "protocol", "bench", "status", "points", "started",
                                  "duration", "output"]  # fmt: skip
    row = listing[1].split()
    assert row[2:5] == ["symmetry-point", "sim", "completed"] and row[-1].startswith("runs/symmetry-point/")


def _live_bench_file(live: BenchConfig, folder: Path) -> Path:
    """The shipped virtual bench's file with the running instruments' addresses, as `hil bench up`
    writes it."""
    text = DEFAULT_CONFIG.read_text()
    for role, instrument in live.instruments.items():
        text = _set_address(text, role, instrument.address)
    path = folder / "live.toml"
    path.write_text(text)
    return path


def test_a_bench_in_use_is_refused_with_status_6_and_leaves_no_run(in_tmp: Path, capsys) -> None:
    with virtual_bench(DEFAULT_CONFIG, seed=0) as (vb, live):
        bench_file = _live_bench_file(live, in_tmp)
        config = load_bench_config(bench_file, known_drivers())
        store = in_tmp / "s.sqlite"
        with HardwareBench(config, conductance_range=vb.conductance_range):
            assert main(["bench", "check", str(bench_file)]) == ExitStatus.BENCH_IN_USE
            err = capsys.readouterr().err
            assert "bench in use: bench 'virtual-bench' is in use" in err and f"pid {os.getpid()}" in err
            argv = ["run", "symmetry-point", "--bench", str(bench_file), "--g-range", "1e-6,20e-6",
                    "--amplitude", "4.75", "--width", "2e-8", "--store", str(store)]  # fmt: skip
            assert main(argv) == ExitStatus.BENCH_IN_USE
            assert "Nothing was sent to any instrument" in capsys.readouterr().err
        assert _runs(store) == []
        assert main(["bench", "check", str(bench_file)]) == 0


def test_two_hil_processes_on_one_bench_file_the_second_is_refused(in_tmp: Path, capsys) -> None:
    """The reported case: a jump table runs, a symmetry point is started on the same bench file."""
    with virtual_bench(DEFAULT_CONFIG, seed=0) as (_, live):
        bench_file = _live_bench_file(live, in_tmp)
        common = ["--bench", str(bench_file), "--g-range", "1e-6,20e-6", "--amplitude", "4.75", "--width",
                  "2e-8", "--no-progress"]  # fmt: skip
        first = ["run", "jump-table", *common, "--trains", "off", "--devices", "2", "--cycles", "2",
                 "--train", "150", "--store", str(in_tmp / "first.sqlite"), "--out", "jt"]  # fmt: skip
        env = {**os.environ, "PYVISA_LIBRARY": "@py"}
        hil = str(Path(sys.executable).parent / "hil")  # the installed command, as a person runs it
        child = subprocess.Popen([hil, *first], cwd=in_tmp, env=env, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while (
                _points(in_tmp / "first.sqlite") < 20 and child.poll() is None and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert child.poll() is None, "the first run ended before the second started"
            second = ["run", "symmetry-point", *common, "--store", str(in_tmp / "second.sqlite")]
            assert main(second) == ExitStatus.BENCH_IN_USE
            err = capsys.readouterr().err
            assert f"pid {child.pid}" in err and "run 2" in err and "command: hil run jump-table" in err, err
        finally:
            _, child_err = child.communicate(timeout=120)
        assert child.returncode == 0, child_err
    assert _runs(in_tmp / "second.sqlite") == []
    summary = json.loads((in_tmp / "jt" / "summary.json").read_text())
    assert summary["n_pulses_per_device"] == 600


def _points(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_reads_tried_again_are_points_of_the_run(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A garbled reply mid-run on the virtual bench: the read is tried again, the run completes,
    and the retry is a 'retry' point of the run, named in its summary line."""
    monkeypatch.setattr(drivers.retry, "pause", lambda seconds: None)
    opened: list[hil.benches.Bench] = []
    original = hil.benches.open_bench

    def open_and_keep(*args: object, **kwargs: object) -> hil.benches.Bench:
        bench = original(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(bench)
        return bench

    monkeypatch.setattr(hil.cli.common, "open_bench", open_and_keep)
    store = in_tmp / "s.sqlite"

    def garble_after_some_pairs(done: int, total: int) -> None:
        if done == 5:
            opened[0].virtual.smu.faults.garble_next = 1  # type: ignore[attr-defined]

    # The progress callback, called after every pair, garbles the SMU's next reply after pair 5.
    monkeypatch.setattr(hil.cli.measure, "progress_bar", lambda *args: nullcontext(garble_after_some_pairs))
    argv = ["run", "symmetry-point", "--bench", "virtual", "--shape", "4x4", "--window", "10", "--max-pairs",
            "20", "--store", str(store), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    with RunStore(store, read_only=True) as runs:
        (info,) = runs.runs()
        retries = list(runs.points(info.id, kind="retry"))
    assert len(retries) == 1 and retries[0].scalars["fault"] == "unreadable reply"
    assert retries[0].scalars["instrument"] and retries[0].scalars["operation"]
    assert "reads tried again after transient faults: 1 (unreadable reply: 1)" in out
