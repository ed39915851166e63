"""Bench configuration: a TOML file naming instruments, chip, pin map, logical arrays, limits.

Units: volts, seconds, amperes. Loading validates everything and raises BenchConfigError
with the file, the line and the problem; nothing is sent to an instrument before a
configuration has loaded cleanly.

    [bench]
    name = "probe-station-2"

    [limits]                      # enforced by the backend and every driver
    max_pulse_amplitude = 4.0     # V
    min_pulse_width = 1e-6        # s
    max_pulse_width = 1e-3        # s
    max_read_voltage = 0.2        # V
    current_compliance = 1e-4     # A
    max_pulses_per_call = 1000

    [read]
    voltage = 0.1                 # V, drain bias of a read (<= max_read_voltage)

    [instruments.smu]             # roles: smu, pulser, matrix
    driver = "keithley2450"
    address = "TCPIP0::192.0.2.10::5025::SOCKET"
    [instruments.pulser]
    driver = "keysight33500b"
    address = "USB0::0x0957::0x2807::MY123::INSTR"
    [instruments.matrix]
    driver = "keithley707b"
    address = "GPIB0::18::INSTR"

    [wiring]                      # instrument terminal -> switch-matrix row (1-based)
    smu_hi = 1
    smu_lo = 2
    pulse_out = 3
    pulse_ref = 4

    [chip]                        # device terminal -> chip pad = switch-matrix column (1-based)
    rows = 2
    cols = 2
    gate = [[1, 2], [3, 4]]       # one pad per device, row-major
    drain = [[5, 6], [7, 8]]
    source = 9                    # a single number: one pad shared by every device

    [arrays.A_main]               # logical arrays: chip rows [start, stop), cols [start, stop)
    rows = [0, 1]
    cols = [0, 2]

    [triggers]                    # optional: trigger cables between the instruments
    smu_to_pulser = 1             # SMU digital I/O line -> pulse generator's external trigger input
    smu_to_switch = { smu = 2, switch = 1 }   # SMU digital I/O line -> switch matrix digital I/O line
    switch_ready = { switch = 2, smu = 3 }    # matrix's Channel Ready out -> SMU digital input

    [timing]                      # optional; seconds
    matrix_settle = 4e-3          # relays from a switching command to settled (measure it;
                                  # default: the matrix driver's nominal figure)
    scan_delay = 5e-3             # SMU trigger -> reading in a scan without switch_ready;
                                  # must be >= matrix_settle
    pulse_settle = 1e-5           # after a gate pulse ends, before a reading may start
    train_gap = 1e-3              # SMU trigger -> reading in a pulse-read train: a pulse whose
                                  # end plus settling does not fit is refused

    [gate_load]                   # what the pulse generator's output drives (default: high-Z)
    impedance = "high"            # the gate: "high", or ohms
    termination = 50              # optional: a terminator at the gate, ohms (in parallel)
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from hil.faults import UsageFault
from hil.pulses import SafetyLimits

ROLES = ("smu", "pulser", "matrix")
TABLES = (
    "bench",
    "limits",
    "read",
    "instruments",
    "wiring",
    "chip",
    "arrays",
    "triggers",
    "timing",
    "gate_load",
)
WIRING_KEYS = ("smu_hi", "smu_lo", "pulse_out", "pulse_ref")
TERMINALS = ("gate", "drain", "source")
# Digital I/O lines a [triggers] cable may name: the 14 of TSP instruments (2600B, 707B); a
# driver checks its own instrument's count (the 2450 has 6).
DIGITAL_LINES = 14


class BenchConfigError(UsageFault):
    """A bench configuration is wrong; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class LimitProblem:
    """A limit of the bench file that an instrument cannot honour: where it is and why."""

    table: str  # "limits" or "read"
    key: str
    message: str


