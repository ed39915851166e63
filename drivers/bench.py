"""HardwareBench: a hil.bench.Bench built from a bench configuration and the instrument drivers.

    config = load_bench_config("bench.toml", known_drivers())
    with HardwareBench(config, conductance_range=(1e-6, 20e-6)) as bench:
        array = bench.array("A_main", (4, 4))      # a drivers.crossbar.HardwareCrossbar
        g = array.read()                           # siemens
        print(bench.transactions())                # {"smu": {"writes": .., "queries": ..}, ...}

Opening connects every instrument (drivers.registry.open_instrument), asks each for its
identity (*IDN?), puts it into the state the framework relies on and reads that back
(drivers.state; `state_changes` lists what had to change), makes the bench safe (outputs off,
switch matrix open) and sets the SMU's read bias and current compliance before any output can
turn on. Closing shuts every
instrument down (outputs off, switches open), carrying on past an instrument that fails and
raising drivers.errors.SafeStateError afterwards. `check_bench` and `format_check_table` are
what `hil bench check CONFIG` prints.

Reads and queries are tried again after a transient fault (drivers.retry): a connection that
timed out or dropped is reopened and its instrument re-verified (*IDN? as at connect) first.
Pulses never are. Every retry is in `bench.retries` and describe(); docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError
from serial import SerialTimeoutException

from drivers import retry as retrying
from drivers.crossbar import VMM_READS, BenchInstruments, HardwareCrossbar
from drivers.errors import CommunicationError, InstrumentError, LinkFault, SafeStateError, UnreadableReply
from drivers.registry import Driver, limit_problems, matrix_settle_time, open_instrument
from drivers.retry import RetryLog, RetryPolicy, TransientFault, call_with_retries
from drivers.roles import PulseGenerator, SourceMeter, SwitchMatrix
from drivers.state import StateChange
from hil.backend import BackendClosedError, DeviceKind
from hil.bench import Bench
from hil.benchconfig import ROLES, BenchConfig, InstrumentConfig
from hil.benchlock import BenchInUseError, BenchLock
from hil.pulses import SafetyLimits

Opener = Callable[[InstrumentConfig, SafetyLimits], Driver]
_ROLE_TYPES: dict[str, type] = {"smu": SourceMeter, "pulser": PulseGenerator, "matrix": SwitchMatrix}


class TransactionCounter:
    """Counts the messages one instrument's adapter sends and the replies it reads, remembers
    the last message, and turns a failed link into drivers.errors.CommunicationError.

    A message followed by a read of its reply is a query; any other message is a write. The
    counting wraps the adapter's public write() and read(), which every PyMeasure call goes
    through (ask() is a write and a read), so nothing the driver sends escapes it. An error of
    pyvisa, pyserial or the socket there (a timeout, a lost connection) becomes a
    CommunicationError naming the instrument, its address and the last message sent.
    attach() wraps a reopened connection, the counts carrying on.
    """

    def __init__(self, instrument: Any, *, role: str | None = None, address: str | None = None):
        self.messages = 0
        self.replies = 0
        self.role = role
        self.address = address
        self.last_command: str | None = None
        self.attach(instrument)

    def attach(self, instrument: Any) -> None:
        """Wrap `instrument`'s adapter (a new connection of the same instrument)."""
        adapter = instrument.adapter
        write, read = adapter.write, adapter.read
        name = str(getattr(instrument, "name", self.role or "instrument"))

        def counted_write(command: str, **kwargs: Any) -> None:
            self.messages += 1
            self.last_command = command
            try:
                write(command, **kwargs)
            except _LINK_ERRORS as exc:
                raise self._fault(name, exc) from exc

        def counted_read(**kwargs: Any) -> str:
            self.replies += 1
            try:
                return read(**kwargs)
            except _LINK_ERRORS as exc:
                raise self._fault(name, exc) from exc

        adapter.write, adapter.read = counted_write, counted_read

    def counts(self) -> dict[str, int]:
        """{"writes": messages without a reply, "queries": messages with one}."""
        return {"writes": self.messages - self.replies, "queries": self.replies}

    def _fault(self, name: str, exc: BaseException) -> CommunicationError:
        kind = LinkFault.TIMEOUT if _is_timeout(exc) else LinkFault.DROPPED
        return CommunicationError(
            name, kind, exc, role=self.role, address=self.address, last_command=self.last_command
        )


