"""`--bench virtual`, bench files and `hil bench up|check` on the command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from hil.cli import main


def test_symmetry_point_on_the_virtual_bench_records_its_instrument_transactions(tmp_path: Path) -> None:
    out = tmp_path / "sym"
    store = str(tmp_path / "r.sqlite")
    argv = ["run", "symmetry-point", "--bench", "virtual", "--shape", "4x4", "--max-pairs", "20",
            "--window", "10", "--out", str(out), "--store", store, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    counts = summary["instrument_transactions"]
    assert set(counts) == {"total", "smu", "pulser", "matrix", "per_step"}
    pairs = summary["pairs_used"]
    per_pair = round(counts["total"] / pairs, 2)
    assert counts["per_step"] == {"step": "pair", "steps": pairs, "transactions": per_pair}
    # Every device is read after every pulse: at least one SMU query per device read.
    device_reads = 16 * (1 + 2 * summary["pairs_used"])
    assert counts["smu"]["queries"] >= device_reads
    assert counts["total"] == sum(n for role in ("smu", "pulser", "matrix") for n in counts[role].values())
    assert summary["bench"]["instruments"]["smu"]["identity"].startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
    assert summary["pulse"] == {"amplitude_V": 4.75, "width_s": 2e-8}


def test_bench_check_virtual_passes_every_row(capsys) -> None:
    assert main(["bench", "check", "virtual"]) == 0
    out = capsys.readouterr().out
    assert "identity (*IDN?)" in out and "FAIL" not in out
    # The virtual instruments start in a randomised state: every setting changed is a row.
    assert "known state: trigger slope" in out and "found POS, set to NEG (read back)" in out
    assert "known state: measure function" in out
    assert "scan handshake" in out and "gate load" in out


def test_bench_up_serves_a_live_bench_file_that_check_and_runs_use(tmp_path: Path) -> None:
    live = tmp_path / "live.toml"
    code = f"import sys; from hil.cli import main; sys.exit(main(['bench', 'up', '--write', {str(live)!r}]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not live.exists() and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live.exists(), server.stderr.read() if server.poll() is not None else "no bench file"
        assert main(["bench", "check", str(live)]) == 0
        out = tmp_path / "jt"
        argv = ["run", "jump-table", "--bench", str(live), "--g-range", "1e-6,20e-6", "--shape", "4x4",
                "--devices", "1", "--cycles", "1", "--train", "20", "--amplitude", "4.75", "--width", "2e-8",
                "--out", str(out), "--store", str(tmp_path / "r.sqlite"), "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        assert json.loads((out / "summary.json").read_text())["n_pulses_per_device"] == 40
    finally:
        server.send_signal(signal.SIGINT)
        stdout, _ = server.communicate(timeout=30)
    assert server.returncode == 0
    assert "virtual bench stopped" in stdout


# Once the bench file exists, a thread of the server's own process takes a Ctrl-C: the kernel
# may deliver a signal to any thread, and the server must stop whichever one receives it.
_CTRL_C_TO_ANOTHER_THREAD = """import os, signal, threading, time
def _interrupt(path):
    while not os.path.exists(path):
        time.sleep(0.05)
    time.sleep(0.5)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
threading.Thread(target=_interrupt, args=({live!r},), daemon=True).start()
"""


def test_bench_up_stops_on_a_ctrl_c_that_another_thread_received(tmp_path: Path) -> None:
    live = str(tmp_path / "live.toml")
    prelude = _CTRL_C_TO_ANOTHER_THREAD.format(live=live)
    code = (
        f"{prelude}import sys; from hil.cli import main; sys.exit(main(['bench', 'up', '--write', {live!r}]))"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        raise AssertionError("hil bench up did not stop on a Ctrl-C received by another thread") from None
    assert server.returncode == 0, stderr
    assert stdout.rstrip().endswith("virtual bench stopped")


def test_bench_file_problems_are_named(tmp_path: Path, capsys) -> None:
    base = ["run", "symmetry-point", "--store", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "s")]
    assert main([*base, "--bench", "lab.yaml"]) == 2
    assert "--bench takes sim, virtual or a bench file" in capsys.readouterr().err
    assert main([*base, "--bench", str(tmp_path / "missing.toml")]) == 2
    assert "no bench file" in capsys.readouterr().err
    bench_file = tmp_path / "bench.toml"
    bench_file.write_text("[bench]\nname = 'x'\n")
    assert main([*base, "--bench", str(bench_file)]) == 2
    assert "--g-range GMIN,GMAX" in capsys.readouterr().err


def test_a_virtual_bench_jump_table_costs_under_one_transaction_per_pulse_read_cycle(tmp_path: Path) -> None:
    """By instrument trains (the default where the bench has the trigger cable): pulse by pulse,
    a cycle is at least two round trips (a pulse write and a read query)."""
    out = tmp_path / "jt"
    store = str(tmp_path / "r.sqlite")
    argv = ["run", "jump-table", "--bench", "virtual", "--devices", "2", "--cycles", "1", "--train", "50",
            "--bins", "4", "--out", str(out), "--store", store, "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    per_step = json.loads((out / "summary.json").read_text())["instrument_transactions"]["per_step"]
    assert per_step["step"] == "pulse-read cycle" and per_step["steps"] == 2 * 100
    assert per_step["transactions"] < 1.0


def test_bench_up_refuses_a_negative_time_scale_before_serving(tmp_path: Path, capsys) -> None:
    live = tmp_path / "live.toml"
    assert main(["bench", "up", "--write", str(live), "--time-scale", "-1"]) == 2
    assert "--time-scale must be a finite number >= 0, got -1.0" in capsys.readouterr().err
    assert not live.exists()