class DriverInfo(Protocol):
    """What the loader needs to know of a driver (drivers.registry.DriverEntry provides it)."""

    role: str

    def limit_problems(
        self, limits: SafetyLimits, read_voltage: float, options: Mapping[str, Any]
    ) -> list[LimitProblem]:
        """The bench's limits this instrument, set up with `options`, cannot honour."""
        ...


@dataclass(frozen=True)
class InstrumentConfig:
    role: str
    driver: str
    address: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArrayRegion:
    """A logical array: chip rows [row_start, row_stop) x cols [col_start, col_stop)."""

    name: str
    row_start: int
    row_stop: int
    col_start: int
    col_stop: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.row_stop - self.row_start, self.col_stop - self.col_start


class SwitchCable(NamedTuple):
    """[triggers] smu_to_switch: the SMU's digital I/O line `smu` cabled to the switch matrix's
    digital I/O line `switch` (both 1-based); switch_ready: the same two ends, the signal going
    the other way (the matrix's Channel Ready out, into the SMU)."""

    smu: int
    switch: int


@dataclass(frozen=True)
class BenchTiming:
    """[timing], seconds. matrix_settle: the switch matrix's relays from a switching command to
    settled (None: the matrix driver's nominal figure). scan_delay: in a scan without the
    Channel Ready cable, the SMU's wait from its trigger to its reading (>= matrix_settle).
    pulse_settle: after a gate pulse has ended, before a reading may start. train_gap: in a
    pulse-read train, the SMU's wait from its trigger to its reading; the pulse's end plus its
    settling must fit in it."""

    matrix_settle: float | None = None
    scan_delay: float = 5e-3
    pulse_settle: float = 1e-5
    train_gap: float = 1e-3

    def pulse_margin(self, width: float) -> float:
        """Seconds from a pulse's end until a reading may start: pulse_settle, and at least the
        pulse's own width (the gate node and the device relax on the pulse's time scale)."""
        return max(self.pulse_settle, width)


@dataclass(frozen=True)
class GateLoad:
    """[gate_load]: what the pulse generator's output drives. impedance: the gate's, ohms
    (math.inf: high impedance, the default); termination: a terminator at the gate in
    parallel, ohms (None: none). stated: the bench file has the table."""

    impedance: float = math.inf
    termination: float | None = None
    stated: bool = False

    @property
    def ohms(self) -> float:
        """The load the generator drives, ohms (math.inf: high impedance)."""
        if self.termination is None:
            return self.impedance
        if math.isinf(self.impedance):
            return self.termination
        return self.impedance * self.termination / (self.impedance + self.termination)

    def describe(self) -> str:
        gate = "high impedance" if math.isinf(self.impedance) else f"{self.impedance:g} ohm"
        end = "" if self.termination is None else f" with a {self.termination:g} ohm terminator"
        return f"gate {gate}{end}" + ("" if self.stated else " (assumed: no [gate_load] table)")


