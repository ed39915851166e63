"""Keysight B2902A driver: exact SCPI exchanges (B2900 SCPI Command Reference)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.keysight_b2902a import KeysightB2902A
from hil.pulses import LimitError, SafetyLimits

LIMITS = SafetyLimits(max_read_voltage=0.2, current_compliance=1e-3)
NO_ERROR = ("SYST:ERR?", '+0,"No error"')


def configure(ch: int) -> list[tuple[str, str | None]]:
    return [
        (f":OUTP{ch}:ON:AUTO OFF", None),  # :INIT must not switch the output on by itself
        (f":SOUR{ch}:FUNC:MODE VOLT", None),
        (f":SOUR{ch}:VOLT:MODE FIX", None),
        (f":SENS{ch}:CURR:PROT 0.0001", None),
        (f":SOUR{ch}:VOLT 0.1", None),
        (f':SENS{ch}:FUNC "CURR"', None),
        (f":SENS{ch}:CURR:RANG:AUTO ON", None),
        (f":SENS{ch}:CURR:NPLC 1", None),
        NO_ERROR,
    ]


def output_on(ch: int) -> list[tuple[str, str | None]]:
    return [(f":OUTP{ch} ON", None), NO_ERROR]


@pytest.mark.parametrize("ch", [1, 2])
def test_configure_read_on_either_channel(ch):
    with expected_protocol(KeysightB2902A, configure(ch), limits=LIMITS, channel=ch) as b:
        b.configure_read(0.1, 1e-4)


def test_channel_must_be_1_or_2():
    with pytest.raises(ValueError, match="channel 3 is outside"):
        KeysightB2902A("unused", channel=3)


def test_error_queue_entries_raise_with_every_entry():
    pairs = [*configure(1)[:-1], ("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '+0,"No error"')]
    with expected_protocol(KeysightB2902A, pairs, limits=LIMITS) as b:
        with pytest.raises(
            InstrumentError, match=r"Keysight B2902A.*configure_read.*-222 'Data out of range'"
        ):
            b.configure_read(0.1, 1e-4)


@pytest.mark.parametrize(
    ("bias", "compliance", "nplc", "error"),
    [(0.21, 1e-4, 1, LimitError), (0.1, 5e-3, 1, LimitError), (0.1, 1e-4, 200, ValueError)],
)
def test_out_of_range_settings_raise_before_anything_is_written(bias, compliance, nplc, error):
    with expected_protocol(KeysightB2902A, [], limits=LIMITS) as b:
        with pytest.raises(error, match=r"limit|outside the instrument's range"):
            b.configure_read(bias, compliance, nplc)


def test_spot_reading_on_channel_2():
    pairs = [*configure(2), *output_on(2), (":MEAS:CURR? (@2)", "+2.500000E-07")]
    with expected_protocol(KeysightB2902A, pairs, limits=LIMITS, channel=2) as b:
        b.configure_read(0.1, 1e-4)
        b.output_on()
        assert b.read_current() == pytest.approx(2.5e-7)


def test_list_sweep_uses_list_mode_trigger_count_and_read_array_then_restores():
    pairs = [
        *configure(1),
        *output_on(1),
        (":SOUR1:LIST:VOLT 0.1,0.12,0.1", None),
        (":SOUR1:VOLT:MODE LIST", None),
        (":TRIG1:COUN 3", None),
        NO_ERROR,
        (":READ:ARR:CURR? (@1)", "+1.0E-06,+1.2E-06,+1.0E-06"),  # :INIT then :FETC:ARR, in series
        (":SOUR1:VOLT:MODE FIX", None),
        (":SOUR1:VOLT 0.1", None),
        (":TRIG1:COUN 1", None),
        NO_ERROR,
    ]
    with expected_protocol(KeysightB2902A, pairs, limits=LIMITS) as b:
        b.configure_read(0.1, 1e-4)
        b.output_on()
        assert b.read_currents([0.1, 0.12, 0.1]) == pytest.approx([1e-6, 1.2e-6, 1e-6])


def test_list_sweep_refuses_a_bias_over_the_limit_before_writing():
    with expected_protocol(KeysightB2902A, [*configure(1), *output_on(1)], limits=LIMITS) as b:
        b.configure_read(0.1, 1e-4)
        b.output_on()
        with pytest.raises(LimitError):
            b.read_currents([0.1, 0.2001])


def test_output_off_then_reads_are_refused():
    with expected_protocol(KeysightB2902A, [*configure(1), *output_on(1), (":OUTP1 OFF", None)]) as b:
        b.configure_read(0.1, 1e-4)
        b.output_on()
        b.output_off()
        with pytest.raises(RuntimeError, match="output is off"):
            b.read_current()


def test_shutdown_aborts_zeroes_and_switches_off_the_channel_twice():
    safe = [(":ABOR (@2)", None), (":SOUR2:VOLT 0", None), (":OUTP2 OFF", None)]
    with expected_protocol(KeysightB2902A, [*safe, *safe], channel=2) as b:
        b.shutdown()
        b.shutdown()
