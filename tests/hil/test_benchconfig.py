"""Bench configurations load when right and say what is wrong, and where, when not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hil.benchconfig import BenchConfigError, SwitchCable, load_bench_config

KNOWN = {"keithley2450": "smu", "keysight33500b": "pulser", "keithley707b": "matrix"}

GOOD = """\
[bench]
name = "test-bench"

[limits]
max_pulse_amplitude = 4.0
min_pulse_width = 1e-6
max_pulse_width = 1e-3
max_read_voltage = 0.2
current_compliance = 1e-4
max_pulses_per_call = 1000

[read]
voltage = 0.1

[instruments.smu]
driver = "keithley2450"
address = "TCPIP0::127.0.0.1::5025::SOCKET"

[instruments.pulser]
driver = "keysight33500b"
address = "TCPIP0::127.0.0.1::5026::SOCKET"

[instruments.matrix]
driver = "keithley707b"
address = "TCPIP0::127.0.0.1::5027::SOCKET"
options = { slots = 1 }

[wiring]
smu_hi = 1
smu_lo = 2
pulse_out = 3
pulse_ref = 4

[chip]
rows = 2
cols = 3
gate = [[1, 2, 3], [4, 5, 6]]
drain = [[7, 8, 9], [10, 11, 12]]
source = 13

[arrays.A_main]
rows = [0, 1]
cols = [0, 3]

[arrays.A_ref]
rows = [1, 2]
cols = [0, 3]
"""


def load(text: str):
    return load_bench_config(Path("bench.toml"), KNOWN, text=text)


def test_good_config_loads() -> None:
    cfg = load(GOOD)
    assert cfg.name == "test-bench"
    assert cfg.limits.max_pulse_amplitude == 4.0
    assert cfg.limits.max_pulses_per_call == 1000 and isinstance(cfg.limits.max_pulses_per_call, int)
    assert cfg.read_voltage == 0.1
    assert cfg.instrument("matrix").options == {"slots": 1}
    assert cfg.chip_shape == (2, 3)
    assert cfg.pad("gate", 1, 2) == 6 and cfg.pad("source", 1, 2) == 13
    assert cfg.arrays["A_ref"].shape == (1, 3)
    assert cfg.wiring == {"smu_hi": 1, "smu_lo": 2, "pulse_out": 3, "pulse_ref": 4}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def assert_refused(text: str, message: str, line_needle: str) -> None:
    """Loading text raises a BenchConfigError that names the problem and the line it is on."""
    with pytest.raises(BenchConfigError) as info:
        load(text)
    assert message in str(info.value)
    assert f"line {line_of(text, line_needle)}:" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "message", "line_needle"),
    [
        (
            'driver = "keithley2450"',
            'driver = "keithley9999"',
            "unknown driver 'keithley9999'",
            "keithley9999",
        ),
        (
            'driver = "keithley2450"',
            'driver = "keithley707b"',
            "is a matrix, not a smu",
            'driver = "keithley707b"',
        ),
        (
            "drain = [[7, 8, 9], [10, 11, 12]]",
            "drain = [[7, 8, 9], [10, 11, 11]]",
            "pad 11 is given to two",
            "drain =",
        ),
        (
            "drain = [[7, 8, 9], [10, 11, 12]]",
            "drain = [[7, 8, 9], [10, 11, 6]]",
            "pad 6 is wired to both",
            "drain =",
        ),
        ("drain = [[7, 8, 9], [10, 11, 12]]", "drain = [[7, 8, 9]]", "2 x 3 table of pads", "drain ="),
        ("max_pulse_amplitude = 4.0\n", "", "missing max_pulse_amplitude", "[limits]"),
        ("max_read_voltage = 0.2", "max_read_voltage = -0.2", "must be > 0", "max_read_voltage"),
        ("voltage = 0.1", "voltage = 0.5", "must be > 0 and <= max_read_voltage", "voltage = 0.5"),
        ("pulse_ref = 4", "pulse_ref = 1", "matrix row 1 is already used by smu_hi", "pulse_ref"),
        ("rows = [1, 2]", "rows = [0, 2]", "overlaps array 'A_main'", "[arrays.A_ref]"),
        (
            "cols = [0, 3]\n\n[arrays.A_ref]",
            "cols = [0, 4]\n\n[arrays.A_ref]",
            "0 <= start < stop <= 3",
            "cols = [0, 4]",
        ),
        ("max_pulses_per_call = 1000", "max_pulses_per_call = 10.5", "whole number", "max_pulses_per_call"),
        ('[bench]\nname = "test-bench"', '[bench]\nname = "test-bench"\n[bogus]', "unknown table", "[bogus]"),
    ],
)
def test_bad_configs_name_line_and_problem(old: str, new: str, message: str, line_needle: str) -> None:
    assert old in GOOD
    assert_refused(GOOD.replace(old, new, 1), message, line_needle)


def test_missing_instrument_and_bad_toml() -> None:
    text = re.sub(r"\[instruments\.matrix\][^\[]*", "", GOOD)
    with pytest.raises(BenchConfigError, match=r"missing table \[instruments.matrix\]"):
        load(text)
    with pytest.raises(BenchConfigError, match="not valid TOML"):
        load(GOOD + "\n[chip\n")


def test_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BenchConfigError, match="cannot read bench configuration"):
        load_bench_config(tmp_path / "absent.toml")


def test_trigger_cable_between_smu_and_pulser_is_optional_and_checked() -> None:
    assert load(GOOD).smu_to_pulser is None
    config = load(GOOD + "\n[triggers]\nsmu_to_pulser = 2\n")
    assert config.smu_to_pulser == 2
    assert config.describe()["triggers"] == {"smu_to_pulser": 2, "smu_to_switch": None, "switch_ready": None}
    for bad, message in (
        ("smu_to_pulser = 0", "1 to 14"),
        ("smu_to_pulser = true", "1 to 14"),
        ("smu_to_pulser = 1.5", "1 to 14"),
        ("pulser_to_smu = 1", "unknown trigger cable"),
    ):
        assert_refused(GOOD + f"\n[triggers]\n{bad}\n", message, bad)


def test_trigger_cable_between_smu_and_switch_names_both_ends_and_is_checked() -> None:
    assert load(GOOD).smu_to_switch is None
    config = load(GOOD + "\n[triggers]\nsmu_to_pulser = 1\nsmu_to_switch = { smu = 2, switch = 14 }\n")
    assert config.smu_to_switch == SwitchCable(smu=2, switch=14)
    assert config.describe()["triggers"] == {
        "smu_to_pulser": 1,
        "smu_to_switch": {"smu": 2, "switch": 14},
        "switch_ready": None,
    }
    ends = "smu = <the SMU's digital I/O line, 1 to 14>, switch = <the switch matrix's digital I/O line"
    for bad, message in (
        ("smu_to_switch = 2", ends),  # one number cannot say which matrix line the cable reaches
        ("smu_to_switch = { smu = 2 }", ends),
        ("smu_to_switch = { smu = 2, switch = 15 }", ends),
        ("smu_to_switch = { smu = 0, switch = 1 }", ends),
        ("smu_to_switch = { smu = 2, switch = true }", ends),
        ("smu_to_switch = { smu = 2, switch = 1, speed = 3 }", ends),
        ("smu_to_switch = { smu = 1, switch = 3 }", "line 1 is already cabled to the pulse generator"),
        ("switch_to_smu = 1", "expected smu_to_pulser, smu_to_switch or switch_ready"),
    ):
        assert_refused(GOOD + f"\n[triggers]\nsmu_to_pulser = 1\n{bad}\n", message, bad)