@dataclass(frozen=True)
class BenchConfig:
    name: str
    path: Path | None
    limits: SafetyLimits
    read_voltage: float
    instruments: Mapping[str, InstrumentConfig]
    wiring: Mapping[str, int]
    chip_shape: tuple[int, int]
    pins: Mapping[str, tuple[tuple[int, ...], ...]]  # terminal -> rows x cols table of pads
    arrays: Mapping[str, ArrayRegion]
    # [triggers] smu_to_pulser: the SMU's digital I/O line (1-based) cabled to the pulse
    # generator's external trigger input; None when there is no such cable.
    smu_to_pulser: int | None = None
    # [triggers] smu_to_switch: the SMU's trigger output cabled to the matrix's trigger input, so
    # that the SMU can step a scan of the matrix; None when there is no such cable.
    smu_to_switch: SwitchCable | None = None
    # [triggers] switch_ready: the matrix's Channel Ready output cabled back to an SMU digital
    # input, so that each scan reading waits for the relays; None: a fixed delay (timing).
    switch_ready: SwitchCable | None = None
    timing: BenchTiming = field(default_factory=BenchTiming)
    gate_load: GateLoad = field(default_factory=GateLoad)

    def instrument(self, role: str) -> InstrumentConfig:
        return self.instruments[role]

    def pad(self, terminal: str, row: int, col: int) -> int:
        """The chip pad (switch-matrix column) of a device terminal."""
        return self.pins[terminal][row][col]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "limits": self.limits.__dict__,
            "read_voltage_V": self.read_voltage,
            "instruments": {
                r: {"driver": i.driver, "address": i.address} for r, i in self.instruments.items()
            },
            "chip_shape": list(self.chip_shape),
            "arrays": {n: [a.row_start, a.row_stop, a.col_start, a.col_stop] for n, a in self.arrays.items()},
            "triggers": {
                "smu_to_pulser": self.smu_to_pulser,
                "smu_to_switch": None if self.smu_to_switch is None else self.smu_to_switch._asdict(),
                "switch_ready": None if self.switch_ready is None else self.switch_ready._asdict(),
            },
            "timing_s": self.timing.__dict__,
            "gate_load": self.gate_load.describe(),
        }


