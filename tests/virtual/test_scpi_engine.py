"""The SCPI engine on its own: header forms, the path rule, parameters and the error queue."""

from __future__ import annotations

import pytest

from simulators.virtual.scpi import ScpiEngine, integer, no_args, number, one_arg


@pytest.fixture
def engine() -> ScpiEngine:
    e = ScpiEngine(queue_capacity=4)
    state = {"level": 0.0, "limit": 1e-3}

    def set_level(args, sfx):
        if sfx["SOURCE"] not in (None, 1):
            from simulators.virtual.scpi import ScpiError

            raise ScpiError(-114)
        state["level"] = number(one_arg(args), -10, 10)

    e.command(
        ":SOURce#:VOLTage[:LEVel][:IMMediate]",
        write=set_level,
        query=lambda a, s: (no_args(a), f"{state['level']:g}")[1],
    )
    e.command(
        ":SOURce#:VOLTage:ILIMit[:LEVel]",
        write=lambda a, s: state.update(limit=number(one_arg(a))),
        query=lambda a, s: f"{state['limit']:g}",
    )
    e.command(":SYSTem:ERRor[:NEXT]", query=e.error_next)
    e.command(
        "[:SENSe]:COUNt",
        write=lambda a, s: state.update(count=integer(one_arg(a), 1, 10)),
        query=lambda a, s: str(state.get("count", 1)),
    )
    return e


def errors(e: ScpiEngine) -> list[str]:
    out = []
    while True:
        entry = e.execute(":SYST:ERR?")
        if entry.startswith("0,"):
            return out
        out.append(entry)


@pytest.mark.parametrize(
    "command",
    [
        ":SOUR:VOLT:LEV 0.5",
        ":SOURCE:VOLTAGE:LEVEL 0.5",
        ":source:voltage 0.5",
        ":SoUr1:VoLt:ImM 0.5",
        "SOUR:VOLT 0.5",
    ],
)
def test_short_long_and_case_forms_are_one_command(engine: ScpiEngine, command: str) -> None:
    assert engine.execute(command) is None
    assert engine.execute(":SOUR:VOLT?") == "0.5"
    assert errors(engine) == []


def test_only_exact_short_or_long_forms_are_accepted(engine: ScpiEngine) -> None:
    engine.execute(":SOURC:VOLT 1")  # neither SOUR nor SOURCE
    assert errors(engine) == ['-113,"Undefined header"']


def test_header_path_rule_and_joined_replies(engine: ScpiEngine) -> None:
    # ILIM is relative to :SOUR:VOLT: (set by the first unit), LEV? to :SOUR:VOLT: (set by the
    # third); :COUN? restarts from the root.
    assert engine.execute(":SOUR:VOLT:LEV 0.25;ILIM 2e-3;:SOUR:VOLT:ILIM?;LEV?;:COUN?") == "0.002;0.25;1"
    # Without a leading colon the second unit is relative to SOUR:, so it is undefined.
    engine.execute(":SOUR:VOLT 1;SOUR:VOLT 2")
    assert errors(engine) == ['-113,"Undefined header"']


def test_unknown_command_queues_113_and_stops_the_message(engine: ScpiEngine) -> None:
    assert engine.execute(":SOUR:VOLT 1;:BOGUS 3;:SOUR:VOLT 2;:SOUR:VOLT?") is None
    assert engine.execute(":SOUR:VOLT?") == "1"
    assert engine.execute(":SYST:ERR?") == '-113,"Undefined header"'
    assert engine.execute(":SYST:ERR?") == '0,"No error"'


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (":SOUR:VOLT", -109),  # missing parameter
        (":SOUR:VOLT 1,2", -108),  # one too many
        (":SOUR:VOLT abc", -104),  # not a number
        (":SOUR:VOLT 1 V", -138),  # units are not accepted
        (":SOUR:VOLT 11", -222),  # out of range: refused, not clamped
        (":SOUR2:VOLT 1", -114),  # this instrument has one source
        (":COUN 0", -222),
    ],
)
def test_parameter_errors_use_the_standard_codes(engine: ScpiEngine, command: str, code: int) -> None:
    engine.execute(command)
    (entry,) = errors(engine)
    assert entry.startswith(f"{code},")
    assert engine.execute(":SOUR:VOLT?") == "0"  # nothing was applied


def test_queue_overflow_replaces_the_newest_entry(engine: ScpiEngine) -> None:
    for _ in range(6):
        engine.execute(":NOPE")
    assert errors(engine) == ['-113,"Undefined header"'] * 3 + ['-350,"Queue overflow"']


def test_common_commands(engine: ScpiEngine) -> None:
    engine.execute(":NOPE")
    assert engine.execute("*STB?") == "4"  # error/event available
    assert engine.execute("*ESR?") == "32"  # command error; reading clears it
    assert engine.execute("*ESR?") == "0"
    assert engine.execute("*OPC?") == "1"
    engine.execute("*CLS")
    assert errors(engine) == []
    engine.execute("*IDN?")  # not registered on this engine
    assert errors(engine) == ['-113,"Undefined header"']
    engine.execute(":*CLS")  # PyMeasure's Keithley2450.reset() sends this form
    assert errors(engine) == []
