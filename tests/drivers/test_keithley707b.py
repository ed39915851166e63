"""Keithley 707B driver: exact TSP exchanges (707B/708B Reference Manual 707B-901-01, section 7).

Every switching command is one line: the channel function, waitcomplete() (the relays have
settled) and print(errorqueue.count), so one reply confirms completion and the error count.
"""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol
from pyvisa.errors import VisaIOError

from drivers.errors import InstrumentError
from drivers.keithley707b import Keithley707B

SETTLED = " waitcomplete() print(errorqueue.count)"
NONE_QUEUED = "0.00000e+00"


def switch(statement: str, reply: str = NONE_QUEUED) -> tuple[str, str]:
    return (statement + SETTLED, reply)


@pytest.mark.parametrize(
    ("row", "col", "name"), [(1, 1, "1A01"), (8, 12, "1H12"), (3, 13, "2C01"), (2, 24, "2B12")]
)
def test_close_names_slot_row_letter_and_column_and_waits_in_one_query(row, col, name):
    # Manual 7, channel.close(): matrix channels are named <slot><row A-H><column 01-12>.
    with expected_protocol(Keithley707B, [switch(f'channel.close("{name}")')], slots=2) as m:
        m.close_crosspoint(row, col)


def test_open_one_and_all():
    pairs = [switch('channel.open("1D05")'), switch('channel.open("allslots")')]
    with expected_protocol(Keithley707B, pairs) as m:
        m.open_crosspoint(4, 5)
        m.open_all()


def test_connect_exactly_is_one_exclusiveclose_query_with_sorted_names():
    # channel.exclusiveclose opens every other channel: the previous routing is not needed.
    pairs = [switch('channel.exclusiveclose("1A05,1B09,2C01")'), switch('channel.open("allslots")')]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        assert m.connect_exactly({(2, 9), (1, 5), (3, 13)}, previous=frozenset({(1, 1)})) == {
            (1, 5),
            (2, 9),
            (3, 13),
        }
        assert m.connect_exactly(set()) == frozenset()  # nothing to close: open everything


def test_connect_exactly_checks_every_crosspoint_before_sending():
    with expected_protocol(Keithley707B, []) as m, pytest.raises(ValueError, match="column"):
        m.connect_exactly({(1, 1), (1, 13)})


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


def test_queued_error_after_a_switch_raises_with_the_entry():
    pairs = [
        switch('channel.close("1A02")', "1.00000e+00"),
        (
            "print(errorqueue.next())",
            "1.11500e+03\tParameter error invalid channel\t2.00000e+00\t0.00000e+00",
        ),
    ]
    with expected_protocol(Keithley707B, pairs) as m:
        with pytest.raises(InstrumentError, match=r"Keithley 707B.*closing 1A02.*1115 'Parameter error"):
            m.close_crosspoint(1, 2)


