"""Keithley 707B driver: exact TSP exchanges (707B/708B Reference Manual 707B-901-01, section 7)."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.keithley707b import Keithley707B

NO_ERROR = ("print(errorqueue.count)", "0.00000e+00")


@pytest.mark.parametrize(
    ("row", "col", "name"), [(1, 1, "1A01"), (8, 12, "1H12"), (3, 13, "2C01"), (2, 24, "2B12")]
)
def test_close_names_slot_row_letter_and_column_then_checks_errors(row, col, name):
    # Manual 7, channel.close(): matrix channels are named <slot><row A-H><column 01-12>.
    with expected_protocol(Keithley707B, [(f'channel.close("{name}")', None), NO_ERROR], slots=2) as m:
        m.close_crosspoint(row, col)


def test_open_one_and_all():
    pairs = [('channel.open("1D05")', None), NO_ERROR, ('channel.open("allslots")', None), NO_ERROR]
    with expected_protocol(Keithley707B, pairs) as m:
        m.open_crosspoint(4, 5)
        m.open_all()


def test_size_follows_the_number_of_cards():
    with expected_protocol(Keithley707B, [], slots=3) as m:
        assert m.size == (8, 36)
    with pytest.raises(ValueError, match="slots 7 is outside"):
        Keithley707B("unused", slots=7)


@pytest.mark.parametrize(("row", "col"), [(0, 1), (9, 1), (1, 0), (1, 13), (1.0, 1), (True, 1)])
def test_crosspoints_outside_the_matrix_raise_before_anything_is_written(row, col):
    with expected_protocol(Keithley707B, []) as m, pytest.raises(ValueError, match=r"row|column"):
        m.close_crosspoint(row, col)


def test_closed_set_is_read_back_from_getclose():
    pairs = [
        ('print(channel.getclose("allslots"))', "nil"),
        ('print(channel.getclose("allslots"))', "1A01;2C01;1H12"),
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        assert m.closed_crosspoints() == frozenset()
        assert m.closed_crosspoints() == {(1, 1), (3, 13), (8, 12)}


def test_unreadable_getclose_reply_raises():
    with expected_protocol(Keithley707B, [('print(channel.getclose("allslots"))', "1A01;bogus")]) as m:
        with pytest.raises(InstrumentError, match="unreadable channel 'bogus'"):
            m.closed_crosspoints()


def test_refused_close_raises_with_the_queue_entry():
    pairs = [
        ('channel.close("1A02")', None),
        ("print(errorqueue.count)", "1.00000e+00"),
        (
            "print(errorqueue.next())",
            "1.11500e+03\tParameter error invalid channel\t2.00000e+00\t0.00000e+00",
        ),
    ]
    with expected_protocol(Keithley707B, pairs) as m:
        with pytest.raises(InstrumentError, match=r"Keithley 707B.*closing 1A02.*1115 'Parameter error"):
            m.close_crosspoint(1, 2)


def test_shutdown_opens_everything_twice():
    safe = [('channel.open("allslots")', None), NO_ERROR]
    with expected_protocol(Keithley707B, [*safe, *safe]) as m:
        m.shutdown()
        m.shutdown()