# What pyvisa, pyserial (SerialException is an OSError) and sockets raise when a link fails.
_LINK_ERRORS = (VisaIOError, OSError)


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, VisaIOError):
        return exc.error_code == StatusCode.error_timeout
    return isinstance(exc, TimeoutError | SerialTimeoutException)


@dataclass(frozen=True)
class CheckRow:
    """One line of a bench check: which instrument, what was checked, "ok"/"warn"/"FAIL", detail."""

    instrument: str
    check: str
    status: str
    detail: str


class HardwareBench(Bench):
    """The arrays of one bench configuration on its instruments.

    conductance_range: nominal (G_min, G_max) of the chip's devices in siemens, handed to every
        array for weight mapping (None: the bench can be checked but array() refuses).
    device_kind: what the chip's devices are. nplc: integration of each current reading in
        power-line cycles. seed: seed of the arrays' stochastic-update bit streams (each array
        gets its own stream from (seed, name)); None draws fresh entropy.
    vmm_reads: "fresh" or "after_write", every array's VMM read policy (HardwareCrossbar).
    opener: how an instrument is connected (default drivers.registry.open_instrument).
    retry: how reads and queries are tried again after a transient fault (drivers.retry); a
        dropped or silent connection is reopened and the instrument re-verified first. Pulses
        are never retried. Every retry is in `retries` and in describe().
    """

    def __init__(
        self,
        config: BenchConfig,
        *,
        conductance_range: tuple[float, float] | None = None,
        device_kind: DeviceKind = DeviceKind.PROTONIC,
        nplc: float = 1.0,
        seed: int | None = 0,
        vmm_reads: str = "fresh",
        opener: Opener = open_instrument,
        retry: RetryPolicy | None = None,
    ):
        if vmm_reads not in VMM_READS:
            raise ValueError(f"vmm_reads must be one of {', '.join(VMM_READS)}, got {vmm_reads!r}")
        problems = limit_problems(config)
        if problems:  # before any instrument is touched
            raise ValueError(f"bench {config.name!r}: " + "; ".join(problems))
        self._vmm_reads = vmm_reads
        self._config = config
        self._range = conductance_range
        self._kind = DeviceKind(device_kind)
        self._seed = np.random.SeedSequence(seed)
        self._arrays: dict[str, HardwareCrossbar] = {}
        self._closed = False
        self._drivers: dict[str, Any] = {}
        self._opener = opener
        self._retry = RetryPolicy() if retry is None else retry
        #: every retry of a read or query on this bench (drivers.retry.RetryLog)
        self.retries = RetryLog()
        # One controller per bench, taken before any instrument is touched (hil.benchlock).
        self._lock = BenchLock.acquire(config.name, {r: i.address for r, i in config.instruments.items()})
        try:
            self._counters: dict[str, TransactionCounter] = {}
            self.identities: dict[str, str] = {}
            #: per role, the settings found other than relied on at connect and set (drivers.state)
            self.state_changes: dict[str, list[StateChange]] = {}
            for role in ROLES:
                instrument = config.instrument(role)
                driver = self._drivers[role] = _open(instrument, config.limits, opener)
                _visa_lock(driver, config)
                self._counters[role] = TransactionCounter(driver, role=role, address=instrument.address)
                self.identities[role] = self._ask_identity(role)
            for role in ("pulser", "smu", "matrix"):  # the generator first: it can move the devices
                self.state_changes[role] = self._drivers[role].establish_state()
            self.instruments = BenchInstruments(
                self._drivers["smu"],
                self._drivers["pulser"],
                self._drivers["matrix"],
                config,
                nplc,
                retry=self._retry,
                retries=self.retries,
                reconnect=self._reconnect,
                locate=self._locate,
            )
            _check_matrix_reach(config, self.instruments.matrix)
            failures = self.instruments.make_safe()
            if failures:
                raise SafeStateError(failures)
            self.instruments.prepare_read()  # compliance is set before any output turns on
        except BaseException:
            self._shutdown_quietly()
            raise

    # ------------------------------------------------------------------ Bench
    def array(self, name: str, shape: tuple[int, int]) -> HardwareCrossbar:
        """The configured array `name`; `shape` must be its configured (rows, cols)."""
        if self._closed:
            raise BackendClosedError("HardwareBench is closed; open a new one")
        region = self._config.arrays.get(name)
        if region is None:
            raise ValueError(
                f"bench {self._config.name!r} has no array {name!r}; configured: {self._listing()}"
            )
        if tuple(shape) != region.shape:
            raise ValueError(
                f"array {name!r} of bench {self._config.name!r} is {region.shape[0]} x {region.shape[1]}, "
                f"asked for {tuple(shape)}; configured: {self._listing()}"
            )
        if self._range is None:
            raise ValueError(
                "this bench was opened without conductance_range; pass the devices' nominal "
                "(G_min, G_max) in siemens to HardwareBench to use its arrays"
            )
        existing = self._arrays.get(name)
        if existing is not None and not existing.closed:
            return existing
        stream = np.random.SeedSequence(self._seed.entropy, spawn_key=tuple(name.encode("utf-8")))
        seed = int(stream.generate_state(1, np.uint64)[0])
        array = HardwareCrossbar(
            name,
            self._config,
            self.instruments,
            self._range,
            device_kind=self._kind,
            seed=seed,
            vmm_reads=self._vmm_reads,
        )
        self._arrays[name] = array
        return array

    def describe(self) -> dict[str, object]:
        return {
            "bench": "hardware",
            "config": self._config.describe(),
            "instruments": {
                role: {
                    "driver": self._config.instrument(role).driver,
                    "address": self._config.instrument(role).address,
                    "identity": self.identities.get(role),
                }
                for role in ROLES
            },
            "conductance_range_S": None if self._range is None else list(self._range),
            "device_kind": str(self._kind),
            "nplc": self.instruments.nplc,
            "vmm_reads": self._vmm_reads,
            "seed": int(self._seed.entropy),
            "arrays": {name: list(a.shape) for name, a in self._arrays.items()},
            "operations": self.operations(),
            "transactions": self.transactions(),
            "state_changes": {
                role: [change.describe() for change in changes]
                for role, changes in self.state_changes.items()
            },
            "retry_policy": self._retry.describe(),
            "retries": self.retries.describe(),
        }

    @property
    def drivers(self) -> dict[str, Any]:
        """The open drivers by role ("smu", "pulser", "matrix")."""
        return dict(self._drivers)

    @property
    def arrays(self) -> dict[str, HardwareCrossbar]:
        """The arrays handed out so far, by name."""
        return dict(self._arrays)

    def operations(self) -> dict[str, dict[str, int]]:
        """Per array: read calls, device reads, pulse calls and pulse groups done so far."""
        return {name: dict(a.operations) for name, a in self._arrays.items()}

    def on_retry(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call listener(event.to_dict()) for every retry this bench makes (drivers.retry)."""
        self.retries.listeners.append(lambda event: listener(event.to_dict()))

    def transactions(self) -> dict[str, dict[str, int]]:
        """Messages sent to each instrument so far: {role: {"writes": n, "queries": n}}."""
        return {role: counter.counts() for role, counter in self._counters.items()}

    def close(self) -> None:
        """Shut every instrument down (outputs off, switches open) and disconnect. Idempotent.

        Every instrument is tried even if one fails; then SafeStateError lists the failures.
        """
        if self._closed:
            return
        failures = self._shutdown_quietly()
        if failures:
            raise SafeStateError(failures)

    # ------------------------------------------------------------------ check
    def check(self) -> list[CheckRow]:
        """Identities, matrix size, routing (close and read back one crosspoint per bench
        terminal), and whether the instruments can honour the limits. Leaves the bench safe."""
        if self._closed:
            raise BackendClosedError("HardwareBench is closed; open a new one")
        cfg, inst = self._config, self.instruments
        rows = [CheckRow(role, "identity (*IDN?)", "ok", self.identities[role]) for role in ROLES]
        rows += _state_rows(self.state_changes, self._drivers)
        n_rows, n_cols = inst.matrix.size
        used = f"bench uses rows {sorted(cfg.wiring.values())}, pads up to {_max_pad(cfg)}"
        rows.append(CheckRow("matrix", "size", "ok", f"{n_rows} rows x {n_cols} columns; {used}"))
        inst.router.release()
        closed = inst.matrix.closed_crosspoints()
        detail = f"still closed: {sorted(closed)}" if closed else "no crosspoint closed"
        rows.append(CheckRow("matrix", "all open", "FAIL" if closed else "ok", detail))
        first = next(iter(cfg.arrays.values()))
        device = (first.row_start, first.col_start)
        probes = {"smu_hi": "drain", "smu_lo": "source", "pulse_out": "gate", "pulse_ref": "source"}
        for terminal, pad_of in probes.items():
            point = (cfg.wiring[terminal], cfg.pad(pad_of, *device))
            inst.matrix.close_crosspoint(*point)
            seen = inst.matrix.closed_crosspoints()
            inst.router.release()
            ok = seen == frozenset({point})
            rows.append(
                CheckRow(
                    "matrix",
                    f"route {terminal} -> pad {point[1]} ({pad_of})",
                    "ok" if ok else "FAIL",
                    f"closed row {point[0]}, column {point[1]}; read back {sorted(seen)}",
                )
            )
        rows += _limit_rows(cfg, inst)
        rows += _handshake_rows(cfg, inst)
        return rows

    # ------------------------------------------------------------------ connections
    def _ask_identity(self, role: str, expected: str | None = None) -> str:
        """*IDN? of `role`'s instrument, asked again after a transient fault (a fresh connection
        after a link fault). expected: the identity it must answer (recorded at connect); any
        other answer counts as unreadable until the retries are used up."""
        config = self._config.instrument(role)
        where = {"address": config.address, "last_command": "*IDN?"}

        def ask() -> str:
            driver = self._drivers[role]
            identity = str(driver.ask("*IDN?")).strip()
            if expected is not None and identity != expected:
                raise UnreadableReply(
                    driver.name,
                    f"*IDN? answered {identity!r} instead of {expected!r} as at connect: garbled, "
                    "or another instrument answers at this address",
                    **where,
                )
            return identity

        def recover(exc: Exception, fault: TransientFault, delay: float) -> bool:
            retrying.pause(delay)
            if isinstance(exc, CommunicationError):  # a fresh connection has no late reply in it
                self._drivers[role] = self._reopen(role)
                return True
            return False

        try:
            # pyvisa-py connects a socket lazily: an unreachable instrument shows up here
            return call_with_retries(
                ask, operation=f"*IDN? of the {role}", policy=self._retry, log=self.retries, recover=recover
            )
        except Exception as exc:
            raise InstrumentError(
                f"the {role} ({config.driver} at {config.address})",
                f"no answer to *IDN? it could be identified by: {type(exc).__name__}: {exc}",
                **where,
            ) from exc

    def _reopen(self, role: str) -> Any:
        """Close `role`'s connection and open a new one (counted by the same counter, with the
        old one's read timeout)."""
        old = self._drivers[role]
        timeout = _timeout_ms(old)
        _disconnect(old)
        driver = _open(self._config.instrument(role), self._config.limits, self._opener)
        _visa_lock(driver, self._config)
        connection = getattr(driver.adapter, "connection", None)
        if timeout is not None and hasattr(connection, "timeout"):
            connection.timeout = timeout
        self._counters[role].attach(driver)
        return driver

    def _locate(self, exc: BaseException) -> None:
        """Give an InstrumentError raised above the connection (an unreadable reply) the
        address and last command of the instrument it names."""
        if not isinstance(exc, InstrumentError) or exc.address is not None:
            return
        for role, driver in self._drivers.items():
            if getattr(driver, "name", None) == exc.instrument:
                exc.address = self._config.instrument(role).address
                exc.last_command = self._counters[role].last_command
                return

    def _reconnect(self, role: str) -> None:
        """After a link fault during a run: reopen `role`'s connection and re-verify the
        instrument (its *IDN? must match the identity recorded at connect). The new driver
        holds no remembered settings, so the next configuration sends everything again.
        Raises InstrumentError, naming the instrument, address and last command, if it fails."""
        instrument = self._config.instrument(role)
        name = getattr(self._drivers[role], "name", role)
        last = self._counters[role].last_command
        where = {"address": instrument.address, "last_command": last}
        try:
            self._drivers[role] = self._reopen(role)
            self._ask_identity(role, expected=self.identities[role])  # retried after a transient fault
            # A reconnected instrument may have been reset or power-cycled in between.
            self.state_changes.setdefault(role, []).extend(self._drivers[role].establish_state())
        except BenchInUseError:
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):  # not to be used again: the bench stops
                self._drivers[role].adapter.close()
            raise InstrumentError(
                name,
                f"the connection failed after {last!r}, and reconnecting failed "
                f"({type(exc).__name__}: {exc}); check the instrument and its cable",
                **where,
            ) from exc
        self.instruments.replace(role, self._drivers[role])

    # ------------------------------------------------------------------ internals
    def _listing(self) -> str:
        return ", ".join(f"{n} {r.shape[0]}x{r.shape[1]}" for n, r in self._config.arrays.items())

    def _shutdown_quietly(self) -> list[tuple[str, str]]:
        """Shut down and disconnect whatever is open; return the failures instead of raising."""
        self._closed = True
        failures = []
        for role in ("pulser", "smu", "matrix"):  # the generator first: it can move the devices
            driver = self._drivers.get(role)
            if driver is None:
                continue
            try:
                driver.shutdown()
            except Exception as exc:  # the other instruments must still be made safe
                failures.append((f"{role} shutdown", f"{type(exc).__name__}: {exc}"))
        for array in self._arrays.values():
            array._detach()
        for role, driver in self._drivers.items():
            try:
                driver.adapter.close()
            except Exception as exc:  # reported with the shutdown failures
                failures.append((f"{role} disconnect", f"{type(exc).__name__}: {exc}"))
        self._lock.release()  # only once every instrument is safe and disconnected
        return failures


