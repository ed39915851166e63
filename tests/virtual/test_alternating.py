"""Alternating polarity over one trigger cable: the 2450 drives its line as a level (Digital I/O
blocks, :DIGital:LINE<n>:STATe), the 33500B pulses up from channel 1 on the falling edge and down
from channel 2, combined into output 1 (SOURce1:COMBine:FEED CH2), on the rising edge.

An ideal 2 x 3 array (conftest): every pulse moves a device by exactly G_STEP, up or down.
"""

from __future__ import annotations

import pytest

from simulators.virtual import VirtualBench, VirtualChip
from simulators.virtual.triggers import LineEdge, TriggerPulse
from tests.virtual.conftest import G0, G_STEP, open_visa

READ_V = 0.1
AWG_SETUP = (
    "OUTP1:LOAD INF;:OUTP2:LOAD INF;:SOUR1:FUNC PULS;:SOUR2:FUNC PULS;"
    ":SOUR1:FUNC:PULS:WIDT 1e-7;:SOUR1:FUNC:PULS:PER 1e-6;"
    ":SOUR2:FUNC:PULS:WIDT 2e-7;:SOUR2:FUNC:PULS:PER 1e-6;"
    ":SOUR1:VOLT:HIGH 1;:SOUR1:VOLT:LOW 0;:SOUR2:VOLT:LOW -0.5;:SOUR2:VOLT:HIGH 0;:OUTP2:POL INV;"
    ":SOUR1:BURS:MODE TRIG;:SOUR1:BURS:NCYC 1;:SOUR2:BURS:MODE TRIG;:SOUR2:BURS:NCYC 1;"
    ":TRIG1:SOUR EXT;:TRIG1:SLOP NEG;:TRIG2:SOUR EXT;:TRIG2:SLOP POS;:SOUR1:BURS:STAT 1;:SOUR2:BURS:STAT 1"
)


@pytest.fixture
def cabled(chip: VirtualChip):
    with VirtualBench(chip, smu_to_pulser=2, state_seed=None) as b:
        yield b


def route_device_0_0(bench: VirtualBench, rm) -> None:
    """Gate of (0, 0) on the generator, its drain on SMU HI, the common source on LO and ground."""
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    reply = matrix.query(
        'channel.exclusiveclose("1C01,1A07,2B01,2D01") waitcomplete() print(errorqueue.count)'
    )
    assert reply == "0.00000e+00"


def arm_alternating(bench: VirtualBench, rm, combine: bool = True) -> None:
    awg = open_visa(rm, bench.addresses["pulse_generator"])
    awg.write(AWG_SETUP + (";:SOUR1:COMB:FEED CH2" if combine else "") + ";:OUTP1 1")
    assert awg.query("SYST:ERR?") == '+0,"No error"'


def test_digital_io_blocks_alternate_the_polarity_at_each_edge(cabled, rm) -> None:
    route_device_0_0(cabled, rm)
    arm_alternating(cabled, rm)
    smu = open_visa(rm, cabled.addresses["smu"])
    smu.write(
        f':SOUR:FUNC VOLT;:SOUR:VOLT {READ_V};:SENS:FUNC "CURR";:OUTP ON;'
        ":DIG:LINE2:MODE DIG, OUT;:DIG:LINE2:STAT 1"
    )
    smu.write(
        ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:DIG:IO 2, 0, 2;'
        ':TRIG:BLOC:DEL:CONS 3, 0.001;:TRIG:BLOC:MEAS 4, "defbuffer1";:TRIG:BLOC:DIG:IO 5, 2, 2;'
        ':TRIG:BLOC:DEL:CONS 6, 0.001;:TRIG:BLOC:MEAS 7, "defbuffer1";:TRIG:BLOC:BRAN:COUN 8, 3, 2'
    )
    assert smu.query(":SYST:ERR?") == '0,"No error"'
    reply = smu.query(':INIT;*WAI;:TRAC:DATA? 1, 6, "defbuffer1", READ')
    currents = [float(x) for x in reply.split(",")]
    # Each falling edge: channel 1's 1 V x 100 ns up pulse; each rising edge: channel 2's
    # -0.5 V x 200 ns down pulse through output 1. The line ends high, as it started.
    expected = [READ_V * (G0[0, 0] + G_STEP), READ_V * G0[0, 0]] * 3
    assert currents == pytest.approx(expected, rel=1e-6)
    log = [(p.row, p.col, p.count, p.amplitude, p.width) for p in cabled.chip.pulse_log]
    assert log == [(0, 0, 1, 1.0, 1e-7), (0, 0, -1, 0.5, 2e-7)] * 3
    assert cabled.smu.disturbed_readings == 0 and cabled.chip.violations == []
    assert smu.query(":DIG:LINE2:STAT?") == "1"
    assert cabled.pulse_generator.clock.elapsed == pytest.approx(6 * 1e-6)  # one period per burst


