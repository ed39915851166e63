"""One controller per bench: the instrument locks of hil.benchlock, alone and under HardwareBench.

The two-process cases run real child interpreters: flock is per open file, so only another
process (or another open of the file) shows what a second controller sees, and only a killed
process shows that the kernel frees its locks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.bench import HardwareBench, check_bench
from hil.benchlock import BenchInUseError, BenchLock, holders, instrument_key
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import hardware_bench, one_array_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "locks"
    monkeypatch.setenv("HIL_LOCK_DIR", str(folder))
    monkeypatch.setenv("PYVISA_LIBRARY", "@py")
    return folder


# ---------------------------------------------------------------------- addresses
@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("GPIB::18", "GPIB0::18::INSTR"),
        ("gpib0::18::instr", "GPIB0::18::INSTR"),
        ("USB::0x0957::0x2807::MY123::INSTR", "USB0::0x0957::0x2807::MY123::0::INSTR"),
        ("TCPIP::10.0.0.5::INSTR", "TCPIP0::10.0.0.5::5025::SOCKET"),  # one LAN instrument
        ("TCPIP0::Scope.Lab::inst0::INSTR", "socket://scope.lab:5025"),
        ("TCPIP::127.0.0.1::5025::SOCKET", "socket://127.0.0.1:5025"),
    ],
)
def test_addresses_of_one_instrument_share_a_key(one: str, other: str) -> None:
    assert instrument_key(one) == instrument_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("GPIB0::18::INSTR", "GPIB0::19::INSTR"),
        ("GPIB0::18::INSTR", "GPIB1::18::INSTR"),
        ("TCPIP::127.0.0.1::5025::SOCKET", "TCPIP::127.0.0.1::5026::SOCKET"),  # served locally
        ("TCPIP::10.0.0.5::INSTR", "TCPIP::10.0.0.6::INSTR"),
        ("USB::0x0957::0x2807::MY123::INSTR", "USB::0x0957::0x2807::MY124::INSTR"),
    ],
)
def test_different_instruments_have_different_keys(one: str, other: str) -> None:
    assert instrument_key(one) != instrument_key(other)


def test_a_serial_port_is_keyed_by_its_device_file(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    link = tmp_path / "by-id-relay-board"
    link.symlink_to(device)
    assert instrument_key(str(link)) == instrument_key(str(device)) == f"serial:{device}"
    assert instrument_key("loop://") is None  # an in-process loopback is nobody else's


# ---------------------------------------------------------------------- in one process
def test_a_second_opener_is_refused_with_the_holder_and_gets_the_bench_after_release() -> None:
    first = BenchLock.acquire("bench-a", {"smu": "GPIB0::24::INSTR", "matrix": "GPIB0::16::INSTR"})
    BenchLock.note_run("20261207-120000-abcdef")
    try:
        with pytest.raises(BenchInUseError) as refused:
            BenchLock.acquire("bench-b", {"smu": "GPIB::24"})  # another file, the same SMU
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message
        assert "run 20261207-120000-abcdef" in message
        assert "Nothing was sent" in message
        assert refused.value.holder["bench"] == "bench-a"
        assert [h["pid"] for h in holders()] == [os.getpid(), os.getpid()]
    finally:
        first.release()
        BenchLock.note_run(None)
    BenchLock.acquire("bench-b", {"smu": "GPIB::24"}).release()
    assert list(holders()) == []


def test_a_refusal_takes_no_lock_and_leaves_the_others_free() -> None:
    held = BenchLock.acquire("a", {"pulser": "GPIB0::10::INSTR"})
    try:
        with pytest.raises(BenchInUseError):
            BenchLock.acquire("b", {"smu": "GPIB0::09::INSTR", "pulser": "GPIB0::10::INSTR"})
        BenchLock.acquire("c", {"smu": "GPIB0::09::INSTR"}).release()  # b let its smu go again
    finally:
        held.release()


# ---------------------------------------------------------------------- across processes
_HOLD = """
import json, sys, time
from hil.benchlock import BenchLock
lock = BenchLock.acquire("held-by-child", json.loads(sys.argv[1]))
BenchLock.note_run("child-run-1")
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def child_holding() -> Iterator[subprocess.Popen[str]]:
    addresses = {"smu": "TCPIP0::10.1.2.3::inst0::INSTR", "matrix": "GPIB0::16::INSTR"}
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, json.dumps(addresses)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait(10)


