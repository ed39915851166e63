"""The `hil` command line on the simulator: what it writes, stores and says about bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from hil.cli import build_parser, main
from hil.cli.demo import demo_steps, step_arguments


def run(argv: list[str], tmp_path: Path) -> int:
    return main([*argv, "--store", str(tmp_path / "runs.sqlite"), "--no-progress"])


def test_train_fp_and_shd_writes_summary_figure_and_stores_every_epoch(tmp_path: Path, capsys) -> None:
    out = tmp_path / "train"
    argv = ["train", "--algorithm", "shd,fp", "--dataset", "iris", "--epochs", "2", "--out", str(out)]
    assert run(argv, tmp_path) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [row["algorithm"] for row in summary["table"]] == ["shd", "fp"]
    assert (out / "learning_curves.png").stat().st_size > 10_000
    assert summary["bench"]["seed"] == 0
    # epochs 0..2 of each algorithm, each committed as a point of the run
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        kinds = db.execute("SELECT kind, COUNT(*) FROM points GROUP BY kind").fetchall()
        status = db.execute("SELECT status FROM runs").fetchall()
    assert dict(kinds)["epoch"] == 6
    assert status == [("completed",)]
    assert "test accuracy" in capsys.readouterr().out


def test_symmetry_point_reports_convergence_with_the_default_window(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sym"
    assert run(["run", "symmetry-point", "--shape", "2x2", "--out", str(out)], tmp_path) == 0
    summary = json.loads((out / "summary.json").read_text())
    # Automatic sampling makes the window several relaxation times long (~220 pairs on the
    # preset), so every responsive device can pass the drift test within the default budget.
    assert summary["n_converged"] == summary["n_devices"] - summary["n_unresponsive"]
    assert "devices converged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--algorithm", "adam"], "unknown algorithm adam"),
        (["train", "--algorithm", "shd,shd"], "named twice"),
        (["train", "--hidden", "8,x"], "hidden widths look like"),
        (["run", "symmetry-point", "--shape", "4by4"], "shape must look like 8x8"),
        (["run", "jump-table", "--window", "5"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_values_found_after_parsing_exit_2_without_a_traceback(tmp_path: Path, capsys) -> None:
    argv = ["run", "jump-table", "--shape", "2x2", "--devices", "5", "--out", str(tmp_path / "j")]
    assert run(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert "--devices 5 exceeds the 2 x 2 array" in err
    assert "Traceback" not in err


def test_unknown_preset_names_the_choices(tmp_path: Path, capsys) -> None:
    argv = ["run", "symmetry-point", "--preset", "nope", "--out", str(tmp_path / "s")]
    assert run(argv, tmp_path) == 2
    assert "protonic-asymmetric" in capsys.readouterr().err


def test_fit_turns_a_stored_jump_table_run_into_a_preset_the_simulator_runs(tmp_path: Path) -> None:
    jumps = ["run", "jump-table", "--shape", "1x2", "--devices", "2", "--cycles", "2", "--train", "300"]
    assert run([*jumps, "--out", str(tmp_path / "jt")], tmp_path) == 0
    fit_out = tmp_path / "fit"
    assert main(["fit", "1", "--store", str(tmp_path / "runs.sqlite"), "--out", str(fit_out)]) == 0
    preset = fit_out / "preset.toml"
    summary = json.loads((fit_out / "summary.json").read_text())
    assert summary["model"] in ("soft-bounds", "linear-step", "power-step")
    # The fitted population is a preset like any other: a symmetry point runs on it.
    argv = ["run", "symmetry-point", "--shape", "1x2", "--preset", str(preset), "--out", str(tmp_path / "s")]
    assert run(argv, tmp_path) == 0


def test_fit_refuses_a_run_that_is_not_a_jump_table(tmp_path: Path, capsys) -> None:
    argv = ["run", "symmetry-point", "--shape", "1x1", "--max-pairs", "300", "--window", "100"]
    assert run([*argv, "--out", str(tmp_path / "s")], tmp_path) == 0
    assert main(["fit", "1", "--store", str(tmp_path / "runs.sqlite")]) == 2
    assert "fit a jump-table run" in capsys.readouterr().err


def test_sigterm_aborts_a_jump_table_and_resume_completes_it_without_repeating_pulses(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "runs.sqlite"
    argv = ["run", "jump-table", "--shape", "1x2", "--devices", "2", "--cycles", "2", "--train", "400",
            "--out", str(tmp_path / "jt"), "--store", str(store), "--no-progress"]  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-c", f"import sys; from hil.cli import main; sys.exit(main({argv!r}))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def jumps() -> int:
        if not store.exists():
            return 0
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            try:
                return db.execute("SELECT COUNT(*) FROM points WHERE kind='jump'").fetchone()[0]
            except sqlite3.OperationalError:  # tables not created yet
                return 0

    deadline = time.monotonic() + 60
    while jumps() < 100 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    with sqlite3.connect(store) as db:
        (uid,) = db.execute("SELECT uid FROM runs").fetchone()
    # The exact command that continues the run, and where it stands.
    assert f"continue it with: hil run jump-table --resume {uid} --store {store}" in err
    assert f"kept: run {uid}" in err and "the bench was closed and left safe" in err
    done_before = jumps()
    assert 100 <= done_before < 1600

    assert main(["run", "jump-table", "--resume", "1", "--store", str(store), "--no-progress"]) == 0
    # 2 cycles x (400 up + 400 down) pulses, each recorded once: none repeated, none missing.
    with sqlite3.connect(store) as db:
        steps = [s for (s,) in db.execute("SELECT step FROM points WHERE kind='jump' ORDER BY seq")]
        status = db.execute("SELECT status FROM runs").fetchall()
    assert steps == list(range(1, 1601))
    assert status == [("completed",)]
    assert json.loads((tmp_path / "jt" / "summary.json").read_text())["n_pulses_per_device"] == 1600


def test_runs_plot_regenerates_the_live_figures_from_the_store_alone(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sym"
    argv = [
        "run",
        "symmetry-point",
        "--shape",
        "2x2",
        "--max-pairs",
        "300",
        "--window",
        "100",
        "--out",
        str(out),
    ]
    assert run(argv, tmp_path) == 0
    replot = tmp_path / "replot"
    assert main(["runs", "plot", "1", "--store", str(tmp_path / "runs.sqlite"), "--out", str(replot)]) == 0
    live = sorted(p.name for p in out.glob("*.png"))
    assert live and sorted(p.name for p in replot.glob("*.png")) == live
    for name in live:
        assert (replot / name).read_bytes() == (out / name).read_bytes(), name


def test_jump_table_trains_on_records_one_point_per_train_and_says_so(tmp_path: Path, capsys) -> None:
    argv = ["run", "jump-table", "--shape", "1x2", "--devices", "2", "--cycles", "2", "--train", "20",
            "--bins", "5", "--trains", "on", "--out", str(tmp_path / "jt")]  # fmt: skip
    assert run(argv, tmp_path) == 0
    assert "trains on: one device after another" in capsys.readouterr().out
    summary = json.loads((tmp_path / "jt" / "summary.json").read_text())
    assert summary["parameters"]["trains"] is True and summary["n_pulses_per_device"] == 80
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM points GROUP BY kind").fetchall())
        params = json.loads(db.execute("SELECT params FROM runs").fetchone()[0])
    assert kinds == {"jump_start": 1, "jump_train": 2 * 2 * 2}  # cycles x devices x (up, down)
    assert params["cli"]["trains"] == "on"  # a resume repeats it


def test_jump_table_trains_takes_auto_on_or_off(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "jump-table", "--trains", "yes"])
    assert exc.value.code == 2
    assert "invalid choice: 'yes'" in capsys.readouterr().err


@pytest.mark.parametrize("bench", ["sim", "virtual"])
def test_every_demo_step_gets_every_option_its_own_command_has(bench: str) -> None:
    """The demo calls the commands with namespaces it builds itself: an option added to a
    command must reach them too, or the demo fails only when it runs that step."""
    parser = build_parser()
    commands = {"symmetry-point": ["run", "symmetry-point"], "jump-table": ["run", "jump-table"],
                "train-iris": ["train"]}  # fmt: skip
    demo = parser.parse_args(["demo", "--bench", bench])
    steps = demo_steps(bench)
    assert [name for name, _, _ in steps] == list(commands)
    for name, _, extra in steps:
        given = vars(step_arguments(demo, name, extra))
        # "protocol" names the `hil run` subcommand; the command functions do not read it.
        missing = set(vars(parser.parse_args(commands[name]))) - {*given, "protocol"}
        assert not missing, f"the demo's {name} step lacks {sorted(missing)}"