class _Locator:
    """Finds the line of a table or key in the TOML text, for error messages."""

    def __init__(self, text: str, source: str):
        self.lines = text.splitlines()
        self.source = source

    def line(self, table: str, key: str | None = None) -> int | None:
        header = re.compile(r"^\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
        current, start = None, None
        for number, text in enumerate(self.lines, 1):
            if re.match(r"^\s*\[", text):
                current = bool(header.match(text))
                if current and start is None:
                    start = number
                continue
            if current and key is not None and re.match(r"^\s*" + re.escape(key) + r"\s*=", text):
                return number
        return start

    def error(self, problem: str, table: str, key: str | None = None) -> BenchConfigError:
        line = self.line(table, key)
        where = f"{self.source}, line {line}" if line else self.source
        name = f"[{table}]" + (f" {key}" if key else "")
        return BenchConfigError(f"{where}: {name}: {problem}")


def load_bench_config(
    source: str | Path,
    known_drivers: Mapping[str, str | DriverInfo] | None = None,
    text: str | None = None,
) -> BenchConfig:
    """Load and validate a bench TOML file.

    known_drivers maps driver name -> role ("smu", "pulser", "matrix") or to a DriverInfo
    (drivers.registry.known_drivers()); when given, unknown drivers and drivers in the wrong role
    are errors, and with DriverInfo so are limits the named instruments cannot honour (a
    compliance the SMU does not accept, a pulse amplitude the generator cannot reach), each with
    its line. `text` parses a string instead of reading `source` (then `source` only names it in
    messages).
    """
    path = Path(source)
    if text is None:
        text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchConfigError(f"{path}: not valid TOML: {exc}") from None
    loc = _Locator(text, str(path))

    for table in data:
        if table not in TABLES:
            raise loc.error(f"unknown table; expected one of {', '.join(sorted(TABLES))}", table)

    bench = _table(data, "bench", loc)
    name = bench.get("name")
    if not isinstance(name, str) or not name:
        raise loc.error('needs name = "..."', "bench", "name")

    limits = _limits(_table(data, "limits", loc), loc)
    read = _table(data, "read", loc)
    read_voltage = _number(read, "voltage", "read", loc)
    if read_voltage <= 0 or read_voltage > limits.max_read_voltage:
        raise loc.error(
            f"read voltage {read_voltage:g} V must be > 0 and <= max_read_voltage "
            f"{limits.max_read_voltage:g} V",
            "read",
            "voltage",
        )

    gate_load = _gate_load(data.get("gate_load"), loc)
    instruments = _with_gate_load(
        _instruments(_table(data, "instruments", loc), known_drivers, loc), gate_load, loc
    )
    _check_instrument_limits(instruments, known_drivers, limits, read_voltage, loc)
    wiring = _wiring(_table(data, "wiring", loc), loc)
    chip_shape, pins = _chip(_table(data, "chip", loc), loc)
    arrays = _arrays(_table(data, "arrays", loc), chip_shape, loc)
    smu_to_pulser, smu_to_switch, switch_ready = _triggers(data.get("triggers", {}), loc)
    return BenchConfig(
        name,
        path,
        limits,
        read_voltage,
        instruments,
        wiring,
        chip_shape,
        pins,
        arrays,
        smu_to_pulser,
        smu_to_switch,
        switch_ready,
        _timing(data.get("timing", {}), loc),
        gate_load,
    )


def _read_text(path: Path) -> str:
    """The file's text, or BenchConfigError saying why it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BenchConfigError(f"cannot read bench configuration {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BenchConfigError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


# ---------------------------------------------------------------------- sections
def _table(data: Mapping[str, Any], name: str, loc: _Locator) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        raise BenchConfigError(f"{loc.source}: missing table [{name}]; see the example in hil/benchconfig.py")
    if not isinstance(value, dict):
        raise loc.error("must be a table", name)
    return value


def _number(table: Mapping[str, Any], key: str, where: str, loc: _Locator) -> float:
    value = table.get(key)
    if value is None:
        raise loc.error(f"missing {key} = <number>", where, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise loc.error(f"{key} must be a number, got {value!r}", where, key)
    return float(value)


def _limits(table: Mapping[str, Any], loc: _Locator) -> SafetyLimits:
    fields = SafetyLimits.__dataclass_fields__
    for key in table:
        if key not in fields:
            raise loc.error(f"unknown limit; known limits: {', '.join(fields)}", "limits", key)
    values: dict[str, Any] = {}
    for key in fields:
        number = _number(table, key, "limits", loc)
        if key == "max_pulses_per_call":
            if number != int(number):
                raise loc.error("must be a whole number", "limits", key)
            number = int(number)
        if not number > 0:
            raise loc.error(f"must be > 0, got {number!r}", "limits", key)
        values[key] = number
    try:
        return SafetyLimits(**values)
    except ValueError as exc:
        raise loc.error(str(exc), "limits") from None


def _instruments(
    table: Mapping[str, Any], known: Mapping[str, str | DriverInfo] | None, loc: _Locator
) -> dict[str, InstrumentConfig]:
    out = {}
    for role in table:
        if role not in ROLES:
            raise loc.error(
                f"unknown instrument role {role!r}; roles are {', '.join(ROLES)}", f"instruments.{role}"
            )
    for role in ROLES:
        entry = table.get(role)
        where = f"instruments.{role}"
        if not isinstance(entry, dict):
            raise BenchConfigError(f"{loc.source}: missing table [{where}] with driver and address")
        driver, address = entry.get("driver"), entry.get("address")
        if not isinstance(driver, str) or not driver:
            raise loc.error('needs driver = "..."', where, "driver")
        if known is not None:
            if driver not in known:
                raise loc.error(
                    f"unknown driver {driver!r}; known drivers: {', '.join(sorted(known))}", where, "driver"
                )
            info = known[driver]
            kind = info if isinstance(info, str) else info.role
            if kind != role:
                raise loc.error(f"driver {driver!r} is a {kind}, not a {role}", where, "driver")
        if not isinstance(address, str) or not address:
            raise loc.error('needs address = "..." (a VISA resource or a pyserial URL)', where, "address")
        options = entry.get("options", {})
        extra = set(entry) - {"driver", "address", "options"}
        if extra:
            raise loc.error(f"unknown keys {sorted(extra)}; put driver settings under options", where)
        if not isinstance(options, dict):
            raise loc.error("options must be a table", where, "options")
        out[role] = InstrumentConfig(role, driver, address, dict(options))
    return out


def _check_instrument_limits(
    instruments: Mapping[str, InstrumentConfig],
    known: Mapping[str, str | DriverInfo] | None,
    limits: SafetyLimits,
    read_voltage: float,
    loc: _Locator,
) -> None:
    """Refuse, at its line, the first limit an instrument cannot honour (others are listed)."""
    problems = []
    for instrument in instruments.values():
        info = None if known is None else known.get(instrument.driver)
        if info is not None and not isinstance(info, str) and isinstance(instrument.options, Mapping):
            problems += info.limit_problems(limits, read_voltage, instrument.options)
    if problems:
        first, *others = problems
        more = "".join(f"; also [{p.table}] {p.key}: {p.message}" for p in others)
        raise loc.error(first.message + more, first.table, first.key)


def _wiring(table: Mapping[str, Any], loc: _Locator) -> dict[str, int]:
    out = {}
    for key in table:
        if key not in WIRING_KEYS:
            raise loc.error(f"unknown instrument terminal; expected {', '.join(WIRING_KEYS)}", "wiring", key)
    for key in WIRING_KEYS:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise loc.error(f"needs {key} = <switch-matrix row, 1-based>", "wiring", key)
        out[key] = value
    seen: dict[int, str] = {}
    for key, row in out.items():
        if row in seen:
            raise loc.error(f"matrix row {row} is already used by {seen[row]}", "wiring", key)
        seen[row] = key
    return out


def _triggers(table: object, loc: _Locator) -> tuple[int | None, SwitchCable | None, SwitchCable | None]:
    if not isinstance(table, dict):
        raise loc.error("must be a table", "triggers")
    for key in table:
        if key not in ("smu_to_pulser", "smu_to_switch", "switch_ready"):
            raise loc.error(
                "unknown trigger cable; expected smu_to_pulser, smu_to_switch or switch_ready",
                "triggers",
                key,
            )
    line = table.get("smu_to_pulser")
    if line is not None and not _is_line(line):
        raise loc.error(
            f"needs smu_to_pulser = <the SMU's digital I/O line, 1 to {DIGITAL_LINES}, cabled to the pulse "
            "generator's external trigger input>",
            "triggers",
            "smu_to_pulser",
        )
    cable = _cable(table, "smu_to_switch", loc)
    ready = _cable(table, "switch_ready", loc)
    if cable is not None and cable.smu == line:
        raise loc.error(
            f"SMU digital I/O line {line} is already cabled to the pulse generator (smu_to_pulser): a read "
            "would fire the generator and a pulse train would step the matrix; use another line",
            "triggers",
            "smu_to_switch",
        )
    if ready is not None:
        _check_ready_cable(ready, line, cable, loc)
    return line, cable, ready


def _cable(table: Mapping[str, Any], key: str, loc: _Locator) -> SwitchCable | None:
    """A { smu = <line>, switch = <line> } cable of [triggers], or None."""
    cable = table.get(key)
    if cable is None:
        return None
    ends = ("smu", "switch")
    if not isinstance(cable, dict) or sorted(cable) != sorted(ends) or not all(map(_is_line, cable.values())):
        raise loc.error(
            f"needs {key} = {{ smu = <the SMU's digital I/O line, 1 to {DIGITAL_LINES}>, switch = "
            f"<the switch matrix's digital I/O line, 1 to {DIGITAL_LINES}, the other end of the cable> }}, "
            f"got {cable!r}",
            "triggers",
            key,
        )
    return SwitchCable(cable["smu"], cable["switch"])


def _check_ready_cable(
    ready: SwitchCable, pulser: int | None, cable: SwitchCable | None, loc: _Locator
) -> None:
    """The Channel Ready cable needs the scan cable and lines of its own at both ends."""
    if cable is None:
        raise loc.error(
            "a Channel Ready cable serves scans stepped by the SMU: add smu_to_switch too",
            "triggers",
            "switch_ready",
        )
    if ready.smu in (pulser, cable.smu):
        raise loc.error(
            f"SMU digital I/O line {ready.smu} is already an output to another instrument; the Channel Ready "
            "signal needs a line of its own (an input)",
            "triggers",
            "switch_ready",
        )
    if ready.switch == cable.switch:
        raise loc.error(
            f"matrix digital I/O line {ready.switch} already receives the SMU's trigger (smu_to_switch); the "
            "Channel Ready output needs another line",
            "triggers",
            "switch_ready",
        )


_TIMING_KEYS = ("matrix_settle", "scan_delay", "pulse_settle", "train_gap")


def _timing(table: object, loc: _Locator) -> BenchTiming:
    if not isinstance(table, dict):
        raise loc.error("must be a table", "timing")
    for key in table:
        if key not in _TIMING_KEYS:
            raise loc.error(f"unknown setting; expected {', '.join(_TIMING_KEYS)} (seconds)", "timing", key)
    values = {}
    for key in table:
        seconds = _number(table, key, "timing", loc)
        if not 0 < seconds < 10:
            raise loc.error(f"must be seconds between 0 and 10, got {seconds!r}", "timing", key)
        values[key] = seconds
    timing = BenchTiming(**values)
    if timing.matrix_settle is not None and timing.scan_delay < timing.matrix_settle:
        raise loc.error(
            f"{timing.scan_delay:g} s is shorter than the matrix's settling time {timing.matrix_settle:g} s: "
            "scan readings would be taken while the relays settle; raise it, or cable the matrix's "
            "Channel Ready output to the SMU ([triggers] switch_ready)",
            "timing",
            "scan_delay",
        )
    return timing


def _gate_load(table: object, loc: _Locator) -> GateLoad:
    if table is None:
        return GateLoad()
    if not isinstance(table, dict) or "impedance" not in table or set(table) - {"impedance", "termination"}:
        raise loc.error(
            'needs impedance = "high" or <ohms>, and optionally termination = <ohms>', "gate_load"
        )
    impedance = table["impedance"]
    if impedance == "high":
        impedance = math.inf
    elif isinstance(impedance, bool) or not isinstance(impedance, int | float) or not impedance > 0:
        raise loc.error(
            f'must be "high" or a number of ohms > 0, got {impedance!r}', "gate_load", "impedance"
        )
    termination = table.get("termination")
    if termination is not None and (
        isinstance(termination, bool)
        or not isinstance(termination, int | float)
        or not 0 < termination < math.inf
    ):
        raise loc.error(f"must be a number of ohms > 0, got {termination!r}", "gate_load", "termination")
    return GateLoad(float(impedance), None if termination is None else float(termination), stated=True)


def _with_gate_load(
    instruments: dict[str, InstrumentConfig], load: GateLoad, loc: _Locator
) -> dict[str, InstrumentConfig]:
    """The pulse generator's load_ohms option derived from [gate_load] (absent: high impedance).
    A load_ohms option that disagrees is refused: a generator told 50 ohm that drives a
    high-impedance gate puts twice the level on it."""
    pulser = instruments["pulser"]
    options = dict(pulser.options)
    declared = options.pop("load_ohms", None)
    derived = None if math.isinf(load.ohms) else load.ohms
    agree = declared is None or (
        derived is not None
        and isinstance(declared, int | float)
        and not isinstance(declared, bool)
        and math.isclose(declared, derived, rel_tol=1e-6)
    )
    if not agree:
        effect = "twice the programmed level" if derived is None else "another level than programmed"
        raise loc.error(
            f"load_ohms = {declared!r} disagrees with the bench's gate load ({load.describe()}): the gate "
            f"would see {effect}. State what the output drives in [gate_load] (impedance, and "
            "termination if a terminator sits at the gate) and drop load_ohms",
            "instruments.pulser",
            "options",
        )
    if derived is not None:
        options["load_ohms"] = derived
    return {**instruments, "pulser": dataclasses.replace(pulser, options=options)}


def _is_line(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= DIGITAL_LINES


def _chip(
    table: Mapping[str, Any], loc: _Locator
) -> tuple[tuple[int, int], dict[str, tuple[tuple[int, ...], ...]]]:
    rows, cols = (table.get(k) for k in ("rows", "cols"))
    for key, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise loc.error(f"needs {key} = <positive whole number>", "chip", key)
    extra = set(table) - {"rows", "cols", *TERMINALS}
    if extra:
        raise loc.error(f"unknown keys {sorted(extra)}; terminals are {', '.join(TERMINALS)}", "chip")
    pins: dict[str, tuple[tuple[int, ...], ...]] = {}
    for terminal in TERMINALS:
        value = table.get(terminal)
        if value is None:
            raise loc.error(f"missing pin map for the {terminal} terminal", "chip", terminal)
        if isinstance(value, int) and not isinstance(value, bool):
            grid = [[value] * cols for _ in range(rows)]
        elif (
            isinstance(value, list)
            and len(value) == rows
            and all(isinstance(r, list) and len(r) == cols for r in value)
        ):
            grid = value
        else:
            raise loc.error(
                f"must be one pad number (shared by all devices) or a {rows} x {cols} table of pads",
                "chip",
                terminal,
            )
        for r in grid:
            for pad in r:
                if isinstance(pad, bool) or not isinstance(pad, int) or pad < 1:
                    raise loc.error(f"pads are switch-matrix columns >= 1, got {pad!r}", "chip", terminal)
        pins[terminal] = tuple(tuple(r) for r in grid)
    # A pad may be shared within one terminal (a common source) but never across terminals,
    # and a gate or drain pad belongs to one device only (else a read or pulse hits two devices).
    owner: dict[int, str] = {}
    for terminal, grid in pins.items():
        flat = [p for r in grid for p in r]
        shared = len(set(flat)) == 1 and rows * cols > 1
        if terminal != "source" and not shared and len(set(flat)) != len(flat):
            dup = next(p for p in flat if flat.count(p) > 1)
            raise loc.error(
                f"pad {dup} is given to two devices; each {terminal} needs its own pad", "chip", terminal
            )
        if terminal in ("gate", "drain") and shared:
            raise loc.error(f"every device needs its own {terminal} pad", "chip", terminal)
        for pad in set(flat):
            if pad in owner and owner[pad] != terminal:
                raise loc.error(f"pad {pad} is wired to both {owner[pad]} and {terminal}", "chip", terminal)
            owner[pad] = terminal
    return (rows, cols), pins


def _arrays(table: Mapping[str, Any], chip: tuple[int, int], loc: _Locator) -> dict[str, ArrayRegion]:
    if not table:
        raise BenchConfigError(f"{loc.source}: [arrays] is empty; define at least one [arrays.NAME]")
    out: dict[str, ArrayRegion] = {}
    for name, entry in table.items():
        where = f"arrays.{name}"
        if not isinstance(entry, dict) or set(entry) != {"rows", "cols"}:
            raise loc.error("needs exactly rows = [start, stop] and cols = [start, stop]", where)
        spans = []
        for key, limit in (("rows", chip[0]), ("cols", chip[1])):
            span = entry[key]
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in span)
                or not 0 <= span[0] < span[1] <= limit
            ):
                raise loc.error(f"{key} must be [start, stop] with 0 <= start < stop <= {limit}", where, key)
            spans.append(span)
        region = ArrayRegion(name, spans[0][0], spans[0][1], spans[1][0], spans[1][1])
        for other in out.values():
            if (
                region.row_start < other.row_stop
                and other.row_start < region.row_stop
                and region.col_start < other.col_stop
                and other.col_start < region.col_stop
            ):
                raise loc.error(f"overlaps array {other.name!r}: a device belongs to one array", where)
        out[name] = region
    return out