def check_bench(config: BenchConfig, opener: Opener = open_instrument) -> list[CheckRow]:
    """Connect the bench, check it (HardwareBench.check) and close it; a failure is a row too."""
    try:
        bench = HardwareBench(config, opener=opener)
    except BenchInUseError:  # a refusal, not a finding: checking would disturb the holder's run
        raise
    except Exception as exc:  # the table reports it; nothing was left open
        return [CheckRow("bench", "connect and make safe", "FAIL", f"{type(exc).__name__}: {exc}")]
    try:
        return bench.check()
    finally:
        bench.close()


def format_check_table(rows: Sequence[CheckRow]) -> str:
    """A plain-text table of check rows, one line each, columns aligned."""
    header = ("instrument", "check", "status", "detail")
    lines = [header, *((r.instrument, r.check, r.status, r.detail) for r in rows)]
    widths = [max(len(line[k]) for line in lines) for k in range(3)]
    out = []
    for k, line in enumerate(lines):
        cells = [cell.ljust(w) for cell, w in zip(line[:3], widths, strict=True)]
        out.append("  ".join([*cells, line[3]]))
        if k == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
    return "\n".join(text.rstrip() for text in out)


def _open(config: InstrumentConfig, limits: SafetyLimits, opener: Opener) -> Any:
    try:
        driver = opener(config, limits)
    except Exception as exc:
        raise InstrumentError(
            f"the {config.role} ({config.driver})",
            f"cannot open it at {config.address}: {type(exc).__name__}: {exc}",
            address=config.address,
        ) from exc
    if not isinstance(driver, _ROLE_TYPES[config.role]):
        raise TypeError(f"driver {config.driver!r} is not a {_ROLE_TYPES[config.role].__name__}")
    return driver


