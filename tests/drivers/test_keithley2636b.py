"""Keithley 2636B driver: exact TSP exchanges (Series 2600B Reference Manual 2600BS-901-01)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.keithley2636b import Keithley2636B
from hil.pulses import LimitError, SafetyLimits

LIMITS = SafetyLimits(max_read_voltage=0.2, current_compliance=1e-3)
NO_ERROR = ("print(errorqueue.count)", "0.00000e+00")


def configure(smu: str) -> list[tuple[str, str | None]]:
    return [
        (f"{smu}.source.func = {smu}.OUTPUT_DCVOLTS", None),
        (f"{smu}.source.autorangev = {smu}.AUTORANGE_ON", None),
        (f"{smu}.source.limiti = 0.0001", None),
        (f"{smu}.source.levelv = 0.1", None),
        (f"{smu}.measure.autorangei = {smu}.AUTORANGE_ON", None),
        (f"{smu}.measure.nplc = 1", None),
        NO_ERROR,
    ]


def output_on(smu: str) -> list[tuple[str, str | None]]:
    return [(f"{smu}.source.output = {smu}.OUTPUT_ON", None), NO_ERROR]


@pytest.mark.parametrize("channel", ["a", "b"])
def test_configure_read_on_smua_or_smub(channel):
    with expected_protocol(Keithley2636B, configure(f"smu{channel}"), limits=LIMITS, channel=channel) as k:
        k.configure_read(0.1, 1e-4)


def test_channel_must_be_a_or_b():
    with pytest.raises(ValueError, match="'a' or 'b'"):
        Keithley2636B("unused", channel="c")


def test_tsp_error_queue_entries_raise():
    pairs = [
        *configure("smua")[:-1],
        ("print(errorqueue.count)", "2.00000e+00"),
        ("print(errorqueue.next())", "-2.85000e+02\tProgram syntax error\t2.00000e+00\t0.00000e+00"),
        ("print(errorqueue.next())", "5.01800e+03\tParameter out of range\t2.00000e+00\t0.00000e+00"),
    ]
    with expected_protocol(Keithley2636B, pairs, limits=LIMITS) as k:
        with pytest.raises(
            InstrumentError, match=r"-285 'Program syntax error'; 5018 'Parameter out of range'"
        ):
            k.configure_read(0.1, 1e-4)


def test_out_of_range_settings_raise_before_anything_is_written():
    with expected_protocol(Keithley2636B, [], limits=LIMITS) as k:
        with pytest.raises(LimitError):
            k.configure_read(0.25, 1e-4)
        with pytest.raises(LimitError):
            k.configure_read(0.1, 0.01)
        with pytest.raises(ValueError, match="nplc 30 PLC is outside"):
            k.configure_read(0.1, 1e-4, nplc=30)


def test_reading_prints_measure_i():
    pairs = [*configure("smub"), *output_on("smub"), ("print(smub.measure.i())", "1.00000e-05")]
    with expected_protocol(Keithley2636B, pairs, limits=LIMITS, channel="b") as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        assert k.read_current() == pytest.approx(1e-5)


def test_list_sweep_runs_the_trigger_model_and_prints_the_buffer():
    pairs = [
        *configure("smua"),
        *output_on("smua"),
        ("smua.nvbuffer1.clear()", None),
        ("smua.trigger.source.listv({0.1, 0.05})", None),
        ("smua.trigger.source.action = smua.ENABLE", None),
        ("smua.trigger.measure.i(smua.nvbuffer1)", None),
        ("smua.trigger.measure.action = smua.ENABLE", None),
        # 2600B manual, smuX.trigger.endsweep.action: SOURCE_IDLE returns to source.levelv.
        ("smua.trigger.endsweep.action = smua.SOURCE_IDLE", None),
        ("smua.trigger.count = 2", None),
        NO_ERROR,
        ("smua.trigger.initiate()", None),
        ("waitcomplete()", None),
        ("printbuffer(1, 2, smua.nvbuffer1.readings)", "1.00000e-06, 5.00000e-07"),
        NO_ERROR,
    ]
    with expected_protocol(Keithley2636B, pairs, limits=LIMITS) as k:
        k.configure_read(0.1, 1e-4)
        k.output_on()
        assert k.read_currents([0.1, 0.05]) == pytest.approx([1e-6, 5e-7])


def test_shutdown_aborts_zeroes_and_switches_off_twice():
    safe = [
        ("smua.abort()", None),
        ("smua.source.levelv = 0", None),
        ("smua.source.output = smua.OUTPUT_OFF", None),
    ]
    with expected_protocol(Keithley2636B, [*safe, *safe]) as k:
        k.shutdown()
        k.shutdown()


def test_shutdown_tries_every_step_even_if_one_write_fails():
    sent = []

    def flaky_write(command: str) -> None:
        sent.append(command)
        if command == "smua.abort()":
            raise ConnectionError("link dropped")

    with expected_protocol(Keithley2636B, []) as k:
        k.write = flaky_write
        with pytest.raises(ConnectionError):
            k.shutdown()
    assert sent == ["smua.abort()", "smua.source.levelv = 0", "smua.source.output = smua.OUTPUT_OFF"]
