"""Known state at connect (drivers.state): exact exchanges of establish_state for each kind of
driver: read all, write what differs, read all again; refusals before anything is written."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.agilent81150a import Agilent81150A
from drivers.errors import InstrumentError
from drivers.keithley707b import Keithley707B
from drivers.keithley2450 import Keithley2450SMU
from drivers.keysight33500b import Keysight33500B
from drivers.state import same_value

NO_ERROR = ("SYST:ERR?", '0,"No error;0;0 0"')
SMU_QUERY = (
    "*LANG?;:OUTP?;:SOUR:FUNC?;:SOUR:VOLT:DEL:AUTO?;:OUTP:VOLT:SMOD?;:SENS:FUNC?;:SENS:COUN?;"
    ":SENS:CURR:AVER?;:SENS:CURR:AZER?;:FORM:DATA?;"
    + ";".join(f":TRIG:DIG{n}:OUT:STIM?" for n in range(1, 7))
)
AS_WANTED = 'SCPI;0;VOLT;1;NORM;"CURR:DC";1;0;1;ASC;NONE;NONE;NONE;NONE;NONE;NONE'


def test_replies_compare_as_numbers_or_as_words() -> None:
    assert same_value("+0.000000000000000E+00", "0") and same_value("9.9E+37", "9.9e37")
    assert same_value('"CURR:DC"', "CURR:DC") and same_value("volt", "VOLT")
    assert not same_value("5", "1") and not same_value("POS", "NEG")


def test_an_smu_already_in_the_relied_on_state_is_only_read() -> None:
    with expected_protocol(Keithley2450SMU, [(SMU_QUERY, AS_WANTED)]) as smu:
        assert smu.establish_state() == []


def test_settings_found_otherwise_are_written_at_once_and_read_back() -> None:
    found = 'SCPI;0;CURR;1;HIMP;"VOLT:DC";3;1;1;ASC;NONE;NOT2;NONE;NONE;NONE;NONE'
    written = (
        ':SOUR:FUNC VOLT;:OUTP:VOLT:SMOD NORM;:SENS:FUNC "CURR";:SENS:COUN 1;:SENS:CURR:AVER OFF;'
        ":TRIG:DIG2:OUT:STIM NONE"
    )
    pairs = [(SMU_QUERY, found), (written, None), NO_ERROR, (SMU_QUERY, AS_WANTED)]
    with expected_protocol(Keithley2450SMU, pairs) as smu:
        changes = smu.establish_state()
    assert [(c.setting, c.found, c.wanted) for c in changes] == [
        ("source function", "CURR", "VOLT"),
        ("output-off state", "HIMP", "NORM"),
        ("measure function", '"VOLT:DC"', "CURR:DC"),
        ("readings per trigger", "3", "1"),
        ("current filter", "1", "0"),
        ("digital I/O line 2 trigger out", "NOT2", "NONE"),
    ]


def test_a_setting_that_does_not_hold_after_writing_raises() -> None:
    found = AS_WANTED.replace(";1;0;1;ASC", ";3;0;1;ASC")  # three readings per trigger
    pairs = [(SMU_QUERY, found), (":SENS:COUN 1", None), NO_ERROR, (SMU_QUERY, found)]
    with (
        expected_protocol(Keithley2450SMU, pairs) as smu,
        pytest.raises(InstrumentError, match="readings per trigger reads 3 after it was set to 1"),
    ):
        smu.establish_state()


def test_the_tsp_command_set_is_refused_before_anything_is_written() -> None:
    with (
        expected_protocol(Keithley2450SMU, [(SMU_QUERY, "TSP" + AS_WANTED[4:])]) as smu,
        pytest.raises(
            InstrumentError,
            match=r"command set is TSP, the driver needs SCPI: select SCPI on the front panel",
        ),
    ):
        smu.establish_state()


def test_the_33500b_fires_on_the_falling_edge_without_delay_into_the_bench_load() -> None:
    query = (
        "OUTP1?;:SOUR1:BURS:MODE?;:SOUR1:FUNC:PULS:HOLD?;:TRIG1:SLOP?;:TRIG1:DEL?;:OUTP1:LOAD?;"
        ":SOUR1:COMB:FEED?;:TRIG2:SOUR?"
    )
    pairs = [
        (query, "0;TRIG;WIDT;POS;+1.000000000000000E-04;+5.000000000000000E+01;CH2;EXT"),
        (
            "TRIG1:SLOP NEG;:TRIG1:DEL 0;:SOUR1:VOLT:LIM:STAT 0;:OUTP1:LOAD INF;"
            ":SOUR1:COMB:FEED NONE;:TRIG2:SOUR BUS",
            None,
        ),
        NO_ERROR,
        (query, "0;TRIG;WIDT;NEG;+0.000000000000000E+00;+9.900000000000000E+37;NONE;BUS"),
    ]
    with expected_protocol(Keysight33500B, pairs) as awg:
        changes = awg.establish_state()
    assert [c.setting for c in changes] == [
        "trigger slope",
        "trigger delay",
        "expected load",
        "combined channel",  # the other channel's waveform no longer added to this output
        "channel 2 trigger",  # nor fired by an edge on Ext Trig
    ]


def test_the_81150a_writes_one_setting_at_a_time_and_names_a_refused_command() -> None:
    query = ":OUTP1?;:OUTP1:ROUT?;:OUTP1:IMP?;:OUTP1:IMP:EXT?;:PULS:TRAN1?;:TRIG1:SOUR?;:ARM:SENS1?"
    pairs = [
        (query, "0;HBW;50;50;2.5e-09;IMM;EDGE"),
        (":OUTP1:ROUT HIV", None),
        ("SYST:ERR?", '-113,"Undefined header"'),
        NO_ERROR,
    ]
    with (
        expected_protocol(Agilent81150A, pairs) as gen,
        pytest.raises(InstrumentError, match=r"':OUTP1:ROUT HIV'.*-113") as info,
    ):
        gen.establish_state()
    assert "the instrument refused ':OUTP1:ROUT HIV'" in str(info.value.__notes__)


def test_the_707b_compares_its_connect_rule_with_the_instrument_s_own_constant() -> None:
    lines = ", ".join(f"digio.trigger[{n}].stimulus" for n in range(1, 15))
    query = f"print(channel.connectrule, {lines}, channel.BREAK_BEFORE_MAKE)"
    zeros = "\t".join(["0.00000e+00"] * 14)
    pairs = [
        (query, f"2.00000e+00\t{zeros}\t1.00000e+00"),
        (
            "channel.connectrule = channel.BREAK_BEFORE_MAKE waitcomplete() print(errorqueue.count)",
            "0.00000e+00",
        ),
        (query, f"1.00000e+00\t{zeros}\t1.00000e+00"),
    ]
    with expected_protocol(Keithley707B, pairs) as matrix:
        (change,) = matrix.establish_state()
    assert (change.setting, change.found, change.wanted) == ("connect rule", "2.00000e+00", "1.00000e+00")


def test_the_b2902a_waits_for_nothing_and_answers_the_current_only() -> None:
    from drivers.keysight_b2902a import KeysightB2902A

    query = (
        ":OUTP2?;:OUTP2:ON:AUTO?;:SOUR2:FUNC:MODE?;:ARM2:SOUR?;:ARM2:COUN?;:TRIG2:SOUR?;:TRIG2:COUN?;"
        ":FORM:ELEM:SENS?"
    )
    pairs = [
        (query, "0;1;VOLT;AINT;1;TIM;5;VOLT,CURR"),
        (":OUTP2:ON:AUTO OFF;:TRIG2:SOUR AINT;:TRIG2:COUN 1;:FORM:ELEM:SENS CURR", None),
        ("SYST:ERR?", '+0,"No error"'),
        (query, "0;0;VOLT;AINT;1;AINT;1;CURR"),
    ]
    with expected_protocol(KeysightB2902A, pairs, channel=2) as smu:
        changes = smu.establish_state()
    assert [c.setting for c in changes] == [
        "automatic output on",
        "trigger source",
        "trigger count",
        "reply elements",
    ]


def test_the_2636b_compares_its_constants_with_the_instrument_s_own() -> None:
    from drivers.keithley2636b import Keithley2636B

    smu = Keithley2636B
    attributes = [
        "source.output", "source.func", "source.offmode", "measure.count", "measure.filter.enable",
        "trigger.endpulse.action", "trigger.arm.count", "trigger.arm.stimulus", "trigger.source.stimulus",
        "trigger.measure.stimulus", "trigger.endpulse.stimulus",
    ]  # fmt: skip
    constants = ["OUTPUT_OFF", "OUTPUT_DCVOLTS", "OUTPUT_NORMAL", "FILTER_OFF", "SOURCE_IDLE"]
    query = "print(" + ", ".join([f"smua.{a}" for a in attributes] + [f"smua.{c}" for c in constants]) + ")"
    found = ["0", "1", "0", "1", "0", "0", "1", "0", "0", "0", "0"]  # endpulse.action 0: SOURCE_HOLD
    values = ["0", "1", "0", "0", "1"]
    pairs = [
        (query, "\t".join(found + values)),
        ("smua.trigger.endpulse.action = smua.SOURCE_IDLE", None),
        ("print(errorqueue.count)", "0"),
        (query, "\t".join([*found[:5], "1", *found[6:], *values])),
    ]
    with expected_protocol(smu, pairs) as k:
        (change,) = k.establish_state()
    assert (change.setting, change.found, change.wanted) == ("end-of-pulse action", "0", "1")
