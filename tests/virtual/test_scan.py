"""The virtual 707B's scans (scan lists of channels and channel patterns, stepped by triggers on
its digital I/O lines) and the trigger cable from the 2450 that steps them.

The ideal 2 x 3 array of conftest, default pin map: device (r, c) has its drain on pad 7 + 3r + c
(row A = SMU HI: channel 1A07 ...) and every source on pad 13 (row B = SMU LO: channel 2B01).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvisa

from simulators.virtual import VirtualBench, VirtualChip
from simulators.virtual.keithley707b import Keithley707B
from tests.virtual.conftest import G0, open_visa

READ_V = 0.1
DEVICES = [(0, 0), (0, 2), (1, 1)]
A, B = 0, 1  # row indices of SMU HI and SMU LO
SOURCE = (2, B, 1)  # 2B01: pad 13 on row B


def drain(r: int, c: int) -> tuple[int, int, int]:
    """The crosspoint (slot, row index, column) of device (r, c)'s drain on row A."""
    return 1, A, 7 + 3 * r + c


def name(r: int, c: int) -> str:
    return f"1A{7 + 3 * r + c:02d}"


@pytest.fixture
def matrix(chip: VirtualChip) -> Keithley707B:
    return Keithley707B(chip)


def ask(m: Keithley707B, line: str) -> str | None:
    return m.handle(line)


def errors(m: Keithley707B) -> list[tuple[int, str]]:
    out = []
    while m.handle("print(errorqueue.count)") != "0.00000e+00":
        code, message, *_ = m.handle("print(errorqueue.next())").split("\t")
        out.append((int(float(code)), message))
    return out


def state(m: Keithley707B) -> tuple[str, int, int]:
    code, scans, steps = (int(float(x)) for x in m.handle("print(scan.state())").split("\t"))
    return ("EMPTY", "BUILDING", "RUNNING", "ABORTED", "FAILED", "FAILED_INIT", "SUCCESS")[code], scans, steps


def device_scan(m: Keithley707B, line: int = 2) -> None:
    """One pattern per device (its drain on SMU HI, the source on SMU LO), each step waiting for an
    edge on digital I/O `line`, as the driver sets a read scan up."""
    for k, (r, c) in enumerate(DEVICES, 1):
        m.handle(f'channel.pattern.setimage("{name(r, c)},2B01", "dev{k}")')
    m.handle(f'scan.reset() scan.create("dev1,dev2,dev3") scan.bypass = scan.OFF '
             f"scan.trigger.channel.stimulus = digio.trigger[{line}].EVENT_ID "
             f"digio.trigger[{line}].mode = digio.TRIG_FALLING")  # fmt: skip
    assert errors(m) == []


# ---------------------------------------------------------------------- stepping
def test_each_trigger_closes_exactly_the_next_step_and_the_chip_sees_that_device(chip, matrix) -> None:
    matrix.handle('channel.close("1C01,1A12")')  # left over: the scan opens everything first
    device_scan(matrix)
    assert ask(matrix, "print(scan.stepcount)") == "3.00000e+00" and state(matrix) == ("BUILDING", 0, 0)
    matrix.handle("scan.background()")
    assert matrix.closed == set() and state(matrix) == ("RUNNING", 1, 0)  # bypass off: step 1 waits
    for k, (r, c) in enumerate(DEVICES):
        matrix.digital_trigger(2)
        assert matrix.closed == {drain(r, c), SOURCE}
        assert chip.measure_smu("VOLT", READ_V, 1e-3).current == pytest.approx(READ_V * G0[r, c], rel=1e-12)
        assert state(matrix) == ("RUNNING" if k < 2 else "SUCCESS", 1, k + 1)
    assert matrix.closed == {drain(1, 1), SOURCE}  # the last step stays closed
    matrix.digital_trigger(2)  # no scan waits for it
    matrix.digital_trigger(3)  # line 3 is no trigger input (digio.TRIG_BYPASS): no event at all
    assert matrix.ignored_triggers == 1 and state(matrix) == ("SUCCESS", 1, 3)
    assert errors(matrix) == []