def _visa_lock(driver: Any, config: BenchConfig) -> None:
    """Take the VISA exclusive lock too where the resource has one (VXI-11, NI-VISA sessions).

    It also keeps out software that does not know about hil.benchlock. pyvisa-py's raw sockets
    and serial ports do not support it; the OS-level lock covers them.
    """
    from pyvisa.constants import StatusCode
    from pyvisa.errors import VisaIOError

    resource = getattr(getattr(driver, "adapter", None), "connection", None)
    lock_excl = getattr(resource, "lock_excl", None)
    if lock_excl is None:
        return
    try:
        lock_excl(timeout=0)
    except VisaIOError as exc:
        if exc.error_code == StatusCode.error_nonsupported_operation:
            return
        if exc.error_code in (StatusCode.error_resource_locked, StatusCode.error_timeout):
            address = getattr(resource, "resource_name", "?")
            raise BenchInUseError(
                config.name, address, {"command": "another VISA session (its exclusive lock)"}
            ) from None
        raise


def _disconnect(driver: Any) -> None:
    """Close a driver's connection, whose link may be gone already (then closing may fail).

    pyvisa-py (0.8) keeps every session it closed in its session table; the closed one is
    dropped from it, or each reconnect of a long run would keep a few kB for good.
    """
    connection = getattr(driver.adapter, "connection", None)
    session = getattr(connection, "_session", None)
    with contextlib.suppress(Exception):
        driver.adapter.close()
    visalib = getattr(connection, "visalib", None)
    sessions = getattr(visalib, "sessions", None)
    if type(visalib).__module__.startswith("pyvisa_py") and isinstance(sessions, dict):
        sessions.pop(session, None)


