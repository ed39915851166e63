"""A pulse pair on the wire: the 33500B is set to each polarity's own level and width in turn
(the hardware backend calls configure_pulse once per group with that polarity's pulse)."""

from __future__ import annotations

from tests.drivers.test_keysight33500b import NO_ERROR, configure, generator


def test_a_pair_of_different_pulses_sends_each_polarity_s_level_and_width():
    down = [  # up 1 V x 1 us -> down 2.5 V x 3 us: the new period first (3 us does not fit 2 us)
        ("OUTP1 0", None),
        ("SOUR1:FUNC:PULS:PER 6.000000e-06", None),
        ("SOUR1:FUNC:PULS:WIDT 3.000000e-06", None),
        ("SOUR1:VOLT:LOW -2.500000", None),  # away from 0 V first: high stays above low
        ("SOUR1:VOLT:HIGH 0.000000", None),
        ("OUTP1:POL INV", None),
        NO_ERROR,
    ]
    up = [  # and back to the up pulse: the shorter width first, then the levels
        ("OUTP1 0", None),
        ("SOUR1:FUNC:PULS:WIDT 1.000000e-06", None),
        ("SOUR1:FUNC:PULS:PER 2.000000e-06", None),
        ("SOUR1:VOLT:HIGH 1.000000", None),
        ("SOUR1:VOLT:LOW 0.000000", None),
        ("OUTP1:POL NORM", None),
        NO_ERROR,
    ]
    with generator([*configure(), *down, *up]) as g:
        g.configure_pulse(1.0, 1e-6, +1)
        g.configure_pulse(2.5, 3e-6, -1)
        g.configure_pulse(1.0, 1e-6, +1)
