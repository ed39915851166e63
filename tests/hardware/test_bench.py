"""HardwareBench and HardwareCrossbar through the real drivers on the virtual bench."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from drivers.bench import HardwareBench, check_bench, format_check_table
from drivers.crossbar import HardwareCrossbar
from drivers.registry import known_drivers
from hil import Pulse
from hil.benchconfig import load_bench_config
from protocols.training.network import MLPSpec
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import BENCHES, virtual_bench
from tests.backends import hardware_bench, one_array_bench
from tests.hardware.conftest import SHAPE, assert_safe

# The 2450 answers with 7 significant digits: a reading is within 5e-7 of the current.
RESOLUTION = 1e-6
PULSE = Pulse(4.75, 20e-9)


def messages(vb: VirtualBench) -> dict[str, int]:
    return {name: inst.transactions for name, inst in vb.instruments.items()}


def synced(bench: HardwareBench, vb: VirtualBench) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Both ends' counts once every instrument has answered a query on the drivers' own
    connections (a write is not acknowledged, so the server may not have processed it yet)."""
    for role in ("smu", "pulser", "matrix"):
        bench.drivers[role].ask("*IDN?")
    return bench.transactions(), messages(vb)


def test_array_names_and_shapes_are_checked(bench: HardwareBench) -> None:
    with pytest.raises(ValueError, match=r"no array 'B'; configured: A 2x3"):
        bench.array("B", SHAPE)
    with pytest.raises(ValueError, match=r"is 2 x 3, asked for \(3, 2\); configured: A 2x3"):
        bench.array("A", (3, 2))
    a = bench.array("A", SHAPE)
    assert isinstance(a, HardwareCrossbar) and bench.array("A", SHAPE) is a
    assert a.capabilities.physical_vmm is False and a.capabilities.parallel_pulses is True