def _timeout_ms(driver: Any) -> float | None:
    """The read timeout (ms) of a driver's VISA connection; None without one or once closed."""
    try:
        return driver.adapter.connection.timeout
    except Exception:  # a closed session, or a connection without a timeout
        return None


def _max_pad(config: BenchConfig) -> int:
    return max(
        config.pad(t, region.row_start + r, region.col_start + c)
        for region in config.arrays.values()
        for r in range(region.shape[0])
        for c in range(region.shape[1])
        for t in ("gate", "drain", "source")
    )


def _check_matrix_reach(config: BenchConfig, matrix: SwitchMatrix) -> None:
    rows, cols = matrix.size
    wired = max(config.wiring.values())
    if wired > rows or _max_pad(config) > cols:
        raise ValueError(
            f"the switch matrix has {rows} rows x {cols} columns; the bench wires instrument lines up "
            f"to row {wired} and uses chip pads up to {_max_pad(config)}: fit more matrix cards "
            "(e.g. the 707B's slots option) or change [wiring]/[chip]"
        )


def _state_rows(changes: dict[str, list[StateChange]], drivers: dict[str, Any]) -> list[CheckRow]:
    """One row per setting found other than relied on at connect (set and read back), or one
    row per instrument saying every setting it relies on was found as wanted."""
    rows = []
    for role in ROLES:
        found = changes.get(role, [])
        if found:
            rows += [CheckRow(role, f"known state: {c.setting}", "ok", c.describe()) for c in found]
            continue
        count = len(drivers[role].known_settings())
        detail = f"all {count} settings the driver relies on were as wanted" if count else "none relied on"
        rows.append(CheckRow(role, "known state", "ok", detail))
    return rows