def test_another_process_is_refused_while_the_holder_lives(child_holding: subprocess.Popen[str]) -> None:
    with pytest.raises(BenchInUseError) as refused:
        BenchLock.acquire("mine", {"smu": "TCPIP::10.1.2.3::5025::SOCKET"})
    assert f"pid {child_holding.pid}" in str(refused.value)
    assert "run child-run-1" in str(refused.value)
    assert "-c" in refused.value.holder["command"]


def test_sigkill_frees_the_bench_at_once(child_holding: subprocess.Popen[str]) -> None:
    child_holding.send_signal(signal.SIGKILL)
    child_holding.wait(10)
    BenchLock.acquire("mine", {"smu": "TCPIP::10.1.2.3::INSTR", "matrix": "GPIB::16"}).release()


# ---------------------------------------------------------------------- a real bench
_OPEN_BENCH = """
import dataclasses, json, sys, time
from drivers.bench import HardwareBench, check_bench
from hil.benchlock import BenchInUseError
from tests.backends import one_array_bench
config = one_array_bench((2, 2))
addresses = json.loads(sys.argv[1])
live = {r: dataclasses.replace(i, address=a) for (r, i), a in zip(config.instruments.items(), addresses)}
config = dataclasses.replace(config, instruments=live)
if sys.argv[2] == "hold":
    bench = HardwareBench(config, conductance_range=(1e-6, 20e-6))
    print("held", flush=True)
    time.sleep(120)
try:
    check_bench(config)
except BenchInUseError as exc:
    print("refused:", exc)
    sys.exit(3)
print("checked")
"""


def _settled_transactions(vb: VirtualBench) -> dict[str, int]:
    """Messages each virtual instrument processed, once none has arrived for 0.2 s (a write is
    not acknowledged on the wire, so the last ones may still be in the server's socket)."""
    counts: dict[str, int] = {}
    for _ in range(50):
        seen = {name: inst.transactions for name, inst in vb.instruments.items()}
        if seen == counts:
            return seen
        counts = seen
        time.sleep(0.2)
    raise AssertionError(f"the virtual instruments never went quiet: {counts}")


def _child(config_addresses: list[str], mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _OPEN_BENCH, json.dumps(config_addresses), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_bench_in_use_refuses_a_second_process_which_sends_nothing() -> None:
    config = one_array_bench((2, 2))
    with virtual_bench(config, seed=1) as (vb, live), hardware_bench(vb, live) as bench:
        bench.array("A", (2, 2)).read()
        served = _settled_transactions(vb)
        child = _child([i.address for i in live.instruments.values()], "check")
        out, err = child.communicate(timeout=60)
        assert child.returncode == 3, err
        assert f"pid {os.getpid()}" in out and "virtual-2x2" in out
        # the refused process sent not one message to any instrument
        assert _settled_transactions(vb) == served
    # released on close: the same check now runs
    with virtual_bench(config, seed=1) as (vb, live):
        assert all(row.status == "ok" for row in check_bench(live) if row.check.startswith("identity"))


def test_a_killed_controller_leaves_no_lock_behind() -> None:
    config = one_array_bench((2, 2))
    with virtual_bench(config, seed=1) as (vb, live):
        child = _child([i.address for i in live.instruments.values()], "hold")
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "held"
            with pytest.raises(BenchInUseError, match=f"pid {child.pid}"):
                HardwareBench(live, conductance_range=vb.conductance_range)
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=30)
        with HardwareBench(live, conductance_range=vb.conductance_range) as bench:
            assert bench.array("A", (2, 2)).read().shape == (2, 2)


def test_two_bench_files_naming_one_instrument_collide() -> None:
    config = one_array_bench((2, 2))
    with virtual_bench(config, seed=1) as (vb, live), hardware_bench(vb, live):
        renamed = dataclasses.replace(live, name="another-file")
        with pytest.raises(BenchInUseError, match="another-file"):
            HardwareBench(renamed, conductance_range=vb.conductance_range)


def test_the_lock_lives_exactly_as_long_as_the_bench() -> None:
    config = one_array_bench((2, 2))
    with virtual_bench(config, seed=1) as (vb, live):
        bench = HardwareBench(live, conductance_range=vb.conductance_range)
        assert {h["bench"] for h in holders()} == {"virtual-2x2"}
        bench.close()
        assert list(holders()) == []
