"""PyMeasure's own, unmodified Keithley2450 and Agilent33500 drivers through the virtual bench."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa
from pymeasure.instruments.agilent import Agilent33500
from pymeasure.instruments.keithley import Keithley2450

from hil.mock import IdealCrossbar
from hil.pulses import Pulse
from simulators.crossbar import SimulatedCrossbar
from simulators.virtual import VirtualBench, VirtualChip, channel_for
from tests.virtual.conftest import G0, G_STEP, open_visa

V = 0.1  # volts, read bias
# The 2450 answers with 7 significant digits: relative rounding error <= 5e-7.
RESOLUTION = 1e-6
VISA = {"read_termination": "\n", "write_termination": "\n", "timeout": 2000, "visa_library": "@py"}


@pytest.fixture
def smu(bench: VirtualBench) -> Iterator[Keithley2450]:
    k = Keithley2450(bench.addresses["smu"], **VISA)
    yield k
    k.adapter.close()


@pytest.fixture
def generator(bench: VirtualBench) -> Iterator[Agilent33500]:
    g = Agilent33500(bench.addresses["pulse_generator"], **VISA)
    yield g
    g.adapter.close()


def close(bench: VirtualBench, rm: pyvisa.ResourceManager, *crosspoints: tuple[int, int]) -> None:
    """Route over the wire: (matrix row, chip pad) pairs on the virtual 707B."""
    matrix = open_visa(rm, bench.addresses["switch_matrix"])
    matrix.write('channel.open("allslots")')
    names = ",".join(channel_for(row, pad) for row, pad in crosspoints)
    if names:
        matrix.write(f'channel.close("{names}")')
    assert matrix.query("print(errorqueue.count)") == "0.00000e+00"
    matrix.close()


def configure_read(smu: Keithley2450, compliance: float = 1e-3) -> None:
    smu.reset()
    smu.apply_voltage(compliance_current=compliance)
    smu.measure_current()
    smu.source_voltage = V
    smu.enable_source()


def configure_burst(
    gen: Agilent33500, n: int, high: float, low: float, width: float = 1e-6, load: str | int = "INF"
) -> None:
    gen.reset()
    gen.shape = "PULS"
    gen.output_load = load  # a gate is an open circuit: INF shows the levels it really sees
    gen.voltage_high = high
    gen.voltage_low = low
    gen.pulse_width = width
    gen.pulse_period = 10 * width
    gen.burst_mode = "TRIG"
    gen.burst_ncycles = n
    gen.burst_state = True
    gen.trigger_source = "BUS"


def fire(gen: Agilent33500) -> None:
    """Output on, one bus trigger, and wait for it: *TRG only queues the trigger."""
    gen.output = True
    gen.trigger()
    assert gen.complete == "1"


@pytest.mark.parametrize("device", [(0, 0), (1, 2), (0, 1)])
def test_read_of_a_routed_device_is_g_times_v(
    bench: VirtualBench, rm: pyvisa.ResourceManager, smu: Keithley2450, device: tuple[int, int]
) -> None:
    p = bench.chip.pins.pads("A", *device)
    close(bench, rm, (1, p.drain), (2, p.source))
    configure_read(smu)
    assert smu.current == pytest.approx(G0[device] * V, rel=RESOLUTION)
    assert smu.source_voltage == V and smu.source_mode == "voltage"
    assert smu.check_errors() == []


def test_read_with_nothing_routed_is_zero(
    bench: VirtualBench, rm: pyvisa.ResourceManager, smu: Keithley2450
) -> None:
    close(bench, rm)
    configure_read(smu)
    assert smu.current == 0.0


def test_compliance_reported_like_the_instrument(
    bench: VirtualBench, rm: pyvisa.ResourceManager, smu: Keithley2450
) -> None:
    p = bench.chip.pins.pads("A", 1, 1)
    close(bench, rm, (1, p.drain), (2, p.source))
    limit = 1e-7  # below G V = 5e-7 A
    configure_read(smu, compliance=limit)
    assert smu.compliance_current == limit
    assert smu.current == pytest.approx(limit, rel=RESOLUTION)
    assert smu.ask(":SOUR:VOLT:ILIM:TRIP?").strip() == "1"


def test_error_queue_through_pymeasure(smu: Keithley2450) -> None:
    smu.write(":SOUR:VOLT:NONSENSE 1")
    assert smu.check_errors() == [[-113.0, '"Undefined header"']]
    assert smu.check_errors() == []


def test_burst_changes_exactly_the_routed_device(
    bench: VirtualBench, rm: pyvisa.ResourceManager, generator: Agilent33500, array: IdealCrossbar
) -> None:
    p = bench.chip.pins.pads("A", 1, 0)
    close(bench, rm, (3, p.gate))
    configure_burst(generator, n=9, high=3.0, low=0.0)
    assert generator.check_errors() == []
    fire(generator)
    expected = G0.copy()
    expected[1, 0] += 9 * G_STEP
    np.testing.assert_allclose(array.g, expected, rtol=0, atol=1e-18)
    assert generator.check_errors() == []
    assert bench.chip.violations == []


def test_unrouted_burst_changes_nothing(
    bench: VirtualBench, rm: pyvisa.ResourceManager, generator: Agilent33500, array: IdealCrossbar
) -> None:
    p = bench.chip.pins.pads("A", 1, 0)
    close(bench, rm, (5, p.gate))  # output 2 is routed; output 1 fires
    configure_burst(generator, n=9, high=3.0, low=0.0)
    fire(generator)
    np.testing.assert_array_equal(array.g, G0)
    assert bench.chip.unrouted_pulses == 9


def test_negative_burst_with_inverted_polarity(
    bench: VirtualBench, rm: pyvisa.ResourceManager, generator: Agilent33500, array: IdealCrossbar
) -> None:
    p = bench.chip.pins.pads("A", 0, 2)
    close(bench, rm, (3, p.gate))
    configure_burst(generator, n=4, high=0.0, low=-3.0)
    generator.write("OUTP:POL INV")  # idle at the high level (0 V), pulse to the low one
    fire(generator)
    assert array.g[0, 2] == pytest.approx(G0[0, 2] - 4 * G_STEP, abs=1e-18)
    assert bench.chip.violations == []


def test_default_load_setting_doubles_the_gate_voltage(
    bench: VirtualBench, rm: pyvisa.ResourceManager, generator: Agilent33500
) -> None:
    p = bench.chip.pins.pads("A", 0, 0)
    close(bench, rm, (3, p.gate))
    configure_burst(generator, n=1, high=2.0, low=0.0)
    generator.output_load = 50  # levels now shown for 50 ohm: the open gate sees twice them
    assert generator.voltage_high == 1.0
    generator.voltage_high = 2.0
    fire(generator)
    (record,) = bench.chip.pulse_log
    assert record.amplitude == 4.0


def test_simulated_crossbar_burst_matches_the_backend(rm: pyvisa.ResourceManager) -> None:
    """The physics stays in the simulator: a routed burst of N equals apply_pulses with N."""
    kwargs = {"shape": (2, 2), "seed": 7, "read_noise": 0.0}
    chip_array = SimulatedCrossbar.from_preset("protonic-asymmetric", **kwargs)
    twin = SimulatedCrossbar.from_preset("protonic-asymmetric", **kwargs)
    # The preset's nominal 5 ns pulse is shorter than the 33500B's 16 ns minimum; use 20 ns.
    pulse = Pulse(amplitude=chip_array.nominal_pulse.amplitude, width=20e-9)
    with VirtualBench(VirtualChip({"A": chip_array}), state_seed=None) as bench:
        p = bench.chip.pins.pads("A", 1, 1)
        close(bench, rm, (3, p.gate), (1, p.drain), (2, p.source))
        gen = Agilent33500(bench.addresses["pulse_generator"], **VISA)
        smu = Keithley2450(bench.addresses["smu"], **VISA)
        try:
            # PyMeasure validates levels for a 50 ohm load (at most 5 V); into the open gate the
            # 33500 gives twice the level shown for 50 ohm, which reaches the preset's amplitude.
            configure_burst(gen, n=25, high=pulse.amplitude / 2, low=0.0, width=pulse.width, load=50)
            fire(gen)
            configure_read(smu)
            current = smu.current
        finally:
            gen.adapter.close()
            smu.adapter.close()
    counts = np.zeros((2, 2), dtype=np.int64)
    counts[1, 1] = 25
    twin.apply_pulses(counts, pulse)
    np.testing.assert_array_equal(chip_array.conductance, twin.conductance)
    assert current == pytest.approx(twin.conductance[1, 1] * V, rel=RESOLUTION)
