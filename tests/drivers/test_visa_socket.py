"""A driver over a real pyvisa-py TCPIP socket: terminations, and a slow list sweep that must not time out."""

from __future__ import annotations

import socketserver
import threading
import time

import pytest

from drivers.keysight_b2902a import KeysightB2902A
from hil.pulses import SafetyLimits


class ScriptedInstrument:
    """Answers queries from `replies` (by exact line), after `delays[line]` seconds; records every line."""

    def __init__(self, replies: dict[str, str], delays: dict[str, float]):
        self.lines: list[str] = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    line = raw.decode("ascii").rstrip("\n")
                    owner.lines.append(line)
                    if line in replies:
                        time.sleep(delays.get(line, 0.0))
                        self.wfile.write((replies[line] + "\n").encode("ascii"))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"TCPIP0::127.0.0.1::{self.server.server_address[1]}::SOCKET"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def b2902a_server():
    sweep = ":READ:ARR:CURR? (@1)"
    server = ScriptedInstrument({"SYST:ERR?": '+0,"No error"', sweep: "1e-06,1e-06,1e-06"}, {sweep: 0.5})
    yield server
    server.close()


def test_slow_list_sweep_stretches_the_visa_timeout_and_restores_it(b2902a_server):
    smu = KeysightB2902A(b2902a_server.address, limits=SafetyLimits(), timeout=200)  # ms
    try:
        smu.configure_read(0.1, 1e-4, nplc=0.01)
        smu.output_on()
        # The reply takes 0.5 s, longer than the 0.2 s timeout: only the stretch lets it arrive.
        assert smu.read_currents([0.1, 0.1, 0.1]) == pytest.approx([1e-6] * 3)
        assert smu.adapter.connection.timeout == 200
    finally:
        smu.adapter.close()
    assert ":READ:ARR:CURR? (@1)" in b2902a_server.lines
    assert b2902a_server.lines[-1] == "SYST:ERR?"
