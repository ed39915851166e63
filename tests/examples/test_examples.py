"""The example scripts run as a user would run them, from a fresh working directory."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_training_example_trains_both_and_writes_the_curves(tmp_path: Path) -> None:
    out = run_example("train_on_simulator.py", "--epochs", "1", "--out", "curves", cwd=tmp_path)
    assert "SHD" in out and "FP (float64)" in out
    assert (tmp_path / "curves" / "learning_curves.png").stat().st_size > 10_000


def test_jump_table_example_measures_copies_and_plots(tmp_path: Path) -> None:
    out = run_example("compare_jump_table_with_model.py", cwd=tmp_path)
    assert "measured a simulated" in out
    assert (tmp_path / "runs" / "example-jump-table" / "table_vs_model.png").stat().st_size > 10_000


def test_scripted_protocol_runs_on_the_virtual_bench_and_stores_its_run(tmp_path: Path) -> None:
    out = run_example("scripted_protocol_on_bench.py", "--pairs", "30", "--store", "r.sqlite", cwd=tmp_path)
    assert "devices converged" in out and "device (3, 3): G_sym" in out
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("completed",)]
        assert db.execute("SELECT COUNT(*) FROM points WHERE kind='pair'").fetchone()[0] == 30


@pytest.mark.slow
def test_table_twin_fidelity_example_reports_both_tables(tmp_path: Path) -> None:
    out = run_example(
        "table_twin_fidelity.py", "--seeds", "1", "--devices", "2", "--twins", "2", "--cycles", "2",
        "--pairs", "1500", "--window", "300", "--json", "rows.json", cwd=tmp_path,
    )  # fmt: skip
    assert "raw table:" in out and "deconvolved table:" in out and "wander" in out
    assert (tmp_path / "rows.json").stat().st_size > 100
