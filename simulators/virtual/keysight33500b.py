"""Virtual Keysight 33500B waveform generator (a two-channel 33522B), wired to a VirtualChip.

Output 1 is the bench terminal AWG.CH1, output 2 AWG.CH2. What a gate sees:

- The instrument has a 50 ohm source; its level settings are what a load equal to
  OUTPut:LOAD would see. A gate is an open circuit, so the gate sees the open-circuit
  voltage: twice the programmed levels with the default OUTPut:LOAD 50, the programmed
  levels with OUTPut:LOAD INF (as the 33500 manual warns). Changing OUTPut:LOAD keeps the
  physical output and changes the displayed values, as on the instrument.
- A pulse idles at the low level and goes to the high level (OUTPut:POLarity NORMal), or idles
  at the high level and goes to the low level (INVerted). The gate voltage during a pulse is
  that peak level; a non-zero idle level is a DC gate bias and is recorded as a violation.
- A bus-triggered burst (BURSt:STATe ON, BURSt:MODE TRIGgered, TRIGger:SOURce BUS, output
  on) fires BURSt:NCYCles pulses of FUNCtion:PULSe:WIDTh on *TRG (or TRIGger). With the output
  on and the generator free-running (burst off, or TRIGger:SOURce IMMediate/TIMer), pulses
  accrue at the pulse rate in wall-clock time (see VirtualChip.set_drive).
- Instrument time (simulators.virtual.timing): a bus-triggered burst (*TRG, TRIGger) keeps the
  generator busy for NCYCles x period, output on or off; channels triggered together run at
  once, so the longer burst counts. 33500 Series Operating and Service Guide: *OPC? answers
  when the burst is complete (TRIGger subsystem); a burst of n cycles at waveform frequency f
  lasts n / f (BURSt:INTernal:PERiod). A burst fired over the Ext Trig cable counts in the
  generator's elapsed time but nobody waits for it here: it runs while the instrument that
  sent the edge waits (the 2450's trigger-model delay block).

- Both channels listen to the one rear Ext Trig input, each on its own TRIGger<n>:SLOPe: a
  trigger pulse (two edges) fires both, a single level change only the channel whose slope it
  is. SOURce<n>:COMBine:FEED CH<m> adds channel m's waveform to output n (operating guide,
  SOURce:COMBine:FEED): with channel 1 pulsing up on falling edges and channel 2 pulsing down
  on rising ones, output 1 alternates polarity with the edges of one line.

Settings out of range are rejected with -222 "Data out of range", impossible combinations with
-221 "Settings conflict"; nothing is clipped. The command subset is in docs/virtual-bench.md.

Output voltage limits (SOURce:VOLTage:LIMit:HIGH|LOW|STATe, operating guide "SOURce:VOLTage
subsystem"): default +5 V / -5 V as shown into the default 50 ohm load, off after *RST. While
the limits are on, a level, amplitude or offset that would take the output beyond them is
refused with -221 and nothing changes; so is switching them on while the present levels lie
outside, and moving a limit inside the present levels. The limits are kept as open-circuit
volts, like the levels, so a change of OUTPut:LOAD changes how they read, not what they allow.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulators.virtual import scpi
from simulators.virtual.scpi import ScpiEngine, ScpiError, Suffix, action, answer, flag
from simulators.virtual.server import VirtualInstrument
from simulators.virtual.triggers import Disturbance, Edge, Kind, Signal, TriggerPulse
from simulators.virtual.wiring import AWG_CH1, AWG_CH2, VirtualChip

SOURCE_IMPEDANCE = 50.0  # ohms
MAX_EMF = 10.0  # volts open circuit (+-5 V into 50 ohm)
MIN_WIDTH = 16e-9  # seconds
HIGH_Z = 9.9e37  # how OUTPut:LOAD? reports INFinity
# Seconds from the detected edge on Ext Trig to the output's first edge (TRIGger:DELay 0). The
# data sheet's figure was not checked; any value below the driver's bound (1 us) will do.
TRIGGER_LATENCY = 250e-9

_FUNCTIONS = {
    "SINusoid": "SIN",
    "SQUare": "SQU",
    "TRIangle": "TRI",
    "RAMP": "RAMP",
    "PULSe": "PULS",
    "PRBS": "PRBS",
    "NOISe": "NOIS",
    "ARB": "ARB",
    "DC": "DC",
}
_NO_BURST = ("DC", "NOIS")  # functions a burst cannot carry


def fmt(value: float) -> str:
    """The 33500's numeric reply format, e.g. +1.000000000000000E-04."""
    return f"{value:+.15E}"


