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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulators.virtual.scpi import (
    ScpiEngine,
    ScpiError,
    action,
    answer,
    arg_count,
    boolean,
    choice,
    integer,
    no_args,
    number,
    one_arg,
    string,
)
from simulators.virtual.server import VirtualInstrument
from simulators.virtual.wiring import SMU_HI, SmuReading, VirtualChip

OVERFLOW = 9.9e37  # what the 2450 returns for a reading above its fixed range
LINE_FREQUENCY = 60.0  # hertz; an NPLC of integration lasts NPLC / LINE_FREQUENCY seconds

# :SOURce:LIST:<function> takes up to 100 values per command, 2500 in all (reference manual,
# :SOURce[1]:LIST:<function> and :APPend).
LIST_CHUNK, LIST_TOTAL = 100, 2500
_LIST_NAMES = {"VOLT": "VoltCustomSweepList", "CURR": "CurrCustomSweepList"}

# Rear-panel digital I/O lines, and the most blocks a trigger model holds (reference manual,
# "Digital I/O" and :TRIGger:BLOCk commands).
DIGITAL_LINES = 6
MAX_BLOCKS = 63
# A trigger model that has not ended after this many block steps is taken as an endless loop.
MAX_MODEL_STEPS = 10_000_000

# Buffer status bits (2450 reference manual, bufferVar.statuses / .sourcestatuses).
STAT_TERMINAL = 8  # measure terminal: front is 1
SOURCE_STAT_LIMIT = 32  # source level was limited (compliance)
SOURCE_STAT_READBACK = 8
SOURCE_STAT_OUTPUT = 128

_SOURCE_FUNCS = {"VOLTage": "VOLT", "CURRent": "CURR"}
_SENSE_FUNCS = {"VOLT": "VOLTage[:DC]", "CURR": "CURRent[:DC]", "RES": "RESistance"}
_SENSE_NAMES = {"VOLT": '"VOLT:DC"', "CURR": '"CURR:DC"', "RES": '"RES"'}
_RANGES = {
    "VOLT": (0.02, 0.2, 2.0, 20.0, 200.0),
    "CURR": (10e-9, 100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0),
    "RES": (20.0, 200.0, 2e3, 20e3, 200e3, 2e6, 20e6, 200e6),
}
_ELEMENTS = {"READing": "READ", "SOURce": "SOUR", "RELative": "REL", "STATus": "STAT",
             "SOURSTATus": "SOURSTAT"}


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


@dataclass
class Buffer:
    capacity: int
    readings: deque[Reading] = field(default_factory=deque)

    def add(self, reading: Reading) -> None:
        if len(self.readings) >= self.capacity:  # fill mode CONTinuous: oldest goes
            self.readings.popleft()
        self.readings.append(reading)


def _per_line(value: object) -> dict:
    return dict.fromkeys(range(1, DIGITAL_LINES + 1), value)