def test_channels_ranges_and_patterns_are_steps_and_scan_add_appends(matrix) -> None:
    matrix.handle('channel.pattern.setimage("1A07,1A08", "both") scan.create("1A09:1B10")')
    matrix.handle('scan.add("both,1C03")')
    assert ask(matrix, "print(scan.stepcount)") == "6.00000e+00"  # 4 channels of the range, row by row
    matrix.handle("scan.bypass = scan.OFF scan.trigger.channel.stimulus = digio.trigger[1].EVENT_ID "
                  "digio.trigger[1].mode = digio.TRIG_FALLING scan.background()")  # fmt: skip
    seen = []
    for _ in range(6):
        matrix.digital_trigger(1)
        seen.append(set(matrix.closed))
    assert seen == [{(1, A, 9)}, {(1, A, 10)}, {(1, B, 9)}, {(1, B, 10)}, {(1, A, 7), (1, A, 8)}, {(1, 2, 3)}]
    assert errors(matrix) == []


def test_the_default_scan_runs_at_once_and_scancount_repeats_it(matrix) -> None:
    # Defaults (manual 7): scan.bypass on, channel stimulus scan.trigger.EVENT_CHANNEL_READY: the
    # first step runs at once and each one's completion starts the next.
    matrix.handle('scan.create("1A07,1A08,1A09") scan.background()')
    assert state(matrix) == ("SUCCESS", 1, 3) and matrix.closed == {(1, A, 9)}
    matrix.handle("scan.scancount = 2 scan.execute()")
    assert state(matrix) == ("SUCCESS", 2, 3)
    matrix.handle("scan.reset()")
    defaults = ask(matrix, "print(scan.scancount, scan.bypass, scan.mode)")
    assert defaults == "1.00000e+00\t1.00000e+00\t0.00000e+00"
    # Bypass off with the default stimulus: no step ever completes to start the next one.
    matrix.handle("scan.bypass = scan.OFF scan.background()")
    assert state(matrix) == ("RUNNING", 1, 0)
    matrix.handle("scan.abort()")
    assert state(matrix) == ("ABORTED", 1, 0)
    # Stimulus 0: each channel action at once, bypass or not.
    matrix.handle("scan.trigger.channel.stimulus = 0 scan.background()")
    assert state(matrix) == ("SUCCESS", 1, 3)
    assert errors(matrix) == []


def test_open_selective_keeps_channels_the_scan_does_not_use(matrix) -> None:
    matrix.handle('channel.close("1C01,1A07") scan.create("1A07,1A08") scan.mode = scan.MODE_OPEN_SELECTIVE '
                  "scan.bypass = scan.OFF scan.trigger.channel.stimulus = digio.trigger[4].EVENT_ID "
                  "digio.trigger[4].mode = digio.TRIG_RISINGA scan.background()")  # fmt: skip
    assert matrix.closed == {(1, 2, 1)}
    matrix.digital_trigger(4)
    assert matrix.closed == {(1, 2, 1), (1, A, 7)}
    assert errors(matrix) == []


@pytest.mark.parametrize(("mode", "steps"), [("TRIG_BYPASS", 0), ("TRIG_RISINGM", 0), ("TRIG_FALLING", 1),
                                             ("TRIG_SYNCHRONOUSA", 1), ("TRIG_EITHER", 2)])  # fmt: skip
def test_a_pulse_makes_as_many_events_as_the_line_mode_detects_edges(matrix, mode: str, steps: int) -> None:
    device_scan(matrix, line=5)
    matrix.handle(f"digio.trigger[5].mode = digio.{mode} scan.background()")
    matrix.digital_trigger(5)
    assert state(matrix)[2] == steps


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        ('scan.create("allslots")', 1115, "'allslots' not allowed"),
        ('scan.create("1A01,1J01")', 1115, "invalid channel '1J01'"),
        ('scan.create("nopattern")', 1115, "invalid channel 'nopattern'"),
        ('scan.create("") scan.background()', 1115, "the scan list is empty"),
        ("scan.bypass = 2", 1115, "invalid scan bypass"),
        ("scan.mode = 2", 1115, "invalid scan mode"),
        ("scan.scancount = 0", 1115, "scan count must be a whole number >= 1"),
        ("scan.trigger.channel.stimulus = 39", 1115, "channel stimulus 39.0"),
        ("digio.trigger[1].mode = 9", 1115, "invalid trigger mode"),
        ("digio.trigger[15].mode = 1", -286, "attribute 'digio.trigger[15].mode'"),
        ("scan.stepcount = 3", -286, "read-only or unknown attribute 'scan.stepcount'"),
        ("scan.nosuch()", -286, "attempt to call field 'nosuch'"),
        ('channel.pattern.setimage("1A01", "1bad")', 1115, "invalid pattern name '1bad'"),
        ('channel.pattern.setimage("1A01", "slot2")', 1115, "channel list keyword"),
        ('channel.pattern.setimage("allslots", "p")', 1115, "'allslots' not allowed"),
        ('channel.pattern.delete("p")', 1115, "no channel pattern named 'p'"),
        ("scan.trigger.channel.stimulus = digio.trigger[3].EVENT_ID scan.execute()", 1115, "not simulated"),
    ],
)  # fmt: skip
def test_bad_scan_commands_queue_the_instruments_errors_and_stop_the_line(matrix, line, code, text) -> None:
    matrix.handle(f"{line} scan.scancount = 7")
    ((got, message),) = errors(matrix)
    assert got == code and text in message
    assert ask(matrix, "print(scan.scancount)") == "1.00000e+00"  # the statement after never ran