@dataclass
class _Channel:
    """One output's settings. Levels and limits are kept as open-circuit volts; `shown`
    converts them to what the instrument displays for the configured load."""

    function: str = "SIN"
    period: float = 1e-3
    width: float = 100e-6
    edge: float = 10e-9
    hold: str = "WIDT"
    high: float = 0.1  # open-circuit volts: 100 mVpp into 50 ohm is 200 mVpp open circuit
    low: float = -0.1
    limit_high: float = MAX_EMF  # open-circuit volts: +5 V shown into the default 50 ohm load
    limit_low: float = -MAX_EMF
    limits_on: bool = False
    load: float = 50.0  # ohms; math.inf for high impedance
    output: bool = False
    polarity: str = "NORM"
    burst: bool = False
    burst_mode: str = "TRIG"
    ncycles: int = 1
    burst_period: float = 10e-3
    trigger: str = "IMM"
    slope: str = "POS"  # TRIGger:SLOPe: the Ext Trig edge that fires a burst
    trigger_delay: float = 0.0  # TRIGger:DELay, seconds
    timer: float = 1.0
    square_duty: float = 50.0
    ramp_symmetry: float = 100.0
    phase: float = 0.0
    combine: str = "NONE"  # SOURce:COMBine:FEED: the other channel's waveform added to this output

    @property
    def shown(self) -> float:
        """Displayed volts per open-circuit volt for the configured load."""
        return 1.0 if math.isinf(self.load) else self.load / (self.load + SOURCE_IMPEDANCE)

    def levels(self) -> tuple[float, float]:
        """(idle, peak) open-circuit volts of a pulse."""
        return (self.low, self.high) if self.polarity == "NORM" else (self.high, self.low)

    @property
    def triggered_burst(self) -> bool:
        return self.burst and self.burst_mode == "TRIG"

    def pulse_rate(self) -> float | None:
        """Pulses per second of a free-running output; None when it waits for triggers."""
        if not self.burst:
            return 1.0 / self.period
        if self.triggered_burst and self.trigger == "IMM":
            return self.ncycles / max(self.burst_period, self.ncycles * self.period)
        if self.triggered_burst and self.trigger == "TIM":
            return self.ncycles / max(self.timer, self.ncycles * self.period)
        return None

    # ------------------------------------------------------------------ checked changes
    def set_levels(self, high: float, low: float) -> None:
        """New open-circuit levels (V), refused if beyond the output or its voltage limits."""
        if max(abs(high), abs(low)) > MAX_EMF * (1 + 1e-12):
            raise ScpiError(-222, f"levels must stay within +-{MAX_EMF * self.shown:g} V for this load")
        if high - low < 1e-3 * (1 - 1e-9):
            raise ScpiError(-221, "high level must exceed low level by at least 1 mV")
        if self.limits_on and not _within(high, low, self.limit_high, self.limit_low):
            raise ScpiError(-221, "output would exceed the voltage limits")
        self.high, self.low = high, low

    def set_amplitude(self, arg: str) -> None:
        amp = scpi.number(arg, 1e-3 * self.shown, 2 * MAX_EMF * self.shown) / self.shown
        mid = (self.high + self.low) / 2
        self.set_levels(mid + amp / 2, mid - amp / 2)

    def set_offset(self, arg: str) -> None:
        mid = scpi.number(arg, -MAX_EMF * self.shown, MAX_EMF * self.shown) / self.shown
        half = (self.high - self.low) / 2
        self.set_levels(mid + half, mid - half)

    def limit(self, arg: str) -> float:
        """A voltage limit parameter as open-circuit volts."""
        top = MAX_EMF * self.shown
        return scpi.number(arg, -top, top, {"MINimum": -top, "MAXimum": top}) / self.shown

    def set_limits(self, high: float, low: float) -> None:
        if high <= low:
            raise ScpiError(-221, "the high voltage limit must exceed the low limit")
        if self.limits_on and not _within(self.high, self.low, high, low):
            raise ScpiError(-221, "the present output lies outside the new voltage limits")
        self.limit_high, self.limit_low = high, low

    def set_limits_on(self, on: bool) -> None:
        if on and not _within(self.high, self.low, self.limit_high, self.limit_low):
            raise ScpiError(-221, "the present output lies outside the voltage limits")
        self.limits_on = on

    def set_period(self, period: float) -> None:
        if self.function == "PULS" and self.width > period - MIN_WIDTH:
            raise ScpiError(-221, "pulse width must be shorter than the period by 16 ns")
        self.period = period

    def set_width(self, width: float) -> None:
        if width > self.period - MIN_WIDTH:
            raise ScpiError(-221, "pulse width must be shorter than the period by 16 ns")
        self.width = width

    def set_function(self, arg: str) -> None:
        function = scpi.choice(arg, _FUNCTIONS)
        if self.burst and function in _NO_BURST:
            raise ScpiError(-221, f"{function} is not allowed in burst mode")
        if function == "PULS" and self.width > self.period - MIN_WIDTH:
            self.width = self.period / 10  # the instrument's default 10 % duty cycle
        self.function = function

    def set_burst(self, on: bool) -> None:
        if on and self.function in _NO_BURST:
            raise ScpiError(-221, f"burst is not allowed with {self.function}")
        self.burst = on


