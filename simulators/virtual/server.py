"""Line-oriented TCP servers on 127.0.0.1 and the fault switches every virtual instrument has.

One server thread per instrument multiplexes all client connections with `selectors`, as a
real instrument serves one message at a time. Messages end with "\\n" ("\\r\\n" accepted);
replies end with "\\n". pyvisa-py opens a server as ``TCPIP0::127.0.0.1::PORT::SOCKET`` and
pyserial as ``socket://127.0.0.1:PORT``.

A message waits `Faults.latency` (the wire) before it executes, and after it executes the server
waits the instrument time it took (timing.InstrumentClock: busy x scale, off by default) before it
replies or reads the next message on any connection, as a busy instrument would.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.virtual.timing import InstrumentClock

log = logging.getLogger(__name__)

# A client that stops reading must not block the server forever; seconds.
_SEND_TIMEOUT = 5.0
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
# Messages each instrument keeps in `received` (the oldest go first): enough for a test to look
# at what one protocol step sent, bounded for long runs.
RECEIVED_LOG = 10_000


@dataclass
class Faults:
    """Wire-level fault switches; plain attributes, safe to change while the server runs.

    latency: seconds added before each received message is processed (0 = instant).
    timeout: while True the instrument stops replying: messages are read and discarded,
        nothing executes (a hung instrument).
    drop_connection: while True any message makes the server close that connection without
        executing it (a dropped LAN link or a power-cycled instrument).
    garble: while True every reply is replaced by printable junk of the same length.
    truncate: while True every reply is cut to its first half (still newline-terminated).
    inject_error: (code, message) to report after the next message is processed (the 707B:
        while it runs, see VirtualInstrument.queue_injected_first); one shot, cleared when
        used. SCPI/TSP instruments push it onto their error queue; the relay matrix answers
        that message with ``ERR <code> <message>`` instead of executing it.

    Transient faults, each counted down as it happens (a long run injects them now and then):
    drop_next: the next n messages each make the server close their connection without
        executing them (the client must reconnect). swallow_next: the next n replies are not
        sent, although their messages executed (a read timeout). garble_next: the next n
        replies are garbled. `fired` counts the transient faults that happened, by name.
    """

    latency: float = 0.0
    timeout: bool = False
    drop_connection: bool = False
    garble: bool = False
    truncate: bool = False
    inject_error: tuple[int, str] | None = None
    drop_next: int = 0
    swallow_next: int = 0
    garble_next: int = 0
    fired: Counter[str] = field(default_factory=Counter)

    def take(self, fault: str) -> bool:
        """Use up one of the transient fault `fault` ("drop_next", "swallow_next",
        "garble_next") if any is pending; True if one was."""
        if getattr(self, fault) <= 0:
            return False
        setattr(self, fault, getattr(self, fault) - 1)
        self.fired[fault] += 1
        return True


class VirtualInstrument(ABC):
    """A virtual instrument: turns one received line into an optional reply line."""

    #: short name used for addresses and logs
    kind: str = "instrument"
    #: True: an injected error answers the message instead of executing it (no error queue)
    reject_on_injected_error: bool = False
    #: True: an injected error is queued before the message runs, as if its first statement
    #: had queued it, so that later statements of the same message (a TSP line's
    #: print(errorqueue.count)) see it
    queue_injected_first: bool = False

    def __init__(self) -> None:
        self.faults = Faults()
        self.transactions = 0  # messages processed (not swallowed or dropped)
        #: the last RECEIVED_LOG messages processed, oldest first
        self.received: deque[str] = deque(maxlen=RECEIVED_LOG)
        #: instrument time its commands take (seconds; see simulators.virtual.timing)
        self.clock = InstrumentClock()

    @abstractmethod
    def handle(self, line: str) -> str | None:
        """Process one message; return the reply text (may contain '\\n') or None."""

    @abstractmethod
    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        """Report an injected error the way this instrument reports errors; return the reply."""

    def transact(self, line: str) -> str | None:
        """One message with the one-shot error injection applied."""
        self.transactions += 1
        self.received.append(line)
        self.clock.start_message()
        injected, self.faults.inject_error = self.faults.inject_error, None
        if injected is not None and self.reject_on_injected_error:
            return self.report_error(injected[0], injected[1], None)
        if injected is not None and self.queue_injected_first:
            self.report_error(injected[0], injected[1], None)
            injected = None
        reply = self.handle(line)
        if injected is not None:
            reply = self.report_error(injected[0], injected[1], reply)
        return reply


def garble(reply: str) -> str:
    """Same length, printable, deterministic, and not what was meant."""
    return "".join(chr(33 + (ord(ch) * 31 + 17) % 94) for ch in reply)


class LineServer:
    """Serves one VirtualInstrument on 127.0.0.1 at a port chosen by the OS.

    sleep(seconds) -> bool: how the server thread waits out latency and instrument time; True
    means the server is stopping. Default: a wait that stop() interrupts. A test may pass a
    recorder to see the waits without taking them.
    """

    def __init__(
        self,
        instrument: VirtualInstrument,
        name: str | None = None,
        sleep: Callable[[float], bool] | None = None,
    ):
        self.instrument = instrument
        self.name = name or instrument.kind
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sleep = self._stop.wait if sleep is None else sleep
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._connections: dict[socket.socket, bytearray] = {}

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError(f"virtual {self.name} server is not running; call start() first")
        return int(self._listener.getsockname()[1])

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"virtual {self.name} server already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        self._listener = listener
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"virtual-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and the listener, and join the thread. Idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"virtual {self.name} server thread did not stop within {timeout} s")
        self._thread = None

    # ------------------------------------------------------------------ server thread
    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=1.0):
                    if self._stop.is_set():
                        break
                    if key.data == "accept":
                        self._accept(sel)
                    elif key.data == "conn":
                        self._receive(sel, key.fileobj)
        finally:
            for conn in list(self._connections):
                self._close(sel, conn)
            sel.close()
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()
            self._listener = None

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        conn.settimeout(_SEND_TIMEOUT)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections[conn] = bytearray()
        sel.register(conn, selectors.EVENT_READ, "conn")

    def _close(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        self._connections.pop(conn, None)
        try:
            sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            conn.close()
        except OSError:
            pass

    def _receive(self, sel: selectors.BaseSelector, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
            if _QUICKACK is not None:
                # Clients such as pyvisa-py leave Nagle on: a command written right after
                # another waits for our ACK, which Linux would delay by ~40 ms.
                conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            data = b""
        if not data:
            self._close(sel, conn)
            return
        buffer = self._connections[conn]
        buffer.extend(data)
        while conn in self._connections and not self._stop.is_set():
            end = buffer.find(b"\n")
            if end < 0:
                break
            raw = bytes(buffer[:end])
            del buffer[: end + 1]
            self._message(sel, conn, raw.decode("ascii", errors="replace").rstrip("\r"))

    def _message(self, sel: selectors.BaseSelector, conn: socket.socket, line: str) -> None:
        faults = self.instrument.faults
        if faults.timeout:
            return
        if faults.drop_connection or faults.take("drop_next"):
            self._close(sel, conn)
            return
        if faults.latency > 0 and self._sleep(faults.latency):
            return
        try:
            reply = self.instrument.transact(line)
        except Exception:  # keep serving; the instrument reports its own errors
            log.exception("virtual %s failed on %r", self.name, line)
            reply = None
        busy = self.instrument.clock.wait  # the instrument works; its reply comes after
        if busy > 0 and self._sleep(busy):
            return
        if reply is None or faults.take("swallow_next"):
            return
        if faults.truncate:
            reply = reply[: len(reply) // 2]
        if faults.garble or faults.take("garble_next"):
            reply = garble(reply)
        try:
            conn.sendall(reply.encode("ascii", errors="replace") + b"\n")
        except OSError:
            self._close(sel, conn)
