"""Driver registry: names a bench configuration uses, their roles, and opening them."""

from __future__ import annotations

import socket

import pytest

from drivers.registry import (
    DRIVERS,
    default_visa_library,
    driver_options,
    known_drivers,
    open_instrument,
)
from drivers.roles import PulseGenerator, SourceMeter, SwitchMatrix
from drivers.serial_relay import SerialRelayMatrix
from hil.benchconfig import InstrumentConfig, load_bench_config
from hil.pulses import SafetyLimits
from tests.drivers.fake_relay_board import FakeRelayBoard

ROLE_CLASSES = {"smu": SourceMeter, "pulser": PulseGenerator, "matrix": SwitchMatrix}


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_every_driver_implements_its_role(name):
    entry = DRIVERS[name]
    cls = entry.load()
    assert issubclass(cls, ROLE_CLASSES[entry.role])
    assert not getattr(cls, "__abstractmethods__", None), f"{cls.__name__} leaves role methods abstract"


def test_bench_configuration_accepts_the_registered_names():
    text = """
[bench]
name = "t"
[limits]
max_pulse_amplitude = 4.0
min_pulse_width = 1e-6
max_pulse_width = 1e-3
max_read_voltage = 0.2
current_compliance = 1e-4
max_pulses_per_call = 1000
[read]
voltage = 0.1
[instruments.smu]
driver = "keithley2450"
address = "TCPIP0::192.0.2.10::5025::SOCKET"
[instruments.pulser]
driver = "keysight33500b"
address = "USB0::0x0957::0x2807::MY123::INSTR"
[instruments.matrix]
driver = "keithley707b"
address = "GPIB0::18::INSTR"
options = { slots = 1 }
[wiring]
smu_hi = 1
smu_lo = 2
pulse_out = 3
pulse_ref = 4
[chip]
rows = 1
cols = 1
gate = [[1]]
drain = [[2]]
source = 3
[arrays.A]
rows = [0, 1]
cols = [0, 1]
"""
    config = load_bench_config("bench.toml", known_drivers(), text=text)
    assert config.instrument("matrix").options == {"slots": 1}
    assert "slots" in driver_options("keithley707b")


def test_unknown_driver_or_option_is_refused_before_connecting():
    limits = SafetyLimits()
    with pytest.raises(ValueError, match="unknown driver 'keithley9999'"):
        open_instrument(InstrumentConfig("smu", "keithley9999", "GPIB0::1::INSTR"), limits)
    bad = InstrumentConfig("pulser", "keysight33500b", "GPIB0::1::INSTR", {"chanel": 2})
    options = "channel, load_ohms, visa_library"
    with pytest.raises(ValueError, match=f"no option\\(s\\) chanel; its options are: {options}"):
        open_instrument(bad, limits)


def test_open_instrument_connects_with_options():
    with FakeRelayBoard(rows=2, cols=3) as board:
        matrix = open_instrument(
            InstrumentConfig("matrix", "serialrelay", board.url, {"timeout": 1.0}), SafetyLimits()
        )
        try:
            assert isinstance(matrix, SerialRelayMatrix)
            assert matrix.size == (2, 3)
        finally:
            matrix.adapter.close()


def test_smus_and_pulse_generators_get_the_bench_limits_over_visa():
    # A listening socket is enough: drivers do not talk to the instrument when they connect.
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"TCPIP0::127.0.0.1::{server.getsockname()[1]}::SOCKET"
        limits = SafetyLimits(max_read_voltage=0.15)
        smu = open_instrument(InstrumentConfig("smu", "keysightb2902a", address, {"channel": 2}), limits)
        try:
            assert smu.limits is limits
            assert smu.channel_number == 2
            assert smu.adapter.connection.read_termination == "\n"
        finally:
            smu.adapter.close()


@pytest.mark.parametrize(
    ("address", "library"),
    [
        ("TCPIP0::127.0.0.1::5025::SOCKET", "@py"),
        ("tcpip::192.0.2.10::5025::socket", "@py"),
        ("ASRL/dev/ttyUSB0::INSTR", "@py"),
        ("TCPIP0::192.0.2.10::inst0::INSTR", ""),  # VXI-11: may need an installed VISA
        ("GPIB0::18::INSTR", ""),
        ("USB0::0x0957::0x2807::MY123::INSTR", ""),
    ],
)
def test_sockets_and_serial_ports_open_with_pyvisa_py_without_a_library_search(address, library):
    assert default_visa_library(address) == library


def test_visa_library_is_an_option_of_visa_drivers_only():
    assert "visa_library" in driver_options("keithley2450")
    assert "visa_library" not in driver_options("serialrelay")
    bad = InstrumentConfig("matrix", "serialrelay", "socket://127.0.0.1:1", {"visa_library": "@py"})
    with pytest.raises(ValueError, match="no option\\(s\\) visa_library"):
        open_instrument(bad, SafetyLimits())


def test_the_default_library_is_pyvisa_py_for_a_socket_and_can_be_overridden():
    with socket.create_server(("127.0.0.1", 0)) as server:
        address = f"TCPIP0::127.0.0.1::{server.getsockname()[1]}::SOCKET"
        smu = open_instrument(InstrumentConfig("smu", "keithley2450", address), SafetyLimits())
        try:
            assert type(smu.adapter.manager.visalib).__module__.startswith("pyvisa_py")
        finally:
            smu.adapter.close()
        with pytest.raises(ValueError, match="visa_library must be a string"):
            bad = InstrumentConfig("smu", "keithley2450", address, {"visa_library": 3})
            open_instrument(bad, SafetyLimits())


def _shipped(**limits: float) -> object:
    from dataclasses import replace

    from simulators.virtual.launch import BENCHES

    config = load_bench_config(BENCHES / "virtual-bench.toml", known_drivers())
    return replace(config, limits=replace(config.limits, **limits))


def test_limits_the_instruments_can_honour_give_no_problem():
    from drivers.registry import limit_problems

    assert limit_problems(_shipped()) == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"current_compliance": 1e-12}, "1e-12 A is outside what the keithley2450 accepts"),
        ({"min_pulse_width": 1e-9, "max_pulse_width": 5e-9}, "no pulse could be made"),
    ],
)
def test_limits_an_instrument_cannot_honour_stop_the_bench_before_connecting(limits, message):
    from drivers.bench import HardwareBench
    from drivers.registry import limit_problems

    config = _shipped(**limits)
    assert any(message in p for p in limit_problems(config))

    def opener(*_):  # pragma: no cover - must never be reached
        raise AssertionError("an instrument was opened")

    with pytest.raises(ValueError, match=message):
        HardwareBench(config, conductance_range=(1e-6, 2e-5), opener=opener)
