"""Protocols through the drivers on the virtual bench agree with the bare simulator of the same chip.

The virtual bench's arrays are SimulatedChip(seed).array(name, shape), so the bare simulator
with the same seed has the same devices; the bench adds the wire: routing, 7-digit SMU
readings, bursts per group of devices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil import Pulse
from protocols.jumptable import measure_jump_table
from protocols.symmetry import find_symmetry_point
from protocols.training.datasets import load_dataset
from protocols.training.network import MLPSpec
from protocols.training.preparation import CalibrationSettings
from protocols.training.shd import SHDConfig, train_shd
from simulators.chip import SimulatedChip
from simulators.virtual.launch import BENCHES, virtual_bench
from tests.backends import hardware_bench, one_array_bench
from tests.hardware.conftest import assert_safe

SEED = 11
# 6 V x 20 ns: pulse factor 4 on the protonic-asymmetric preset (the 33500B's pulses last
# >= 16 ns), so a device relaxes to its symmetry point in 1 / (4 (a+ + a-)) ~ 55 pairs.
PULSE = Pulse(6.0, 20e-9)
# Two independent estimates agree within this many combined standard errors; for a normal
# difference a false failure has probability 6e-5 per device.
K_SE = 4.0


@pytest.mark.slow
def test_symmetry_point_agrees_with_the_bare_simulator() -> None:
    shape = (2, 2)
    with virtual_bench(one_array_bench(shape), seed=SEED) as (vb, cfg), hardware_bench(vb, cfg) as bench:
        hw = find_symmetry_point(bench.array("A", shape), PULSE, max_pairs=60, window=20)
    assert_safe(vb)
    bare = find_symmetry_point(SimulatedChip(seed=SEED).array("A", shape), PULSE, max_pairs=60, window=20)
    assert hw.pairs_used == bare.pairs_used == 60
    se = np.hypot(hw.g_sym_std, bare.g_sym_std)
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    assert np.all(np.abs(hw.g_sym - bare.g_sym) <= K_SE * se)
    # The step near the point: mean of 2 x 20 single steps each; same bound from their spread.
    step_se = np.std(np.diff(hw.history["g_up"][-20:], axis=0), axis=0) / np.sqrt(40)
    assert np.all(np.abs(hw.step - bare.step) <= K_SE * np.hypot(step_se, step_se))


@pytest.mark.slow
def test_jump_table_agrees_with_the_bare_simulator() -> None:
    shape, devices = (2, 2), [(0, 0), (1, 1)]
    settings = {"n_cycles": 2, "n_up": 30, "n_bins": 6, "noise_reads": 4, "g_range": (2e-6, 19e-6)}
    with virtual_bench(one_array_bench(shape), seed=SEED) as (vb, cfg), hardware_bench(vb, cfg) as bench:
        hw = measure_jump_table(bench.array("A", shape), PULSE, devices, **settings)
    bare = measure_jump_table(SimulatedChip(seed=SEED).array("A", shape), PULSE, devices, **settings)
    for direction in (1, -1):
        n_hw = hw.table.up_counts if direction > 0 else hw.table.down_counts
        n_bare = bare.table.up_counts if direction > 0 else bare.table.down_counts
        used = (n_hw >= 10) & (n_bare >= 10)
        assert used.any()
        # Standard error of a median: sqrt(pi / 2) sigma / sqrt(n) for normal samples, with the
        # table's spread (half the 16-84 % range) as sigma.
        se_hw = np.sqrt(np.pi / 2) * hw.table.spread(direction)[used] / np.sqrt(n_hw[used])
        se_bare = np.sqrt(np.pi / 2) * bare.table.spread(direction)[used] / np.sqrt(n_bare[used])
        diff = hw.table.median(direction)[used] - bare.table.median(direction)[used]
        assert np.all(np.abs(diff) <= K_SE * np.hypot(se_hw, se_bare))
        assert np.all(np.sign(hw.table.median(direction)[used]) == direction)


@pytest.mark.slow
def test_shd_trains_on_iris_through_the_drivers_and_counts_transactions() -> None:
    full = load_dataset("iris", seed=0)
    # A smoke run: 12 training and 6 test samples, one epoch, short calibration.
    data = dataclasses.replace(full, x_train=full.x_train[:12], y_train=full.y_train[:12],
                               x_test=full.x_test[:6], y_test=full.y_test[:6])  # fmt: skip
    cal = CalibrationSettings(symmetry_max_pairs=10, symmetry_window=5, program_max_iterations=5)
    config = SHDConfig(epochs=1, eta_a=0.1, eta_c=0.1, init_scale=0.5, calibration=cal)
    with (
        virtual_bench(BENCHES / "virtual-bench-iris.toml", seed=SEED) as (vb, bench_config),
        hardware_bench(vb, bench_config) as bench,
    ):
        opened = bench.transactions()
        result = train_shd(bench.array, MLPSpec((4, 4, 3)), data, PULSE, config)
        for role in ("smu", "pulser", "matrix"):
            bench.drivers[role].ask("*IDN?")  # every write has been served
        now = bench.transactions()
        used = {role: {k: v - opened[role][k] for k, v in now[role].items()} for role in now}
        ops = bench.operations()
        described = bench.describe()
    assert_safe(vb)
    assert [e.epoch for e in result.epochs] == [0, 1] and np.isfinite(result.final.train_loss)
    assert set(ops) == {f"L{i}.{p}" for i in (0, 1) for p in ("A_main", "A_ref", "C_main")}
    device_reads = sum(o["device_reads"] for o in ops.values())
    read_calls = sum(o["read_calls"] for o in ops.values())
    groups = sum(o["pulse_groups"] for o in ops.values())
    # Every device reading is one query (output on once the device is routed, :READ?, output off,
    # the error count), plus the *IDN? above; every burst is one *OPC? on the generator among its
    # queries.
    assert used["smu"]["queries"] == device_reads + 1 and read_calls > 0
    assert used["pulser"]["queries"] >= groups > 0
    # The relay board answers every command: at least one per device read (its drain), one per group.
    assert used["matrix"]["writes"] == 0 and used["matrix"]["queries"] >= device_reads + groups
    assert result.ops.pulses > 0 and described["transactions"]["smu"]["queries"] > used["smu"]["queries"]
    assert vb.chip.violations == []