def _combine(channels: list[_Channel], index: int, arg: str) -> None:
    """SOURce<n>:COMBine:FEED CH1|CH2|NONE: output n carries the other channel's waveform added
    to its own. Refused (-221) when the sum of the two channels' high levels, or of their low
    levels, would leave the output's range, or when a channel is fed itself."""
    feed = scpi.choice(arg, {"CH1": "CH1", "CH2": "CH2", "NONE": "NONE"})
    ch = channels[index]
    if feed != "NONE":
        other = channels[int(feed[2]) - 1]
        if other is ch:
            raise ScpiError(-221, "a channel cannot be combined with itself")
        if max(abs(ch.high + other.high), abs(ch.low + other.low)) > MAX_EMF * (1 + 1e-12):
            raise ScpiError(-221, "the combined signal would exceed the output range")
    ch.combine = feed


def _within(high: float, low: float, limit_high: float, limit_low: float) -> bool:
    """Levels inside voltage limits (all open-circuit volts)."""
    slack = 1e-12 * MAX_EMF  # round-off of the displayed <-> open-circuit conversion
    return high <= limit_high + slack and low >= limit_low - slack


Apply = Callable[[_Channel, str], object]
Show = Callable[[_Channel], str]

# Settings with checks, below [:SOURce#]: header, apply(channel, parameter), reply.
_CHECKED: tuple[tuple[str, Apply, Show], ...] = (
    ("FUNCtion", _Channel.set_function, lambda ch: ch.function),
    (
        "FREQuency",
        lambda ch, a: ch.set_period(1.0 / scpi.number(a, 1e-6, 30e6)),
        lambda ch: fmt(1.0 / ch.period),
    ),
    (
        "FUNCtion:PULSe:PERiod",
        lambda ch, a: ch.set_period(scpi.number(a, 33e-9, 1e6)),
        lambda ch: fmt(ch.period),
    ),
    (
        "FUNCtion:PULSe:WIDTh",
        lambda ch, a: ch.set_width(scpi.number(a, MIN_WIDTH, 1e6)),
        lambda ch: fmt(ch.width),
    ),
    (
        "FUNCtion:PULSe:DCYCle",
        lambda ch, a: ch.set_width(scpi.number(a, 0, 100) / 100 * ch.period),
        lambda ch: fmt(100 * ch.width / ch.period),
    ),
    (
        "VOLTage[:LEVel][:IMMediate][:AMPLitude]",
        _Channel.set_amplitude,
        lambda ch: fmt((ch.high - ch.low) * ch.shown),
    ),
    (
        "VOLTage[:LEVel][:IMMediate]:OFFSet",
        _Channel.set_offset,
        lambda ch: fmt((ch.high + ch.low) / 2 * ch.shown),
    ),
    (
        "VOLTage[:LEVel][:IMMediate]:HIGH",
        lambda ch, a: ch.set_levels(scpi.number(a) / ch.shown, ch.low),
        lambda ch: fmt(ch.high * ch.shown),
    ),
    (
        "VOLTage[:LEVel][:IMMediate]:LOW",
        lambda ch, a: ch.set_levels(ch.high, scpi.number(a) / ch.shown),
        lambda ch: fmt(ch.low * ch.shown),
    ),
    (
        "VOLTage:LIMit:HIGH",
        lambda ch, a: ch.set_limits(ch.limit(a), ch.limit_low),
        lambda ch: fmt(ch.limit_high * ch.shown),
    ),
    (
        "VOLTage:LIMit:LOW",
        lambda ch, a: ch.set_limits(ch.limit_high, ch.limit(a)),
        lambda ch: fmt(ch.limit_low * ch.shown),
    ),
    ("VOLTage:LIMit:STATe", lambda ch, a: ch.set_limits_on(scpi.boolean(a)), lambda ch: flag(ch.limits_on)),
    ("VOLTage:UNIT", lambda ch, a: scpi.choice(a, {"VPP": "VPP"}), lambda ch: "VPP"),
    ("BURSt:STATe", lambda ch, a: ch.set_burst(scpi.boolean(a)), lambda ch: flag(ch.burst)),
)


