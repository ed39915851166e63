"""The bench-file loader refuses limits the named instruments cannot honour, at their line,
from the drivers' own windows, before anything is connected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drivers.registry import DRIVERS, known_drivers, limit_problems
from hil.benchconfig import BenchConfigError, load_bench_config

SHIPPED = Path(__file__).resolve().parents[2] / "simulators/virtual/benches/virtual-bench.toml"


def _edited(**changes: str) -> str:
    """The shipped virtual bench's text with `key = value` lines replaced."""
    # The shipped file's [gate_load] table goes: the tests below state their own.
    text = re.sub(r"(?ms)^\[gate_load\]\n.*?(?=^\[|\Z)", "", SHIPPED.read_text())
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
        assert n == 1, key
    return text


def _line_of(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key} ="))


def test_the_shipped_bench_loads_with_the_drivers_checks() -> None:
    config = load_bench_config(SHIPPED, known_drivers())
    assert limit_problems(config) == []


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("max_pulse_amplitude", "50.0", "50 V is more than the keysight33500b can make into a high-imp"),
        ("current_compliance", "10", "10 A is outside what the keithley2450 accepts (1e-09 to 1.05 A)"),
        ("max_pulse_width", "1e-8", "5e-09-1e-08 s lie outside the keysight33500b's range (1.6e-08 to"),
    ],
)
def test_a_limit_the_instrument_cannot_honour_is_refused_at_its_line(key: str, value: str, says: str) -> None:
    text = _edited(**{key: value}, **({"min_pulse_width": "5e-9"} if key == "max_pulse_width" else {}))
    with pytest.raises(BenchConfigError) as refused:
        load_bench_config("bench.toml", known_drivers(), text=text)
    message = str(refused.value)
    assert message.startswith(f"bench.toml, line {_line_of(text, key)}: [limits] {key}: ")
    assert says in message


def test_the_pulse_generator_reach_depends_on_its_load() -> None:
    """Into 50 ohms a 10 V open-circuit source with 50 ohms inside makes 5 V at the load; the
    load is what [gate_load] states (a high-impedance gate with a 50 ohm terminator here), and
    it becomes the generator's load_ohms."""
    text = _edited(max_pulse_amplitude="6.0") + '\n[gate_load]\nimpedance = "high"\ntermination = 50\n'
    with pytest.raises(BenchConfigError, match=r"6 V is more than .* into 50 ohms \(5 V\)"):
        load_bench_config("bench.toml", known_drivers(), text=text)
    config = load_bench_config("bench.toml", known_drivers(), text=text.replace("= 6.0", "= 5.0", 1))
    assert config.limits.max_pulse_amplitude == 5.0
    assert config.instrument("pulser").options["load_ohms"] == 50.0
    assert (
        "load_ohms"
        not in load_bench_config("bench.toml", known_drivers(), text=_edited()).instrument("pulser").options
    )  # no [gate_load]: a high-impedance gate, programmed levels are the gate's


@pytest.mark.parametrize(
    "gate_load", ["", '\n[gate_load]\nimpedance = "high"\n', "\n[gate_load]\nimpedance = 1e6\n"]
)
def test_50_ohm_declared_into_a_high_impedance_gate_is_refused(gate_load: str) -> None:
    """load_ohms = 50 with a gate that is not terminated: the gate would see twice the level."""
    text = (
        _edited(max_pulse_amplitude="4.0").replace(
            'driver = "keysight33500b"', 'driver = "keysight33500b"\noptions = { load_ohms = 50 }'
        )
        + gate_load
    )
    with pytest.raises(BenchConfigError, match=r"load_ohms = 50 disagrees .* (twice|another level)"):
        load_bench_config("bench.toml", known_drivers(), text=text)
    terminated = text.replace(gate_load, "") + '\n[gate_load]\nimpedance = "high"\ntermination = 50\n'
    assert load_bench_config("bench.toml", known_drivers(), text=terminated).gate_load.ohms == 50.0


def test_every_problem_is_named_and_the_first_gives_the_line() -> None:
    text = _edited(max_pulse_amplitude="50.0", current_compliance="10")
    with pytest.raises(BenchConfigError) as refused:
        load_bench_config("bench.toml", known_drivers(), text=text)
    message = str(refused.value)
    assert "[limits] current_compliance" in message and "[limits] max_pulse_amplitude" in message


def test_without_the_drivers_the_loader_checks_the_roles_only() -> None:
    """A loader given roles alone cannot know the windows: the bench refuses at connect instead."""
    roles = {name: entry.role for name, entry in DRIVERS.items()}
    config = load_bench_config("bench.toml", roles, text=_edited(current_compliance="10"))
    assert limit_problems(config) == [
        "[limits] current_compliance: 10 A is outside what the keithley2450 accepts (1e-09 to 1.05 A); "
        "choose a value inside it"
    ]
