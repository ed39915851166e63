"""A checker of every message the drivers sent to the virtual instruments, against the bench limits.

Each instrument's messages are split into SCPI/TSP commands and every command is matched
against the exact forms the drivers send. A command that carries a level (volts, seconds,
amperes, a pulse count, a crosspoint) is checked against the limits; a command that carries
none must be on that instrument's allow-list. Anything else is a problem too, so a new command
cannot reach an instrument unchecked: extend the forms here when a driver learns one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from drivers.keithley707b import COLUMNS_PER_CARD
from hil.benchconfig import BenchConfig

_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
# Relative slack on numbers printed by the drivers (%f prints 6 decimals, %g 6 digits).
_PRINTED = 1e-6


def split_scpi(message: str) -> list[str]:
    """The commands of one SCPI message: ';'-separated, outside quotes, empty ones dropped."""
    parts, current, quote = [], [], ""
    for ch in message:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


class WireChecker:
    """Checks messages of the 2450, 33500B (output 1) and 707B against a bench configuration."""

    def __init__(self, config: BenchConfig):
        self.limits = config.limits
        w = config.wiring
        pads: dict[str, set[int]] = {"gate": set(), "drain": set(), "source": set()}
        for region in config.arrays.values():
            for r in range(region.row_start, region.row_stop):
                for c in range(region.col_start, region.col_stop):
                    for terminal, found in pads.items():
                        found.add(config.pad(terminal, r, c))
        # Which chip pads each instrument line may ever be routed to.
        self.routes = {w["smu_hi"]: pads["drain"], w["smu_lo"]: pads["source"],
                       w["pulse_out"]: pads["gate"], w["pulse_ref"]: pads["source"]}  # fmt: skip
        self._checks: dict[str, list[tuple[re.Pattern[str], Callable[..., list[str]]]]] = {
            "smu": self._smu_forms(),
            "pulse_generator": self._generator_forms(),
            "switch_matrix": self._matrix_forms(),
        }

    # ------------------------------------------------------------------ entry point
    def problems(self, instrument: str, messages: Iterable[str]) -> list[str]:
        """Every limit broken, and every command not understood, in `messages` to `instrument`."""
        found = []
        for message in messages:
            commands = [message] if instrument == "switch_matrix" else split_scpi(message)
            for command in commands:
                for pattern, check in self._checks[instrument]:
                    match = pattern.fullmatch(command)
                    if match:
                        found += [f"{instrument}: {command!r}: {p}" for p in check(*match.groups())]
                        break
                else:
                    found.append(f"{instrument}: {command!r} (in {message!r}) is not a known command")
        return found

    # ------------------------------------------------------------------ per instrument
    def _smu_forms(self) -> list[tuple[re.Pattern[str], Callable[..., list[str]]]]:
        lim = self.limits
        forms: list[tuple[str, Callable[..., list[str]]]] = [
            (rf":SOUR:VOLT:LEV {_NUMBER}", lambda v: _within("source level", v, lim.max_read_voltage, "V")),
            (rf":SOUR:VOLT:ILIM {_NUMBER}",
             lambda a: _at_most("current limit", a, lim.current_compliance, "A")),
            (r":SOUR:LIST:VOLT (.+)",
             lambda vs: [p for v in vs.split(",")
                         for p in _within("list level", v, lim.max_read_voltage, "V")]),
            # Only voltage sourcing with current measurement is ever used (the limits are in volts).
            (r":SOUR:FUNC VOLT", _none),
            (r":SENS:FUNC 'CURR'", _none),
            (rf":SENS:CURR:NPLC {_NUMBER}", _ignore),
            (r":SENS:CURR:RANG:AUTO 1", _none),
            (r":SOUR:SWE:VOLT:LIST 1, 0", _none),
            (r':TRAC:CLE "defbuffer1"', _none),
            (r':TRAC:DATA\? 1, (\d+), "defbuffer1", READ', _ignore),
            (r":DIG:LINE\d:MODE TRIG, (?:OUT|IN)", _none),
            (r":TRIG:DIG\d:OUT:LOG NEG", _none),
            (rf":TRIG:DIG\d:OUT:PULS {_NUMBER}", _ignore),
            (r":TRIG:DIG\d:OUT:STIM (?:NOT1|NONE)", _none),
            (r":TRIG:DIG\d:IN:EDGE FALL", _none),
            (r':TRIG:LOAD "Empty"', _none),
            (r':TRIG:BLOC:BUFF:CLE 1, "defbuffer1"', _none),
            (r":TRIG:BLOC:NOT \d+, 1", _none),
            (rf":TRIG:BLOC:DEL:CONS \d+, {_NUMBER}", _ignore),
            (r":TRIG:BLOC:WAIT \d+, DIG\d", _none),
            (r":TRIG:BLOC:SOUR:STAT \d+, (?:ON|OFF)", _none),
            (r':TRIG:BLOC:MEAS \d+, "defbuffer1"', _none),
            (r":TRIG:BLOC:BRAN:COUN \d+, (\d+), 2", _ignore),
            # The state the driver relies on, set at connect (drivers.state); a query changes nothing.
            (r"\*?:?[A-Z0-9:]+\?", _none),
            (r":SOUR:VOLT:DEL:AUTO ON|:OUTP:VOLT:SMOD NORM|:SENS:FUNC \"CURR\"|:SENS:COUN 1", _none),
            (r":SENS:CURR:AVER OFF|:SENS:CURR:AZER ON|:FORM:DATA ASC", _none),
        ]
        level_free = ["*IDN?", "*OPC?", "*WAI", "SYST:ERR?", ":READ?", ":INIT", ":ABOR",
                      "OUTPUT ON", "OUTPUT OFF", ":OUTP ON", ":OUTP OFF"]
        return _compile(forms, level_free)

    def _generator_forms(self) -> list[tuple[re.Pattern[str], Callable[..., list[str]]]]:
        lim = self.limits
        amp = lim.max_pulse_amplitude
        forms: list[tuple[str, Callable[..., list[str]]]] = [
            (rf"SOUR1:VOLT:(?:HIGH|LOW) {_NUMBER}", lambda v: _within("level", v, amp, "V")),
            (rf"SOUR1:VOLT:LIM:(?:HIGH|LOW) {_NUMBER}", lambda v: _within("voltage limit", v, amp, "V")),
            (rf"SOUR1:FUNC:PULS:WIDT {_NUMBER}",
             lambda w: _inside("pulse width", w, lim.min_pulse_width, lim.max_pulse_width, "s")),
            (r"SOUR1:BURS:NCYC (\d+)", lambda n: _inside("burst count", n, 1, lim.max_pulses_per_call, "")),
            # The programmed levels are the gate's volts only into a high-impedance load.
            (r"OUTP1:LOAD INF", _none),
            (r"SOUR1:FUNC PULS", _none),
            (rf"SOUR1:FUNC:PULS:PER {_NUMBER}", _ignore),
            (rf"SOUR1:FUNC:PULS:TRAN:BOTH {_NUMBER}", _ignore),
            (r"SOUR1:VOLT:LIM:STAT [01]", _none),
            (r"OUTP1:POL (?:NORM|INV)", _none),
            # Triggered bursts only: a free-running generator would pulse on its own.
            (r"SOUR1:BURS:MODE TRIG", _none),
            (r"SOUR1:BURS:STAT 1", _none),
            (r"TRIG1:SOUR (?:BUS|EXT)", _none),
            # The state the driver relies on, set at connect (drivers.state); a query changes nothing.
            (r"[A-Z0-9:]+\?", _none),
            (r"TRIG1:SLOP NEG|TRIG1:DEL 0|SOUR1:FUNC:PULS:HOLD WIDT", _none),
        ]
        level_free = ["*IDN?", "*OPC?", "*WAI", "*TRG", "SYST:ERR?", "SOUR1:FUNC:PULS:PER?",
                      "OUTP1 0", "OUTP1 1"]
        return _compile(forms, level_free)

    def _matrix_forms(self) -> list[tuple[re.Pattern[str], Callable[..., list[str]]]]:
        settle = r" waitcomplete\(\) print\(errorqueue\.count\)"
        forms: list[tuple[str, Callable[..., list[str]]]] = [
            (rf'channel\.(?:exclusiveclose|close)\("([^"]+)"\){settle}', self._routes),
            (rf'channel\.open\("([^"]+)"\){settle}', _ignore),
            # The state the driver relies on, set at connect (drivers.state), and its read-back.
            (r"(?:(?:channel\.connectrule = channel\.BREAK_BEFORE_MAKE"
             rf"|digio\.trigger\[\d+\]\.stimulus = 0) ?)+{settle}", _none),
            (r"print\([A-Za-z0-9_.\[\], ]+\)", _none),
        ]
        level_free = ["*IDN?", "*OPC?", "print(errorqueue.count)", "print(errorqueue.next())",
                      'print(channel.getclose("allslots"))']  # fmt: skip
        return _compile(forms, level_free)

    def _routes(self, names: str) -> list[str]:
        found = []
        for name in names.split(","):
            match = re.fullmatch(r"([1-6])([A-H])(\d{2})", name)
            if match is None:
                found.append(f"channel {name!r} is not a 707B crosspoint name")
                continue
            slot, letter, column = match.groups()
            row = "ABCDEFGH".index(letter) + 1
            pad = (int(slot) - 1) * COLUMNS_PER_CARD + int(column)
            if pad not in self.routes.get(row, set()):
                found.append(f"crosspoint {name} joins instrument line {row} to pad {pad}, "
                             "which it must never reach")
        return found


def _compile(
    forms: list[tuple[str, Callable[..., list[str]]]], level_free: list[str]
) -> list[tuple[re.Pattern[str], Callable[..., list[str]]]]:
    return [(re.compile(p), f) for p, f in forms] + [(re.compile(re.escape(c)), _none) for c in level_free]


def _none() -> list[str]:
    return []


def _ignore(*_: str) -> list[str]:
    return []


def _inside(what: str, text: str, low: float, high: float, unit: str) -> list[str]:
    value = float(text)
    if low - abs(low) * _PRINTED <= value <= high + abs(high) * _PRINTED:
        return []
    return [f"{what} {value:g} {unit} outside the bench limits [{low:g}, {high:g}] {unit}"]


def _within(what: str, text: str, most: float, unit: str) -> list[str]:
    return _inside(what, text, -most, most, unit)


def _at_most(what: str, text: str, most: float, unit: str) -> list[str]:
    return _inside(what, text, 0.0, most, unit)
