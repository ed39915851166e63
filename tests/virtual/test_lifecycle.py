"""Servers start on free ports, serve several clients, and stop cleanly without hanging."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import pyvisa

from simulators.virtual import AWG_CH1, AWG_CH2, GND, SMU_HI, SMU_LO, LineServer, VirtualBench, VirtualChip
from tests.virtual.conftest import open_visa


def virtual_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("virtual-")]


def closed_by_peer(sock: socket.socket) -> bool:
    """EOF, or a reset when the server closed with our bytes still unread in its buffer."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_addresses_and_description(bench: VirtualBench) -> None:
    ports = {bench.port(name) for name in bench.instruments}
    assert len(ports) == 4
    for name in ("smu", "pulse_generator", "switch_matrix"):
        assert bench.addresses[name] == f"TCPIP0::127.0.0.1::{bench.port(name)}::SOCKET"
    assert bench.addresses["relay_matrix"] == f"socket://127.0.0.1:{bench.port('relay_matrix')}"
    assert [bench.row(t) for t in (SMU_HI, SMU_LO, AWG_CH1, GND, AWG_CH2)] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="no matrix row"):
        bench.row("SMU2.HI")
    described = json.loads(json.dumps(bench.describe()))
    assert described["instruments"]["smu"]["address"] == bench.addresses["smu"]
    assert described["chip"]["pins"]["n_pads"] == bench.chip.pins.n_pads


def test_stop_with_clients_connected_leaves_no_threads_or_listeners(
    chip: VirtualChip, rm: pyvisa.ResourceManager
) -> None:
    before = len(virtual_threads())
    bench = VirtualBench(chip).start()
    assert len(virtual_threads()) == before + 4
    sessions = [open_visa(rm, bench.addresses["smu"]) for _ in range(3)]
    assert {s.query("*OPC?") for s in sessions} == {"1"}  # several clients, one instrument
    raw = socket.create_connection(("127.0.0.1", bench.port("switch_matrix")))
    raw.sendall(b"print(")  # a half-sent message must not block the stop
    port = bench.port("smu")
    bench.stop()
    bench.stop()  # idempotent
    assert len(virtual_threads()) == before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert closed_by_peer(raw)
    raw.close()
    sessions[0].timeout = 300  # ms; pyvisa-py may only notice the closed link by timing out
    with pytest.raises(pyvisa.errors.VisaIOError):
        sessions[0].query("*OPC?")


def test_stop_interrupts_a_latency_wait(chip: VirtualChip) -> None:
    with VirtualBench(chip) as bench:
        bench.latency = 600.0  # a long wait inside the server thread
        raw = socket.create_connection(("127.0.0.1", bench.port("smu")))
        raw.sendall(b"*IDN?\n")
    assert virtual_threads() == []
    raw.close()


def test_server_refuses_double_start(chip: VirtualChip) -> None:
    bench = VirtualBench(chip)
    server = LineServer(bench.smu)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    finally:
        server.stop()