def _handshake_rows(config: BenchConfig, inst: BenchInstruments) -> list[CheckRow]:
    """How scan readings wait for the relays, whether the longest pulse fits a train's gap, and
    what the generator's levels assume about the gate (with what to scope to confirm it)."""
    timing, settle = config.timing, matrix_settle_time(config)
    measured = "measured" if timing.matrix_settle is not None else "the driver's nominal figure: measure it"
    if config.smu_to_switch is None or not inst.matrix.supports_scans:
        scan = CheckRow(
            "matrix", "scan handshake", "ok", "no scans: each read waits for the matrix's own completion"
        )
    elif config.switch_ready is not None:
        ready = config.switch_ready
        scan = CheckRow(
            "matrix",
            "scan handshake",
            "ok",
            f"each scan reading waits for the matrix's Channel Ready (its line {ready.switch} -> SMU line "
            f"{ready.smu}); scope SMU line {ready.smu}: a low pulse about {settle:g} s ({measured}) after "
            f"each trigger on SMU line {config.smu_to_switch.smu}",
        )
    else:
        scan = CheckRow(
            "matrix",
            "scan handshake",
            "ok" if timing.matrix_settle is not None else "warn",
            f"no Channel Ready cable: each scan reading waits scan_delay {timing.scan_delay:g} s after its "
            f"trigger; the matrix settles in {settle:g} s ({measured})",
        )
    rows = [scan]
    longest = config.limits.max_pulse_width
    needed = inst.pulser.trigger_latency + longest + timing.pulse_margin(longest)
    if config.smu_to_pulser is not None:
        rows.append(
            CheckRow(
                "pulser",
                "train gap",
                "ok" if needed <= timing.train_gap else "warn",
                f"trains read {timing.train_gap:g} s after each trigger; the longest pulse the limits allow "
                f"({longest:g} s) ends and settles after {needed:g} s; longer ones are refused in trains",
            )
        )
    rows.append(_pairs_row(config, inst))
    rows.append(_gate_load_row(config, inst))
    return rows


