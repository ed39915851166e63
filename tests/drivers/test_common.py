"""Shared driver pieces: error-queue replies, argument checks, the timeout stretch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError, parse_floats, parse_scpi_error, parse_tsp_error
from drivers.keithley707b import Keithley707B
from drivers.keysight_b2902a import KeysightB2902A
from drivers.timeouts import MARGIN_S, timeout_at_least


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('+0,"No error"', (0, "No error")),
        ('-113,"Undefined header"\n', (-113, "Undefined header")),
        (
            '-222,"Data out of range;1;2024/01/01 00:00:00.000"',
            (-222, "Data out of range;1;2024/01/01 00:00:00.000"),
        ),
    ],
)
def test_scpi_error_replies(reply, expected):
    assert parse_scpi_error(reply, "X") == expected


def test_tsp_error_replies_and_unreadable_ones():
    assert parse_tsp_error("-2.85000e+02\tsyntax error\t2.00000e+00\t0.00000e+00", "X") == (
        -285,
        "syntax error",
    )
    with pytest.raises(InstrumentError, match="X: unreadable SYST:ERR"):
        parse_scpi_error("hello", "X")
    with pytest.raises(InstrumentError, match="unreadable errorqueue"):
        parse_tsp_error("", "X")
    with pytest.raises(InstrumentError, match="returned 1 values, expected 2"):
        parse_floats("X", "1.0", 2, "sweep")


def test_an_error_queue_that_never_empties_is_a_fault():
    pairs = [(":OUTP1 ON", None)] + [("SYST:ERR?", '-350,"Queue overflow"')] * 32
    with expected_protocol(KeysightB2902A, [*pairs]) as b:
        b._bias = 0.1  # as after configure_read
        with pytest.raises(InstrumentError, match="still not empty"):
            b.output_on()


def test_numpy_numbers_are_accepted_like_python_numbers():
    with expected_protocol(
        Keithley707B, [('channel.close("1B03") waitcomplete() print(errorqueue.count)', "0")]
    ) as m:
        m.close_crosspoint(np.int64(2), np.int32(3))


def test_timeout_is_stretched_for_the_block_and_restored():
    instrument = SimpleNamespace(adapter=SimpleNamespace(connection=SimpleNamespace(timeout=2000)))
    with timeout_at_least(instrument, 10.0):
        assert instrument.adapter.connection.timeout == pytest.approx((10.0 + MARGIN_S) * 1000)
    assert instrument.adapter.connection.timeout == 2000
    with pytest.raises(KeyError), timeout_at_least(instrument, 10.0):
        raise KeyError("the burst failed")
    assert instrument.adapter.connection.timeout == 2000
    with timeout_at_least(instrument, 0.001):  # 2.001 s needed, 2 s set: stretched by 1 ms only
        assert instrument.adapter.connection.timeout == pytest.approx(2001)
    instrument.adapter.connection.timeout = 5000
    with timeout_at_least(instrument, 0.001):  # already long enough: unchanged
        assert instrument.adapter.connection.timeout == 5000


def test_timeout_without_a_numeric_setting_is_left_alone():
    instrument = SimpleNamespace(adapter=SimpleNamespace(connection=SimpleNamespace(timeout=None)))
    with timeout_at_least(instrument, 10.0):
        assert instrument.adapter.connection.timeout is None