def test_an_item_in_error_stops_scan_add_after_the_items_before_it(matrix) -> None:
    # Manual 7, scan.add(): "subsequent channels in that channel list will not be added".
    matrix.handle('scan.create("1A01") scan.add("1A02,1A99,1A03")')
    assert ask(matrix, "print(scan.stepcount)") == "2.00000e+00"
    assert [code for code, _ in errors(matrix)] == [1115]


def test_a_running_scan_refuses_changes_and_a_second_start(matrix) -> None:
    device_scan(matrix)
    matrix.handle("scan.background()")
    for line in ('scan.create("1A01")', 'scan.add("1A01")', "scan.bypass = scan.ON", "scan.background()",
                 "scan.reset()", "scan.execute()"):  # fmt: skip
        matrix.handle(line)
        ((code, message),) = errors(matrix)
        assert code == 1115 and "while a scan is running" in message, line
    assert ask(matrix, "print(scan.stepcount, scan.bypass)") == "3.00000e+00\t0.00000e+00"


# ---------------------------------------------------------------------- abort, reset, patterns
def test_abort_stops_the_scan_where_it_is_and_reset_clears_everything(matrix) -> None:
    device_scan(matrix)
    matrix.handle("scan.background()")
    matrix.digital_trigger(2)
    matrix.handle("scan.abort()")
    assert state(matrix) == ("ABORTED", 1, 1) and matrix.closed == {drain(0, 0), SOURCE}
    matrix.digital_trigger(2)  # an aborted scan takes no more steps
    assert matrix.closed == {drain(0, 0), SOURCE}
    matrix.handle("scan.abort()")  # nothing running: nothing happens
    assert errors(matrix) == []
    matrix.handle("*RST")
    assert state(matrix) == ("EMPTY", 0, 0) and matrix.closed == set()
    assert ask(matrix, 'print(channel.pattern.getimage("dev1"), digio.trigger[2].mode)') == "nil\t0.00000e+00"


def test_channel_patterns_are_named_channel_lists(matrix) -> None:
    matrix.handle('channel.pattern.setimage("1A09,1A07,2B01", "p_1") channel.pattern.setimage("", "empty")')
    assert ask(matrix, 'print(channel.pattern.getimage("p_1,empty"))') == "1A07,1A09,2B01;"
    matrix.handle('channel.close("p_1")')
    assert matrix.closed == {(1, A, 7), (1, A, 9), SOURCE}
    matrix.handle('channel.pattern.setimage("1C01", "p_1") channel.open("allslots") channel.close("p_1")')
    assert matrix.closed == {(1, 2, 1)}  # the name now stands for its new image
    matrix.handle('channel.pattern.delete("p_1")')
    assert ask(matrix, 'print(channel.pattern.getimage("p_1"))') == "nil"
    assert errors(matrix) == []


# ---------------------------------------------------------------------- the cable, over the wire
@pytest.fixture
def cabled(chip: VirtualChip) -> Iterator[VirtualBench]:
    with VirtualBench(chip, smu_to_pulser=1, smu_to_switch=(2, 5), state_seed=None) as b:
        yield b


