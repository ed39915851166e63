"""The virtual instruments understand every command our drivers send, as the manuals describe them.

Added for the drivers: the 2450's source list sweep (:SOURce:LIST:<function>, :APPend, :POINts?,
:SOURce:SWEep:<function>:LIST) and the 33500B's output voltage limits (SOURce:VOLTage:LIMit).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa

from drivers.errors import InstrumentError
from drivers.keithley707b import Keithley707B
from drivers.keithley2450 import Keithley2450SMU
from drivers.keysight33500b import Keysight33500B
from hil import SafetyLimits
from hil.mock import IdealCrossbar
from simulators.virtual import SMU_HI, SMU_LO, VirtualBench, VirtualChip

G0 = np.array([[1.0, 2.0], [3.0, 4.0]]) * 1e-6  # siemens, distinct so a read tells the device
LIMITS = SafetyLimits(max_pulse_amplitude=6.0, min_pulse_width=16e-9, max_pulse_width=1e-6,
                      max_read_voltage=0.2, current_compliance=1e-4)  # fmt: skip
VISA = {"visa_library": "@py", "timeout": 2000}
RESOLUTION = 1e-6  # the 2450's 7 significant digits


@pytest.fixture
def vb() -> Iterator[VirtualBench]:
    with VirtualBench(VirtualChip({"A": IdealCrossbar((2, 2), g_init=G0)}), state_seed=None) as bench:
        yield bench


def raw(address: str) -> pyvisa.resources.MessageBasedResource:
    rm = pyvisa.ResourceManager("@py")
    return rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=2000)


def test_driver_list_sweep_reads_g_times_each_bias(vb: VirtualBench) -> None:
    matrix = Keithley707B(vb.addresses["switch_matrix"], slots=1, **VISA)
    smu = Keithley2450SMU(vb.addresses["smu"], limits=LIMITS, **VISA)
    pads = vb.chip.pins.pads("A", 1, 0)
    matrix.close_crosspoint(vb.row(SMU_HI), pads.drain)
    matrix.close_crosspoint(vb.row(SMU_LO), pads.source)
    smu.configure_read(0.1, 1e-4)
    smu.output_on()
    biases = [0.1, 0.05, -0.2, 0.0]
    assert smu.read_currents(biases) == pytest.approx([3e-6 * v for v in biases], rel=RESOLUTION, abs=1e-18)
    assert smu.read_current() == pytest.approx(3e-7, rel=RESOLUTION)  # back at the configured bias
    smu.shutdown()
    matrix.shutdown()
    assert vb.chip.violations == []


def test_source_list_commands_follow_the_manual(vb: VirtualBench) -> None:
    smu = raw(vb.addresses["smu"])
    smu.write(":SOUR:LIST:VOLT 1, 5, 1")
    smu.write(":SOUR:LIST:VOLT:APP 2")
    assert smu.query(":SOUR:LIST:VOLT:POIN?") == "4"
    assert smu.query(":SOUR:LIST:VOLT?") == "1.000000E+00,5.000000E+00,1.000000E+00,2.000000E+00"
    smu.write(":SOUR:LIST:VOLT " + ",".join(["0.1"] * 101))  # more than 100 values in one command
    assert smu.query(":SYST:ERR?") == '-108,"Parameter not allowed"'
    smu.write(":SOUR:SWE:CURR:LIST 1")  # no current list was made
    code = smu.query(":SYST:ERR?")
    assert code.startswith("-221") and "CurrCustomSweepList does not exist" in code
    smu.write(":SOUR:SWE:VOLT:LIST 5")  # the start index must lie in the list
    assert smu.query(":SYST:ERR?") == '-222,"Data out of range"'
    assert smu.query(":SYST:ERR?") == '0,"No error"'
    smu.close()


def test_generator_voltage_limits_follow_the_manual(vb: VirtualBench) -> None:
    gen = raw(vb.addresses["pulse_generator"])
    assert gen.query("SOUR1:VOLT:LIM:HIGH?;LOW?;STAT?") == "+5.000000000000000E+00;-5.000000000000000E+00;0"
    gen.write("OUTP1:LOAD INF")  # the same limits read as open-circuit volts
    assert gen.query("SOUR1:VOLT:LIM:HIGH?") == "+1.000000000000000E+01"
    gen.write("SOUR1:VOLT:LIM:HIGH 2;:SOUR1:VOLT:LIM:LOW -1;:SOUR1:VOLT:LIM:STAT 1")
    gen.write("SOUR1:VOLT:HIGH 3")  # beyond the high limit: refused, nothing changes
    assert gen.query("SYST:ERR?").startswith("-221")
    assert gen.query("SOUR1:VOLT:HIGH?") == "+1.000000000000000E-01"
    gen.write("SOUR1:VOLT:LIM:STAT 0;:SOUR1:VOLT:HIGH 3;:SOUR1:VOLT:LIM:STAT 1")  # outside: refused
    assert gen.query("SYST:ERR?").startswith("-221") and gen.query("SOUR1:VOLT:LIM:STAT?") == "0"
    gen.write("SOUR1:VOLT:LIM:LOW 2")  # the low limit must stay below the high one
    assert gen.query("SYST:ERR?").startswith("-221")
    assert gen.query("SYST:ERR?") == '+0,"No error"'
    gen.close()


def test_driver_pulse_setup_sets_the_generator_guard(vb: VirtualBench) -> None:
    gen = Keysight33500B(vb.addresses["pulse_generator"], limits=LIMITS, **VISA)
    gen.configure_pulse(4.0, 20e-9, -1)
    channel = vb.pulse_generator.channels[0]
    assert (channel.limits_on, channel.limit_high, channel.limit_low) == (True, 6.0, -6.0)
    assert (channel.high, channel.low, channel.polarity) == (0.0, -4.0, "INV")
    gen.configure_pulse(5.5, 20e-9, 1)  # changing levels and polarity under the guard
    assert (channel.high, channel.low, channel.polarity) == (5.5, 0.0, "NORM")
    gen.ch.write("SOUR1:VOLT:HIGH 7")  # a level beyond the guard never reaches the gate
    with pytest.raises(InstrumentError, match="-221"):
        gen.raise_on_errors("a level above the guard")
    assert channel.high == 5.5
    gen.shutdown()
