"""Virtual Keithley 2450 SourceMeter (native "SCPI" command set), wired to a VirtualChip.

Its HI terminal is the bench terminal SMU.HI and its LO terminal SMU.LO (held at ground).
A reading solves the chip's network for whatever the switch matrices connect to HI and LO
(see wiring.py): I = G V for one routed device, parallel devices add, nothing routed reads
0 A. The source limit works as on the instrument: when |I| would exceed the current limit
(ILIM) the output voltage drops until I equals the limit, the reading sits at the limit,
``:SOUR:VOLT:ILIM:TRIP?`` answers 1 and the buffer's source status has bit 32 (STAT_LIMIT)
set. Readings are exact apart from the 7 significant digits of the ASCII format.

The full command subset is listed in docs/virtual-bench.md.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from simulators.virtual import scpi
from simulators.virtual.scpi import ScpiEngine, ScpiError, Suffix, action, answer, arg_count, flag
from simulators.virtual.server import VirtualInstrument
from simulators.virtual.triggers import Disturbance, Edge, Kind, LineEdge, Signal, TriggerPulse
from simulators.virtual.wiring import SMU_HI, SmuReading, VirtualChip

OVERFLOW = 9.9e37  # what the 2450 returns for a reading above its fixed range
LINE_FREQUENCY = 60.0  # hertz; an NPLC of integration lasts NPLC / LINE_FREQUENCY seconds

# :SOURce:LIST:<function> takes up to 100 values per command, 2500 in all (reference manual,
# :SOURce[1]:LIST:<function> and :APPend).
LIST_CHUNK, LIST_TOTAL = 100, 2500

# Rear-panel digital I/O lines, and the most blocks a trigger model holds (reference manual,
# "Digital I/O" and :TRIGger:BLOCk commands).
DIGITAL_LINES = 6
MAX_BLOCKS = 63
# A trigger model that has not ended after this many block steps is taken as an endless loop.
MAX_MODEL_STEPS = 10_000_000
MAX_COUNT = 268_435_455  # the largest repeat or reading count the 2450 takes
MAX_BUFFER = 11_000_000  # readings a buffer holds at most
DEFAULT_BUFFER = "defbuffer1"

# Buffer status bits (2450 reference manual, bufferVar.statuses / .sourcestatuses).
STAT_TERMINAL = 8  # measure terminal: front is 1
SOURCE_STAT_LIMIT = 32  # source level was limited (compliance)
SOURCE_STAT_READBACK = 8
SOURCE_STAT_OUTPUT = 128

# Siemens from the gate to the channel while a gate pulse is on during a reading (capacitive
# coupling and gate leakage together, as a conductance): a 6 V pulse adds ~6 uA, against the
# ~2 uA a 20 uS device draws at 0.1 V, so a reading overlapping a pulse is plainly wrong.
GATE_COUPLING = 1e-6
_EDGES = {"FALL": Edge.FALLING, "RIS": Edge.RISING, "EITH": Edge.EITHER}


@dataclass(frozen=True)
class _Source:
    """What differs between the voltage and the current source (reference manual, :SOURce)."""

    node: str  # header node of the function
    limit_node: str  # the limit on the other quantity: a voltage source limits the current
    top: float  # largest |level|
    limit_lo: float
    limit_hi: float
    configuration_list: str  # name of the list :SOURce:LIST:<function> fills

    def measured(self, reading: SmuReading) -> float:
        """The sourced quantity as read back."""
        return reading.voltage if self.node == "VOLTage" else reading.current


_SOURCES = {
    "VOLT": _Source(
        node="VOLTage",
        limit_node="ILIMit",
        top=210.0,
        limit_lo=1e-9,
        limit_hi=1.05,
        configuration_list="VoltCustomSweepList",
    ),
    "CURR": _Source(
        node="CURRent",
        limit_node="VLIMit",
        top=1.05,
        limit_lo=0.02,
        limit_hi=210.0,
        configuration_list="CurrCustomSweepList",
    ),
}
_SOURCE_FUNCS = {source.node: name for name, source in _SOURCES.items()}
# Sense function -> header node, the :SENSe:FUNCtion? reply, and the value a reading reports.
_SENSE_FUNCS = {"VOLT": "VOLTage[:DC]", "CURR": "CURRent[:DC]", "RES": "RESistance"}
_SENSE_NAMES = {"VOLT": '"VOLT:DC"', "CURR": '"CURR:DC"', "RES": '"RES"'}
_SENSE_VALUE: dict[str, Callable[[SmuReading], float]] = {
    "VOLT": lambda r: r.voltage,
    "CURR": lambda r: r.current,
    "RES": lambda r: r.voltage / r.current if r.current else OVERFLOW,
}
_RANGES = {
    "VOLT": (0.02, 0.2, 2.0, 20.0, 200.0),
    "CURR": (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0),
    "RES": (20.0, 200.0, 2e3, 20e3, 200e3, 2e6, 20e6, 200e6),
}


def fmt(value: float) -> str:
    """The 2450's default ASCII number format, e.g. 1.234567E-06."""
    return f"{value:.6E}"


@dataclass(frozen=True)
class Reading:
    """One stored reading: value of the measure function, source value, relative time (s)."""

    value: float
    source: float
    relative: float
    status: int
    source_status: int


# Buffer elements of :READ?, :FETCh? and :TRACe:DATA?, and how each shows a reading.
_ELEMENTS: dict[str, Callable[[Reading], str]] = {
    "READing": lambda r: fmt(r.value),
    "SOURce": lambda r: fmt(r.source),
    "RELative": lambda r: fmt(r.relative),
    "STATus": lambda r: str(r.status),
    "SOURSTATus": lambda r: str(r.source_status),
}


@dataclass
class Buffer:
    capacity: int
    readings: deque[Reading] = field(default_factory=deque)

    def add(self, reading: Reading) -> None:
        if len(self.readings) >= self.capacity:  # fill mode CONTinuous: oldest goes
            self.readings.popleft()
        self.readings.append(reading)


