"""Agilent 81150A driver: exact SCPI exchanges (81150A/81160A User's Guide, Programming Reference)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.agilent81150a import Agilent81150A
from drivers.errors import InstrumentError
from hil.pulses import LimitError, SafetyLimits

LIMITS = SafetyLimits(
    max_pulse_amplitude=4.0, min_pulse_width=1e-8, max_pulse_width=1e-3, max_pulses_per_call=1000
)
NO_ERROR = ("SYST:ERR?", '0,"No error"')


def configure(
    ch: int = 1, negative: bool = False, load: str = "1.000000e+06"
) -> list[tuple[str, str | None]]:
    if negative:
        levels = [
            (f":VOLT{ch}:LOW -2.000000", None),
            (f":VOLT{ch}:HIGH 0.000000", None),
            (f":OUTP{ch}:POL INV", None),
        ]
    else:
        levels = [
            (f":VOLT{ch}:HIGH 2.000000", None),
            (f":VOLT{ch}:LOW 0.000000", None),
            (f":OUTP{ch}:POL NORM", None),
        ]
    return [
        (f":OUTP{ch} OFF", None),
        (f":VOLT{ch}:LIM:STAT OFF", None),
        (f":OUTP{ch}:IMP:EXT {load}", None),  # levels are the volts a high-impedance gate sees
        (f":FUNC{ch} PULS", None),
        (f":PULS:PER{ch}?", "1.000000000E-03"),
        (f":PULS:WIDT{ch} 1.000000e-07", None),
        (f":PULS:PER{ch} 2.000000e-07", None),
        *levels,
        (f":ARM:SOUR{ch} MAN", None),  # each *TRG starts one burst
        (f":TRIG{ch}:COUN 1", None),
        (f":VOLT{ch}:LIM:HIGH 4.000000", None),
        (f":VOLT{ch}:LIM:LOW -4.000000", None),
        (f":VOLT{ch}:LIM:STAT ON", None),
        NO_ERROR,
    ]


def generator(pairs, **kwargs):
    kwargs.setdefault("limits", LIMITS)
    return expected_protocol(Agilent81150A, pairs, **kwargs)


@pytest.mark.parametrize("ch", [1, 2])
@pytest.mark.parametrize("negative", [False, True])
def test_pulse_burst_setup(ch, negative):
    with generator(configure(ch, negative), channel=ch) as g:
        g.configure_pulse(2.0, 100e-9, -1 if negative else +1)


def test_finite_load_is_programmed_and_limits_the_amplitude():
    with generator(configure(load="5.000000e+01"), load_ohms=50) as g:
        g.configure_pulse(2.0, 100e-9, +1)
        with pytest.raises(ValueError, match=r"range \[0, 5\] V"):
            g.configure_pulse(5.5, 100e-9, +1)


@pytest.mark.parametrize(
    ("amplitude", "width", "error"),
    [(4.01, 1e-6, LimitError), (1.0, 5e-9, LimitError), (1.0, 2e-9, ValueError), (11.0, 1e-6, ValueError)],
)
def test_out_of_range_pulses_raise_before_anything_is_written(amplitude, width, error):
    limits = LIMITS if error is LimitError else None
    with generator([], limits=limits) as g, pytest.raises(error):
        g.configure_pulse(amplitude, width, +1)


def test_error_queue_entry_raises():
    pairs = [*configure()[:-1], ("SYST:ERR?", '-222,"Data out of range"'), NO_ERROR]
    with generator(pairs) as g, pytest.raises(InstrumentError, match=r"Agilent 81150A.*-222"):
        g.configure_pulse(2.0, 100e-9, +1)


def test_fire_programs_the_trigger_count_then_triggers_and_waits():
    pairs = [
        *configure(),
        (":OUTP1 ON", None),
        NO_ERROR,
        (":TRIG1:COUN 20", None),
        NO_ERROR,
        ("*TRG", None),
        ("*OPC?", "1"),
    ]
    with generator(pairs) as g:
        g.configure_pulse(2.0, 100e-9, +1)
        g.output_on()
        g.fire(20)
        with pytest.raises(ValueError, match="pulse count 0 is outside"):
            g.fire(0)


def test_failed_count_change_is_not_fired():
    pairs = [
        *configure(),
        (":OUTP1 ON", None),
        NO_ERROR,
        (":TRIG1:COUN 7", None),
        ("SYST:ERR?", '-221,"x"'),
        NO_ERROR,
    ]
    with generator(pairs) as g:
        g.configure_pulse(2.0, 100e-9, +1)
        g.output_on()
        with pytest.raises(InstrumentError):
            g.fire(7)  # the protocol would fail on a *TRG here


def test_output_on_is_refused_before_configure():
    with generator([]) as g, pytest.raises(RuntimeError, match="configure_pulse"):
        g.output_on()


def test_shutdown_switches_the_output_off_twice():
    safe = [(":OUTP2 OFF", None), (":ARM:SOUR2 MAN", None)]  # output off, nothing outside arms a burst
    with generator([*safe, *safe], channel=2) as g:
        g.shutdown()
        g.shutdown()


def test_a_polarity_flip_sends_only_the_levels_and_an_error_forgets_the_settings():
    flip = [(":OUTP1 OFF", None), *configure(negative=True)[7:10], NO_ERROR]
    pairs = [
        *configure(),
        *flip,
        (":OUTP1 OFF", None),  # the same pulse again: nothing else is sent
        (":OUTP1 ON", None),
        ("SYST:ERR?", '-221,"Settings conflict"'),  # output_on failed: settings forgotten
        NO_ERROR,
        *configure(negative=True),
    ]
    with generator(pairs) as g:
        g.configure_pulse(2.0, 100e-9, +1)
        g.configure_pulse(2.0, 100e-9, -1)
        g.configure_pulse(2.0, 100e-9, -1)
        with pytest.raises(InstrumentError, match="-221"):
            g.output_on()
        g.configure_pulse(2.0, 100e-9, -1)
