"""One controller per bench: an exclusive, process-lifetime lock on every instrument of a bench.

Two processes driving the same instruments interleave their commands: one re-routes the switch
matrix while the other reads, and both store plausible, wrong data. So whoever opens a bench
first holds an OS-level lock (``flock``) on each of its instruments until it closes the bench
or dies; the kernel drops the lock with the process, so a SIGKILL or a crash never leaves a
stale lock behind. A second opener, in another process or the same one, is refused at once
with :class:`BenchInUseError`, which names the holder's pid, command and run.

Locks are keyed by the instrument's normalised address (:func:`instrument_key`), not by the
bench file, so two bench files naming the same instrument collide. They live as small files in
one folder per machine: ``$HIL_LOCK_DIR`` if set, else ``protonic-hil-locks`` in the system's
temporary folder. A lock file names its holder in JSON; only the ``flock`` on it counts, so a
leftover file is harmless.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.faults import BenchBusyFault

LOCK_DIR_ENV = "HIL_LOCK_DIR"

# Addresses served by a program on this machine (the virtual bench): every port is its own
# instrument. A LAN instrument is one host whatever port or protocol reaches it.
_LOOPBACK = ("127.", "localhost", "::1", "[::1]")
# pyserial's in-process URLs reach no shared device, so there is nothing to lock.
_UNSHARED_URLS = ("loop://", "spy+loop://")


class BenchInUseError(BenchBusyFault):
    """Another controller holds an instrument of this bench; nothing was sent to any instrument."""

    def __init__(self, bench: str, address: str, holder: dict[str, Any]):
        self.bench, self.address, self.holder = bench, address, holder
        super().__init__(
            f"bench {bench!r} is in use: instrument {address} is held by {describe_holder(holder)}. "
            "Nothing was sent to any instrument of this bench. Wait for that run to end, or stop it "
            "(Ctrl-C, or kill its pid) and try again."
        )


def describe_holder(holder: dict[str, Any]) -> str:
    """'pid 123 (run 2026..., command: hil measure ...) since 12:00:01', from a lock file's JSON."""
    if not holder:
        return "another process (its lock file names no holder yet)"
    details = []
    if holder.get("run"):
        details.append(f"run {holder['run']}")
    if holder.get("command"):
        details.append(f"command: {holder['command']}")
    since = holder.get("since")
    text = f"pid {holder['pid']}" if holder.get("pid") else "another controller"
    if details:
        text += f" ({', '.join(details)})"
    if isinstance(since, int | float):
        text += f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}"
    return text


def lock_dir() -> Path:
    """The folder that holds the lock files (created on first use, writable by every user)."""
    folder = Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "protonic-hil-locks")
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # several lab users share one bench PC
            folder.chmod(0o1777)
    return folder


def instrument_key(address: str) -> str | None:
    """The identity of the instrument behind a VISA resource name or pyserial URL (None: unshared).

    VISA names are normalised with pyvisa's own parser (board 0, default resource class, case);
    a LAN instrument is its host, a USB one its vendor, model and serial number, a GPIB one its
    board and primary address; a serial port is the device file with links resolved.
    """
    text = address.strip()
    lowered = text.lower()
    if lowered.startswith(_UNSHARED_URLS):
        return None
    if "://" in text:  # pyserial URL, e.g. socket://127.0.0.1:5025 or rfc2217://host:port
        scheme, rest = lowered.split("://", 1)
        host, _, port = rest.partition(":")
        return f"net:{_host_key(host, port.split('/')[0])}" if scheme != "hwgrep" else f"url:{lowered}"
    if "::" not in text:  # a serial port: /dev/ttyUSB0, a link to it, or COM3
        return f"serial:{os.path.realpath(text) if os.sep in text else text.upper()}"
    return _visa_key(text)