@dataclass
class _SourceSettings:
    """One source function's settings; `limit` is its ILIMit (voltage) or VLIMit (current)."""

    limit: float
    range: float
    level: float = 0.0
    auto_range: bool = True
    delay: float = 0.0
    delay_auto: bool = True
    readback: bool = True
    off_mode: str = "NORM"  # :OUTPut:<function>:SMODe


@dataclass
class _SenseSettings:
    """One measure function's settings."""

    range: float
    auto_range: bool = True
    nplc: float = 1.0
    azero: bool = True
    rsense: bool = False
    average: bool = False
    average_control: str = "REP"
    average_count: int = 10


@dataclass(frozen=True)
class _Sweep:
    """A sweep :INITiate runs: source `function` through `levels`, `repeats` times."""

    function: str
    levels: list[float]
    repeats: int
    buffer: str
    abort_on_limit: bool


@dataclass
class _Line:
    """A digital I/O line: mode "DIG"/"TRIG", direction "IN"/"OUT"/"OPEN", and as a trigger
    output its stimulus (notify event number, 0 = none), logic and pulse width (s); as a
    trigger input the edge it detects (:TRIGger:DIGital<n>:IN:EDGE); as a digital output its
    level (:DIGital:LINE<n>:STATe, or a trigger-model Digital I/O block; 1 high, 0 low)."""

    mode: tuple[str, str] = ("DIG", "IN")
    level: int = 1
    stimulus: int = 0
    logic: str = "NEG"
    pulse: float = 10e-6
    edge: str = "FALL"


@dataclass
class _State:
    source: str = "VOLT"
    sources: dict[str, _SourceSettings] = field(
        default_factory=lambda: {
            "VOLT": _SourceSettings(limit=105e-6, range=0.02),
            "CURR": _SourceSettings(limit=21.0, range=1e-8),
        }
    )
    sense: str = "CURR"
    senses: dict[str, _SenseSettings] = field(
        default_factory=lambda: {
            "VOLT": _SenseSettings(range=0.02),
            "CURR": _SenseSettings(range=1e-8),
            "RES": _SenseSettings(range=2e5),
        }
    )
    count: int = 1
    output: bool = False
    terminals: str = "FRON"
    precision: int = 0
    tripped: bool = False
    sweep: _Sweep | None = None
    # :SOURce:LIST:<function> values, the configuration lists VoltCustomSweepList / CurrCustomSweepList
    lists: dict[str, list[float]] = field(default_factory=dict)
    # A trigger model built block by block after :TRIGger:LOAD "Empty" (None: none loaded);
    # block number -> (kind, arguments).
    blocks: dict[int, tuple[str, tuple]] | None = None
    lines: dict[int, _Line] = field(default_factory=lambda: {n: _Line() for n in range(1, DIGITAL_LINES + 1)})


_AVERAGE_CONTROLS = {"REPeat": "REP", "MOVing": "MOV"}
# One-parameter settings of each measure function, below [:SENSe#]:<function>: header node,
# _SenseSettings field, parser, reply format.
_SENSE_SETTINGS: tuple[tuple[str, str, Callable[[str], object], Callable[..., str]], ...] = (
    ("RANGe:AUTO", "auto_range", scpi.boolean, flag),
    ("NPLCycles", "nplc", lambda a: scpi.number(a, 0.01, 10), fmt),
    ("AZERo[:STATe]", "azero", scpi.boolean, flag),
    ("RSENse", "rsense", scpi.boolean, flag),
    ("AVERage[:STATe]", "average", scpi.boolean, flag),
    ("AVERage:TCONtrol", "average_control", lambda a: scpi.choice(a, _AVERAGE_CONTROLS), str),
    ("AVERage:COUNt", "average_count", lambda a: scpi.integer(a, 1, 100), str),
)
_OFF_MODES = {"NORMal": "NORM", "HIMPedance": "HIMP", "ZERO": "ZERO", "GUARd": "GUAR"}


def _channel_one(sfx: Suffix) -> None:
    """The 2450 has one channel: :SOURce, :SENSe and :OUTPut take no suffix or 1."""
    for node in ("SOURCE", "SENSE", "OUTPUT"):
        if sfx.get(node) not in (None, 1):
            raise ScpiError(-114)


def _pick_range(function: str, value: float) -> float:
    """The smallest range of `function` that holds |value|."""
    for r in _RANGES[function]:
        if abs(value) <= r * (1 + 1e-9):
            return r
    raise ScpiError(-222)


def _buffer_name(args: list[str], most: int = 1) -> str:
    arg_count(args, 0, most)
    return scpi.string(args[0]) if args else DEFAULT_BUFFER


def _one(parse: Callable[[str], object]) -> Callable[[list[str]], tuple]:
    """Block arguments of exactly one parameter."""

    def read(args: list[str]) -> tuple:
        arg_count(args, 1, 1)
        return (parse(args[0]),)

    return read


def _counter_block(args: list[str]) -> tuple[int, int]:
    arg_count(args, 2, 2)
    return scpi.integer(args[0], 1, MAX_COUNT), scpi.integer(args[1], 1, MAX_BLOCKS)


def _stimulus(arg: str) -> int:
    """A trigger output's stimulus: NONE -> 0, NOTify<n> -> n."""
    text = arg.strip().upper()
    notify = re.fullmatch(r"NOT(?:IFY)?(\d+)", text)
    if text == "NONE":
        return 0
    if notify is not None:
        return scpi.integer(notify.group(1), 1, 8)
    raise ScpiError(-224, "only NONE and NOTify<n> stimuli are simulated")


def _digital_event(arg: str) -> int:
    """A wait block's event: DIGio<n> (only digital inputs are simulated)."""
    found = re.fullmatch(r"DIG(?:IO)?(\d+)", arg.strip().upper())
    if found is None:
        raise ScpiError(-224, "only DIGio<n> wait events are simulated")
    return scpi.integer(found.group(1), 1, DIGITAL_LINES)