def test_a_switch_that_never_answers_reports_the_queued_runtime_error(monkeypatch):
    # A TSP runtime error (e.g. a card missing from a slot) stops the line before print():
    # the query times out and the error queue says why.
    pairs = [
        ("print(errorqueue.count)", "1.00000e+00"),
        (
            "print(errorqueue.next())",
            "-2.86000e+02\tTSP Runtime error: slot 2 is empty\t2.00000e+00\t0.00000e+00",
        ),
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        asked = m.ask

        def no_reply_to_switches(command: str, *args, **kwargs):
            if command.endswith(SETTLED):
                raise VisaIOError(-1073807339)  # VI_ERROR_TMO
            return asked(command, *args, **kwargs)

        monkeypatch.setattr(m, "ask", no_reply_to_switches)
        with pytest.raises(InstrumentError, match=r"routing 2A01.*slot 2 is empty"):
            m.connect_exactly({(1, 13)})


def test_shutdown_aborts_any_scan_and_opens_everything_twice():
    # A scan left running (by this driver or another program) would go on closing relays.
    safe = switch('scan.abort() channel.open("allslots")')
    with expected_protocol(Keithley707B, [safe, safe]) as m:
        m.shutdown()
        m.shutdown()


# ---------------------------------------------------------------------- scans
# Manual 7: channel.pattern.setimage(channelList, name), scan.create/scan.add (one step per
# channel or pattern), scan.bypass, scan.trigger.channel.stimulus, digio.trigger[N]; scan.reset()
# first restores the defaults (one pass, scan.MODE_OPEN_ALL).
SCAN_SETUP = (
    'scan.reset() channel.pattern.setimage("1A07,2B01", "hilscan1") '
    'channel.pattern.setimage("1A09,2B01", "hilscan2") scan.create("hilscan1,hilscan2") '
    "scan.bypass = scan.OFF scan.trigger.channel.stimulus = digio.trigger[3].EVENT_ID "
    "digio.trigger[3].mode = digio.TRIG_FALLING"
)
START = ("digio.trigger[3].clear() scan.background() print(errorqueue.count)", NONE_QUEUED)
STATE = "print(errorqueue.count, scan.state())"
DEVICES = [{(1, 7), (2, 13)}, {(2, 13), (1, 9)}]  # drain to row A, shared source pad 13 to row B


def test_a_scan_is_set_up_in_one_line_started_in_one_query_and_checked_in_one_query():
    pairs = [
        switch(SCAN_SETUP),
        START,
        (STATE, "0.00000e+00\t6.00000e+00\t1.00000e+00\t2.00000e+00"),  # no error, SUCCESS, 1 pass, 2 steps
        switch('channel.open("allslots")'),  # the scan ended: nothing to abort
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        assert m.supports_scans
        m.configure_scan(DEVICES, 3)
        m.start_scan()
        m.check_scan(2)
        m.open_all()


def test_long_scans_are_set_up_in_several_lines_and_the_list_grows_by_scan_add():
    steps = [{(1, c)} for c in range(1, 61)]
    with expected_protocol(Keithley707B, [], slots=5) as m:
        sent: list[str] = []
        m.switch = lambda statement, context: sent.append(statement)
        m.configure_scan(steps, 1)
    assert len(sent) > 1 and all(len(line) <= 1000 for line in sent)
    text = " ".join(sent)
    assert text.startswith("scan.reset() ") and text.count("channel.pattern.setimage(") == 60
    names = ",".join(f"hilscan{k}" for k in range(51, 61))
    assert f'scan.add("{names}")' in text and 'scan.create("hilscan1,' in text


@pytest.mark.parametrize(
    ("steps", "line", "match"),
    [([], 1, "1 to 10000 steps"), ([set()], 1, "step 0 closes no crosspoint"), ([{(1, 13)}], 1, "column"),
     ([{(1, 1)}], 15, "digital I/O line 15"), ([{(1, 1)}], True, "whole number")],
)  # fmt: skip
def test_scan_settings_are_checked_before_anything_is_sent(steps, line, match):
    with expected_protocol(Keithley707B, []) as m, pytest.raises(ValueError, match=match):
        m.configure_scan(steps, line)


def test_a_scan_cannot_start_before_it_is_set_up_or_after_a_refused_set_up():
    pairs = [
        switch(SCAN_SETUP, "1.00000e+00"),
        ("print(errorqueue.next())", "1.11500e+03\tParameter error invalid channel\t2.0e+01\t1.0e+00"),
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        with pytest.raises(RuntimeError, match="configure_scan"):
            m.start_scan()
        with pytest.raises(InstrumentError, match=r"setting up a scan.*1115"):
            m.configure_scan(DEVICES, 3)
        with pytest.raises(RuntimeError, match="configure_scan"):
            m.start_scan()


def test_a_scan_that_missed_triggers_is_an_error_and_is_aborted_by_the_next_open_all():
    pairs = [
        switch(SCAN_SETUP),
        START,
        (STATE, "0.00000e+00\t2.00000e+00\t1.00000e+00\t1.00000e+00"),  # still RUNNING after 1 step
        switch('scan.abort() channel.open("allslots")'),
        switch('channel.open("allslots")'),  # aborted once: the next open is a plain one
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3)
        m.start_scan()
        with pytest.raises(InstrumentError, match=r"RUNNING after 1 of 2 steps.*line 3.*smu_to_switch"):
            m.check_scan(2)
        m.open_all()
        m.open_all()


def test_an_error_queued_during_the_scan_is_reported_with_its_entry():
    pairs = [
        switch(SCAN_SETUP),
        START,
        (STATE, "1.00000e+00\t6.00000e+00\t1.00000e+00\t2.00000e+00"),
        ("print(errorqueue.next())", "-2.86000e+02\tTSP Runtime error: relay fault\t2.0e+01\t1.0e+00"),
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3)
        m.start_scan()
        with pytest.raises(InstrumentError, match=r"error queue after a scan: -286 'TSP Runtime error: re"):
            m.check_scan(2)


@pytest.mark.parametrize("reply", ["garbage", "0.00000e+00\t6.00000e+00"])
def test_an_unreadable_scan_state_raises(reply):
    pairs = [switch(SCAN_SETUP), START, (STATE, reply)]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3)
        m.start_scan()
        with pytest.raises(InstrumentError, match="unreadable reply"):
            m.check_scan(2)


def test_a_scan_with_a_ready_line_asserts_channel_ready_and_shutdown_disarms_its_lines():
    # Manual 7, trigger event IDs: scan.trigger.EVENT_CHANNEL_READY as the stimulus of a digital
    # output line: a low pulse once each step's relays have settled.
    ready = (
        " digio.trigger[4].mode = digio.TRIG_FALLING"
        " digio.trigger[4].stimulus = scan.trigger.EVENT_CHANNEL_READY"
    )
    disarm = " ".join(
        f"digio.trigger[{n}].stimulus = 0 digio.trigger[{n}].mode = digio.TRIG_BYPASS" for n in (3, 4)
    )
    pairs = [
        switch(SCAN_SETUP + ready),
        switch(f'scan.abort() channel.open("allslots") {disarm}'),
        switch('scan.abort() channel.open("allslots")'),  # nothing armed any more
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3, ready_line=4)
        m.shutdown()
        m.shutdown()
    with expected_protocol(Keithley707B, [], slots=2) as m, pytest.raises(ValueError, match="must differ"):
        m.configure_scan(DEVICES, 3, ready_line=3)


REVERSED = SCAN_SETUP.replace('"1A07,2B01", "hilscan1"', '"1A09,2B01", "hilscan1"', 1).replace(
    '"1A09,2B01", "hilscan2"', '"1A07,2B01", "hilscan2"', 1
)


def test_a_scan_of_several_passes_sets_scan_scancount_and_only_that_when_the_list_is_the_same():
    # Manual 7, scan.scancount: how many times the scan list runs (scan.reset() makes it 1).
    with_passes = SCAN_SETUP.replace("scan.bypass", "scan.scancount = 4 scan.bypass")
    pairs = [
        switch(with_passes),
        switch("scan.scancount = 6"),  # the same list again, more passes: one short line
        START,
        (STATE, "0.00000e+00\t6.00000e+00\t6.00000e+00\t2.00000e+00"),  # SUCCESS, pass 6, 2 steps
        switch(REVERSED),  # other steps: the whole list, back to one pass
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3, passes=4)
        m.configure_scan(DEVICES, 3, passes=6)
        m.configure_scan(DEVICES, 3, passes=6)  # confirmed: nothing sent
        m.start_scan()
        m.check_scan(2, passes=6)
        m.configure_scan(list(reversed(DEVICES)), 3)


def test_a_scan_that_ended_early_in_its_passes_is_an_error():
    pairs = [
        switch(SCAN_SETUP.replace("scan.bypass", "scan.scancount = 4 scan.bypass")),
        START,
        (STATE, "0.00000e+00\t2.00000e+00\t3.00000e+00\t1.00000e+00"),  # RUNNING, pass 3, 1 step
    ]
    with expected_protocol(Keithley707B, pairs, slots=2) as m:
        m.configure_scan(DEVICES, 3, passes=4)
        m.start_scan()
        with pytest.raises(InstrumentError, match=r"RUNNING after 1 of 2 steps \(pass 3 of 4\)"):
            m.check_scan(2, passes=4)
