"""Keysight 33500B driver: exact SCPI exchanges (33500 Series Operating and Service Guide)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.keysight33500b import Keysight33500B
from hil.pulses import LimitError, Pulse, SafetyLimits

LIMITS = SafetyLimits(
    max_pulse_amplitude=4.0, min_pulse_width=1e-8, max_pulse_width=1e-3, max_pulses_per_call=1000
)
NO_ERROR = ("SYST:ERR?", '+0,"No error"')


def configure(
    high: str = "1.000000",
    low: str = "0.000000",
    polarity: str = "NORM",
    timing: tuple[str, str] = ("SOUR1:FUNC:PULS:WIDT 1.000000e-06", "SOUR1:FUNC:PULS:PER 2.000000e-06"),
    present_period: str = "+1.000000000000000E-03",
    load: str = "INF",
    guard: str | None = "4.000000",
    ch: int = 1,
) -> list[tuple[str, str | None]]:
    levels = [(f"SOUR{ch}:VOLT:HIGH {high}", None), (f"SOUR{ch}:VOLT:LOW {low}", None)]
    if polarity == "INV":
        levels.reverse()  # the level that moves away from 0 V goes first
    pairs = [
        (f"OUTP{ch} 0", None),  # output off while the shape changes
        (f"SOUR{ch}:VOLT:LIM:STAT 0", None),
        (f"OUTP{ch}:LOAD {load}", None),  # OUTPut:LOAD INFinity: levels are the volts at a high-Z gate
        (f"SOUR{ch}:FUNC PULS", None),
        (f"SOUR{ch}:FUNC:PULS:TRAN:BOTH 8.400000e-09", None),
        (f"SOUR{ch}:FUNC:PULS:PER?", present_period),
        *[(command.replace("SOUR1", f"SOUR{ch}"), None) for command in timing],
        *levels,
        (f"OUTP{ch}:POL {polarity}", None),  # OUTPut:POLarity INVerted inverts about the offset
        (f"SOUR{ch}:BURS:MODE TRIG", None),
        (f"SOUR{ch}:BURS:NCYC 1", None),
        (f"TRIG{ch}:SOUR BUS", None),
        (f"SOUR{ch}:BURS:STAT 1", None),
    ]
    if guard is not None:
        pairs += [  # SOURce:VOLTage:LIMit: the generator refuses levels beyond the bench limit
            (f"SOUR{ch}:VOLT:LIM:HIGH {guard}", None),
            (f"SOUR{ch}:VOLT:LIM:LOW -{guard}", None),
            (f"SOUR{ch}:VOLT:LIM:STAT 1", None),
        ]
    return [*pairs, NO_ERROR]


OUTPUT_ON = [("OUTP1 1", None), NO_ERROR]


def generator(pairs, **kwargs):
    kwargs.setdefault("limits", LIMITS)
    return expected_protocol(Keysight33500B, pairs, **kwargs)


def test_positive_pulse_burst_setup():
    with generator(configure()) as g:
        g.configure_pulse(1.0, 1e-6, +1)


def test_negative_pulse_uses_inverted_output_with_levels_0_and_minus_amplitude():
    with generator(configure(high="0.000000", low="-2.500000", polarity="INV")) as g:
        g.configure_pulse(2.5, 1e-6, -1)


def test_period_is_written_first_when_the_new_width_does_not_fit_the_present_period():
    timing = ("SOUR1:FUNC:PULS:PER 5.000000e-04", "SOUR1:FUNC:PULS:WIDT 2.000000e-04")
    with generator(configure(timing=timing, present_period="+1.0E-04")) as g:
        g.configure_pulse(1.0, 2e-4, +1, period=5e-4)


def test_channel_2_with_a_50_ohm_load_and_no_bench_limits():
    with generator(configure(load="50", guard=None, ch=2), limits=None, channel=2, load_ohms=50) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        assert g.max_amplitude == pytest.approx(5.0)  # 10 V open circuit into 50 ohm through 50 ohm


@pytest.mark.parametrize(
    ("amplitude", "width", "polarity", "period", "error", "match"),
    [
        (4.5, 1e-6, 1, None, LimitError, "exceeds the limit 4 V"),
        (1.0, 2e-3, 1, None, LimitError, "outside the allowed range"),
        (1.0, 1e-9, 1, None, ValueError, "pulse width 1e-09 s is outside the instrument's range"),
        (1.0, 1e-6, 0, None, ValueError, "polarity must be"),
        (1.0, 1e-6, True, None, ValueError, "polarity must be"),
        (0.0, 1e-6, 1, None, ValueError, "amplitude must be > 0"),
        (-1.0, 1e-6, 1, None, ValueError, "amplitude must be > 0"),
        (1.0, 1e-6, 1, 1.01e-6, ValueError, "shorter than width"),
    ],
)
def test_out_of_range_pulses_raise_before_anything_is_written(
    amplitude, width, polarity, period, error, match
):
    with generator([]) as g, pytest.raises(error, match=match):
        g.configure_pulse(amplitude, width, polarity, period)


def test_instrument_window_is_10_V_into_high_impedance_and_5_V_into_50_ohm():
    with generator([], limits=None) as g, pytest.raises(ValueError, match=r"range \[0, 10\] V"):
        g.configure_pulse(10.5, 1e-6, 1)
    with generator([], limits=None, load_ohms=50) as g, pytest.raises(ValueError, match=r"range \[0, 5\] V"):
        g.configure_pulse(6.0, 1e-6, 1)


def test_error_queue_entry_after_configure_raises():
    pairs = [*configure()[:-1], ("SYST:ERR?", '-221,"Settings conflict"'), NO_ERROR]
    with generator(pairs) as g:
        with pytest.raises(InstrumentError, match=r"Keysight 33500B.*-221 'Settings conflict'"):
            g.configure_pulse(1.0, 1e-6, +1)
        with pytest.raises(RuntimeError, match="configure_pulse"):
            g.fire(1)


def test_fire_sets_the_count_once_triggers_on_the_bus_and_waits_for_completion():
    pairs = [
        *configure(),
        *OUTPUT_ON,
        ("SOUR1:BURS:NCYC 5", None),
        NO_ERROR,
        ("*TRG;*WAI", None),
        ("*OPC?", "1"),
        ("*TRG;*WAI", None),  # same count: no reprogramming
        ("*OPC?", "1"),
        ("*TRG;*WAI", None),  # the refused fire(1001) left the count at 5
        ("*OPC?", "1"),
    ]
    with generator(pairs) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.output_on()
        g.fire(5)
        g.fire(5)
        with pytest.raises(ValueError, match="pulse count 1001 is outside"):
            g.fire(1001)  # over max_pulses_per_call: nothing written
        g.fire(5)


def test_fire_needs_configuration_and_output_on():
    with generator(configure()) as g:
        with pytest.raises(RuntimeError, match="configure_pulse"):
            g.fire(1)
        g.configure_pulse(1.0, 1e-6, +1)
        with pytest.raises(RuntimeError, match="output is off"):
            g.fire(1)


def test_unexpected_completion_reply_raises():
    pairs = [*configure(), *OUTPUT_ON, ("*TRG;*WAI", None), ("*OPC?", "0")]
    with generator(pairs) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.output_on()
        with pytest.raises(InstrumentError, match="expected '1'"):
            g.fire(1)


def test_shutdown_switches_the_output_off_twice():
    safe = [("OUTP1 0", None), ("TRIG1:SOUR BUS", None)]  # output off, Ext Trig disarmed
    with generator([*safe, *safe]) as g:
        g.shutdown()
        g.shutdown()


# ---------------------------------------------------------------------- confirmed settings are cached
def test_a_polarity_flip_sends_only_the_levels_then_reads_the_error_queue():
    flip = [
        ("OUTP1 0", None),
        ("SOUR1:VOLT:LOW -1.000000", None),  # away from 0 V first: high stays above low
        ("SOUR1:VOLT:HIGH 0.000000", None),
        ("OUTP1:POL INV", None),
        NO_ERROR,
    ]
    back = [("OUTP1 0", None), ("SOUR1:VOLT:HIGH 1.000000", None), ("SOUR1:VOLT:LOW 0.000000", None),
            ("OUTP1:POL NORM", None), NO_ERROR]  # fmt: skip
    with generator([*configure(), *flip, *back]) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.configure_pulse(1.0, 1e-6, -1)
        g.configure_pulse(1.0, 1e-6, +1)


def test_a_new_width_sends_the_timing_in_the_order_the_known_period_allows():
    # Known period 2 us; a 3 us width does not fit it, so the new period goes first (no PER? query).
    change = [
        ("OUTP1 0", None),
        ("SOUR1:FUNC:PULS:PER 6.000000e-06", None),
        ("SOUR1:FUNC:PULS:WIDT 3.000000e-06", None),
        NO_ERROR,
    ]
    with generator([*configure(), *change, ("OUTP1 0", None)]) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.configure_pulse(1.0, 3e-6, +1)
        g.configure_pulse(1.0, 3e-6, +1)  # nothing changed: only the output goes off


def test_an_error_or_a_shutdown_makes_the_next_configuration_send_everything():
    pairs = [
        *configure(),
        *OUTPUT_ON,
        ("*TRG;*WAI", None),
        ("*OPC?", "0"),  # the burst went wrong: what the generator holds is unknown
        *configure(present_period="+2.000000000000000E-06"),
        ("OUTP1 0", None),  # shutdown
        ("TRIG1:SOUR BUS", None),  # shutdown: Ext Trig disarmed
        *configure(present_period="+2.000000000000000E-06"),
    ]
    with generator(pairs) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.output_on()
        with pytest.raises(InstrumentError, match="expected '1'"):
            g.fire(1)
        with pytest.raises(RuntimeError, match="configure_pulse"):
            g.fire(1)  # nothing is fired on forgotten settings
        g.configure_pulse(1.0, 1e-6, +1)
        g.shutdown()
        g.configure_pulse(1.0, 1e-6, +1)


def test_a_refused_level_change_is_reported_and_forgotten():
    pairs = [
        *configure(),
        ("OUTP1 0", None),
        ("SOUR1:VOLT:HIGH 2.000000", None),
        ("SOUR1:VOLT:LOW 0.000000", None),
        ("OUTP1:POL NORM", None),
        ("SYST:ERR?", '-221,"Settings conflict"'),
        NO_ERROR,
        *configure(high="2.000000", present_period="+2.000000000000000E-06"),
    ]
    with generator(pairs) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        with pytest.raises(InstrumentError, match="-221"):
            g.configure_pulse(2.0, 1e-6, +1)
        g.configure_pulse(2.0, 1e-6, +1)


def test_external_trigger_arms_one_pulse_bursts_and_fire_returns_to_the_bus():
    # TRIGger:SOURce EXTernal: each edge on the rear Ext Trig input starts a burst of NCYCles.
    pairs = [
        *configure(),
        *OUTPUT_ON,
        ("TRIG1:SOUR EXT", None),
        NO_ERROR,
        ("SOUR1:BURS:NCYC 3", None),
        ("TRIG1:SOUR BUS", None),
        NO_ERROR,
        ("*TRG;*WAI", None),
        ("*OPC?", "1"),
        ("SOUR1:BURS:NCYC 1", None),
        ("TRIG1:SOUR EXT", None),
        NO_ERROR,
    ]
    with generator(pairs) as g:
        with pytest.raises(RuntimeError, match="configure_pulse"):
            g.arm_external_trigger()  # nothing sent before a pulse shape is set
        g.configure_pulse(1.0, 1e-6, +1)
        g.output_on()
        g.arm_external_trigger()
        g.arm_external_trigger()  # already armed: nothing sent
        g.fire(3)
        g.arm_external_trigger()


# ---------------------------------------------------------------------- alternating polarity
UP, DOWN = Pulse(3.0, 1e-6), Pulse(2.5, 2e-6)
# Channel 1 the up pulse (configure_pulse's set-up), then channel 2 in full for the down pulse
# (its own output off), fired by the rising edge on Ext Trig; SOURce1:COMBine:FEED CH2 adds it
# to output 1; channel 1 fires on the falling edge (TRIGger1:SLOPe NEG, set at connect).
DOWN_TIMING = ("SOUR1:FUNC:PULS:WIDT 2.000000e-06", "SOUR1:FUNC:PULS:PER 4.000000e-06")
ALTERNATING = [
    *configure(high="3.000000"),
    *configure(high="0.000000", low="-2.500000", polarity="INV", timing=DOWN_TIMING, ch=2)[:-1],
    ("TRIG2:SOUR EXT", None),
    ("TRIG2:SLOP POS", None),
    ("TRIG2:DEL 0", None),
    ("SOUR1:COMB:FEED CH2", None),
    NO_ERROR,
    ("TRIG1:SOUR EXT", None),
    NO_ERROR,
]
SINGLE_POLARITY = [("SOUR1:COMB:FEED NONE", None), ("TRIG2:SOUR BUS", None), NO_ERROR]


def test_alternating_pulses_come_from_both_channels_on_the_two_edges_of_ext_trig():
    pairs = [*ALTERNATING, ("OUTP1 0", None), *OUTPUT_ON]
    with generator(pairs) as g:
        g.arm_alternating(UP, DOWN)
        g.arm_alternating(UP, DOWN)  # confirmed: the output goes off, nothing else is sent
        g.output_on()


def test_pulses_of_one_polarity_first_stop_the_second_channel():
    pairs = [
        *ALTERNATING,
        ("OUTP1 0", None),  # configure_pulse: output off, then back to one polarity
        *SINGLE_POLARITY,
        *OUTPUT_ON,
        ("TRIG1:SOUR BUS", None),  # the burst on the bus again
        NO_ERROR,
        ("*TRG;*WAI", None),
        ("*OPC?", "1"),
    ]
    with generator(pairs) as g:
        g.arm_alternating(UP, DOWN)
        g.configure_pulse(3.0, 1e-6, +1)  # the up pulse is set up already: nothing more
        g.output_on()
        g.fire(1)


def test_after_an_error_the_second_channel_is_stopped_before_anything_else():
    burst = [("SOUR1:BURS:NCYC 1", None), ("TRIG1:SOUR EXT", None), NO_ERROR]
    pairs = [*ALTERNATING, *SINGLE_POLARITY, *burst]
    with generator(pairs) as g:
        g.arm_alternating(UP, DOWN)
        g.forget_settings()  # what an error during a write does
        assert g._pulse is None
        g._pulse = (3.0, 1e-6, 1, 2e-6)  # as if confirmed again, to keep the exchange short
        g.arm_external_trigger()


def test_an_alternating_pulse_outside_the_limits_is_refused_before_anything_is_written():
    with generator([]) as g, pytest.raises(LimitError, match="exceeds the limit"):
        g.arm_alternating(UP, Pulse(4.5, 1e-6))
