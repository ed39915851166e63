"""The TSP subset and the virtual 707B's channel handling, in process (no sockets)."""

from __future__ import annotations

import pytest

from simulators.virtual.keithley707b import Keithley707B, channel_for
from simulators.virtual.tsp import TspError, TspRuntime
from simulators.virtual.wiring import AWG_CH1, SMU_HI, VirtualChip


@pytest.fixture
def matrix(chip: VirtualChip) -> Keithley707B:
    return Keithley707B(chip)


def errors(m: Keithley707B) -> list[str]:
    out = []
    while m.handle("print(errorqueue.count)") != "0.00000e+00":
        out.append(m.handle("print(errorqueue.next())"))
    return out


def test_runtime_statements_and_printing() -> None:
    calls = []
    rt = TspRuntime(
        {"node.f": lambda *a: calls.append(a) or (1.5, "x", None, True)}, {"node.attr": lambda: 42}
    )
    assert rt.run("node.f('a', 2) ; print(node.attr) print(node.f(-3), nil, node.missing)") == [
        "4.20000e+01",
        "1.50000e+00\tx\tnil\ttrue\tnil\tnil",
    ]
    assert calls == [("a", 2.0), (-3.0,)]
    rt.run("x = 7")
    assert rt.run("print(x)") == ["7.00000e+00"]


@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        ("node.f(", -285, "unexpected symbol near '<eof>'"),
        ("print(1 2)", -285, "unexpected symbol near '2'"),
        ("*IDN?", -285, "near '*'"),
        ("other.f()", -286, "attempt to index global 'other'"),
        ("node.g()", -286, "attempt to call field 'g'"),
    ],
)
def test_runtime_errors(line: str, code: int, text: str) -> None:
    rt = TspRuntime({"node.f": lambda *a: ()}, {})
    with pytest.raises(TspError) as info:
        rt.run(line)
    assert info.value.code == code and text in info.value.message


def test_syntax_error_runs_nothing(matrix: Keithley707B) -> None:
    matrix.handle('channel.close("1A01") channel.close(')
    assert matrix.closed == set()
    assert errors(matrix)[0].startswith("-2.85000e+02\tTSP Syntax error")


def test_close_open_getclose(matrix: Keithley707B) -> None:
    matrix.handle('channel.close("1C03,1A01")')
    assert matrix.handle('print(channel.getclose("allslots"))') == "1A01;1C03"
    matrix.handle('channel.close("1B02:1B04")')  # a range within one row
    assert matrix.handle('print(channel.getclose("1B01:1B12"))') == "1B02;1B03;1B04"
    matrix.handle('channel.open("1A01")')
    assert matrix.handle('print(channel.getclose("slot1"))') == "1B02;1B03;1B04;1C03"
    matrix.handle('channel.exclusiveclose("1D05")')
    assert matrix.handle('print(channel.getclose("allslots"))') == "1D05"
    matrix.handle('channel.open("allslots")')
    assert matrix.handle('print(channel.getclose("allslots"))') == "nil"
    assert errors(matrix) == []


@pytest.mark.parametrize("channels", ['"1J01"', '"1A13"', '"3A01"', '"allslots"', '""', "5"])
def test_bad_channel_lists_queue_1115_and_change_nothing(matrix: Keithley707B, channels: str) -> None:
    matrix.handle('channel.close("1A01")')
    matrix.handle(f"channel.close({channels})")
    assert matrix.closed == {(1, 0, 1)}
    (entry,) = errors(matrix)
    code, message, severity, node = entry.split("\t")
    assert (code, severity, node) == ("1.11500e+03", "2.00000e+01", "1.00000e+00")
    assert message.startswith("Parameter error")


def test_crosspoints_reach_the_chip(chip: VirtualChip, matrix: Keithley707B) -> None:
    p = chip.pins.pads("A", 0, 2)
    assert channel_for(1, p.drain) == "1A09" and channel_for(3, 13) == "2C01"
    matrix.handle(f'channel.close("{channel_for(1, p.drain)},{channel_for(2, p.source)}")')
    assert chip.measure_smu("VOLT", 0.1, 1e-3).current == pytest.approx(3e-7, rel=1e-12)
    matrix.handle("reset()")
    assert chip.measure_smu("VOLT", 0.1, 1e-3).current == 0.0
    matrix.handle(f'channel.close("{channel_for(3, p.gate)}")')
    chip.fire(AWG_CH1, 2, 3.0, 1e-6)
    assert [(r.row, r.col, r.count) for r in chip.pulse_log] == [(0, 2, 2)]
    assert SMU_HI == matrix.rows[0]


def test_two_rows_on_an_unbonded_column_are_joined(chip: VirtualChip, matrix: Keithley707B) -> None:
    # The 2 x 3 chip has 13 pads, so two cards are fitted and slot 2 column 12 (pad 24) is
    # bonded to nothing; closing SMU HI (row A) and ground (row D) onto it shorts them.
    matrix.handle('channel.close("2A12,2D12")')
    assert chip.measure_smu("VOLT", 0.1, 1e-4).limited
    assert any("SMU HI is connected to GND" in v for v in chip.violations)