def _visa_key(text: str) -> str:
    from pyvisa import rname

    parts = text.split("::")
    parts[0] = parts[0].upper()
    parts[-1] = parts[-1].upper() if parts[-1].upper() in ("INSTR", "SOCKET", "INTFC", "RAW") else parts[-1]
    try:
        name = rname.ResourceName.from_string("::".join(parts))
    except rname.InvalidResourceName:
        return f"visa:{text.lower()}"
    kind = name.interface_type.lower()
    if kind == "tcpip":
        return f"net:{_host_key(name.host_address.lower(), getattr(name, 'port', ''))}"
    if kind == "usb":
        return f"usb:{name.manufacturer_id}:{name.model_code}:{name.serial_number}".lower()
    if kind == "gpib":
        return f"gpib{name.board}:{name.primary_address}"
    if kind == "asrl":
        board = str(name.board)
        return f"serial:{os.path.realpath(board) if os.sep in board else board.upper()}"
    return f"visa:{str(name).lower()}"


def _host_key(host: str, port: str) -> str:
    host = host.strip("[]")
    return f"{host}:{port}" if host.startswith(_LOOPBACK) or host == "::1" else host


@dataclass
class _Held:
    key: str
    address: str
    path: Path
    fd: int


class BenchLock:
    """Exclusive locks on a bench's instruments, held until release() or the process ends.

    BenchLock.acquire("bench-a", {"smu": "TCPIP::10.0.0.5::INSTR", ...}) takes every lock or
    none: if one instrument is held elsewhere, the locks already taken are released and
    BenchInUseError names the holder.
    """

    _run: str | None = None  # the run id this process is recording, for the holder record
    _held: list[BenchLock] = []  # noqa: RUF012 (the process's open locks, to note a run on them)

    def __init__(self, bench: str, held: list[_Held]):
        self.bench = bench
        self._locks = held

    @classmethod
    def acquire(cls, bench: str, addresses: dict[str, str]) -> BenchLock:
        """Lock every instrument in `addresses` ({role: address}); raises BenchInUseError."""
        held: list[_Held] = []
        keys: dict[str, str] = {}
        for address in addresses.values():
            key = instrument_key(address)
            if key is not None and key not in keys:  # one instrument in two roles locks once
                keys[key] = address
        try:
            for key, address in sorted(keys.items()):
                held.append(_take(bench, key, address))
        except BaseException:
            for lock in held:
                _give_back(lock)
            raise
        lock = cls(bench, held)
        cls._held.append(lock)
        lock._write_holder()
        return lock

    @classmethod
    def note_run(cls, run: str | None) -> None:
        """Name the run this process records in every lock it holds (shown to a refused opener)."""
        cls._run = run
        for lock in cls._held:
            lock._write_holder()

    def release(self) -> None:
        """Give every lock back. Idempotent."""
        locks, self._locks = self._locks, []
        for held in locks:
            _give_back(held)
        if self in BenchLock._held:
            BenchLock._held.remove(self)

    def _write_holder(self) -> None:
        record = {
            "pid": os.getpid(),
            "command": _command_line(),
            "run": BenchLock._run,
            "bench": self.bench,
            "since": time.time(),
        }
        for held in self._locks:
            data = json.dumps({**record, "instrument": held.address, "key": held.key}).encode()
            with contextlib.suppress(OSError):  # the lock is what counts; the record is a courtesy
                os.ftruncate(held.fd, 0)
                os.pwrite(held.fd, data, 0)

    def __enter__(self) -> BenchLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holders(keys: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """The holder records of the locks now held on this machine (who holds which instrument)."""
    folder = lock_dir()
    wanted = None if keys is None else {_file_name(k) for k in keys}
    for path in sorted(folder.glob("*.lock")):
        if wanted is not None and path.name not in wanted:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                yield _read_holder(path)
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _take(bench: str, key: str, address: str) -> _Held:
    path = lock_dir() / _file_name(key)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise BenchInUseError(bench, address, _read_holder(path)) from None
        # A releaser unlinks its file; if ours was unlinked between open and flock, the lock is
        # on a dead file that the next opener will not see: take a fresh one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)
            return _Held(key, address, path, fd)
        os.close(fd)


def _give_back(held: _Held) -> None:
    with contextlib.suppress(OSError):  # unlinked while locked: no opener can take the old file
        held.path.unlink()
    os.close(held.fd)


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _file_name(key: str) -> str:
    readable = "".join(c if c.isalnum() else "-" for c in key)[:60]
    return f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.lock"


def _command_line() -> str:
    argv = list(sys.argv) or ["python"]
    if Path(argv[0]).name == "hil":
        argv[0] = "hil"
    return " ".join(argv)
