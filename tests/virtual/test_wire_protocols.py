"""Exact command/response pairs over the wire: raw pyvisa-py sessions and pyserial."""

from __future__ import annotations

import pytest
import pyvisa
import serial

from simulators.virtual import VirtualBench, channel_for
from tests.virtual.conftest import G0, open_visa

V = 0.1  # volts


def exchange(session, pairs: list[tuple[str, str | None]]) -> None:
    """Write each command; where a reply is expected, read it and compare exactly."""
    for command, expected in pairs:
        if expected is None:
            session.write(command)
        else:
            assert session.query(command) == expected, command


def test_keithley2450_dialogue(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    p = bench.chip.pins.pads("A", 1, 0)
    matrix.write(f'channel.close("{channel_for(1, p.drain)},{channel_for(2, p.source)}")')
    assert matrix.query("*OPC?") == "1"  # instruments run in parallel: wait for the relays
    i = G0[1, 0] * V
    exchange(
        smu,
        [
            ("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2450,04411779,1.7.12b"),
            ("*RST", None),
            (":SOUR:FUNC?", "VOLT"),
            (":SENS:FUNC?", '"CURR:DC"'),
            (":OUTP?", "0"),
            (":SOUR:VOLT:ILIM?", "1.050000E-04"),
            (":SOUR:FUNC VOLT;:SOUR:VOLT:LEV 0.1;:SOUR:VOLT:ILIM 1e-3;:OUTP ON", None),
            (":SOUR:VOLT?", "1.000000E-01"),
            (":OUTP?", "1"),
            (":MEAS:CURR?", f"{i:.6E}"),
            (":READ?", f"{i:.6E}"),
            (":SOUR:VOLT:ILIM:TRIP?", "0"),
            (':READ? "defbuffer1", READ, SOUR', f"{i:.6E},1.000000E-01"),
            (":SYST:ERR?", '0,"No error"'),
            (":SENS:CURR:RANG?;:SOUR:VOLT:ILIM?", "1.000000E-08;1.000000E-03"),
            (":SOUR:VOLT:ILIM 1e-7", None),
            (":READ?", "1.000000E-07"),  # in compliance: the reading sits at the limit
            (":SOUR:VOLT:ILIM:TRIP?", "1"),
            (':FETC? "defbuffer1", SOURSTAT', "168"),  # output on (128) + limited (32) + readback (8)
            (":BOGUS:CMD 1", None),
            (":SYST:ERR:COUN?", "1"),
            (":SYST:ERR?", '-113,"Undefined header"'),
            (":SOUR:VOLT 500", None),
            (":SYST:ERR?", '-222,"Data out of range"'),
            (":SOUR:VOLT?", "1.000000E-01"),  # refused, not clamped
            (":SYST:ERR?", '0,"No error"'),
        ],
    )


def test_keithley2450_buffer_of_many_points(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    p = bench.chip.pins.pads("A", 0, 0)
    bench.switch_matrix.transact(f'channel.close("{channel_for(1, p.drain)},{channel_for(2, p.source)}")')
    i = G0[0, 0] * V
    exchange(
        smu,
        [
            (":SOUR:VOLT 0.1;:SOUR:VOLT:ILIM 1e-3;:OUTP ON;:SENS:COUN 4", None),
            (":TRAC:CLE;:TRAC:TRIG", None),
            (":TRAC:ACT?", "4"),
            (':TRAC:DATA? 1, 4, "defbuffer1", READ', ",".join([f"{i:.6E}"] * 4)),
            (':TRAC:DATA? 2, 3, "defbuffer1", REL', "1.666667E-02,3.333333E-02"),  # 1 NPLC at 60 Hz apart
            (
                ':SOUR:SWE:VOLT:LIN 0.05, 0.15, 3, 0, 1, BEST, ON, OFF, "defbuffer1";:TRAC:CLE;:INIT;*WAI',
                None,
            ),
            (
                ':TRAC:DATA? 1, 3, "defbuffer1", SOUR, READ',
                ",".join(f"{v:.6E},{G0[0, 0] * v:.6E}" for v in (0.05, 0.1, 0.15)),
            ),
            (":SOUR:VOLT?", "1.000000E-01"),  # the sweep leaves the bias where it was
            (':TRAC:DATA? 1, 9, "defbuffer1"', None),
            (":SYST:ERR?", '-222,"Data out of range;buffer defbuffer1 holds 3 readings"'),
        ],
    )


def test_keysight33500b_dialogue(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    awg = open_visa(rm, bench.addresses["pulse_generator"])
    exchange(
        awg,
        [
            ("*IDN?", "Keysight Technologies,33522B,MY57500001,4.00-1.19-2.00-58-00"),
            ("*RST;*CLS", None),
            ("FUNC?", "SIN"),
            ("OUTP:LOAD?", "+5.000000000000000E+01"),
            ("FUNC PULS", None),
            ("FUNC?;:FUNC:PULS:WIDT?", "PULS;+1.000000000000000E-04"),
            ("VOLT:HIGH?", "+5.000000000000000E-02"),  # 100 mVpp into 50 ohm, offset 0
            ("OUTP:LOAD INF", None),
            ("VOLT:HIGH?", "+1.000000000000000E-01"),  # same output, shown for an open circuit
            ("VOLT:HIGH 2.5;LOW 0", None),
            ("VOLT?;:VOLT:OFFS?", "+2.500000000000000E+00;+1.250000000000000E+00"),
            ("SOUR2:BURS:NCYC 12;:SOUR2:BURS:NCYC?", "+1.200000000000000E+01"),
            ("BURS:NCYC?", "+1.000000000000000E+00"),  # channel 1 untouched
            ("*TRG", None),
            ("SYST:ERR?", '-211,"Trigger ignored"'),  # no channel armed for bus triggers
            ("SOUR3:FUNC SIN", None),
            ("SYST:ERR?", '-114,"Header suffix out of range"'),
            ("FUNC:PULS:WIDT 2e-3", None),  # longer than the 1 ms period
            ("SYST:ERR?", '-221,"Settings conflict;pulse width must be shorter than the period by 16 ns"'),
            ("VOLT:HIGH 12", None),
            ("SYST:ERR?", '-222,"Data out of range;levels must stay within +-10 V for this load"'),
            ("SYST:ERR?", '+0,"No error"'),
        ],
    )


def test_keithley707b_dialogue(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    exchange(
        matrix,
        [
            ("*IDN?", "Keithley Instruments Inc., Model 707B, 04440707, 01.60a"),
            ('channel.open("allslots")', None),
            ('print(channel.getclose("allslots"))', "nil"),
            ('channel.close("1A01")', None),
            ('channel.close("1C03")', None),
            ('print(channel.getclose("allslots"))', "1A01;1C03"),
            ("print(errorqueue.count)", "0.00000e+00"),
            ("print(errorqueue.next())", "0.00000e+00\tQueue Is Empty\t0.00000e+00\t1.00000e+00"),
            ('channel.close("9Z99")', None),
            ("print(errorqueue.count)", "1.00000e+00"),
            (
                "print(errorqueue.next())",
                "1.11500e+03\tParameter error invalid channel '9Z99'\t2.00000e+01\t1.00000e+00",
            ),
            ("channel.bogus()", None),
            (
                "print(errorqueue.next())",
                "-2.86000e+02\tTSP Runtime error at line 1: attempt to call field 'bogus' (a nil value)"
                "\t2.00000e+01\t1.00000e+00",
            ),
            ('channel.open("allslots")', None),
            ("print(localnode.model)", "707B"),
            ("*OPC?", "1"),
        ],
    )


def test_relay_matrix_dialogue(bench: VirtualBench) -> None:
    port = serial.serial_for_url(bench.addresses["relay_matrix"], timeout=2)
    try:
        n = bench.chip.pins.n_pads
        for command, reply in [
            ("*IDN?", "PROTONIC-HIL,RELAY-MATRIX,RM0001,1.0"),
            ("SIZE?", f"5,{n}"),
            ("CLOSED?", "NONE"),
            ("CLOSE 3 1", "OK"),
            ("close 1 7", "OK"),
            ("CLOSED?", "1:7,3:1"),
            ("OPEN 3 1", "OK"),
            ("CLOSED?", "1:7"),
            ("CLOSE 6 1", "ERR 3 row 6 out of range 1..5"),
            (f"CLOSE 1 {n + 1}", f"ERR 3 column {n + 1} out of range 1..{n}"),
            ("CLOSE 1", "ERR 2 usage: CLOSE <row> <col> (integers)"),
            ("CLOSE a b", "ERR 2 usage: CLOSE <row> <col> (integers)"),
            ("SIZE? 1", "ERR 2 SIZE? takes no arguments"),
            ("FLIP 1 1", "ERR 1 unknown command FLIP"),
            ("", "ERR 1 empty command"),
            ("SET 2:4,1:3", "OK"),
            ("CLOSED?", "1:3,2:4"),
            ("SET 1:3,9:1", "ERR 3 row 9 out of range 1..5"),
            ("CLOSED?", "1:3,2:4"),  # all or nothing
            ("SET 1-3", "ERR 2 SET item '1-3' is not <row>:<col>"),
            ("SET NONE", "OK"),
            ("CLOSED?", "NONE"),
            ("CLOSE 1 7", "OK"),
            ("OPENALL", "OK"),
            ("CLOSED?", "NONE"),
        ]:
            port.write(command.encode() + b"\r\n")
            assert port.readline() == reply.encode() + b"\n", command
    finally:
        port.close()


def test_relay_matrix_routes_the_chip(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    port = serial.serial_for_url(bench.addresses["relay_matrix"], timeout=2)
    p = bench.chip.pins.pads("A", 1, 2)
    try:
        for command in (f"CLOSE 1 {p.drain}", f"CLOSE 2 {p.source}"):
            port.write(command.encode() + b"\n")
            assert port.readline() == b"OK\n"
    finally:
        port.close()
    smu = open_visa(rm, bench.addresses["smu"])
    smu.write(":SOUR:VOLT 0.1;:SOUR:VOLT:ILIM 1e-3;:OUTP ON")
    assert float(smu.query(":READ?")) == pytest.approx(G0[1, 2] * V, rel=1e-6)
