"""The wiring model: nets, the resistor-network read, pulse routing, stress bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from hil import benchconfig
from hil.mock import IdealCrossbar
from hil.pulses import SafetyLimits
from simulators.virtual import VirtualBench, wiring
from simulators.virtual.wiring import (
    AWG_CH1,
    GND,
    SMU_HI,
    SMU_LO,
    DevicePads,
    PinMap,
    VirtualChip,
    rows_from_wiring,
)
from tests.virtual.conftest import G0, G_STEP

V = 0.1  # volts


def route(chip: VirtualChip, *pairs: tuple[str, int]) -> None:
    chip.set_crosspoints("test", pairs)


def test_default_pin_map_layout() -> None:
    pins = PinMap.discrete({"A": (2, 3), "B": (1, 1)})
    assert pins.pads("A", 0, 0) == DevicePads(gate=1, drain=7, source=13)
    assert pins.pads("A", 1, 2) == DevicePads(gate=6, drain=12, source=13)
    assert pins.pads("B", 0, 0) == DevicePads(gate=14, drain=15, source=16)
    assert pins.n_pads == 16


def test_pin_map_refuses_a_pad_that_is_gate_and_channel() -> None:
    with pytest.raises(ValueError, match="both a gate and a drain/source pad"):
        PinMap({("A", 0, 0): DevicePads(1, 2, 3), ("A", 0, 1): DevicePads(3, 4, 5)})
    with pytest.raises(ValueError, match="three different pads"):
        PinMap({("A", 0, 0): DevicePads(1, 1, 3)})


def test_pin_map_and_rows_from_the_bench_config_example() -> None:
    doc = benchconfig.__doc__
    text = "\n".join(line[4:] for line in doc[doc.index("    [bench]") :].splitlines())
    config = benchconfig.load_bench_config("example.toml", text=text)
    pins = PinMap.from_bench_config(config)
    assert pins.pads("A_main", 0, 1) == DevicePads(gate=2, drain=6, source=9)
    assert rows_from_wiring(config.wiring) == (SMU_HI, SMU_LO, AWG_CH1, GND)
    bench = VirtualBench.from_bench_config(config, {"A_main": IdealCrossbar((1, 2))})
    assert bench.row(GND) == 4 and bench.relay_matrix.n_rows == 4
    with pytest.raises(ValueError, match=r"needs a backend of shape \(1, 2\)"):
        VirtualBench.from_bench_config(config, {"A_main": IdealCrossbar((2, 2))})


def test_read_of_one_routed_device_is_ohms_law(chip: VirtualChip) -> None:
    p = chip.pins.pads("A", 1, 2)
    route(chip, (SMU_HI, p.drain), (SMU_LO, p.source))
    r = chip.measure_smu("VOLT", V, 1e-3)
    assert r.voltage == V and not r.limited
    assert r.current == pytest.approx(G0[1, 2] * V, rel=1e-12)


def test_nothing_routed_reads_zero(chip: VirtualChip) -> None:
    assert chip.measure_smu("VOLT", V, 1e-3).current == 0.0
    p = chip.pins.pads("A", 0, 0)
    route(chip, (SMU_HI, p.drain))  # LO open: no return path
    assert chip.measure_smu("VOLT", V, 1e-3).current == 0.0


def test_parallel_devices_add_and_series_devices_divide(chip: VirtualChip) -> None:
    a, b = chip.pins.pads("A", 0, 1), chip.pins.pads("A", 1, 0)
    route(chip, (SMU_HI, a.drain), (SMU_HI, b.drain), (SMU_LO, a.source))
    assert chip.measure_smu("VOLT", V, 1e-3).current == pytest.approx((G0[0, 1] + G0[1, 0]) * V, rel=1e-12)
    # HI and LO on two drains: the two devices are in series through the common source.
    route(chip, (SMU_HI, a.drain), (SMU_LO, b.drain))
    series = G0[0, 1] * G0[1, 0] / (G0[0, 1] + G0[1, 0])
    assert chip.measure_smu("VOLT", V, 1e-3).current == pytest.approx(series * V, rel=1e-12)


def test_sneak_path_in_a_passive_crossbar_pin_map() -> None:
    # Row lines carry the drains, column lines the sources (a passive 2 x 2 crossbar).
    g = np.array([[1.0, 2.0], [3.0, 4.0]]) * 1e-6
    pins = PinMap(
        {
            ("X", r, c): DevicePads(gate=10 + 2 * r + c, drain=1 + r, source=3 + c)
            for r in range(2)
            for c in range(2)
        }
    )
    chip = VirtualChip({"X": IdealCrossbar((2, 2), g_init=g)}, pins)
    route(chip, (SMU_HI, 1), (SMU_LO, 3))  # read (0, 0) with the other lines floating
    sneak = 1 / (1 / g[0, 1] + 1 / g[1, 1] + 1 / g[1, 0])
    assert chip.measure_smu("VOLT", V, 1e-3).current == pytest.approx((g[0, 0] + sneak) * V, rel=1e-9)
    route(chip, (SMU_HI, 1), (SMU_LO, 3), (GND, 2), (GND, 4))  # ground the other lines
    assert chip.measure_smu("VOLT", V, 1e-3).current == pytest.approx((g[0, 0] + g[0, 1]) * V, rel=1e-9)


def test_compliance_clamps_current_and_drops_the_voltage(chip: VirtualChip) -> None:
    p = chip.pins.pads("A", 1, 1)
    route(chip, (SMU_HI, p.drain), (SMU_LO, p.source))
    limit = 0.5 * G0[1, 1] * V
    r = chip.measure_smu("VOLT", V, limit)
    assert r.limited and r.current == limit
    assert r.voltage == pytest.approx(limit / G0[1, 1], rel=1e-12)
    r = chip.measure_smu("CURR", 1e-7, 21.0)  # current source: V = I / G
    assert not r.limited and r.voltage == pytest.approx(1e-7 / G0[1, 1], rel=1e-12)


def test_short_circuit_reads_the_limit_and_is_recorded(chip: VirtualChip) -> None:
    p = chip.pins.pads("A", 0, 0)
    route(chip, (SMU_HI, p.drain), (GND, p.drain))
    r = chip.measure_smu("VOLT", V, 1e-4)
    assert r.limited and r.current == 1e-4
    assert any("SMU HI is connected to GND" in v for v in chip.violations)


def test_read_bias_above_the_limit_is_recorded(chip: VirtualChip, array: IdealCrossbar) -> None:
    p = chip.pins.pads("A", 0, 2)
    route(chip, (SMU_HI, p.drain), (SMU_LO, p.source))
    chip.measure_smu("VOLT", array.limits.max_read_voltage, 1e-3)
    assert chip.violations == []
    chip.measure_smu("VOLT", 2 * array.limits.max_read_voltage, 1e-3)
    assert len(chip.violations) == 1 and "exceeds max_read_voltage" in chip.violations[0]


def test_pulses_reach_only_the_routed_gate(chip: VirtualChip, array: IdealCrossbar) -> None:
    p = chip.pins.pads("A", 0, 1)
    route(chip, (AWG_CH1, p.gate))
    chip.fire(AWG_CH1, 7, 3.0, 1e-6)
    expected = G0.copy()
    expected[0, 1] += 7 * G_STEP
    np.testing.assert_allclose(array.g, expected, rtol=0, atol=1e-18)
    chip.fire(AWG_CH1, 2, -3.0, 1e-6)  # negative gate pulses depress
    expected[0, 1] -= 2 * G_STEP
    np.testing.assert_allclose(array.g, expected, rtol=0, atol=1e-18)
    assert [(r.row, r.col, r.count, r.applied) for r in chip.pulse_log] == [(0, 1, 7, True), (0, 1, -2, True)]


def test_unrouted_pulses_change_nothing(chip: VirtualChip, array: IdealCrossbar) -> None:
    p = chip.pins.pads("A", 1, 1)
    route(chip, (AWG_CH1, p.gate))
    chip.fire(wiring.AWG_CH2, 5, 3.0, 1e-6)  # the other output is not routed
    route(chip)
    chip.fire(AWG_CH1, 5, 3.0, 1e-6)
    np.testing.assert_array_equal(array.g, G0)
    assert chip.unrouted_pulses == 10 and chip.pulse_log == []


def test_stuck_device_ignores_pulses(chip: VirtualChip, array: IdealCrossbar) -> None:
    a, b = chip.pins.pads("A", 0, 0), chip.pins.pads("A", 0, 2)
    route(chip, (AWG_CH1, a.gate), (AWG_CH1, b.gate))
    chip.stuck.add(("A", 0, 0))
    chip.fire(AWG_CH1, 4, 3.0, 1e-6)
    assert array.g[0, 0] == G0[0, 0]
    assert array.g[0, 2] == pytest.approx(G0[0, 2] + 4 * G_STEP, abs=1e-18)
    assert {(r.col, r.applied) for r in chip.pulse_log} == {(0, False), (2, True)}


def test_over_limit_pulse_is_recorded_not_applied() -> None:
    array = IdealCrossbar((1, 1), g_init=5e-6, limits=SafetyLimits(max_pulse_amplitude=2.0))
    chip = VirtualChip({"A": array})
    route(chip, (AWG_CH1, chip.pins.pads("A", 0, 0).gate))
    chip.fire(AWG_CH1, 3, 2.5, 1e-6)
    assert array.g[0, 0] == 5e-6
    assert len(chip.violations) == 1 and "refused pulses of 2.5 V" in chip.violations[0]


def test_long_burst_is_split_at_max_pulses_per_call() -> None:
    array = IdealCrossbar(
        (1, 1), g_min=0.1, g_max=1.0, g_step=1e-9, g_init=0.5, limits=SafetyLimits(max_pulses_per_call=10)
    )
    chip = VirtualChip({"A": array})
    route(chip, (AWG_CH1, chip.pins.pads("A", 0, 0).gate))
    chip.fire(AWG_CH1, 25, 3.0, 1e-6)
    assert array.g[0, 0] == pytest.approx(0.5 + 25e-9, abs=1e-15)
    assert array.calls["apply_pulses"] == 3


def test_wrong_wiring_is_recorded(chip: VirtualChip) -> None:
    p = chip.pins.pads("A", 1, 0)
    route(chip, (AWG_CH1, p.drain))
    chip.fire(AWG_CH1, 1, 3.0, 1e-6)
    route(chip, (AWG_CH1, p.gate))
    chip.set_level(AWG_CH1, -0.2)  # a pulse generator idling at -0.2 V
    assert any("reach the drain/source of device ('A', 1, 0)" in v for v in chip.violations)
    bias = "DC bias of -0.2 V from AWG.CH1 on the gate of device ('A', 1, 0)"
    assert any(bias in v for v in chip.violations)


def test_free_running_output_accrues_pulses(
    chip: VirtualChip, array: IdealCrossbar, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(wiring.time, "monotonic", lambda: now[0])
    route(chip, (AWG_CH1, chip.pins.pads("A", 0, 0).gate))
    chip.set_drive(AWG_CH1, rate=1024.0, peak=3.0, width=1e-6)  # binary-exact times below
    now[0] += 10.5 / 1024  # 10.5 pulses
    chip.measure_smu("VOLT", V, 1e-3)  # any chip operation delivers what accrued
    assert array.g[0, 0] == pytest.approx(G0[0, 0] + 10 * G_STEP, abs=1e-18)
    now[0] += 0.5 / 1024  # the carried half pulse completes the 11th
    chip.clear_drive(AWG_CH1)
    now[0] += 1.0
    chip.measure_smu("VOLT", V, 1e-3)
    assert array.g[0, 0] == pytest.approx(G0[0, 0] + 11 * G_STEP, abs=1e-18)