def _load(arg: str) -> float:
    return scpi.number(arg, 1.0, 10e3, {"INFinity": math.inf, "MINimum": 1.0, "MAXimum": math.inf})


def _keyword(options: dict[str, str]) -> Callable[[str], str]:
    return lambda arg: scpi.choice(arg, options)


def _bounded(lo: float, hi: float) -> Callable[[str], float]:
    return lambda arg: scpi.number(arg, lo, hi)


_SOURCE = "[:SOURce#]"
_TRIGGER_SOURCES = {"IMMediate": "IMM", "EXTernal": "EXT", "TIMer": "TIM", "BUS": "BUS"}
# Settings stored as sent: header, _Channel field, parser, reply format.
_STORED: tuple[tuple[str, str, Callable[[str], object], Callable[..., str]], ...] = (
    (f"{_SOURCE}:FUNCtion:PULSe:HOLD", "hold", _keyword({"WIDTh": "WIDT", "DCYCle": "DCYC"}), str),
    (f"{_SOURCE}:FUNCtion:PULSe:TRANsition[:BOTH]", "edge", _bounded(8.4e-9, 1e-6), fmt),
    (f"{_SOURCE}:FUNCtion:PULSe:TRANsition:LEADing", "edge", _bounded(8.4e-9, 1e-6), fmt),
    (f"{_SOURCE}:FUNCtion:PULSe:TRANsition:TRAiling", "edge", _bounded(8.4e-9, 1e-6), fmt),
    (f"{_SOURCE}:FUNCtion:SQUare:DCYCle", "square_duty", _bounded(0.01, 99.99), fmt),
    (f"{_SOURCE}:FUNCtion:RAMP:SYMMetry", "ramp_symmetry", _bounded(0, 100), fmt),
    (f"{_SOURCE}:PHASe", "phase", _bounded(-360, 360), fmt),
    (f"{_SOURCE}:BURSt:MODE", "burst_mode", _keyword({"TRIGgered": "TRIG", "GATed": "GAT"}), str),
    (f"{_SOURCE}:BURSt:NCYCles", "ncycles", lambda a: scpi.integer(a, 1, 100_000_000), fmt),
    (f"{_SOURCE}:BURSt:INTernal:PERiod", "burst_period", _bounded(1e-6, 8000), fmt),
    ("OUTPut#[:STATe]", "output", scpi.boolean, flag),
    ("OUTPut#:LOAD", "load", _load, lambda load: fmt(HIGH_Z if math.isinf(load) else load)),
    ("OUTPut#:POLarity", "polarity", _keyword({"NORMal": "NORM", "INVerted": "INV"}), str),
    ("TRIGger#:SOURce", "trigger", _keyword(_TRIGGER_SOURCES), str),
    ("TRIGger#:TIMer", "timer", _bounded(1e-6, 8000), fmt),
    ("TRIGger#:SLOPe", "slope", _keyword({"POSitive": "POS", "NEGative": "NEG"}), str),
    ("TRIGger#:DELay", "trigger_delay", _bounded(0, 1000), fmt),
)


