"""A home-built relay matrix on a serial line, speaking the protonic-hil line protocol.

The protocol (docs/serial-relay-protocol.md): ASCII lines ending in "\\n" at 115200 baud 8N1;
every command gets exactly one reply line; errors come back as `ERR <code> <text>`.
The address is anything pyserial's serial_for_url opens: a device ("/dev/ttyACM0", "COM3")
or a URL such as "socket://127.0.0.1:5555" (how the virtual relay matrix is served).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import serial
from pymeasure.adapters import SerialAdapter
from pymeasure.instruments import Instrument

from drivers.attributes import FastAttributeAccess
from drivers.errors import InstrumentError, UnreadableReply
from drivers.roles import SwitchMatrix, check_real

IDN_PREFIX = ("PROTONIC-HIL", "RELAY-MATRIX")


class LineSerialAdapter(SerialAdapter):
    """SerialAdapter for newline-terminated replies that raises on a missing or partial line.

    pyserial's read_until returns whatever arrived when the timeout expires; a partial reply
    must not be taken for a whole one.
    """

    def _read(self, **kwargs: Any) -> str:
        raw = self.connection.read_until(b"\n")
        if not raw.endswith(b"\n"):
            raise TimeoutError(
                f"no complete reply line within {self.connection.timeout} s from {self.connection.port} "
                f"(received {raw!r}); check the cable and that the board runs the relay firmware"
            )
        return raw[:-1].decode("ascii", errors="replace").rstrip("\r")


class SerialRelayMatrix(FastAttributeAccess, Instrument, SwitchMatrix):
    """Relay matrix board: row = instrument line 1..R, col = chip line 1..C.

    On connection it checks `*IDN?` and reads its size with `SIZE?`.
    timeout: seconds to wait for a reply line. settle_s: seconds to wait after opening the port
    before the first command (boards that reboot when the port opens, such as many Arduinos,
    need about 2 s).
    """

    # Common Songle-type relay modules operate and release within 10 ms (the board answers once
    # its relays have settled, docs/serial-relay-protocol.md).
    settle_time = 10e-3

    def __init__(
        self,
        adapter: Any,
        timeout: float = 2.0,
        settle_s: float = 0.0,
        name: str = "Serial relay matrix",
    ):
        timeout = check_real(name, "timeout", timeout, "seconds")
        settle_s = check_real(name, "settle_s", settle_s, "seconds")
        if isinstance(adapter, str):
            port = serial.serial_for_url(
                adapter, baudrate=115200, bytesize=8, parity="N", stopbits=1, timeout=timeout
            )
            if settle_s > 0:
                time.sleep(settle_s)
                port.reset_input_buffer()  # drop any boot banner
            adapter = LineSerialAdapter(port, write_termination="\n", read_termination="\n")
        super().__init__(adapter, name, includeSCPI=False)
        try:
            self.identity = self._identify()
            self._size = self._read_size()
        except Exception:
            self.adapter.close()  # do not leave the port open (and locked) behind a failed connection
            raise

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    # ------------------------------------------------------------------ SwitchMatrix role
    def close_crosspoint(self, row: int, col: int) -> None:
        r, c = self._check_crosspoint(row, col)
        self._expect_ok(f"CLOSE {r} {c}")

    def open_crosspoint(self, row: int, col: int) -> None:
        r, c = self._check_crosspoint(row, col)
        self._expect_ok(f"OPEN {r} {c}")

    def open_all(self) -> None:
        self._expect_ok("OPENALL")

    def connect_exactly(
        self, points: Iterable[tuple[int, int]], previous: frozenset[tuple[int, int]] | None = None
    ) -> frozenset[tuple[int, int]]:
        """Close exactly `points`, every other relay open, in one SET command (the board replies
        once its relays have settled). Every crosspoint is checked before anything is sent."""
        wanted = frozenset(self._check_crosspoint(r, c) for r, c in points)
        items = ",".join(f"{r}:{c}" for r, c in sorted(wanted)) or "NONE"
        self._expect_ok(f"SET {items}")
        return wanted

    def closed_crosspoints(self) -> frozenset[tuple[int, int]]:
        reply = self._transact("CLOSED?")
        if reply == "NONE":
            return frozenset()
        closed = set()
        for item in reply.split(","):
            row, sep, col = item.partition(":")
            if not (sep and row.isdigit() and col.isdigit()):
                raise UnreadableReply(self.name, f"unreadable CLOSED? reply {reply!r}")
            closed.add((int(row), int(col)))
        return frozenset(closed)

    def shutdown(self) -> None:
        """Open every relay."""
        self.open_all()
        super().shutdown()

    # ------------------------------------------------------------------ line protocol
    def _transact(self, command: str) -> str:
        """Send one command line, return its one reply line; `ERR <code> <text>` raises."""
        reply = self.ask(command).strip()
        if reply.startswith("ERR"):
            fields = reply.split(maxsplit=2)
            if len(fields) < 2 or not fields[1].lstrip("-").isdigit():
                raise InstrumentError(self.name, f"{command!r} answered a malformed error {reply!r}")
            text = fields[2] if len(fields) > 2 else ""
            raise InstrumentError(self.name, f"{command!r} refused", [(int(fields[1]), text)])
        return reply

    def _expect_ok(self, command: str) -> None:
        reply = self._transact(command)
        if reply != "OK":
            raise UnreadableReply(self.name, f"{command!r} answered {reply!r}, expected 'OK'")

    def _identify(self) -> str:
        reply = self._transact("*IDN?")
        if tuple(reply.split(",")[:2]) != IDN_PREFIX:
            raise InstrumentError(
                self.name, f"*IDN? answered {reply!r}: not a protonic-hil relay matrix; check the port"
            )
        return reply

    def _read_size(self) -> tuple[int, int]:
        reply = self._transact("SIZE?")
        rows, sep, cols = reply.partition(",")
        if not (sep and rows.isdigit() and cols.isdigit() and int(rows) >= 1 and int(cols) >= 1):
            raise UnreadableReply(self.name, f"unreadable SIZE? reply {reply!r}")
        return int(rows), int(cols)