def _bit_pattern(args: list[str]) -> tuple[int, int]:
    """A Digital I/O block's <bitPattern>[, <bitMask>] over the six lines (default mask: all)."""
    arg_count(args, 1, 2)
    top = 2**DIGITAL_LINES - 1
    return scpi.integer(args[0], 0, top), scpi.integer(args[1], 0, top) if len(args) > 1 else top


def _statistic(values: list[float], fn: Callable[[list[float]], float]) -> str:
    if not values:
        raise ScpiError(-230, "the reading buffer is empty")
    return fmt(fn(values))


_STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "AVERage": statistics.fmean,
    "MAXimum": max,
    "MINimum": min,
    "PK2Pk": lambda v: max(v) - min(v),
    "STDDev": lambda v: statistics.stdev(v) if len(v) > 1 else 0.0,
}


class Keithley2450(VirtualInstrument):
    """One SMU channel speaking the 2450's native SCPI."""

    kind = "keithley2450"

    def __init__(self, chip: VirtualChip, serial: str = "04411779", firmware: str = "1.7.12b"):
        super().__init__()
        self.chip = chip
        self.idn = f"KEITHLEY INSTRUMENTS,MODEL 2450,{serial},{firmware}"
        self.engine = ScpiEngine()
        #: fault switch: every reading reports compliance (the source limit was hit)
        self.force_compliance = False
        #: cables from digital I/O lines to other instruments: line -> what a trigger pulse on it
        #: does there; it may return the Disturbances it causes at the chip (triggers.py)
        self.trigger_links: dict[int, Callable[[Signal], list[Disturbance] | None]] = {}
        #: readings whose integration started before a relay settled or a gate pulse ended
        self.disturbed_readings = 0
        self._disturbances: list[Disturbance] = []
        # Edges seen on digital inputs since the trigger model started: line -> times (s)
        self._input_edges: dict[int, list[float]] = {}
        self.state = _State()
        #: the command set *LANG? reports ("SCPI", or "TSP": then only common commands work)
        self.command_set = "SCPI"
        self.buffers: dict[str, Buffer] = {}
        self._epoch = 0.0  # clock.elapsed at the last reset: readings' RELative times count from it
        # What each kind of trigger-model block does when the model reaches it (the counter
        # block, which moves the model, is run by _run_model itself).
        self._block_actions: dict[str, Callable[..., None]] = {
            "clear": lambda buffer: self._buffer(buffer).readings.clear(),
            "notify": self._notify,
            "delay": self.clock.spend,
            "measure": self._acquire,
            "source": self._source_block,
            "wait": self._wait_block,
            "digital": self._digital_block,
        }
        self._register()
        self._reset()

    # ------------------------------------------------------------------ wire
    def handle(self, line: str) -> str | None:
        if self.command_set != "SCPI" and not line.strip().startswith("*"):
            # The TSP command set parses this as Lua: a syntax error, and no reply.
            self.engine.push_error(-285, "TSP Syntax error: unexpected symbol (the SCPI command set is off)")
            return None
        return self.engine.execute(line)

    def randomise(self, rng: np.random.Generator) -> None:
        """A state other software may leave behind (unlike *RST's): a current source, another
        measure function, several readings per trigger, the filter on and autozero off, a
        fixed source delay, a high-impedance or zero output-off state, and two digital lines
        that pulse on a notify."""
        s = self.state
        s.source, s.sense = "CURR", str(rng.choice(["VOLT", "RES"]))
        s.count = int(rng.integers(2, 6))
        s.senses["CURR"].average, s.senses["CURR"].azero = True, False
        volts = s.sources["VOLT"]
        volts.delay_auto, volts.delay = False, float(rng.uniform(1e-3, 1e-2))
        volts.off_mode = str(rng.choice(["HIMP", "ZERO"]))
        for line in rng.choice(np.arange(1, DIGITAL_LINES + 1), size=2, replace=False):
            s.lines[int(line)] = _Line(("TRIG", "OUT"), stimulus=int(rng.integers(1, 4)), logic="POS")
        self._sync()

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        self.engine.push_error(code, message)
        return reply

    # ------------------------------------------------------------------ state changes
    def _reset(self) -> None:
        self.state = _State()
        self.buffers = {DEFAULT_BUFFER: Buffer(100_000), "defbuffer2": Buffer(10)}
        self._epoch = self.clock.elapsed
        self._sync()

    def _sync(self) -> None:
        """Tell the chip what HI holds when no reading is running (for stress checks)."""
        s = self.state
        if s.output and s.source == "VOLT":
            self.chip.set_level(SMU_HI, s.sources["VOLT"].level)
        elif not s.output and s.sources[s.source].off_mode != "HIMP":
            self.chip.set_level(SMU_HI, 0.0)  # NORMal off state: 0 V source
        else:
            self.chip.set_level(SMU_HI, None)

    # ------------------------------------------------------------------ readings
    def _solve(self) -> SmuReading:
        """What HI sees for the output state, with the compliance fault applied."""
        s = self.state
        source = s.sources[s.source]
        if s.output:
            r = self.chip.measure_smu(s.source, source.level, source.limit)
        elif source.off_mode == "HIMP":
            r = SmuReading(0.0, 0.0, False)  # output relay open
        else:
            r = self.chip.measure_smu("VOLT", 0.0, s.sources["VOLT"].limit)
        if not self.force_compliance:
            return r
        if s.source == "VOLT":
            return SmuReading(r.voltage, math.copysign(source.limit, r.voltage or 1.0), True)
        return SmuReading(math.copysign(source.limit, r.current or 1.0), r.current, True)

    def _measure(self) -> Reading:
        s = self.state
        source, sense = s.sources[s.source], s.senses[s.sense]
        r = self._solve()
        s.tripped = r.limited
        value = self._spoil(_SENSE_VALUE[s.sense](r), sense.nplc / LINE_FREQUENCY)
        if not sense.auto_range and abs(value) > 1.05 * sense.range:
            value = OVERFLOW
        source_value = _SOURCES[s.source].measured(r) if source.readback else source.level
        source_status = (
            (SOURCE_STAT_OUTPUT if s.output else 0)
            | (SOURCE_STAT_LIMIT if r.limited else 0)
            | (SOURCE_STAT_READBACK if source.readback else 0)
        )
        status = STAT_TERMINAL if s.terminals == "FRON" else 0
        reading = Reading(value, source_value, self.clock.elapsed - self._epoch, status, source_status)
        # The integration: NPLC power-line cycles, 1/60 s each at 60 Hz (2450/2461 reference
        # manual, :SENSe:<function>:NPLCycles). Autozero and source delays are not modelled.
        self.clock.spend(sense.nplc / LINE_FREQUENCY)
        return reading

    def _spoil(self, value: float, integration: float) -> float:
        """The reading as the chip gives it when its integration (starting now, `integration`
        seconds) began before a disturbance ended (triggers.py): relays still settling leave an
        open circuit for the part of the integration before they settled; a gate pulse adds
        volts x GATE_COUPLING over its overlap. Such readings are counted."""
        start = self.clock.elapsed
        self._disturbances = [d for d in self._disturbances if start < d.end]
        if not self._disturbances:
            return value
        self.disturbed_readings += 1
        end = start + integration
        for d in self._disturbances:
            if d.kind is Kind.RELAYS:
                value *= min(max((end - d.end) / integration, 0.0), 1.0)
            else:
                overlap = max(0.0, min(d.end, end) - max(d.start, start))
                value += d.volts * GATE_COUPLING * overlap / integration
        return value

    def digital_input(self, line: int, pulse: TriggerPulse) -> None:
        """A trigger pulse into digital I/O `line` (a cable from another instrument; `pulse` on
        this instrument's clock): a line in trigger-input mode remembers each edge it detects
        for a wait block of the running trigger model."""
        state = self.state.lines.get(line)
        if state is None or state.mode != ("TRIG", "IN"):
            return
        self._input_edges.setdefault(line, []).extend(pulse.edges(_EDGES[state.edge]))

    def _wait_block(self, line: int) -> None:
        """Wait for an edge on digital input `line`: at once if one came since the model started
        (the clock moves on to it), and the line's remembered edges are cleared on leaving. No
        edge at all stops the model with an error: a real 2450 would wait for ever."""
        edges = self._input_edges.get(line)
        if not edges:
            raise ScpiError(
                -200,
                f"trigger model stopped: wait block for digital input {line} saw no edge "
                "(a 2450 would wait for ever)",
            )
        late = edges[0] - self.clock.elapsed
        if late > 0:
            self.clock.spend(late)
        self._input_edges[line] = []

    def _acquire(self, buffer: str, count: int) -> Reading:
        target = self._buffer(buffer)
        reading = None
        for _ in range(count):
            reading = self._measure()
            target.add(reading)
        return reading

    def _buffer(self, name: str) -> Buffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise ScpiError(-224, f"reading buffer {name} does not exist") from None

    def _source_list(self, function: str) -> list[float]:
        try:
            return list(self.state.lists[function])
        except KeyError:
            raise ScpiError(
                -221,
                f"configuration list {_SOURCES[function].configuration_list} does not exist; "
                f"send :SOURce:LIST first",
            ) from None

    @staticmethod
    def _format(reading: Reading, elements: list[Callable[[Reading], str]]) -> str:
        return ",".join(show(reading) for show in elements or [_ELEMENTS["READing"]])

    @staticmethod
    def _buffer_and_elements(args: list[str]) -> tuple[str, list[Callable[[Reading], str]]]:
        name = scpi.string(args[0]) if args else DEFAULT_BUFFER
        try:
            elements = [scpi.choice(a, _ELEMENTS) for a in args[1:]]
        except ScpiError:
            raise ScpiError(-224, "buffer element not supported by the virtual 2450") from None
        return name, elements

    # ------------------------------------------------------------------ sweeps and trigger models
    def _arm_sweep(self, sweep: _Sweep) -> None:
        self._buffer(sweep.buffer)
        self.state.sweep = sweep
        self.state.blocks = None  # a sweep builds its own trigger model

    def _run_sweep(self) -> None:
        s, sweep = self.state, self.state.sweep
        source = s.sources[sweep.function]
        saved_level, saved_output, saved_source = source.level, s.output, s.source
        s.source, s.output = sweep.function, True
        try:
            for _ in range(sweep.repeats):
                for level in sweep.levels:
                    source.level = level
                    self._sync()
                    self._buffer(sweep.buffer).add(self._measure())
                    if sweep.abort_on_limit and s.tripped:
                        return
        finally:
            source.level, s.output, s.source = saved_level, saved_output, saved_source
            self._sync()

    def _run_model(self) -> None:
        """Run the trigger model block by block, as the 2450 does after :INITiate.

        Delay blocks and readings take instrument time (self.clock: the readings' relative
        times advance by it, and the server waits it out when durations are on). A Notify block
        sends a trigger pulse out of every digital line in trigger-output mode whose stimulus is
        that event, to whatever trigger_links wires the line to.
        """
        blocks = self.state.blocks or {}
        if sorted(blocks) != list(range(1, len(blocks) + 1)):
            raise ScpiError(-221, f"trigger model blocks must be numbered 1 to {len(blocks)} without gaps")
        self._input_edges = {}  # the start block clears the remembered events
        counters: dict[int, int] = {}
        k, steps = 1, 0
        while 1 <= k <= len(blocks):
            steps += 1
            if steps > MAX_MODEL_STEPS:
                raise ScpiError(-200, "trigger model did not end; aborted")
            kind, args = blocks[k]
            if kind == "counter":
                k = self._branch(k, *args, counters)
            elif kind == "reset":  # a counter-reset block: that counter starts again from 0
                counters[args[0]] = 0
                k += 1
            else:
                self._block_actions[kind](*args)
                k += 1

    @staticmethod
    def _branch(k: int, target: int, to: int, counters: dict[int, int]) -> int:
        """A counter block at `k`: back to block `to` until the loop body has run `target` times.
        The count starts at 0 when the model starts and only a counter-reset block sets it back
        (the reference manual's nested loops reset the inner counter with one): an inner loop
        entered again without one runs its body once."""
        counters[k] = counters.get(k, 0) + 1
        return to if counters[k] < target else k + 1

    def _notify(self, event: int) -> None:
        """Every trigger-output line whose stimulus is notify `event` sends its pulse now."""
        for number, line in self.state.lines.items():
            if line.mode == ("TRIG", "OUT") and line.stimulus == event:
                link = self.trigger_links.get(number)
                if link is not None:
                    pulse = TriggerPulse(self.clock.elapsed, line.pulse, active_low=line.logic == "NEG")
                    self._disturbances += link(pulse) or []

    def _digital_block(self, pattern: int, mask: int) -> None:
        """A Digital I/O block: every line in `mask` that is a digital output takes its bit of
        `pattern` (bit 0 is line 1)."""
        for number, line in self.state.lines.items():
            if mask >> (number - 1) & 1 and line.mode[0] == "DIG" and line.mode[1] != "IN":
                self._drive(number, pattern >> (number - 1) & 1)

    def _drive(self, number: int, level: int) -> None:
        """Digital output line `number` goes to `level`; a change is one edge down its cable now."""
        line = self.state.lines[number]
        if line.level == level:
            return
        line.level = level
        link = self.trigger_links.get(number)
        if link is not None:
            self._disturbances += link(LineEdge(self.clock.elapsed, falling=level == 0)) or []

    def _source_block(self, on: bool) -> None:
        self.state.output = on
        self._sync()

    # ------------------------------------------------------------------ command table
    def _register(self) -> None:
        """The command table, one subsystem at a time."""
        self._common_commands()
        self._system_commands()
        self._source_commands()
        for function in _SOURCES:
            self._source_function_commands(function)
            self._source_list_commands(function)
        self._sense_commands()
        for function in _SENSE_FUNCS:
            self._sense_function_commands(function)
        self._reading_commands()
        self._trace_commands()
        self._trigger_model_commands()
        self._digital_io_commands()
        self._output_commands()

    def _setting(
        self, spec: str, apply: Callable[[str], object] | None, show: Callable[[], str] | None = None
    ) -> None:
        """A one-parameter setting: `apply` validates and stores the parameter, `show` answers
        the query; the chip learns of every change at once."""

        def write(args: list[str], sfx: Suffix) -> None:
            _channel_one(sfx)
            apply(scpi.one_arg(args))
            self._sync()

        def query(args: list[str], sfx: Suffix) -> str:
            _channel_one(sfx)
            scpi.no_args(args)
            return show()

        self.engine.command(spec, write=write if apply else None, query=query if show else None)

    def _field(
        self,
        spec: str,
        settings: Callable[[], object],
        name: str,
        parse: Callable[[str], object],
        show: Callable[[object], str],
    ) -> None:
        """A setting that is field `name` of the object `settings()` returns."""
        self._setting(
            spec, lambda a: setattr(settings(), name, parse(a)), lambda: show(getattr(settings(), name))
        )

    def _common_commands(self) -> None:
        e = self.engine
        e.common("*IDN", query=answer(lambda: self.idn))
        e.common("*RST", write=action(self._reset))
        e.common("*TRG", write=action(lambda: None))
        e.common(
            "*LANG",
            query=answer(lambda: self.command_set),
            write=lambda a, x: scpi.choice(scpi.one_arg(a), {"SCPI": None}),
        )

    def _system_commands(self) -> None:
        e = self.engine

        def beep(args: list[str], sfx: Suffix) -> None:
            arg_count(args, 2, 2)
            scpi.number(args[0], 20, 8e3)  # hertz
            scpi.number(args[1], 1e-3, 100)  # seconds

        e.command(":SYSTem:ERRor[:NEXT]", query=e.error_next)
        e.command(":SYSTem:ERRor:COUNt", query=answer(lambda: str(len(e.errors))))
        e.command(":SYSTem:CLEar", write=action(e.errors.clear))
        e.command(":SYSTem:BEEPer[:IMMediate]", write=beep)
        e.command(":SYSTem:LFRequency", query=answer(lambda: f"{LINE_FREQUENCY:g}"))
        e.command(":STATus:PRESet", write=action(lambda: None))
        e.command(":STATus:CLEar", write=action(lambda: None))

    # :SOURce
    def _source_commands(self) -> None:
        def set_function(arg: str) -> None:
            self.state.source = scpi.choice(arg, _SOURCE_FUNCS)

        self._setting(":SOURce#:FUNCtion[:MODE]", set_function, lambda: self.state.source)

    def _source_function_commands(self, function: str) -> None:
        """Level, limit, range, delay and read-back of the voltage or the current source."""
        spec = _SOURCES[function]
        base = f":SOURce#:{spec.node}"

        def settings() -> _SourceSettings:
            return self.state.sources[function]

        def set_level(arg: str) -> None:
            top = spec.top
            settings().level = scpi.number(arg, -top, top, {"MINimum": -top, "MAXimum": top, "DEFault": 0.0})

        def set_limit(arg: str) -> None:
            lo, hi = spec.limit_lo, spec.limit_hi
            settings().limit = scpi.number(arg, lo, hi, {"MINimum": lo, "MAXimum": hi})

        def set_delay(arg: str) -> None:
            settings().delay = scpi.number(arg, 0, 1e4)
            settings().delay_auto = False

        self._setting(f"{base}[:LEVel][:IMMediate][:AMPLitude]", set_level, lambda: fmt(settings().level))
        self._setting(f"{base}:{spec.limit_node}[:LEVel]", set_limit, lambda: fmt(settings().limit))
        self._setting(
            f"{base}:{spec.limit_node}[:LEVel]:TRIPped",
            None,
            lambda: flag(self.state.tripped and self.state.source == function),
        )
        self._setting(
            f"{base}:RANGe",
            lambda a: self._fixed_range(settings(), function, a),
            lambda: fmt(settings().range),
        )
        self._field(f"{base}:RANGe:AUTO", settings, "auto_range", scpi.boolean, flag)
        self._setting(f"{base}:DELay", set_delay, lambda: fmt(settings().delay))
        self._field(f"{base}:DELay:AUTO", settings, "delay_auto", scpi.boolean, flag)
        self._field(f"{base}:READ:BACK", settings, "readback", scpi.boolean, flag)

    @staticmethod
    def _fixed_range(settings: _SourceSettings | _SenseSettings, function: str, arg: str) -> None:
        """A fixed range: the smallest that holds the value, up to 1.05 x the largest."""
        top = _RANGES[function][-1] * 1.05
        settings.range = _pick_range(function, scpi.number(arg, -top, top))
        settings.auto_range = False

    def _source_list_commands(self, function: str) -> None:
        """Linear sweeps, and the source list (its values and the sweep that runs through them)."""
        node = _SOURCES[function].node
        e = self.engine
        e.command(f":SOURce#:SWEep:{node}:LINear", write=partial(self._linear_sweep, function))
        e.command(
            f":SOURce#:LIST:{node}",
            write=partial(self._set_list, function),
            query=partial(self._show_list, function),
        )
        e.command(f":SOURce#:LIST:{node}:APPend", write=partial(self._append_list, function))
        e.command(f":SOURce#:LIST:{node}:POINts", query=partial(self._list_points, function))
        e.command(f":SOURce#:SWEep:{node}:LIST", write=partial(self._list_sweep, function))

    def _linear_sweep(self, function: str, args: list[str], sfx: Suffix) -> None:
        """<start>, <stop>, <points>[, <delay>[, <count>[, <rangeType>[, <failAbort>[, <dual>[,
        "<buffer>"]]]]]]"""
        _channel_one(sfx)
        arg_count(args, 3, 9)
        top = _SOURCES[function].top
        start, stop = scpi.number(args[0], -top, top), scpi.number(args[1], -top, top)
        points = scpi.integer(args[2], 2, 1_000_000)
        repeats = scpi.integer(args[4], 1, MAX_COUNT) if len(args) > 4 else 1
        abort = scpi.boolean(args[6]) if len(args) > 6 else True
        buffer = scpi.string(args[8]) if len(args) > 8 else DEFAULT_BUFFER
        step = (stop - start) / (points - 1)
        self._arm_sweep(_Sweep(function, [start + k * step for k in range(points)], repeats, buffer, abort))

    @staticmethod
    def _list_values(function: str, args: list[str]) -> list[float]:
        top = _SOURCES[function].top
        arg_count(args, 1, LIST_CHUNK)
        return [scpi.number(a, -top, top) for a in args]

    def _set_list(self, function: str, args: list[str], sfx: Suffix) -> None:
        _channel_one(sfx)
        self.state.lists[function] = self._list_values(function, args)  # replaces an existing list

    def _append_list(self, function: str, args: list[str], sfx: Suffix) -> None:
        _channel_one(sfx)
        values = self.state.lists.get(function, []) + self._list_values(function, args)
        if len(values) > LIST_TOTAL:
            raise ScpiError(-221, f"a source list holds at most {LIST_TOTAL} values")
        self.state.lists[function] = values

    def _show_list(self, function: str, args: list[str], sfx: Suffix) -> str:
        _channel_one(sfx)
        scpi.no_args(args)
        return ",".join(fmt(v) for v in self._source_list(function))

    def _list_points(self, function: str, args: list[str], sfx: Suffix) -> str:
        _channel_one(sfx)
        scpi.no_args(args)
        return str(len(self._source_list(function)))

    def _list_sweep(self, function: str, args: list[str], sfx: Suffix) -> None:
        """<startIndex>[, <delay>[, <count>[, <failAbort>[, "<buffer>"[, "<configList>"]]]]]"""
        _channel_one(sfx)
        arg_count(args, 1, 6)
        if len(args) > 5 and scpi.string(args[5]) != _SOURCES[function].configuration_list:
            raise ScpiError(-224, "only the :SOURce:LIST configuration lists are simulated")
        levels = self._source_list(function)
        start = scpi.integer(args[0], 1, len(levels))
        if len(args) > 1:
            scpi.number(args[1], 0, 1e4)  # delay, seconds: checked, not modelled (docs/virtual-timing.md)
        # count 0 (run until aborted) is not simulated: a reading never ends otherwise
        repeats = scpi.integer(args[2], 1, MAX_COUNT) if len(args) > 2 else 1
        abort = scpi.boolean(args[3]) if len(args) > 3 else True
        buffer = scpi.string(args[4]) if len(args) > 4 else DEFAULT_BUFFER
        self._arm_sweep(_Sweep(function, levels[start - 1 :], repeats, buffer, abort))

    # :SENSe
    def _sense_commands(self) -> None:
        def set_sense(arg: str) -> None:
            text = scpi.string(arg).replace(":DC", "").replace(":dc", "")
            self.state.sense = scpi.choice(text, {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES"})

        def set_count(arg: str) -> None:
            self.state.count = scpi.integer(arg, 1, 300_000)

        self._setting("[:SENSe#]:FUNCtion[:ON]", set_sense, lambda: _SENSE_NAMES[self.state.sense])
        self._setting("[:SENSe#]:COUNt", set_count, lambda: str(self.state.count))

    def _sense_function_commands(self, function: str) -> None:
        """Range, integration time, autozero, remote sense and filter of one measure function."""
        base = f"[:SENSe#]:{_SENSE_FUNCS[function]}"

        def settings() -> _SenseSettings:
            return self.state.senses[function]

        self._setting(
            f"{base}:RANGe[:UPPer]",
            lambda a: self._fixed_range(settings(), function, a),
            lambda: fmt(settings().range),
        )
        for node, name, parse, show in _SENSE_SETTINGS:
            self._field(f"{base}:{node}", settings, name, parse, show)

    # :READ?, :MEASure?, :FETCh?, :INITiate, :FORMat
    def _reading_commands(self) -> None:
        e = self.engine

        def read(args: list[str], sfx: Suffix) -> str:
            arg_count(args, 0, 15)
            name, elements = self._buffer_and_elements(args)
            return self._format(self._acquire(name, self.state.count), elements)

        def measure(function: str | None, args: list[str], sfx: Suffix) -> str:
            if function is not None:
                self.state.sense = function
            return read(args, sfx)

        def fetch(args: list[str], sfx: Suffix) -> str:
            arg_count(args, 0, 15)
            name, elements = self._buffer_and_elements(args)
            readings = self._buffer(name).readings
            if not readings:
                raise ScpiError(-230, "the reading buffer is empty")
            return self._format(readings[-1], elements)

        def set_precision(arg: str) -> None:
            self.state.precision = scpi.integer(arg, 0, 16)

        e.command(":READ", query=read)
        e.command(":MEASure", query=partial(measure, None))
        for function, node in _SENSE_FUNCS.items():
            e.command(f":MEASure:{node}", query=partial(measure, function))
        e.command(":FETCh", query=fetch)
        e.command(":INITiate[:IMMediate]", write=action(self._initiate))
        e.command(":ABORt", write=action(lambda: None))
        self._setting(":FORMat[:DATA]", lambda a: scpi.choice(a, {"ASCii": "ASC"}), lambda: "ASC")
        self._setting(":FORMat:ASCii:PRECision", set_precision, lambda: str(self.state.precision))

    def _initiate(self) -> None:
        """Run the loaded trigger model, else the armed sweep, else :SENSe:COUNt readings."""
        if self.state.blocks is not None:
            self._run_model()
        elif self.state.sweep is not None:
            self._run_sweep()
        else:
            self._acquire(DEFAULT_BUFFER, self.state.count)

    # :TRACe: reading buffers
    def _trace_commands(self) -> None:
        e = self.engine

        def trigger(args: list[str], sfx: Suffix) -> None:
            self._acquire(_buffer_name(args), self.state.count)

        def data(args: list[str], sfx: Suffix) -> str:
            arg_count(args, 2, 16)
            start, end = scpi.integer(args[0], 1), scpi.integer(args[1], 1)
            name, elements = self._buffer_and_elements(args[2:])
            readings = list(self._buffer(name).readings)
            if start > end or end > len(readings):
                raise ScpiError(-222, f"buffer {name} holds {len(readings)} readings")
            return ",".join(self._format(r, elements) for r in readings[start - 1 : end])

        def actual(args: list[str], sfx: Suffix) -> str:
            return str(len(self._buffer(_buffer_name(args)).readings))

        def set_points(args: list[str], sfx: Suffix) -> None:
            arg_count(args, 1, 2)
            buffer = self._buffer(scpi.string(args[1]) if len(args) > 1 else DEFAULT_BUFFER)
            buffer.capacity = scpi.integer(args[0], 1, MAX_BUFFER)
            buffer.readings.clear()

        def make(args: list[str], sfx: Suffix) -> None:
            arg_count(args, 2, 3)
            name = scpi.string(args[0])
            if name in self.buffers:
                raise ScpiError(-221, f"reading buffer {name} already exists")
            self.buffers[name] = Buffer(scpi.integer(args[1], 1, MAX_BUFFER))

        def delete(args: list[str], sfx: Suffix) -> None:
            name = scpi.string(scpi.one_arg(args))
            if name in (DEFAULT_BUFFER, "defbuffer2"):
                raise ScpiError(-221, "default buffers cannot be deleted")
            self._buffer(name)
            del self.buffers[name]

        def statistic(fn: Callable[[list[float]], float], args: list[str], sfx: Suffix) -> str:
            return _statistic([r.value for r in self._buffer(_buffer_name(args)).readings], fn)

        e.command(":TRACe:TRIGger", write=trigger)
        e.command(":TRACe:DATA", query=data)
        e.command(":TRACe:ACTual", query=actual)
        e.command(":TRACe:ACTual:STARt", query=lambda a, x: "1" if actual(a, x) != "0" else "0")
        e.command(":TRACe:ACTual:END", query=actual)
        e.command(":TRACe:CLEar", write=lambda a, x: self._buffer(_buffer_name(a)).readings.clear())
        e.command(
            ":TRACe:POINts", write=set_points, query=lambda a, x: str(self._buffer(_buffer_name(a)).capacity)
        )
        e.command(":TRACe:MAKE", write=make)
        e.command(":TRACe:DELete", write=delete)
        for node, fn in _STATISTICS.items():
            e.command(f":TRACe:STATistics:{node}", query=partial(statistic, fn))

    # :TRIGger:LOAD and :TRIGger:BLOCk: a trigger model built block by block
    def _trigger_model_commands(self) -> None:
        e = self.engine

        def load(args: list[str], sfx: Suffix) -> None:
            arg_count(args, 1, 1)
            if scpi.string(args[0]).upper() != "EMPTY":
                raise ScpiError(-224, 'only the "Empty" trigger model template is simulated')
            self.state.blocks, self.state.sweep = {}, None

        def buffer_arg(args: list[str]) -> str:
            name = scpi.string(args[0]) if args else DEFAULT_BUFFER
            self._buffer(name)
            return name

        def measure_block(args: list[str]) -> tuple[str, int]:
            arg_count(args, 0, 2)
            return buffer_arg(args[:1]), scpi.integer(args[1], 1, MAX_COUNT) if len(args) > 1 else 1

        def define(kind: str, parse: Callable[[list[str]], tuple], args: list[str], sfx: Suffix) -> None:
            """<block number>, <the block's parameters>"""
            arg_count(args, 1, 4)
            if self.state.blocks is None:
                raise ScpiError(-221, 'load a trigger model first (:TRIGger:LOAD "Empty")')
            number = scpi.integer(args[0], 1, MAX_BLOCKS)
            self.state.blocks[number] = (kind, parse(args[1:]))

        # header below :TRIGger:BLOCk -> (kind of block, parser of its parameters)
        blocks: dict[str, tuple[str, Callable[[list[str]], tuple]]] = {
            "BUFFer:CLEar": ("clear", lambda a: (buffer_arg(a[:1]),)),
            "NOTify": ("notify", _one(lambda a: scpi.integer(a, 1, 8))),
            "DELay:CONStant": ("delay", _one(lambda a: scpi.number(a, 0, 1e4))),
            "MEASure": ("measure", measure_block),
            "SOURce:STATe": ("source", _one(scpi.boolean)),
            "BRANch:COUNter": ("counter", _counter_block),
            "WAIT": ("wait", _one(_digital_event)),
            "DIGital:IO": ("digital", _bit_pattern),
            "BRANch:COUNter:RESet": ("reset", _one(lambda a: scpi.integer(a, 1, MAX_BLOCKS))),
        }
        e.command(":TRIGger:LOAD", write=load)
        for node, (kind, parse) in blocks.items():
            e.command(f":TRIGger:BLOCk:{node}", write=partial(define, kind, parse))

    # :DIGital:LINE<n> and :TRIGger:DIGital<n>: digital I/O lines as trigger outputs
    def _line(self, sfx: Suffix, node: str) -> _Line:
        number = sfx.get(node)
        if number is None or not 1 <= number <= DIGITAL_LINES:
            raise ScpiError(-114)
        return self.state.lines[number]

    def _digital_io_commands(self) -> None:
        e = self.engine

        def set_mode(args: list[str], sfx: Suffix) -> None:
            arg_count(args, 2, 2)
            mode = scpi.choice(args[0], {"DIGital": "DIG", "TRIGger": "TRIG"})
            direction = scpi.choice(args[1], {"OUT": "OUT", "IN": "IN", "OPENdrain": "OPEN"})
            self._line(sfx, "LINE").mode = (mode, direction)

        def set_stimulus(args: list[str], sfx: Suffix) -> None:
            event = _stimulus(scpi.one_arg(args))
            self._line(sfx, "DIGITAL").stimulus = event

        def set_logic(args: list[str], sfx: Suffix) -> None:
            line = self._line(sfx, "DIGITAL")
            line.logic = scpi.choice(scpi.one_arg(args), {"POSitive": "POS", "NEGative": "NEG"})

        def set_pulse(args: list[str], sfx: Suffix) -> None:
            line = self._line(sfx, "DIGITAL")
            line.pulse = scpi.number(scpi.one_arg(args), 0, 100)

        def show_mode(args: list[str], sfx: Suffix) -> str:
            return ",".join(self._line(sfx, "LINE").mode)

        def show_stimulus(args: list[str], sfx: Suffix) -> str:
            event = self._line(sfx, "DIGITAL").stimulus
            return f"NOT{event}" if event else "NONE"

        def trigger_out(x: Suffix) -> _Line:
            return self._line(x, "DIGITAL")

        def set_edge(args: list[str], sfx: Suffix) -> None:
            line = self._line(sfx, "DIGITAL")
            line.edge = scpi.choice(
                scpi.one_arg(args), {"FALLing": "FALL", "RISing": "RIS", "EITHer": "EITH"}
            )

        def clear_input(args: list[str], sfx: Suffix) -> None:
            scpi.no_args(args)
            self._input_edges.pop(sfx.get("DIGITAL") or 0, None)

        def set_state(args: list[str], sfx: Suffix) -> None:
            line = self._line(sfx, "LINE")
            if line.mode[0] != "DIG" or line.mode[1] == "IN":
                raise ScpiError(-221, "the line is not a digital output (:DIGital:LINE<n>:MODE DIG, OUT)")
            self._drive(sfx["LINE"], int(scpi.boolean(scpi.one_arg(args))))

        e.command(
            ":DIGital:LINE#:STATe", write=set_state, query=lambda a, x: str(self._line(x, "LINE").level)
        )
        e.command(":TRIGger:DIGital#:IN:EDGE", write=set_edge, query=lambda a, x: trigger_out(x).edge)
        e.command(":TRIGger:DIGital#:IN:CLEar", write=clear_input)
        out = ":TRIGger:DIGital#:OUT"
        e.command(":DIGital:LINE#:MODE", write=set_mode, query=show_mode)
        e.command(f"{out}:STIMulus", write=set_stimulus, query=show_stimulus)
        e.command(f"{out}:LOGic", write=set_logic, query=lambda a, x: trigger_out(x).logic)
        e.command(f"{out}:PULSewidth", write=set_pulse, query=lambda a, x: fmt(trigger_out(x).pulse))

    # :OUTPut and :ROUTe
    def _output_commands(self) -> None:
        def set_output(arg: str) -> None:
            self.state.output = scpi.boolean(arg)

        def set_terminals(arg: str) -> None:
            self.state.terminals = scpi.choice(arg, {"FRONt": "FRON", "REAR": "REAR"})

        self._setting(":OUTPut#[:STATe]", set_output, lambda: flag(self.state.output))
        for function, source in _SOURCES.items():
            self._field(
                f":OUTPut#:{source.node}:SMODe",
                lambda f=function: self.state.sources[f],
                "off_mode",
                lambda a: scpi.choice(a, _OFF_MODES),
                str,
            )
        self._setting(":ROUTe:TERMinals", set_terminals, lambda: self.state.terminals)
