"""Known state at connect: every setting the framework relies on, written and read back.

An instrument last used by other software may hold any setting its front panel or another
program left: another trigger slope, a reading count of 5, a filter, a digital line that fires
on every notify, an expected load of 50 ohms. A driver lists the settings the framework relies
on (`KnownSetting`: what it is, the query that reads it, the command that sets it, the answer
that means "as relied on"); `establish` reads them all, writes the ones that differ, reads them
all again and raises InstrumentError unless every one now reads as wanted. It returns what it
changed (`StateChange`), which `hil bench check` reports row by row.

No *RST: a reset of an SMU or a pulse generator connected to a chip may pass through states the
chip must not see (a source range change, an output relay), and a matrix reset is a relay
operation; every setting relied on is written explicitly instead.

Reading and writing go through the driver's `ask_settings` and `write_settings` (one compound
query and one compound write for SCPI, one print() and one chunk for TSP), so connecting costs
three or four transactions per instrument whatever the number of settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.errors import InstrumentError


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def same_value(found: str, wanted: str) -> bool:
    """Replies compare as numbers when both are numbers (within 1e-9 relative: "0" equals
    "+0.000000000000000E+00"), else as words, case and quotes ignored ("VOLT" equals "volt",
    '"CURR:DC"' equals 'CURR:DC')."""
    a, b = _as_number(found), _as_number(wanted)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    return found.strip().strip("\"'").upper() == wanted.strip().strip("\"'").upper()


@dataclass(frozen=True)
class KnownSetting:
    """One setting the framework relies on.

    name: the setting in words, for the check table. query: reads it (an SCPI query, or a TSP
    expression the driver prints). command: sets it (None: the driver cannot set it, e.g. the
    command set of a 2450, which takes a power cycle; `fix` then says what to do). wanted: the
    answer that means the setting is as relied on; wanted_query: instead, a query whose answer
    is it (a TSP constant such as channel.BREAK_BEFORE_MAKE, read in the same print()).
    matches(found, wanted) compares them.
    """

    name: str
    query: str
    command: str | None
    wanted: str = ""
    fix: str = ""
    matches: Callable[[str, str], bool] = same_value
    wanted_query: str | None = None


@dataclass(frozen=True)
class StateChange:
    """A setting found other than relied on and set (verified by reading it back)."""

    instrument: str
    setting: str
    found: str
    wanted: str

    def describe(self) -> str:
        return f"{self.setting}: found {self.found}, set to {self.wanted} (read back)"


def establish(
    instrument: str,
    settings: Sequence[KnownSetting],
    ask_settings: Callable[[Sequence[str]], list[str]],
    write_settings: Callable[[Sequence[str]], None],
) -> list[StateChange]:
    """Read `settings`, write those that differ, read all again; return what was changed.

    Raises InstrumentError (nothing written) if a setting that cannot be written differs, and
    InstrumentError after the writes if any setting then reads other than wanted.
    """
    found, wanted = _read(settings, ask_settings)
    differ = [(s, f, w) for s, f, w in zip(settings, found, wanted, strict=True) if not s.matches(f, w)]
    fixed_only_by_hand = [(s, f, w) for s, f, w in differ if s.command is None]
    if fixed_only_by_hand:
        s, f, w = fixed_only_by_hand[0]
        raise InstrumentError(instrument, f"{s.name} is {f}, the driver needs {w}: {s.fix}")
    if not differ:
        return []
    write_settings([s.command for s, _, _ in differ if s.command is not None])
    again, wanted = _read(settings, ask_settings)
    wrong = [
        f"{s.name} reads {a} after it was set to {w}"
        for s, a, w in zip(settings, again, wanted, strict=True)
        if not s.matches(a, w)
    ]
    if wrong:
        raise InstrumentError(instrument, "the known state did not hold: " + "; ".join(wrong))
    return [StateChange(instrument, s.name, f.strip(), w) for s, f, w in differ]


def _read(
    settings: Sequence[KnownSetting], ask_settings: Callable[[Sequence[str]], list[str]]
) -> tuple[list[str], list[str]]:
    """(found, wanted) per setting, in one ask_settings call."""
    references = [s.wanted_query for s in settings if s.wanted_query is not None]
    replies = ask_settings([*(s.query for s in settings), *references])
    found, answers = replies[: len(settings)], iter(replies[len(settings) :])
    wanted = [next(answers) if s.wanted_query is not None else s.wanted for s in settings]
    return found, wanted


def split_scpi_replies(instrument: str, reply: str, count: int) -> list[str]:
    """The `count` replies of a compound SCPI query (joined by ';'), or InstrumentError."""
    parts = [p.strip() for p in reply.strip().split(";")]
    if len(parts) != count:
        raise InstrumentError(
            instrument, f"a query of {count} settings answered {len(parts)} values: {reply!r}"
        )
    return parts


def compound_scpi(messages: Sequence[str]) -> str:
    """SCPI messages as one compound message: each header from the root (';:' between them)."""
    return ";".join(m if m.startswith("*") or k == 0 else ":" + m.lstrip(":") for k, m in enumerate(messages))


class KnownState:
    """Mixin of the three roles: `known_settings()` lists what the framework relies on (none by
    default), `establish_state()` makes it hold (module docstring). A driver with settings
    also provides ask_settings(queries) -> replies and write_settings(commands), e.g. from
    ScpiSettings or TspSettings."""

    name: str

    def known_settings(self) -> list[KnownSetting]:
        """The settings the framework relies on, in the order they are read and written."""
        return []

    def establish_state(self) -> list[StateChange]:
        """Put the instrument into the state the framework relies on and verify it by reading
        it back; returns the settings that had to change. Outputs stay as they are (a driver
        lists "output off" among its settings)."""
        settings = self.known_settings()
        if not settings:
            return []
        return establish(self.name, settings, self.ask_settings, self.write_settings)

    def ask_settings(self, queries: Sequence[str]) -> list[str]:
        raise NotImplementedError(f"{self.name}: this driver cannot read its settings")

    def write_settings(self, commands: Sequence[str]) -> None:
        raise NotImplementedError(f"{self.name}: this driver cannot write its settings")


class ScpiSettings:
    """ask_settings and write_settings of a SCPI instrument: one compound query, one compound
    write followed by the error queue."""

    name: str
    ask: Callable[[str], str]
    write: Callable[[str], None]
    raise_on_errors: Callable[[str], None]

    def ask_settings(self, queries: Sequence[str]) -> list[str]:
        return split_scpi_replies(self.name, self.ask(compound_scpi(queries)), len(queries))

    def write_settings(self, commands: Sequence[str]) -> None:
        self.write(compound_scpi(commands))
        self.raise_on_errors("setting the state the framework relies on")


class ScpiSettingsOneByOne(ScpiSettings):
    """write_settings one command at a time, each followed by SYST:ERR?, so that a command the
    instrument refuses is named (for an instrument whose manual could not be checked)."""

    def write_settings(self, commands: Sequence[str]) -> None:
        for command in commands:
            self.write(command)
            try:
                self.raise_on_errors(f"{command!r}")
            except InstrumentError as exc:
                exc.add_note(
                    f"the instrument refused {command!r}; its programming manual gives the command "
                    "that replaces it on this model and firmware"
                )
                raise


class TspSettings:
    """ask_settings and write_settings of a TSP instrument: one print() of every setting
    (tab-separated), and one chunk of assignments followed by the error count."""

    name: str
    ask: Callable[[str], str]
    write: Callable[[str], None]
    raise_on_errors: Callable[[str], None]

    def ask_settings(self, queries: Sequence[str]) -> list[str]:
        reply = self.ask(f"print({', '.join(queries)})")
        parts = [p.strip() for p in reply.strip().split("\t")]
        if len(parts) != len(queries):
            raise InstrumentError(
                self.name, f"a query of {len(queries)} settings answered {len(parts)} values: {reply!r}"
            )
        return parts

    def write_settings(self, commands: Sequence[str]) -> None:
        self.write(" ".join(commands))
        self.raise_on_errors("setting the state the framework relies on")
