"""Each fault switch does what it says, seen from the wire."""

from __future__ import annotations

import numpy as np
import pytest
import pyvisa
import serial

from hil.mock import IdealCrossbar
from simulators.virtual import VirtualBench, channel_for
from simulators.virtual.server import garble
from tests.virtual.conftest import G0, open_visa

IDN = "KEITHLEY INSTRUMENTS,MODEL 2450,04411779,1.7.12b"
SHORT_MS = 150  # client timeout for replies that must not come


def test_latency_delays_every_reply(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    bench.latency = 0.5
    assert all(inst.faults.latency == 0.5 for inst in bench.instruments.values())
    impatient = open_visa(rm, bench.addresses["smu"], timeout_ms=SHORT_MS)
    with pytest.raises(pyvisa.errors.VisaIOError, match="Timeout"):
        impatient.query("*IDN?")
    bench.latency = 0.02
    patient = open_visa(rm, bench.addresses["pulse_generator"], timeout_ms=2000)
    assert patient.query("*OPC?") == "1"
    with pytest.raises(ValueError, match="latency"):
        bench.latency = -1


def test_timeout_stops_replying_and_executes_nothing(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"], timeout_ms=SHORT_MS)
    bench.smu.faults.timeout = True
    smu.write(":SOUR:VOLT 0.05")
    with pytest.raises(pyvisa.errors.VisaIOError, match="Timeout"):
        smu.query("*IDN?")
    bench.smu.faults.timeout = False
    smu.timeout = 2000  # ms; replies must come now, even on a loaded machine
    assert smu.query(":SOUR:VOLT?") == "0.000000E+00"  # the swallowed command never ran


def test_drop_connection_closes_the_link(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    assert smu.query("*IDN?") == IDN
    bench.smu.faults.drop_connection = True
    smu.timeout = 300  # ms; pyvisa-py may only notice the closed link by timing out
    with pytest.raises(pyvisa.errors.VisaIOError):
        smu.query(":SOUR:VOLT 0.05;:SOUR:VOLT?")
    bench.smu.faults.drop_connection = False
    fresh = open_visa(rm, bench.addresses["smu"])
    assert fresh.query(":SOUR:VOLT?") == "0.000000E+00"  # dropped unexecuted


def test_garble_and_truncate_replies(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    bench.smu.faults.garble = True
    reply = smu.query("*IDN?")
    assert reply == garble(IDN) and len(reply) == len(IDN) and reply != IDN
    bench.smu.faults.garble = False
    bench.smu.faults.truncate = True
    assert smu.query("*IDN?") == IDN[: len(IDN) // 2]
    bench.smu.faults.truncate = False
    assert smu.query("*IDN?") == IDN


def test_injected_error_is_queued_once(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    bench.smu.faults.inject_error = (-363, "Input buffer overrun")
    smu.write(":SOUR:VOLT 0.05")
    assert smu.query(":SYST:ERR?") == '-363,"Input buffer overrun"'
    assert bench.smu.faults.inject_error is None  # one shot
    assert smu.query(":SYST:ERR?") == '0,"No error"'
    assert smu.query(":SOUR:VOLT?") == "5.000000E-02"  # the command itself ran

    awg = open_visa(rm, bench.addresses["pulse_generator"])
    bench.pulse_generator.faults.inject_error = (-310, "System error")
    awg.write("FUNC PULS")
    assert awg.query("SYST:ERR?") == '-310,"System error"'

    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    bench.switch_matrix.faults.inject_error = (1115, "Parameter error injected")
    matrix.write('channel.close("1A01")')
    assert matrix.query("print(errorqueue.count)") == "1.00000e+00"
    assert matrix.query('print(channel.getclose("allslots"))') == "1A01"


def test_injected_error_on_the_relay_matrix_replaces_the_reply(bench: VirtualBench) -> None:
    port = serial.serial_for_url(bench.addresses["relay_matrix"], timeout=2)
    try:
        bench.relay_matrix.faults.inject_error = (9, "relay driver fault")
        port.write(b"CLOSE 1 1\n")
        assert port.readline() == b"ERR 9 relay driver fault\n"
        port.write(b"CLOSED?\n")
        assert port.readline() == b"NONE\n"  # not executed
    finally:
        port.close()


def test_forced_compliance(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    smu.write(":SOUR:VOLT 0.1;:SOUR:VOLT:ILIM 2e-4;:OUTP ON")
    assert smu.query(":READ?;:SOUR:VOLT:ILIM:TRIP?") == "0.000000E+00;0"  # nothing routed
    bench.smu.force_compliance = True
    assert smu.query(":READ?;:SOUR:VOLT:ILIM:TRIP?") == "2.000000E-04;1"
    bench.smu.force_compliance = False
    assert smu.query(":READ?;:SOUR:VOLT:ILIM:TRIP?") == "0.000000E+00;0"


def test_stuck_device_ignores_a_routed_burst(
    bench: VirtualBench, rm: pyvisa.ResourceManager, array: IdealCrossbar
) -> None:
    p = bench.chip.pins.pads("A", 1, 1)
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    matrix.write(f'channel.close("{channel_for(3, p.gate)}")')
    assert matrix.query("*OPC?") == "1"  # instruments run in parallel: wait for the relay
    bench.chip.stuck.add(("A", 1, 1))
    awg = open_visa(rm, bench.addresses["pulse_generator"])
    awg.write("FUNC PULS;:OUTP:LOAD INF;:VOLT:HIGH 3;LOW 0;:FUNC:PULS:WIDT 1e-6")
    awg.write("BURS:MODE TRIG;NCYC 5;STAT ON;:TRIG:SOUR BUS;:OUTP ON;*TRG")
    assert awg.query("*OPC?;SYST:ERR?") == '1;+0,"No error"'
    np.testing.assert_array_equal(array.g, G0)
    (record,) = bench.chip.pulse_log
    assert (record.row, record.col, record.count, record.applied) == (1, 1, 5, False)


# ---------------------------------------------------------------------- one-shot transient faults
def test_drop_next_closes_one_connection_and_serves_the_next(bench: VirtualBench, rm) -> None:
    smu = open_visa(rm, bench.addresses["smu"], timeout_ms=300)
    bench.smu.faults.drop_next = 1
    with pytest.raises(pyvisa.errors.VisaIOError):
        smu.query(":SOUR:VOLT 0.05;:SOUR:VOLT?")
    assert bench.smu.faults.drop_next == 0 and bench.smu.faults.fired == {"drop_next": 1}
    fresh = open_visa(rm, bench.addresses["smu"])
    assert fresh.query(":SOUR:VOLT?") == "0.000000E+00"  # dropped unexecuted
    assert fresh.query("*IDN?") == IDN  # once only


def test_swallow_next_executes_but_sends_no_reply(bench: VirtualBench, rm) -> None:
    smu = open_visa(rm, bench.addresses["smu"], timeout_ms=SHORT_MS)
    bench.smu.faults.swallow_next = 1
    smu.write(":SOUR:VOLT 0.05")  # no reply to swallow: the fault waits for the next one
    with pytest.raises(pyvisa.errors.VisaIOError, match="Timeout"):
        smu.query(":SOUR:VOLT 0.07;:SOUR:VOLT?")
    smu.timeout = 2000
    assert smu.query(":SOUR:VOLT?") == "7.000000E-02"  # it ran; only its reply was lost
    assert bench.smu.faults.fired == {"swallow_next": 1}


def test_garble_next_garbles_exactly_the_next_replies(bench: VirtualBench, rm) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    bench.smu.faults.garble_next = 2
    assert [smu.query("*IDN?") for _ in range(3)] == [garble(IDN), garble(IDN), IDN]
    assert bench.smu.faults.fired == {"garble_next": 2} and bench.smu.faults.garble_next == 0