class Keysight33500B(VirtualInstrument):
    """Two output channels speaking the 33500 Series SCPI that PyMeasure's Agilent33500 uses."""

    kind = "keysight33500b"
    terminals = (AWG_CH1, AWG_CH2)

    def __init__(self, chip: VirtualChip, serial: str = "MY57500001", firmware: str = "4.00-1.19-2.00-58-00"):
        super().__init__()
        self.chip = chip
        self.idn = f"Keysight Technologies,33522B,{serial},{firmware}"
        self.engine = ScpiEngine(error_format=lambda code, msg: f'{code:+d},"{msg}"')
        self.channels = [_Channel(), _Channel()]
        self.display_text = ""
        self._lock = threading.RLock()  # the server thread and external triggers share the state
        self._register()

    # ------------------------------------------------------------------ wire
    def handle(self, line: str) -> str | None:
        with self._lock:
            return self.engine.execute(line)

    def external_trigger(self, pulse: Signal | None = None) -> list[Disturbance]:
        """A trigger pulse or a single edge on the rear Ext Trig input, which both channels share
        (a cable from another instrument, called from that instrument's thread; `pulse` on the
        sender's clock, default an active-low pulse at 0 s): every channel in triggered burst
        mode with trigger source EXTernal whose TRIGger:SLOPe the signal has an edge of fires
        one burst; others ignore it, as the instrument does. Each burst starts at that edge,
        plus TRIGger:DELay and the trigger latency; the windows its pulses are on at a live
        output come back as Disturbances on the sender's clock."""
        pulse = pulse or TriggerPulse(0.0)
        with self._lock:
            fired = [(k, at[0]) for k in self._armed("EXT") if (at := pulse.edges(self._slope(k)))]
            if fired:
                self._fire_together([k for k, _ in fired])
            return [self._window(self.channels[k], edge) for k, edge in fired if self._carriers(k)]

    def _slope(self, index: int) -> Edge:
        return Edge.FALLING if self.channels[index].slope == "NEG" else Edge.RISING

    def _carriers(self, index: int) -> list[str]:
        """The live output terminals channel `index`'s waveform reaches: its own, and the other
        channel's when that one combines it (SOURce:COMBine:FEED)."""
        feed = f"CH{index + 1}"
        return [
            self.terminals[j]
            for j, ch in enumerate(self.channels)
            if ch.output and (j == index or ch.combine == feed)
        ]

    @staticmethod
    def _window(ch: _Channel, edge: float) -> Disturbance:
        """When a burst fired by an edge at `edge` is on at the output (first rise to last fall)."""
        start = edge + ch.trigger_delay + TRIGGER_LATENCY
        end = start + (ch.ncycles - 1) * ch.period + ch.width
        _, peak = ch.levels()
        return Disturbance(Kind.PULSE, start, end, peak)

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        self.engine.push_error(code, message)
        return reply

    def randomise(self, rng: np.random.Generator) -> None:
        """A state other software may leave behind (unlike *RST's): on each channel a trigger
        delay, gated bursts, the duty cycle held instead of the width, an inverted output, and
        a 50 ohm expected load on one channel chosen at random with high impedance on the
        other (the output stays off); both channels on the Ext Trig input, each adding the
        other's waveform to its output."""
        high_z = int(rng.integers(0, 2))
        for k, ch in enumerate(self.channels):
            ch.trigger_delay = float(rng.uniform(1e-6, 1e-3))
            ch.burst_mode, ch.hold, ch.polarity = "GAT", "DCYC", "INV"
            ch.load = math.inf if k == high_z else 50.0
            ch.trigger, ch.combine = "EXT", f"CH{2 - k}"
        for k in range(len(self.channels)):
            self._sync(k)

    def _reset(self) -> None:
        self.channels = [_Channel(), _Channel()]
        for k in range(len(self.channels)):
            self._sync(k)

    # ------------------------------------------------------------------ physics hooks
    def _sync(self, index: int) -> None:
        ch, terminal = self.channels[index], self.terminals[index]
        if not ch.output:
            self.chip.clear_drive(terminal)
            self.chip.set_level(terminal, None)
            return
        idle, peak = ch.levels()
        if ch.function != "PULS":
            idle = (ch.high + ch.low) / 2  # the DC level, or the mean of a periodic waveform
        if ch.combine != "NONE":  # the fed channel's resting level adds (its pulses: _fire)
            fed = self.channels[int(ch.combine[2]) - 1]
            idle += fed.levels()[0] if fed.function == "PULS" else (fed.high + fed.low) / 2
        rate = ch.pulse_rate()
        if rate is None or ch.function == "DC":
            self.chip.clear_drive(terminal)
        else:
            self.chip.set_drive(terminal, rate, peak, ch.width, ch.function)
        self.chip.set_level(terminal, idle)

    def _fire(self, index: int) -> None:
        ch = self.channels[index]
        for terminal in self._carriers(index):  # none: the output relays are open, it goes nowhere
            if ch.function != "PULS":
                self.chip.note(
                    f"{terminal}: triggered burst of {ch.function} is not modelled; nothing applied"
                )
                continue
            _, peak = ch.levels()
            self.chip.fire(terminal, ch.ncycles, peak, ch.width)

    def _fire_together(self, indices: list[int]) -> None:
        """Bursts out of these channels at once: the generator works for the longest (NCYCles x
        period each; a burst runs with the output relay open too)."""
        for k in indices:
            self._fire(k)
        self.clock.spend(max(self.channels[k].ncycles * self.channels[k].period for k in indices))

    def _armed(self, source: str) -> list[int]:
        """Channels in triggered burst mode waiting for a trigger from `source` (BUS, EXT)."""
        return [k for k, ch in enumerate(self.channels) if ch.triggered_burst and ch.trigger == source]

    def _bus_trigger(self, args: list[str], _: Suffix) -> None:
        scpi.no_args(args)
        armed = self._armed("BUS")
        if not armed:
            raise ScpiError(-211)
        self._fire_together(armed)

    # ------------------------------------------------------------------ command table
    def _register(self) -> None:
        """The command table: per-channel settings from the tables above, then triggers and
        the instrument-wide subsystems."""
        for spec, apply, show in _CHECKED:
            self._setting(f"{_SOURCE}:{spec}", apply, show)
        for spec, name, parse, show in _STORED:
            self._setting(
                spec,
                lambda ch, a, name=name, parse=parse: setattr(ch, name, parse(a)),
                lambda ch, name=name, show=show: show(getattr(ch, name)),
            )

        def combine(args: list[str], sfx: Suffix) -> None:
            k = self._index(sfx)
            _combine(self.channels, k, scpi.one_arg(args))
            self._sync(k)

        self.engine.command(
            f"{_SOURCE}:COMBine:FEED",
            write=combine,
            query=lambda a, x: self.channels[self._index(x)].combine,
        )
        self._trigger_commands()
        self._system_commands()

    @staticmethod
    def _index(sfx: Suffix) -> int:
        """The channel a header's suffix names (0 or 1; no suffix: 0)."""
        for node in ("SOURCE", "OUTPUT", "TRIGGER"):
            if sfx.get(node) is not None:
                if sfx[node] not in (1, 2):
                    raise ScpiError(-114)
                return sfx[node] - 1
        return 0

    def _setting(self, spec: str, apply: Apply, show: Show) -> None:
        """A per-channel setting: apply(channel, parameter) validates and sets; show(channel)
        answers the query. The chip learns of every change at once."""

        def write(args: list[str], sfx: Suffix) -> None:
            k = self._index(sfx)
            apply(self.channels[k], scpi.one_arg(args))
            for j in range(len(self.channels)):  # an output that combines channel k changes too
                self._sync(j)

        def query(args: list[str], sfx: Suffix) -> str:
            scpi.no_args(args)
            return show(self.channels[self._index(sfx)])

        self.engine.command(spec, write=write, query=query)

    def _trigger_commands(self) -> None:
        def trigger_now(args: list[str], sfx: Suffix) -> None:
            scpi.no_args(args)
            k = self._index(sfx)
            if not self.channels[k].triggered_burst:
                raise ScpiError(-211)
            self._fire_together([k])

        self.engine.command("TRIGger#[:IMMediate]", write=trigger_now)
        self.engine.common("*TRG", write=self._bus_trigger)

    def _system_commands(self) -> None:
        e = self.engine

        def set_text(text: str) -> None:
            self.display_text = text

        e.common("*IDN", query=answer(lambda: self.idn))
        e.common("*RST", write=action(self._reset))
        e.command("SYSTem:ERRor[:NEXT]", query=e.error_next)
        e.command("SYSTem:BEEPer[:IMMediate]", write=action(lambda: None))
        e.command(
            "DISPlay:TEXT[:DATA]",
            write=lambda a, x: set_text(scpi.string(scpi.one_arg(a))),
            query=answer(lambda: f'"{self.display_text}"'),
        )
        e.command("DISPlay:TEXT:CLEar", write=action(lambda: set_text("")))