def smu_reads_on_triggers(bench: VirtualBench, rm: pyvisa.ResourceManager, count: int) -> list[float]:
    """The 2450 trigger model of a scan read: notify (a pulse out of line 2), delay, measure."""
    smu = open_visa(rm, bench.addresses["smu"])
    smu.write(
        f':SOUR:FUNC VOLT;:SOUR:VOLT {READ_V};:SENS:FUNC "CURR";:OUTP ON;'
        ":DIG:LINE2:MODE TRIG, OUT;:TRIG:DIG2:OUT:STIM NOT1;:TRIG:DIG2:OUT:LOG NEG"
    )
    smu.write(
        ':TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";:TRIG:BLOC:NOT 2, 1;'
        ':TRIG:BLOC:DEL:CONS 3, 0.005;:TRIG:BLOC:MEAS 4, "defbuffer1";'
        f":TRIG:BLOC:BRAN:COUN 5, {count}, 2"
    )
    assert smu.query(":SYST:ERR?") == '0,"No error"'
    return [float(x) for x in smu.query(f':INIT;*WAI;:TRAC:DATA? 1, {count}, "defbuffer1", READ').split(",")]


def test_the_2450_steps_a_scan_over_the_cable_and_reads_each_device(cabled, rm) -> None:
    matrix = open_visa(rm, cabled.addresses["switch_matrix"])
    for k, (r, c) in enumerate(DEVICES, 1):
        matrix.write(f'channel.pattern.setimage("{name(r, c)},2B01", "dev{k}")')
    assert matrix.query('scan.create("dev1,dev2,dev3") scan.bypass = scan.OFF '
                        "scan.trigger.channel.stimulus = digio.trigger[5].EVENT_ID "
                        "digio.trigger[5].mode = digio.TRIG_FALLING digio.trigger[5].clear() "
                        "scan.background() print(errorqueue.count)") == "0.00000e+00"  # fmt: skip
    currents = smu_reads_on_triggers(cabled, rm, 3)
    assert currents == pytest.approx([READ_V * G0[d] for d in DEVICES], rel=1e-6)  # 7 digits in the reply
    assert matrix.query("print(errorqueue.count, scan.state())") == (
        "0.00000e+00\t6.00000e+00\t1.00000e+00\t3.00000e+00"
    )
    assert cabled.pulse_generator.channels[0].output is False and cabled.chip.pulse_log == []
    triggers = {"smu_to_pulser": 1, "smu_to_switch": (2, 5), "switch_ready": None}
    assert cabled.describe()["triggers"] == triggers


def test_a_scan_outlives_its_connection_until_it_is_aborted(cabled, rm) -> None:
    first = open_visa(rm, cabled.addresses["switch_matrix"])
    first.write(f'scan.create("{name(0, 1)}") scan.bypass = scan.OFF '
                "scan.trigger.channel.stimulus = digio.trigger[5].EVENT_ID "
                "digio.trigger[5].mode = digio.TRIG_FALLING scan.background()")  # fmt: skip
    assert first.query("print(scan.state())") == "2.00000e+00\t1.00000e+00\t0.00000e+00"
    first.close()  # the program that started it went away: the instrument scans on
    second = open_visa(rm, cabled.addresses["switch_matrix"])
    assert second.query("print(scan.state())") == "2.00000e+00\t1.00000e+00\t0.00000e+00"
    # What the 707B driver's shutdown sends: the scan stops and every channel opens.
    assert second.query('scan.abort() channel.open("allslots") waitcomplete() print(errorqueue.count)') == (
        "0.00000e+00"
    )
    assert second.query("print(scan.state())") == "3.00000e+00\t1.00000e+00\t0.00000e+00"
    smu_reads_on_triggers(cabled, rm, 2)  # triggers after the abort move nothing
    assert cabled.switch_matrix.closed == set() and cabled.switch_matrix.ignored_triggers == 2


@pytest.mark.parametrize(
    ("cable", "match"),
    [((7, 1), "2450 has digital I/O lines 1 to 6"), ((2, 15), "707B has digital I/O lines 1 to 14"),
     ((1, 3), "already cabled to the 33500B")],
)  # fmt: skip
def test_virtual_bench_rejects_a_cable_the_instruments_cannot_take(chip, cable, match) -> None:
    with pytest.raises(ValueError, match=match):
        VirtualBench(chip, smu_to_pulser=1, smu_to_switch=cable)
