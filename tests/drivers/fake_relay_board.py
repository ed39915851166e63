"""A minimal relay board on 127.0.0.1 speaking the line protocol of docs/serial-relay-protocol.md.

Only for testing that the serial driver really talks through a pyserial socket:// URL; the
virtual bench's relay matrix lives in simulators/virtual.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType


class FakeRelayBoard:
    """Serve the relay protocol on an ephemeral port; `url` is what the driver opens.

    terminate=False sends replies without their "\\n" (a board that hangs mid-line).
    """

    def __init__(self, rows: int = 4, cols: int = 8, terminate: bool = True):
        self.rows, self.cols, self.terminate = rows, cols, terminate
        self.closed: set[tuple[int, int]] = set()
        self.received: list[str] = []
        board = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    line = raw.decode("ascii").rstrip("\n")
                    board.received.append(line)
                    ending = "\n" if board.terminate else ""
                    self.wfile.write((board.reply(line) + ending).encode("ascii"))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"socket://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, line: str) -> str:
        words = line.split()
        if line == "*IDN?":
            return "PROTONIC-HIL,RELAY-MATRIX,FAKE-1,0.1"
        if line == "SIZE?":
            return f"{self.rows},{self.cols}"
        if line == "OPENALL":
            self.closed.clear()
            return "OK"
        if line == "CLOSED?":
            return ",".join(f"{r}:{c}" for r, c in sorted(self.closed)) or "NONE"
        if len(words) == 3 and words[0] in ("CLOSE", "OPEN") and words[1].isdigit() and words[2].isdigit():
            row, col = int(words[1]), int(words[2])
            if not 1 <= row <= self.rows:
                return "ERR 2 row out of range"
            if not 1 <= col <= self.cols:
                return "ERR 3 column out of range"
            (self.closed.add if words[0] == "CLOSE" else self.closed.discard)((row, col))
            return "OK"
        return "ERR 1 unknown command"

    def __enter__(self) -> FakeRelayBoard:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
