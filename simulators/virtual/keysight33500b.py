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
from collections.abc import Mapping
from dataclasses import dataclass

from simulators.virtual.scpi import (
    ScpiEngine,
    ScpiError,
    action,
    answer,
    boolean,
    choice,
    integer,
    no_args,
    number,
    one_arg,
    string,
)
from simulators.virtual.server import VirtualInstrument
from simulators.virtual.wiring import AWG_CH1, AWG_CH2, VirtualChip

SOURCE_IMPEDANCE = 50.0  # ohms
MAX_EMF = 10.0  # volts open circuit (+-5 V into 50 ohm)
MIN_WIDTH = 16e-9  # seconds
HIGH_Z = 9.9e37  # how OUTPut:LOAD? reports INFinity

_FUNCTIONS = {"SINusoid": "SIN", "SQUare": "SQU", "TRIangle": "TRI", "RAMP": "RAMP", "PULSe": "PULS",
              "PRBS": "PRBS", "NOISe": "NOIS", "ARB": "ARB", "DC": "DC"}


def fmt(value: float) -> str:
    """The 33500's numeric reply format, e.g. +1.000000000000000E-04."""
    return f"{value:+.15E}"


@dataclass
class _Channel:
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
    timer: float = 1.0
    square_duty: float = 50.0
    ramp_symmetry: float = 100.0
    phase: float = 0.0

    @property
    def shown(self) -> float:
        """Displayed volts per open-circuit volt for the configured load."""
        return 1.0 if math.isinf(self.load) else self.load / (self.load + SOURCE_IMPEDANCE)

    def levels(self) -> tuple[float, float]:
        """(idle, peak) open-circuit volts of a pulse."""
        return (self.low, self.high) if self.polarity == "NORM" else (self.high, self.low)


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

    def external_trigger(self) -> None:
        """A trigger pulse on the rear Ext Trig input (a cable from another instrument, called
        from that instrument's thread): every channel in triggered burst mode with trigger source
        EXTernal fires one burst; others ignore it, as the instrument does."""
        with self._lock:
            armed = [k for k, ch in enumerate(self.channels)
                     if ch.burst and ch.burst_mode == "TRIG" and ch.trigger == "EXT"]
            if armed:
                self._fire_together(armed)

    def report_error(self, code: int, message: str, reply: str | None) -> str | None:
        self.engine.push_error(code, message)
        return reply

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
        rate = None
        if not ch.burst:
            rate = 1.0 / ch.period
        elif ch.burst_mode == "TRIG" and ch.trigger == "IMM":
            rate = ch.ncycles / max(ch.burst_period, ch.ncycles * ch.period)
        elif ch.burst_mode == "TRIG" and ch.trigger == "TIM":
            rate = ch.ncycles / max(ch.timer, ch.ncycles * ch.period)
        if rate is None or ch.function == "DC":
            self.chip.clear_drive(terminal)
        else:
            self.chip.set_drive(terminal, rate, peak, ch.width, ch.function)
        self.chip.set_level(terminal, idle)

    def _fire(self, index: int) -> None:
        ch, terminal = self.channels[index], self.terminals[index]
        if not ch.output:
            return  # output relay open: the burst goes nowhere
        if ch.function != "PULS":
            self.chip.note(f"{terminal}: triggered burst of {ch.function} is not modelled; nothing applied")
            return
        _, peak = ch.levels()
        self.chip.fire(terminal, ch.ncycles, peak, ch.width)

    def _fire_together(self, indices: list[int]) -> None:
        """Bursts out of these channels at once: the generator works for the longest (NCYCles x
        period each; a burst runs with the output relay open too)."""
        for k in indices:
            self._fire(k)
        self.clock.spend(max(self.channels[k].ncycles * self.channels[k].period for k in indices))

    def _bus_trigger(self, args: list[str], _: Mapping[str, int | None]) -> None:
        no_args(args)
        armed = [k for k, ch in enumerate(self.channels)
                 if ch.burst and ch.burst_mode == "TRIG" and ch.trigger == "BUS"]
        if not armed:
            raise ScpiError(-211)
        self._fire_together(armed)

    # ------------------------------------------------------------------ command table
    def _register(self) -> None:
        e = self.engine

        def index(sfx: Mapping[str, int | None]) -> int:
            for node in ("SOURCE", "OUTPUT", "TRIGGER"):
                if sfx.get(node) is not None:
                    if sfx[node] not in (1, 2):
                        raise ScpiError(-114)
                    return sfx[node] - 1
            return 0

        def setting(apply, show):
            """A per-channel setting: apply(channel, arg) validates and sets; show(channel) -> str."""
            def write(args: list[str], sfx: Mapping[str, int | None]) -> None:
                k = index(sfx)
                apply(self.channels[k], one_arg(args))
                self._sync(k)

            def query(args: list[str], sfx: Mapping[str, int | None]) -> str:
                no_args(args)
                return show(self.channels[index(sfx)])
            return write, query

        def register(spec: str, apply, show) -> None:
            write, query = setting(apply, show)
            e.command(spec, write=write, query=query)

        def set_levels(ch: _Channel, high: float, low: float) -> None:
            if max(abs(high), abs(low)) > MAX_EMF * (1 + 1e-12):
                raise ScpiError(-222, f"levels must stay within +-{MAX_EMF * ch.shown:g} V for this load")
            if high - low < 1e-3 * (1 - 1e-9):
                raise ScpiError(-221, "high level must exceed low level by at least 1 mV")
            if ch.limits_on and not within_limits(ch, high, low, ch.limit_high, ch.limit_low):
                raise ScpiError(-221, "output would exceed the voltage limits")
            ch.high, ch.low = high, low

        def within_limits(ch: _Channel, high: float, low: float, limit_high: float, limit_low: float
                          ) -> bool:
            slack = 1e-12 * MAX_EMF  # round-off of the displayed <-> open-circuit conversion
            return high <= limit_high + slack and low >= limit_low - slack

        def set_limit(ch: _Channel, arg: str, which: str) -> None:
            top = MAX_EMF * ch.shown
            value = number(arg, -top, top, {"MINimum": -top, "MAXimum": top}) / ch.shown
            high, low = (value, ch.limit_low) if which == "high" else (ch.limit_high, value)
            if high <= low:
                raise ScpiError(-221, "the high voltage limit must exceed the low limit")
            if ch.limits_on and not within_limits(ch, ch.high, ch.low, high, low):
                raise ScpiError(-221, "the present output lies outside the new voltage limits")
            ch.limit_high, ch.limit_low = high, low

        def set_limit_state(ch: _Channel, arg: str) -> None:
            on = boolean(arg)
            if on and not within_limits(ch, ch.high, ch.low, ch.limit_high, ch.limit_low):
                raise ScpiError(-221, "the present output lies outside the voltage limits")
            ch.limits_on = on

        def set_amplitude(ch: _Channel, arg: str) -> None:
            amp = number(arg, 1e-3 * ch.shown, 2 * MAX_EMF * ch.shown) / ch.shown
            mid = (ch.high + ch.low) / 2
            set_levels(ch, mid + amp / 2, mid - amp / 2)

        def set_offset(ch: _Channel, arg: str) -> None:
            mid = number(arg, -MAX_EMF * ch.shown, MAX_EMF * ch.shown) / ch.shown
            half = (ch.high - ch.low) / 2
            set_levels(ch, mid + half, mid - half)

        def set_high(ch: _Channel, arg: str) -> None:
            set_levels(ch, number(arg) / ch.shown, ch.low)

        def set_low(ch: _Channel, arg: str) -> None:
            set_levels(ch, ch.high, number(arg) / ch.shown)

        def set_period(ch: _Channel, period: float) -> None:
            if ch.function == "PULS" and ch.width > period - MIN_WIDTH:
                raise ScpiError(-221, "pulse width must be shorter than the period by 16 ns")
            ch.period = period

        def set_width(ch: _Channel, width: float) -> None:
            if width > ch.period - MIN_WIDTH:
                raise ScpiError(-221, "pulse width must be shorter than the period by 16 ns")
            ch.width = width

        def set_load(ch: _Channel, arg: str) -> None:
            ch.load = number(arg, 1.0, 10e3, {"INFinity": math.inf, "MINimum": 1.0, "MAXimum": math.inf})

        def show_load(ch: _Channel) -> str:
            return fmt(HIGH_Z if math.isinf(ch.load) else ch.load)

        def set_function(ch: _Channel, arg: str) -> None:
            function = choice(arg, _FUNCTIONS)
            if ch.burst and function in ("DC", "NOIS"):
                raise ScpiError(-221, f"{function} is not allowed in burst mode")
            if function == "PULS" and ch.width > ch.period - MIN_WIDTH:
                ch.width = ch.period / 10  # the instrument's default 10 % duty cycle
            ch.function = function

        def set_burst(ch: _Channel, arg: str) -> None:
            on = boolean(arg)
            if on and ch.function in ("DC", "NOIS"):
                raise ScpiError(-221, f"burst is not allowed with {ch.function}")
            ch.burst = on

        on_off = {True: "1", False: "0"}
        src = "[:SOURce#]"
        register(f"{src}:FUNCtion", set_function, lambda ch: ch.function)
        register(f"{src}:FREQuency",
                 lambda ch, a: set_period(ch, 1.0 / number(a, 1e-6, 30e6)), lambda ch: fmt(1.0 / ch.period))
        register(f"{src}:FUNCtion:PULSe:PERiod",
                 lambda ch, a: set_period(ch, number(a, 33e-9, 1e6)), lambda ch: fmt(ch.period))
        register(f"{src}:FUNCtion:PULSe:WIDTh",
                 lambda ch, a: set_width(ch, number(a, MIN_WIDTH, 1e6)), lambda ch: fmt(ch.width))
        register(f"{src}:FUNCtion:PULSe:DCYCle",
                 lambda ch, a: set_width(ch, number(a, 0, 100) / 100 * ch.period),
                 lambda ch: fmt(100 * ch.width / ch.period))
        def simple(spec: str, attr: str, parse, show=fmt) -> None:
            register(spec, lambda ch, a: setattr(ch, attr, parse(a)), lambda ch: show(getattr(ch, attr)))

        simple(f"{src}:FUNCtion:PULSe:HOLD", "hold", lambda a: choice(a, {"WIDTh": "WIDT", "DCYCle": "DCYC"}),
               str)
        for edge in ("[:BOTH]", ":LEADing", ":TRAiling"):
            simple(f"{src}:FUNCtion:PULSe:TRANsition{edge}", "edge", lambda a: number(a, 8.4e-9, 1e-6))
        simple(f"{src}:FUNCtion:SQUare:DCYCle", "square_duty", lambda a: number(a, 0.01, 99.99))
        simple(f"{src}:FUNCtion:RAMP:SYMMetry", "ramp_symmetry", lambda a: number(a, 0, 100))
        simple(f"{src}:PHASe", "phase", lambda a: number(a, -360, 360))
        register(f"{src}:VOLTage[:LEVel][:IMMediate][:AMPLitude]", set_amplitude,
                 lambda ch: fmt((ch.high - ch.low) * ch.shown))
        register(f"{src}:VOLTage[:LEVel][:IMMediate]:OFFSet", set_offset,
                 lambda ch: fmt((ch.high + ch.low) / 2 * ch.shown))
        register(f"{src}:VOLTage[:LEVel][:IMMediate]:HIGH", set_high, lambda ch: fmt(ch.high * ch.shown))
        register(f"{src}:VOLTage[:LEVel][:IMMediate]:LOW", set_low, lambda ch: fmt(ch.low * ch.shown))
        register(f"{src}:VOLTage:LIMit:HIGH", lambda ch, a: set_limit(ch, a, "high"),
                 lambda ch: fmt(ch.limit_high * ch.shown))
        register(f"{src}:VOLTage:LIMit:LOW", lambda ch, a: set_limit(ch, a, "low"),
                 lambda ch: fmt(ch.limit_low * ch.shown))
        register(f"{src}:VOLTage:LIMit:STATe", set_limit_state, lambda ch: on_off[ch.limits_on])
        register(f"{src}:VOLTage:UNIT", lambda ch, a: choice(a, {"VPP": "VPP"}), lambda ch: "VPP")
        register(f"{src}:BURSt:STATe", set_burst, lambda ch: on_off[ch.burst])
        burst_modes = {"TRIGgered": "TRIG", "GATed": "GAT"}
        simple(f"{src}:BURSt:MODE", "burst_mode", lambda a: choice(a, burst_modes), str)
        simple(f"{src}:BURSt:NCYCles", "ncycles", lambda a: integer(a, 1, 100_000_000))
        simple(f"{src}:BURSt:INTernal:PERiod", "burst_period", lambda a: number(a, 1e-6, 8000))
        simple("OUTPut#[:STATe]", "output", boolean, on_off.__getitem__)
        register("OUTPut#:LOAD", set_load, show_load)
        polarities = {"NORMal": "NORM", "INVerted": "INV"}
        simple("OUTPut#:POLarity", "polarity", lambda a: choice(a, polarities), str)
        sources = {"IMMediate": "IMM", "EXTernal": "EXT", "TIMer": "TIM", "BUS": "BUS"}
        simple("TRIGger#:SOURce", "trigger", lambda a: choice(a, sources), str)
        simple("TRIGger#:TIMer", "timer", lambda a: number(a, 1e-6, 8000))

        def trigger_now(args: list[str], sfx: Mapping[str, int | None]) -> None:
            no_args(args)
            k = index(sfx)
            if not (self.channels[k].burst and self.channels[k].burst_mode == "TRIG"):
                raise ScpiError(-211)
            self._fire_together([k])

        e.command("TRIGger#[:IMMediate]", write=trigger_now)
        e.common("*TRG", write=self._bus_trigger)
        e.common("*IDN", query=answer(lambda: self.idn))
        e.common("*RST", write=action(self._reset))
        e.command("SYSTem:ERRor[:NEXT]", query=e.error_next)
        e.command("SYSTem:BEEPer[:IMMediate]", write=action(lambda: None))
        e.command("DISPlay:TEXT[:DATA]",
                  write=lambda a, x: setattr(self, "display_text", string(one_arg(a))),
                  query=answer(lambda: f'"{self.display_text}"'))
        e.command("DISPlay:TEXT:CLEar", write=action(lambda: setattr(self, "display_text", "")))

    def _reset(self) -> None:
        self.channels = [_Channel(), _Channel()]
        for k in range(len(self.channels)):
            self._sync(k)