def _pairs_row(config: BenchConfig, inst: BenchInstruments) -> CheckRow:
    """Whether alternating pulse pairs (a symmetry point's) run inside the instruments, and if
    not, what is missing (HardwareCrossbar.instrument_pairs)."""
    missing = [
        what
        for what, ok in (
            ("no [triggers] smu_to_pulser cable", config.smu_to_pulser is not None),
            ("no [triggers] smu_to_switch cable", config.smu_to_switch is not None),
            ("the SMU's driver cannot sequence them", inst.smu.supports_alternating),
            (
                "the pulse generator's driver cannot alternate on trigger edges",
                inst.pulser.supports_alternating,
            ),
            ("the matrix cannot scan", inst.matrix.supports_scans),
        )
        if not ok
    ]
    if missing:
        return CheckRow(
            "pulser", "alternating pairs", "ok", f"apply_pulses and read calls: {'; '.join(missing)}"
        )
    return CheckRow(
        "pulser",
        "alternating pairs",
        "ok",
        f"inside the instruments: up pulses on the falling, down pulses on the rising edges of SMU line "
        f"{config.smu_to_pulser} (the second channel combined into the output); scope the output once "
        "while a short call runs: each polarity at its own level and width",
    )


def _gate_load_row(config: BenchConfig, inst: BenchInstruments) -> CheckRow:
    """What the generator's expected load reads back, against the bench file's [gate_load]."""
    load = config.gate_load
    reading = [s for s in inst.pulser.known_settings() if s.name == "expected load"]
    told = inst.pulser.ask_settings([reading[0].query])[0] if reading else "not read"
    at_gate = "high impedance" if math.isinf(load.ohms) else f"{load.ohms:g} ohm"
    return CheckRow(
        "pulser",
        "gate load",
        "ok" if load.stated else "warn",
        f"{load.describe()}: the generator drives {at_gate} (its expected load reads {told}), so the "
        "programmed levels are the gate's volts; scope the gate once: a 1 V pulse must read 1 V there "
        "(2 V: the generator assumes 50 ohm into a high-impedance gate)",
    )


def _limit_rows(config: BenchConfig, inst: BenchInstruments) -> list[CheckRow]:
    lim, pulser, smu = config.limits, inst.pulser, inst.smu
    rows = []

    def row(who: str, what: str, ok: bool, detail: str, fail: str = "FAIL") -> None:
        rows.append(CheckRow(who, what, "ok" if ok else fail, detail))

    row(
        "pulser",
        "max_pulse_amplitude",
        lim.max_pulse_amplitude <= pulser.max_amplitude,
        f"limit {lim.max_pulse_amplitude:g} V, generator reaches {pulser.max_amplitude:g} V at the load",
    )
    low, high = pulser.width_range
    row(
        "pulser",
        "pulse widths",
        low <= lim.min_pulse_width and lim.max_pulse_width <= high,
        f"limits {lim.min_pulse_width:g}-{lim.max_pulse_width:g} s, generator {low:g}-{high:g} s; "
        "widths outside the generator's range are refused",
        fail="warn",
    )
    row(
        "pulser",
        "max_pulses_per_call",
        lim.max_pulses_per_call <= pulser.max_count,
        f"limit {lim.max_pulses_per_call}, longest burst {pulser.max_count}",
        fail="warn",
    )
    c_low, c_high = smu.compliance_range
    row(
        "smu",
        "current_compliance",
        c_low <= lim.current_compliance <= c_high,
        f"limit {lim.current_compliance:g} A, SMU accepts {c_low:g}-{c_high:g} A",
    )
    row(
        "smu",
        "read voltage",
        smu.bias_range[0] <= config.read_voltage <= smu.bias_range[1],
        f"{config.read_voltage:g} V (max_read_voltage {lim.max_read_voltage:g} V)",
    )
    return rows