def test_each_channel_fires_only_on_the_edge_of_its_slope(cabled, rm) -> None:
    route_device_0_0(cabled, rm)
    arm_alternating(cabled, rm)
    awg = cabled.pulse_generator
    (falling,) = awg.external_trigger(LineEdge(1.0, falling=True))
    (rising,) = awg.external_trigger(LineEdge(2.0, falling=False))
    both = awg.external_trigger(TriggerPulse(3.0, width=1e-5))  # a trigger pulse has both edges
    assert (falling.start, falling.volts) == (pytest.approx(1.0 + 250e-9), 1.0)
    assert (rising.start, rising.volts) == (pytest.approx(2.0 + 250e-9), -0.5)
    assert [d.volts for d in both] == [1.0, -0.5]
    assert [p.count for p in cabled.chip.pulse_log] == [1, -1, 1, -1]


def test_without_combining_the_second_channel_reaches_no_gate(cabled, rm) -> None:
    route_device_0_0(cabled, rm)
    arm_alternating(cabled, rm, combine=False)
    assert cabled.pulse_generator.external_trigger(LineEdge(0.0, falling=False)) == []
    assert cabled.chip.pulse_log == []


def test_a_combination_beyond_the_output_range_is_refused(cabled, rm) -> None:
    awg = open_visa(rm, cabled.addresses["pulse_generator"])
    awg.write(
        "OUTP1:LOAD INF;:OUTP2:LOAD INF;:SOUR1:VOLT:HIGH 6;:SOUR1:VOLT:LOW 0;"
        ":SOUR2:VOLT:HIGH 5;:SOUR2:VOLT:LOW 0"
    )
    awg.write("SOUR1:COMB:FEED CH2")  # 6 V + 5 V at the high level: more than 10 V
    assert awg.query("SYST:ERR?").startswith("-221")
    assert awg.query("SOUR1:COMB:FEED?") == "NONE"
    awg.write("SOUR2:VOLT:LOW -5;:SOUR2:VOLT:HIGH 0;:SOUR1:COMB:FEED CH2")  # highs 6 + 0, lows 0 - 5
    assert awg.query("SYST:ERR?") == '+0,"No error"' and awg.query("SOUR1:COMB:FEED?") == "CH2"


def test_a_line_that_is_no_digital_output_cannot_be_set_and_a_counter_reset_restarts_a_loop(
    bench, rm
) -> None:
    smu = open_visa(rm, bench.addresses["smu"])
    smu.write(":DIG:LINE4:MODE TRIG, IN;:DIG:LINE4:STAT 0")
    assert smu.query(":SYST:ERR?").startswith("-221")
    # Three passes of {reset the inner counter; two readings}: six readings. Without the reset
    # the inner counter stays at its target: the second and third passes read once each.
    for reset, readings in (
        (":TRIG:BLOC:BRAN:COUN:RES 2, 4", "6"),
        (':TRIG:BLOC:BUFF:CLE 2, "defbuffer2"', "4"),
    ):
        smu.write(
            f':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";{reset};'
            ':TRIG:BLOC:MEAS 3, "defbuffer1";:TRIG:BLOC:BRAN:COUN 4, 2, 3;:TRIG:BLOC:BRAN:COUN 5, 3, 2'
        )
        smu.write(":INIT")
        assert smu.query(":TRAC:ACT?") == readings and smu.query(":SYST:ERR?") == '0,"No error"'