@dataclass
class _State:
    source: str = "VOLT"
    level: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    ilim: float = 105e-6
    vlim: float = 21.0
    source_range: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.02, "CURR": 1e-8})
    source_auto: dict[str, bool] = field(default_factory=lambda: {"VOLT": True, "CURR": True})
    delay: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.0, "CURR": 0.0})
    delay_auto: dict[str, bool] = field(default_factory=lambda: {"VOLT": True, "CURR": True})
    readback: dict[str, bool] = field(default_factory=lambda: {"VOLT": True, "CURR": True})
    off_mode: dict[str, str] = field(default_factory=lambda: {"VOLT": "NORM", "CURR": "NORM"})
    sense: str = "CURR"
    sense_range: dict[str, float] = field(default_factory=lambda: {"VOLT": 0.02, "CURR": 1e-8, "RES": 2e5})
    sense_auto: dict[str, bool] = field(default_factory=lambda: {"VOLT": True, "CURR": True, "RES": True})
    nplc: dict[str, float] = field(default_factory=lambda: {"VOLT": 1.0, "CURR": 1.0, "RES": 1.0})
    azero: dict[str, bool] = field(default_factory=lambda: {"VOLT": True, "CURR": True, "RES": True})
    rsense: dict[str, bool] = field(default_factory=lambda: {"VOLT": False, "CURR": False, "RES": False})
    average: dict[str, tuple[bool, str, int]] = field(
        default_factory=lambda: {f: (False, "REP", 10) for f in ("VOLT", "CURR", "RES")})
    count: int = 1
    output: bool = False
    terminals: str = "FRON"
    precision: int = 0
    tripped: bool = False
    sweep: tuple[str, list[float], int, str, bool] | None = None  # func, levels, count, buffer, abort
    # :SOURce:LIST:<function> values, the configuration lists VoltCustomSweepList / CurrCustomSweepList
    lists: dict[str, list[float]] = field(default_factory=dict)
    # A trigger model built block by block after :TRIGger:LOAD "Empty" (None: none loaded);
    # block number -> (kind, arguments).
    blocks: dict[int, tuple] | None = None
    # Digital I/O lines 1-6: (mode "DIG"/"TRIG", direction "IN"/"OUT"/"OPEN"), and for trigger
    # outputs the stimulus (notify event number, 0 = none), logic and pulse width in seconds.
    line_mode: dict[int, tuple[str, str]] = field(default_factory=lambda: _per_line(("DIG", "IN")))
    line_stimulus: dict[int, int] = field(default_factory=lambda: _per_line(0))
    line_logic: dict[int, str] = field(default_factory=lambda: _per_line("NEG"))
    line_pulse: dict[int, float] = field(
        default_factory=lambda: _per_line(10e-6))


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
        #: cables from digital I/O lines to other instruments: line -> what a trigger pulse on it does
        self.trigger_links: dict[int, Callable[[], None]] = {}
        self.state = _State()
        self.buffers: dict[str, Buffer] = {}
        self._epoch = 0.0  # clock.elapsed at the last reset: readings' RELative times count from it
        self._register()
        self._reset()

    # ------------------------------------------------------------------ wire
    def handle(self, line: str) -> str | None:
        return self.engine.execute(line)

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        self.engine.push_error(code, message)
        return reply

    # ------------------------------------------------------------------ state changes
    def _reset(self) -> None:
        self.state = _State()
        self.buffers = {"defbuffer1": Buffer(100_000), "defbuffer2": Buffer(10)}
        self._epoch = self.clock.elapsed
        self._sync()

    def _sync(self) -> None:
        """Tell the chip what HI holds when no reading is running (for stress checks)."""
        s = self.state
        if s.output and s.source == "VOLT":
            self.chip.set_level(SMU_HI, s.level["VOLT"])
        elif not s.output and s.off_mode[s.source] != "HIMP":
            self.chip.set_level(SMU_HI, 0.0)  # NORMal off state: 0 V source
        else:
            self.chip.set_level(SMU_HI, None)

    def _measure(self) -> Reading:
        s = self.state
        if s.output:
            limit = s.ilim if s.source == "VOLT" else s.vlim
            r = self.chip.measure_smu(s.source, s.level[s.source], limit)
        elif s.off_mode[s.source] == "HIMP":
            r = SmuReading(0.0, 0.0, False)  # output relay open
        else:
            r = self.chip.measure_smu("VOLT", 0.0, s.ilim)
        if self.force_compliance:
            if s.source == "VOLT":
                r = SmuReading(r.voltage, math.copysign(s.ilim, r.voltage or 1.0), True)
            else:
                r = SmuReading(math.copysign(s.vlim, r.current or 1.0), r.current, True)
        s.tripped = r.limited
        if s.sense == "CURR":
            value = r.current
        elif s.sense == "VOLT":
            value = r.voltage
        else:
            value = r.voltage / r.current if r.current else OVERFLOW
        if not s.sense_auto[s.sense] and abs(value) > 1.05 * s.sense_range[s.sense]:
            value = OVERFLOW
        measured_source = r.voltage if s.source == "VOLT" else r.current
        source_value = measured_source if s.readback[s.source] else s.level[s.source]
        source_status = ((SOURCE_STAT_OUTPUT if s.output else 0) | (SOURCE_STAT_LIMIT if r.limited else 0)
                         | (SOURCE_STAT_READBACK if s.readback[s.source] else 0))
        reading = Reading(value, source_value, self.clock.elapsed - self._epoch,
                          STAT_TERMINAL if s.terminals == "FRON" else 0, source_status)
        # The integration: NPLC power-line cycles, 1/60 s each at 60 Hz (2450/2461 reference
        # manual, :SENSe:<function>:NPLCycles). Autozero and source delays are not modelled.
        self.clock.spend(s.nplc[s.sense] / LINE_FREQUENCY)
        return reading

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
            raise ScpiError(-221, f"configuration list {_LIST_NAMES[function]} does not exist; "
                                  f"send :SOURce:LIST first") from None

    def _format(self, reading: Reading, elements: list[str]) -> str:
        parts = []
        for element in elements or ["READ"]:
            if element == "READ":
                parts.append(fmt(reading.value))
            elif element == "SOUR":
                parts.append(fmt(reading.source))
            elif element == "REL":
                parts.append(fmt(reading.relative))
            elif element == "STAT":
                parts.append(str(reading.status))
            else:
                parts.append(str(reading.source_status))
        return ",".join(parts)

    @staticmethod
    def _buffer_and_elements(args: list[str]) -> tuple[str, list[str]]:
        name = string(args[0]) if args else "defbuffer1"
        try:
            elements = [choice(a, _ELEMENTS) for a in args[1:]]
        except ScpiError:
            raise ScpiError(-224, "buffer element not supported by the virtual 2450") from None
        return name, elements

    def _run_sweep(self) -> None:
        s = self.state
        function, levels, repeats, buffer, abort = s.sweep
        saved_level, saved_output, saved_source = s.level[function], s.output, s.source
        s.source, s.output = function, True
        try:
            for _ in range(repeats):
                for level in levels:
                    s.level[function] = level
                    self._sync()
                    self._buffer(buffer).add(self._measure())
                    if abort and s.tripped:
                        return
        finally:
            s.level[function], s.output, s.source = saved_level, saved_output, saved_source
            self._sync()

    def _run_model(self) -> None:
        """Run the trigger model block by block, as the 2450 does after :INITiate.

        Delay blocks and readings take instrument time (self.clock: the readings' relative
        times advance by it, and the server waits it out when durations are on). A Notify block
        sends a trigger pulse out of every digital line in trigger-output mode whose stimulus is
        that event, to whatever trigger_links wires the line to.
        """
        s = self.state
        blocks = s.blocks or {}
        if sorted(blocks) != list(range(1, len(blocks) + 1)):
            raise ScpiError(-221, f"trigger model blocks must be numbered 1 to {len(blocks)} without gaps")
        counters: dict[int, int] = {}
        k, steps = 1, 0
        while 1 <= k <= len(blocks):
            steps += 1
            if steps > MAX_MODEL_STEPS:
                raise ScpiError(-200, "trigger model did not end; aborted")
            kind, args = blocks[k]
            if kind == "clear":
                self._buffer(args[0]).readings.clear()
            elif kind == "notify":
                for line in range(1, DIGITAL_LINES + 1):
                    if s.line_mode[line] == ("TRIG", "OUT") and s.line_stimulus[line] == args[0]:
                        link = self.trigger_links.get(line)
                        if link is not None:
                            link()
            elif kind == "delay":
                self.clock.spend(args[0])
            elif kind == "measure":
                buffer, count = args
                for _ in range(count):
                    self._buffer(buffer).add(self._measure())
            elif kind == "source":
                s.output = args[0]
                self._sync()
            elif kind == "counter":
                target, to = args
                counters[k] = counters.get(k, 0) + 1
                if counters[k] < target:  # the loop body runs `target` times in all
                    k = to
                    continue
                counters[k] = 0
            k += 1

    # ------------------------------------------------------------------ command table
    def _register(self) -> None:
        e, s = self.engine, lambda: self.state

        def chan1(sfx: Mapping[str, int | None], node: str) -> None:
            if sfx.get(node) not in (None, 1):
                raise ScpiError(-114)

        def setter(fn):  # wrap a one-argument setter that needs no suffix check
            def write(args: list[str], sfx: Mapping[str, int | None]) -> None:
                for node in ("SOURCE", "SENSE", "OUTPUT"):
                    chan1(sfx, node)
                fn(one_arg(args))
                self._sync()
            return write

        def getter(fn):
            def query(args: list[str], sfx: Mapping[str, int | None]) -> str:
                for node in ("SOURCE", "SENSE", "OUTPUT"):
                    chan1(sfx, node)
                no_args(args)
                return fn()
            return query

        def flag(value: bool) -> str:
            return "1" if value else "0"

        def pick_range(func: str, value: float) -> float:
            for r in _RANGES[func]:
                if abs(value) <= r * (1 + 1e-9):
                    return r
            raise ScpiError(-222)

        def beep(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 2, 2)
            number(args[0], 20, 8e3)  # hertz
            number(args[1], 1e-3, 100)  # seconds

        # common commands
        e.common("*IDN", query=answer(lambda: self.idn))
        e.common("*RST", write=action(self._reset))
        e.common("*TRG", write=action(lambda: None))
        e.common("*LANG", query=answer(lambda: "SCPI"), write=lambda a, x: choice(one_arg(a), {"SCPI": None}))

        # system and status
        e.command(":SYSTem:ERRor[:NEXT]", query=e.error_next)
        e.command(":SYSTem:ERRor:COUNt", query=answer(lambda: str(len(e.errors))))
        e.command(":SYSTem:CLEar", write=action(e.errors.clear))
        e.command(":SYSTem:BEEPer[:IMMediate]", write=beep)
        e.command(":SYSTem:LFRequency", query=answer(lambda: f"{LINE_FREQUENCY:g}"))
        e.command(":STATus:PRESet", write=action(lambda: None))
        e.command(":STATus:CLEar", write=action(lambda: None))

        # source
        def set_function(arg: str) -> None:
            s().source = choice(arg, _SOURCE_FUNCS)

        def list_values(args: list[str], function: str) -> list[float]:
            top = 210.0 if function == "VOLT" else 1.05
            arg_count(args, 1, LIST_CHUNK)
            return [number(a, -top, top) for a in args]

        e.command(":SOURce#:FUNCtion[:MODE]", write=setter(set_function), query=getter(lambda: s().source))
        for spec, func in _SOURCE_FUNCS.items():
            top = 210.0 if func == "VOLT" else 1.05
            lim_spec = "ILIMit" if func == "VOLT" else "VLIMit"
            lim_lo, lim_hi = (1e-9, 1.05) if func == "VOLT" else (0.02, 210.0)

            def set_level(arg: str, f: str = func, top: float = top) -> None:
                s().level[f] = number(arg, -top, top, {"MINimum": -top, "MAXimum": top, "DEFault": 0.0})

            def set_limit(arg: str, f: str = func, lo: float = lim_lo, hi: float = lim_hi) -> None:
                value = number(arg, lo, hi, {"MINimum": lo, "MAXimum": hi})
                if f == "VOLT":
                    s().ilim = value
                else:
                    s().vlim = value

            def set_range(arg: str, f: str = func) -> None:
                top = _RANGES[f][-1] * 1.05
                s().source_range[f] = pick_range(f, number(arg, -top, top))
                s().source_auto[f] = False

            e.command(f":SOURce#:{spec}[:LEVel][:IMMediate][:AMPLitude]", write=setter(set_level),
                      query=getter(lambda f=func: fmt(s().level[f])))
            e.command(f":SOURce#:{spec}:{lim_spec}[:LEVel]", write=setter(set_limit),
                      query=getter(lambda f=func: fmt(s().ilim if f == "VOLT" else s().vlim)))
            e.command(f":SOURce#:{spec}:{lim_spec}[:LEVel]:TRIPped",
                      query=getter(lambda f=func: flag(s().tripped and s().source == f)))
            e.command(f":SOURce#:{spec}:RANGe", write=setter(set_range),
                      query=getter(lambda f=func: fmt(s().source_range[f])))
            e.command(f":SOURce#:{spec}:RANGe:AUTO",
                      write=setter(lambda a, f=func: s().source_auto.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().source_auto[f])))
            e.command(f":SOURce#:{spec}:DELay",
                      write=setter(lambda a, f=func: (s().delay.__setitem__(f, number(a, 0, 1e4)),
                                                      s().delay_auto.__setitem__(f, False))),
                      query=getter(lambda f=func: fmt(s().delay[f])))
            e.command(f":SOURce#:{spec}:DELay:AUTO",
                      write=setter(lambda a, f=func: s().delay_auto.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().delay_auto[f])))
            e.command(f":SOURce#:{spec}:READ:BACK",
                      write=setter(lambda a, f=func: s().readback.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().readback[f])))

            def sweep(args: list[str], sfx: Mapping[str, int | None], f: str = func, top: float = top
                      ) -> None:
                chan1(sfx, "SOURCE")
                arg_count(args, 3, 9)
                start, stop = number(args[0], -top, top), number(args[1], -top, top)
                points = integer(args[2], 2, 1_000_000)
                repeats = integer(args[4], 1, 268_435_455) if len(args) > 4 else 1
                abort = boolean(args[6]) if len(args) > 6 else True
                buffer = string(args[8]) if len(args) > 8 else "defbuffer1"
                self._buffer(buffer)
                step = (stop - start) / (points - 1)
                s().sweep = (f, [start + k * step for k in range(points)], repeats, buffer, abort)
                s().blocks = None  # a sweep builds its own trigger model

            e.command(f":SOURce#:SWEep:{spec}:LINear", write=sweep)

            def set_list(args: list[str], sfx: Mapping[str, int | None], f: str = func) -> None:
                chan1(sfx, "SOURCE")
                s().lists[f] = list_values(args, f)  # replaces an existing list

            def append_list(args: list[str], sfx: Mapping[str, int | None], f: str = func) -> None:
                chan1(sfx, "SOURCE")
                values = s().lists.get(f, []) + list_values(args, f)
                if len(values) > LIST_TOTAL:
                    raise ScpiError(-221, f"a source list holds at most {LIST_TOTAL} values")
                s().lists[f] = values

            def show_list(args: list[str], sfx: Mapping[str, int | None], f: str = func) -> str:
                chan1(sfx, "SOURCE")
                no_args(args)
                return ",".join(fmt(v) for v in self._source_list(f))

            def list_points(args: list[str], sfx: Mapping[str, int | None], f: str = func) -> str:
                chan1(sfx, "SOURCE")
                no_args(args)
                return str(len(self._source_list(f)))

            def list_sweep(args: list[str], sfx: Mapping[str, int | None], f: str = func) -> None:
                # <startIndex>[, <delay>[, <count>[, <failAbort>[, "<buffer>"[, "<configList>"]]]]]
                chan1(sfx, "SOURCE")
                arg_count(args, 1, 6)
                if len(args) > 5 and string(args[5]) != _LIST_NAMES[f]:
                    raise ScpiError(-224, "only the :SOURce:LIST configuration lists are simulated")
                levels = self._source_list(f)
                start = integer(args[0], 1, len(levels))
                if len(args) > 1:
                    number(args[1], 0, 1e4)  # delay, seconds; readings take no time here
                # count 0 (run until aborted) is not simulated: a reading never ends otherwise
                repeats = integer(args[2], 1, 268_435_455) if len(args) > 2 else 1
                abort = boolean(args[3]) if len(args) > 3 else True
                buffer = string(args[4]) if len(args) > 4 else "defbuffer1"
                self._buffer(buffer)
                s().sweep = (f, levels[start - 1:], repeats, buffer, abort)
                s().blocks = None  # a sweep builds its own trigger model

            e.command(f":SOURce#:LIST:{spec}", write=set_list, query=show_list)
            e.command(f":SOURce#:LIST:{spec}:APPend", write=append_list)
            e.command(f":SOURce#:LIST:{spec}:POINts", query=list_points)
            e.command(f":SOURce#:SWEep:{spec}:LIST", write=list_sweep)

        # sense
        def set_sense(arg: str) -> None:
            text = string(arg)
            s().sense = choice(text.replace(":DC", "").replace(":dc", ""),
                               {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES"})

        e.command("[:SENSe#]:FUNCtion[:ON]", write=setter(set_sense),
                  query=getter(lambda: _SENSE_NAMES[s().sense]))
        e.command("[:SENSe#]:COUNt", write=setter(lambda a: setattr(s(), "count", integer(a, 1, 300_000))),
                  query=getter(lambda: str(s().count)))
        for func, spec in _SENSE_FUNCS.items():
            base = f"[:SENSe#]:{spec}"

            def set_srange(arg: str, f: str = func) -> None:
                top = _RANGES[f][-1]
                s().sense_range[f] = pick_range(f, number(arg, -top * 1.05, top * 1.05))
                s().sense_auto[f] = False

            def set_average(value: object, f: str = func, part: int = 0) -> None:
                values = list(s().average[f])
                values[part] = value
                s().average[f] = (values[0], values[1], values[2])

            e.command(f"{base}:RANGe[:UPPer]", write=setter(set_srange),
                      query=getter(lambda f=func: fmt(s().sense_range[f])))
            e.command(f"{base}:RANGe:AUTO",
                      write=setter(lambda a, f=func: s().sense_auto.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().sense_auto[f])))
            e.command(f"{base}:NPLCycles",
                      write=setter(lambda a, f=func: s().nplc.__setitem__(f, number(a, 0.01, 10))),
                      query=getter(lambda f=func: fmt(s().nplc[f])))
            e.command(f"{base}:AZERo[:STATe]",
                      write=setter(lambda a, f=func: s().azero.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().azero[f])))
            e.command(f"{base}:RSENse",
                      write=setter(lambda a, f=func: s().rsense.__setitem__(f, boolean(a))),
                      query=getter(lambda f=func: flag(s().rsense[f])))
            e.command(f"{base}:AVERage[:STATe]",
                      write=setter(lambda a, f=func: set_average(boolean(a), f, 0)),
                      query=getter(lambda f=func: flag(s().average[f][0])))
            e.command(f"{base}:AVERage:TCONtrol",
                      write=setter(lambda a, f=func: set_average(
                          choice(a, {"REPeat": "REP", "MOVing": "MOV"}), f, 1)),
                      query=getter(lambda f=func: s().average[f][1]))
            e.command(f"{base}:AVERage:COUNt",
                      write=setter(lambda a, f=func: set_average(integer(a, 1, 100), f, 2)),
                      query=getter(lambda f=func: str(s().average[f][2])))

        # measurements and buffers
        def read_q(args: list[str], sfx: Mapping[str, int | None]) -> str:
            arg_count(args, 0, 15)
            name, elements = self._buffer_and_elements(args)
            return self._format(self._acquire(name, s().count), elements)

        def measure_q(func: str | None):
            def query(args: list[str], sfx: Mapping[str, int | None]) -> str:
                if func is not None:
                    s().sense = func
                return read_q(args, sfx)
            return query

        def fetch_q(args: list[str], sfx: Mapping[str, int | None]) -> str:
            arg_count(args, 0, 15)
            name, elements = self._buffer_and_elements(args)
            readings = self._buffer(name).readings
            if not readings:
                raise ScpiError(-230, "the reading buffer is empty")
            return self._format(readings[-1], elements)

        def initiate(args: list[str], sfx: Mapping[str, int | None]) -> None:
            no_args(args)
            if s().blocks is not None:
                self._run_model()
            elif s().sweep is not None:
                self._run_sweep()
            else:
                self._acquire("defbuffer1", s().count)

        def trace_trigger(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 0, 1)
            self._acquire(string(args[0]) if args else "defbuffer1", s().count)

        def trace_data(args: list[str], sfx: Mapping[str, int | None]) -> str:
            arg_count(args, 2, 16)
            start, end = integer(args[0], 1), integer(args[1], 1)
            name, elements = self._buffer_and_elements(args[2:])
            readings = list(self._buffer(name).readings)
            if start > end or end > len(readings):
                raise ScpiError(-222, f"buffer {name} holds {len(readings)} readings")
            return ",".join(self._format(r, elements) for r in readings[start - 1:end])

        def buffer_name(args: list[str], most: int = 1) -> str:
            arg_count(args, 0, most)
            return string(args[0]) if args else "defbuffer1"

        def trace_points(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 1, 2)
            buf = self._buffer(string(args[1]) if len(args) > 1 else "defbuffer1")
            buf.capacity = integer(args[0], 1, 11_000_000)
            buf.readings.clear()

        def trace_make(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 2, 3)
            name = string(args[0])
            if name in self.buffers:
                raise ScpiError(-221, f"reading buffer {name} already exists")
            self.buffers[name] = Buffer(integer(args[1], 1, 11_000_000))

        def trace_delete(args: list[str], sfx: Mapping[str, int | None]) -> None:
            name = string(one_arg(args))
            if name in ("defbuffer1", "defbuffer2"):
                raise ScpiError(-221, "default buffers cannot be deleted")
            self._buffer(name)
            del self.buffers[name]

        def statistic(fn):
            def query(args: list[str], sfx: Mapping[str, int | None]) -> str:
                values = [r.value for r in self._buffer(buffer_name(args)).readings]
                if not values:
                    raise ScpiError(-230, "the reading buffer is empty")
                return fmt(fn(values))
            return query

        e.command(":READ", query=read_q)
        e.command(":MEASure", query=measure_q(None))
        for func, spec in _SENSE_FUNCS.items():
            e.command(f":MEASure:{spec}", query=measure_q(func))
        e.command(":FETCh", query=fetch_q)
        e.command(":INITiate[:IMMediate]", write=initiate)
        e.command(":ABORt", write=action(lambda: None))
        e.command(":TRACe:TRIGger", write=trace_trigger)
        e.command(":TRACe:DATA", query=trace_data)
        def count_q(args: list[str], sfx: Mapping[str, int | None]) -> str:
            return str(len(self._buffer(buffer_name(args)).readings))

        e.command(":TRACe:ACTual", query=count_q)
        e.command(":TRACe:ACTual:STARt", query=lambda a, x: "1" if count_q(a, x) != "0" else "0")
        e.command(":TRACe:ACTual:END", query=count_q)
        e.command(":TRACe:CLEar", write=lambda a, x: self._buffer(buffer_name(a)).readings.clear())
        e.command(":TRACe:POINts", write=trace_points,
                  query=lambda a, x: str(self._buffer(buffer_name(a)).capacity))
        e.command(":TRACe:MAKE", write=trace_make)
        e.command(":TRACe:DELete", write=trace_delete)
        e.command(":TRACe:STATistics:AVERage", query=statistic(statistics.fmean))
        e.command(":TRACe:STATistics:MAXimum", query=statistic(max))
        e.command(":TRACe:STATistics:MINimum", query=statistic(min))
        e.command(":TRACe:STATistics:PK2Pk", query=statistic(lambda v: max(v) - min(v)))
        e.command(":TRACe:STATistics:STDDev",
                  query=statistic(lambda v: statistics.stdev(v) if len(v) > 1 else 0.0))
        e.command(":FORMat[:DATA]", write=setter(lambda a: choice(a, {"ASCii": "ASC"})),
                  query=getter(lambda: "ASC"))
        e.command(":FORMat:ASCii:PRECision",
                  write=setter(lambda a: setattr(s(), "precision", integer(a, 0, 16))),
                  query=getter(lambda: str(s().precision)))

        # trigger model and digital I/O
        def block(args: list[str], least: int, most: int) -> int:
            arg_count(args, least, most)
            if s().blocks is None:
                raise ScpiError(-221, 'load a trigger model first (:TRIGger:LOAD "Empty")')
            return integer(args[0], 1, MAX_BLOCKS)

        def define(kind: str, parse):
            def write(args: list[str], sfx: Mapping[str, int | None]) -> None:
                number_ = block(args, 1, 4)
                s().blocks[number_] = (kind, parse(args[1:]))
            return write

        def buffer_arg(args: list[str]) -> str:
            name = string(args[0]) if args else "defbuffer1"
            self._buffer(name)
            return name

        def load_model(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 1, 1)
            if string(args[0]).upper() != "EMPTY":
                raise ScpiError(-224, 'only the "Empty" trigger model template is simulated')
            s().blocks, s().sweep = {}, None

        def measure_block(args: list[str]) -> tuple[str, int]:
            arg_count(args, 0, 2)
            return buffer_arg(args[:1]), integer(args[1], 1, 268_435_455) if len(args) > 1 else 1

        def counter_block(args: list[str]) -> tuple[int, int]:
            arg_count(args, 2, 2)
            return integer(args[0], 1, 268_435_455), integer(args[1], 1, MAX_BLOCKS)

        def one(parse):
            def read(args: list[str]):
                arg_count(args, 1, 1)
                return (parse(args[0]),)
            return read

        e.command(":TRIGger:LOAD", write=load_model)
        e.command(":TRIGger:BLOCk:BUFFer:CLEar", write=define("clear", lambda a: (buffer_arg(a[:1]),)))
        e.command(":TRIGger:BLOCk:NOTify", write=define("notify", one(lambda a: integer(a, 1, 8))))
        e.command(":TRIGger:BLOCk:DELay:CONStant", write=define("delay", one(lambda a: number(a, 0, 1e4))))
        e.command(":TRIGger:BLOCk:MEASure", write=define("measure", measure_block))
        e.command(":TRIGger:BLOCk:SOURce:STATe", write=define("source", one(boolean)))
        e.command(":TRIGger:BLOCk:BRANch:COUNter", write=define("counter", counter_block))

        def line_of(sfx: Mapping[str, int | None], node: str) -> int:
            line = sfx.get(node)
            if line is None or not 1 <= line <= DIGITAL_LINES:
                raise ScpiError(-114)
            return line

        def set_line_mode(args: list[str], sfx: Mapping[str, int | None]) -> None:
            arg_count(args, 2, 2)
            mode = choice(args[0], {"DIGital": "DIG", "TRIGger": "TRIG"})
            direction = choice(args[1], {"OUT": "OUT", "IN": "IN", "OPENdrain": "OPEN"})
            s().line_mode[line_of(sfx, "LINE")] = (mode, direction)

        def set_stimulus(args: list[str], sfx: Mapping[str, int | None]) -> None:
            text = one_arg(args).strip().upper()
            notify = re.fullmatch(r"NOT(?:IFY)?(\d+)", text)
            if text == "NONE":
                event = 0
            elif notify is not None:
                event = integer(notify.group(1), 1, 8)
            else:
                raise ScpiError(-224, "only NONE and NOTify<n> stimuli are simulated")
            s().line_stimulus[line_of(sfx, "DIGITAL")] = event

        e.command(":DIGital:LINE#:MODE", write=set_line_mode,
                  query=lambda a, x: ",".join(s().line_mode[line_of(x, "LINE")]))
        e.command(":TRIGger:DIGital#:OUT:STIMulus", write=set_stimulus,
                  query=lambda a, x: (f"NOT{s().line_stimulus[line_of(x, 'DIGITAL')]}"
                                      if s().line_stimulus[line_of(x, "DIGITAL")] else "NONE"))
        e.command(":TRIGger:DIGital#:OUT:LOGic",
                  write=lambda a, x: s().line_logic.__setitem__(
                      line_of(x, "DIGITAL"), choice(one_arg(a), {"POSitive": "POS", "NEGative": "NEG"})),
                  query=lambda a, x: s().line_logic[line_of(x, "DIGITAL")])
        e.command(":TRIGger:DIGital#:OUT:PULSewidth",
                  write=lambda a, x: s().line_pulse.__setitem__(
                      line_of(x, "DIGITAL"), number(one_arg(a), 0, 100)),
                  query=lambda a, x: fmt(s().line_pulse[line_of(x, "DIGITAL")]))

        # output and terminals
        e.command(":OUTPut#[:STATe]", write=setter(lambda a: setattr(s(), "output", boolean(a))),
                  query=getter(lambda: flag(s().output)))
        for spec, func in _SOURCE_FUNCS.items():
            e.command(f":OUTPut#:{spec}:SMODe",
                      write=setter(lambda a, f=func: s().off_mode.__setitem__(
                          f, choice(a, {"NORMal": "NORM", "HIMPedance": "HIMP", "ZERO": "ZERO",
                                        "GUARd": "GUAR"}))),
                      query=getter(lambda f=func: s().off_mode[f]))
        terminals = {"FRONt": "FRON", "REAR": "REAR"}
        e.command(":ROUTe:TERMinals", write=setter(lambda a: setattr(s(), "terminals", choice(a, terminals))),
                  query=getter(lambda: s().terminals))