def test_reads_are_the_devices_conductances(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    true = vb.chip.arrays["A"].conductance
    g = bench.array("A", SHAPE).read()
    # Each reading carries the simulated read noise, sigma = 5e-4 of the 19 uS range (9.5 nS);
    # 5 sigma bounds all six devices (false failure 6e-7 per device).
    sigma = 5e-4 * 19e-6
    np.testing.assert_allclose(g, true, rtol=0, atol=5 * sigma)
    assert_safe(vb)  # a read leaves the outputs off and the switches open
    assert vb.chip.violations == []


def test_transactions_are_counted_on_both_ends(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    sent, seen = synced(bench, vb)
    a.read()
    counts = np.zeros(SHAPE, dtype=np.int64)
    counts[0, 0], counts[1, 2], counts[0, 1] = 2, 2, -1
    a.apply_pulses(counts, PULSE)
    after, served = synced(bench, vb)
    names = {"smu": "smu", "pulser": "pulse_generator", "matrix": "switch_matrix"}
    for role, name in names.items():
        total = sum(after[role].values()) - sum(sent[role].values())
        assert total == served[name] - seen[name] > 0  # every message the drivers sent arrived
    # Per device one query (output on once the device is routed, :READ?, output off, the error
    # count), and the *IDN? of synced().
    assert after["smu"]["queries"] - sent["smu"]["queries"] == a.operations["device_reads"] + 1 == 7
    assert a.operations["pulse_groups"] == 2  # +2 (two devices) and -1
    # Every burst is one *TRG;*WAI and one *OPC? (the 33500B waits for the burst).
    triggers = [m for m in list(vb.pulse_generator.received) if m.startswith("*TRG")]
    assert len(triggers) == 2
    json.dumps(bench.describe())


def test_pulses_reach_exactly_the_grouped_devices(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    counts = np.array([[3, 0, -2], [3, 1, 0]])
    bench.array("A", SHAPE).apply_pulses(counts, PULSE)
    got = {(p.row, p.col): p.count for p in vb.chip.pulse_log}
    assert got == {(0, 0): 3, (1, 0): 3, (0, 2): -2, (1, 1): 1}
    assert {(p.amplitude, p.width) for p in vb.chip.pulse_log} == {(4.75, 20e-9)}
    assert vb.chip.violations == [] and vb.chip.unrouted_pulses == 0
    assert_safe(vb)


def test_pulse_groups_order_polarities() -> None:
    groups = HardwareCrossbar.pulse_groups(np.array([[-1, 2], [2, 5], [-3, 0]]))
    assert [(g.count, g.devices) for g in groups] == [
        (2, ((0, 1), (1, 0))), (5, ((1, 1),)), (-1, ((0, 0),)), (-3, ((2, 0),))
    ]  # fmt: skip


def test_check_table_and_describe(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    rows = bench.check()
    # The test bench file does not state its gate load: that row asks for it, the rest pass.
    assert all(r.status == "ok" for r in rows if r.check != "gate load"), format_check_table(rows)
    assert [r.status for r in rows if r.check == "gate load"] == ["warn"]
    assert {r.check for r in rows} >= {"identity (*IDN?)", "all open", "route smu_hi -> pad 7 (drain)"}
    table = format_check_table(rows)
    assert table.splitlines()[0].split() == ["instrument", "check", "status", "detail"]
    assert "Model 707B" in table and "MODEL 2450" in table
    d = bench.describe()
    assert d["instruments"]["pulser"]["identity"].startswith("Keysight Technologies,33522B")
    assert set(d["transactions"]) == {"smu", "pulser", "matrix"}
    assert_safe(vb)


def test_check_reports_an_unreachable_instrument() -> None:
    config = one_array_bench(SHAPE)
    with virtual_bench(config) as (vb, live):
        port = vb.port("smu")
    smu = replace(live.instruments["smu"], address=f"TCPIP0::127.0.0.1::{port}::SOCKET")  # server stopped
    rows = check_bench(replace(live, instruments={**live.instruments, "smu": smu}))
    assert len(rows) == 1 and rows[0].status == "FAIL"
    assert "the smu (keithley2450 at TCPIP0::127.0.0.1::" in rows[0].detail


def test_matrix_too_small_for_the_pads_is_refused() -> None:
    config = one_array_bench(SHAPE)
    with virtual_bench(config) as (vb, live):
        small = replace(live.instruments["matrix"], options={"slots": 1})
        with (
            pytest.raises(ValueError, match=r"12 columns; .* pads up to 13: fit more matrix cards"),
            hardware_bench(vb, replace(live, instruments={**live.instruments, "matrix": small})),
        ):
            pass
        assert_safe(vb)


def test_shipped_benches_provide_the_demo_arrays() -> None:
    demo = load_bench_config(BENCHES / "virtual-bench.toml", known_drivers())
    assert demo.arrays["A_main"].shape == (4, 4)
    iris = load_bench_config(BENCHES / "virtual-bench-iris.toml", known_drivers())
    for i, shape in enumerate(MLPSpec((4, 4, 3)).layer_shapes):  # what train_shd asks for on Iris
        for part in ("A_main", "A_ref", "C_main"):
            assert iris.arrays[f"L{i}.{part}"].shape == shape
    assert iris.arrays["A_main"].shape == (4, 4)


@pytest.mark.parametrize("name", ["virtual-bench.toml", "virtual-bench-iris.toml"])
def test_shipped_benches_start_and_read(name: str) -> None:
    with virtual_bench(BENCHES / name, seed=1) as (vb, config), hardware_bench(vb, config) as bench:
        assert all(r.status == "ok" for r in bench.check())
        g = bench.array("A_main", (4, 4)).read()
        # read noise sigma 9.5 nS (5e-4 of the range); 5 sigma per device
        np.testing.assert_allclose(g, vb.chip.arrays["A_main"].conductance, rtol=0, atol=5 * 9.5e-9)
    assert_safe(vb)
