"""The 2450's trigger model and a trigger cable from its digital I/O line to the 33500B's Ext Trig.

An ideal 2 x 3 array (conftest): every pulse moves a device by exactly G_STEP, so the readings
of a pulse-read sequence are known in closed form.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvisa

from hil.mock import IdealCrossbar
from simulators.virtual import VirtualBench, VirtualChip
from tests.virtual.conftest import G0, G_STEP

READ_V = 0.1


def open_visa(rm: pyvisa.ResourceManager, address: str) -> pyvisa.resources.MessageBasedResource:
    inst = rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=5000)
    return inst  # type: ignore[return-value]


@pytest.fixture
def cabled(chip: VirtualChip) -> Iterator[VirtualBench]:
    with VirtualBench(chip, smu_to_pulser=2, state_seed=None) as b:
        yield b


def route_device_0_0(bench: VirtualBench, rm: pyvisa.ResourceManager) -> None:
    """Gate of device (0, 0) on the generator, its drain on SMU HI, the common source on SMU LO
    and ground (default pin map: gates 1-6, drains 7-12, source 13 = column 1 of the card in slot 2)."""
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    assert matrix.query('channel.exclusiveclose("1C01,1A07,2B01,2D01") waitcomplete() '
                        "print(errorqueue.count)") == "0.00000e+00"  # fmt: skip


def arm_generator(bench: VirtualBench, rm: pyvisa.ResourceManager, trigger: str = "EXT") -> None:
    awg = open_visa(rm, bench.addresses["pulse_generator"])
    awg.write("OUTP1:LOAD INF;:SOUR1:FUNC PULS;:SOUR1:FUNC:PULS:WIDT 1e-7;:SOUR1:FUNC:PULS:PER 1e-6")
    awg.write(f":SOUR1:VOLT:HIGH 1;:SOUR1:VOLT:LOW 0;:SOUR1:BURS:MODE TRIG;:SOUR1:BURS:NCYC 1;"
              f":TRIG1:SOUR {trigger};:SOUR1:BURS:STAT 1;:OUTP1 1")  # fmt: skip
    assert awg.query("SYST:ERR?") == '+0,"No error"'


def run_model(bench: VirtualBench, rm: pyvisa.ResourceManager, count: int, line: int = 2) -> list[float]:
    smu = open_visa(rm, bench.addresses["smu"])
    smu.write(
        f':SOUR:FUNC VOLT;:SOUR:VOLT {READ_V};:SENS:FUNC "CURR";:OUTP ON;'
        f":DIG:LINE{line}:MODE TRIG, OUT;:TRIG:DIG{line}:OUT:STIM NOT1;:TRIG:DIG{line}:OUT:LOG NEG"
    )
    smu.write(
        ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:NOT 2, 1;'
        ':TRIG:BLOC:DEL:CONS 3, 0.001;:TRIG:BLOC:MEAS 4, "defbuffer1";'
        f":TRIG:BLOC:BRAN:COUN 5, {count}, 2"
    )
    assert smu.query(":SYST:ERR?") == '0,"No error"'
    reply = smu.query(f':INIT;*WAI;:TRAC:DATA? 1, {count}, "defbuffer1", READ')
    return [float(x) for x in reply.split(",")]


def test_each_notify_fires_one_pulse_before_its_reading(cabled, rm, array: IdealCrossbar) -> None:
    route_device_0_0(cabled, rm)
    arm_generator(cabled, rm)
    currents = run_model(cabled, rm, count=5)
    # The counter block sends the model back 4 times: blocks 2-4 run 5 times, 5 pulses, 5 readings.
    expected = [READ_V * (G0[0, 0] + (k + 1) * G_STEP) for k in range(5)]
    assert currents == pytest.approx(expected, rel=1e-6)  # 7 significant digits in the reply
    assert [(p.row, p.col, p.count) for p in cabled.chip.pulse_log] == [(0, 0, 1)] * 5
    assert cabled.chip.violations == []


def test_no_cable_or_another_line_or_a_bus_trigger_fires_nothing(chip, rm, cabled) -> None:
    route_device_0_0(cabled, rm)
    arm_generator(cabled, rm)
    assert run_model(cabled, rm, count=3, line=1) == pytest.approx([READ_V * G0[0, 0]] * 3, rel=1e-6)
    arm_generator(cabled, rm, trigger="BUS")  # the generator ignores the edge, as the 33500B does
    run_model(cabled, rm, count=2, line=2)
    assert cabled.chip.pulse_log == []


def test_model_errors_and_a_sweep_replacing_the_model(cabled, rm) -> None:
    smu = open_visa(rm, cabled.addresses["smu"])
    smu.write(":TRIG:BLOC:NOT 1, 1")  # no model loaded
    assert smu.query(":SYST:ERR?").startswith("-221")
    smu.write(':TRIG:LOAD "Empty";:TRIG:BLOC:MEAS 1;:TRIG:BLOC:MEAS 3;:INIT')  # a gap at block 2
    assert smu.query(":SYST:ERR?").startswith("-221")
    smu.write(':TRIG:LOAD "SimpleLoop"')
    assert smu.query(":SYST:ERR?").startswith("-224")
    smu.write(":TRIG:DIG7:OUT:STIM NOT1")  # the 2450 has lines 1-6
    assert smu.query(":SYST:ERR?").startswith("-114")
    smu.write(
        ':TRIG:LOAD "Empty";:TRIG:BLOC:MEAS 1, "defbuffer1", 4;:SOUR:LIST:VOLT 0.01,0.02;'
        ":SOUR:SWE:VOLT:LIST 1, 0;:TRAC:CLE;:INIT"
    )  # the list sweep replaces the model
    assert smu.query(':TRAC:ACT? "defbuffer1"') == "2"


def test_virtual_bench_rejects_a_line_the_2450_does_not_have(chip) -> None:
    with pytest.raises(ValueError, match="lines 1 to 6"):
        VirtualBench(chip, smu_to_pulser=7)
