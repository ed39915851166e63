"""Serial relay matrix driver: the line protocol of docs/serial-relay-protocol.md, exactly."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from drivers.errors import InstrumentError
from drivers.serial_relay import SerialRelayMatrix
from tests.drivers.fake_relay_board import FakeRelayBoard

CONNECT = [("*IDN?", "PROTONIC-HIL,RELAY-MATRIX,SN42,1.0"), ("SIZE?", "4,16")]


def relay(pairs):
    return expected_protocol(SerialRelayMatrix, [*CONNECT, *pairs])


def test_connection_checks_identity_and_reads_the_size():
    with relay([]) as m:
        assert m.size == (4, 16)
        assert m.identity == "PROTONIC-HIL,RELAY-MATRIX,SN42,1.0"


def test_close_open_openall_and_closed_set():
    pairs = [
        ("CLOSE 2 5", "OK"),
        ("CLOSE 4 16", "OK"),
        ("CLOSED?", "2:5,4:16"),
        ("OPEN 2 5", "OK"),
        ("OPENALL", "OK"),
        ("CLOSED?", "NONE"),
    ]
    with relay(pairs) as m:
        m.close_crosspoint(2, 5)
        m.close_crosspoint(4, 16)
        assert m.closed_crosspoints() == {(2, 5), (4, 16)}
        m.open_crosspoint(2, 5)
        m.open_all()
        assert m.closed_crosspoints() == frozenset()


def test_connect_exactly_is_one_set_command_whatever_was_closed_before():
    pairs = [("SET 1:9,2:16,3:1", "OK"), ("SET NONE", "OK")]
    with relay(pairs) as m:
        assert m.connect_exactly([(3, 1), (1, 9), (2, 16)], previous=frozenset({(1, 2)})) == {
            (1, 9),
            (2, 16),
            (3, 1),
        }
        assert m.connect_exactly([]) == frozenset()


def test_connect_exactly_checks_every_crosspoint_before_sending():
    with relay([]) as m, pytest.raises(ValueError, match="column"):
        m.connect_exactly([(1, 2), (1, 17)])


@pytest.mark.parametrize(("row", "col"), [(0, 1), (5, 1), (1, 17), (1, -1), (2.0, 3), (None, 3)])
def test_crosspoints_outside_the_board_raise_before_anything_is_written(row, col):
    with relay([]) as m, pytest.raises(ValueError, match=r"row|column"):
        m.close_crosspoint(row, col)


def test_error_reply_raises_with_code_and_text():
    with relay([("CLOSE 1 1", "ERR 7 relay driver fault")]) as m:
        with pytest.raises(InstrumentError, match=r"'CLOSE 1 1' refused: 7 'relay driver fault'") as info:
            m.close_crosspoint(1, 1)
        assert info.value.errors == ((7, "relay driver fault"),)


def close_1_1(m: SerialRelayMatrix) -> None:
    m.close_crosspoint(1, 1)


def read_closed(m: SerialRelayMatrix) -> None:
    m.closed_crosspoints()


@pytest.mark.parametrize(
    ("pair", "action", "match"),
    [
        (("CLOSE 1 1", "OKAY"), close_1_1, "answered 'OKAY', expected 'OK'"),
        (("CLOSE 1 1", "ERR"), close_1_1, "malformed error"),
        (("CLOSED?", "1:2,x"), read_closed, "unreadable CLOSED"),
    ],
)
def test_unexpected_replies_raise(pair, action, match):
    with relay([pair]) as m, pytest.raises(InstrumentError, match=match):
        action(m)


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        ([("*IDN?", "ARDUINO,UNO,1,1")], "not a protonic-hil relay matrix"),
        ([("*IDN?", "PROTONIC-HIL,RELAY-MATRIX,1,1"), ("SIZE?", "0,8")], "unreadable SIZE"),
    ],
)
def test_wrong_board_is_refused_on_connection(pairs, match):
    with pytest.raises(InstrumentError, match=match):
        with expected_protocol(SerialRelayMatrix, pairs):
            pass


def test_shutdown_opens_everything_twice():
    with relay([("OPENALL", "OK"), ("OPENALL", "OK")]) as m:
        m.shutdown()
        m.shutdown()


def test_socket_url_reaches_a_board_through_pyserial():
    with FakeRelayBoard(rows=4, cols=8) as board:
        matrix = SerialRelayMatrix(board.url, timeout=2.0)
        try:
            assert matrix.size == (4, 8)
            matrix.close_crosspoint(3, 8)
            assert matrix.closed_crosspoints() == {(3, 8)}
            assert board.closed == {(3, 8)}
            matrix.shutdown()
            assert board.closed == set()
        finally:
            matrix.adapter.close()
    assert board.received == ["*IDN?", "SIZE?", "CLOSE 3 8", "CLOSED?", "OPENALL"]


def test_a_reply_without_its_newline_is_a_timeout_not_a_reply():
    with FakeRelayBoard(terminate=False) as board:
        with pytest.raises(TimeoutError, match=r"no complete reply line within 0\.2 s"):
            SerialRelayMatrix(board.url, timeout=0.2)
