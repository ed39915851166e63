"""The table-driven device model: construction defaults, symmetry point, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hil import Pulse
from hil.jumptable import JumpTable
from simulators.chip import SimulatedChip
from simulators.crossbar import SimulatedCrossbar

TABLE_PULSE = Pulse(6.0, 5e-9)


def linear_table(pulse: Pulse | None = TABLE_PULSE) -> JumpTable:
    """Uniformly distributed steps (width 4 nS) around linear means in G: up 40 nS (G_max - G)/range,
    down 20 nS (G - G_min)/range, so the mean steps cross at G_sym = (40 G_max + 20 G_min) / 60."""
    edges = np.linspace(1e-6, 20e-6, 11)
    centers = 0.5 * (edges[1:] + edges[:-1])
    frac = (centers - 1e-6) / 19e-6
    levels = np.linspace(0, 1, 5)
    spread = 4e-9 * (levels - 0.5)
    up = (40e-9 * (1 - frac))[:, None] + spread
    down = (-20e-9 * frac)[:, None] + spread
    counts = np.full(10, 100)
    return JumpTable(edges, levels, up, down, counts, counts, pulse)


def test_defaults_follow_the_table() -> None:
    table = linear_table()
    sim = SimulatedCrossbar.from_jump_table(table, (3, 3), seed=0)
    c = sim.config
    assert c.model == "table" and (c.g_min, c.g_max) == (1e-6, 20e-6)
    assert sim.nominal_pulse == table.pulse and sim.pulse_factor(table.pulse) == 1.0
    assert c.read_noise == c.c2c_noise == c.dtod_step == c.stuck_fraction == 0.0
    d = sim.describe()["simulator"]["jump_table"]
    assert d["n_bins"] == 10 and d["up_samples"] == 1000
    no_pulse = SimulatedCrossbar.from_jump_table(linear_table(None), (2, 2), seed=0)
    assert no_pulse.nominal_pulse == Pulse(6.0, 5e-9)  # the presets' pulse response


def test_table_symmetry_point_is_the_crossing_of_mean_steps() -> None:
    sim = SimulatedCrossbar.from_jump_table(linear_table(), (2, 2), seed=0)
    # Means are linear in G and the crossing is interpolated linearly between bin centres: exact.
    np.testing.assert_allclose(sim.symmetry_points(), (40 * 20e-6 + 20 * 1e-6) / 60, rtol=1e-12)
    # Per-device multipliers move it: up steps x2 give (80 G_max + 20 G_min) / 100.
    doubled = SimulatedCrossbar.from_jump_table(linear_table(), (1, 1), seed=0, step_up=2.0)
    np.testing.assert_allclose(doubled.symmetry_points(), (80 * 20e-6 + 20 * 1e-6) / 100, rtol=1e-12)
    # Variation gives each device its own point.
    varied = SimulatedCrossbar.from_jump_table(linear_table(), (5, 5), seed=0, dtod_imbalance=0.2)
    assert np.unique(varied.symmetry_points()).size == 25


def test_table_steps_are_scaled_by_multipliers_and_clipped_at_the_bounds() -> None:
    sim = SimulatedCrossbar.from_jump_table(linear_table(), (1, 2), seed=0, step_down=0.5)
    center = 1e-6 + 4.5 * 1.9e-6  # bin 4's centre: the table's mean is its line's value there
    sim.set_conductance(center)
    up, down = sim.expected_step(sim.nominal_pulse)
    bin_frac = (center - 1e-6) / 19e-6
    np.testing.assert_allclose(up, 40e-9 * (1 - bin_frac), rtol=1e-12)
    np.testing.assert_allclose(down, 0.5 * 20e-9 * bin_frac, rtol=1e-12)
    sim.apply_pulses(np.array([[1, -1]]), Pulse(9.0, 1e-6))  # m ~ 4000: one step overshoots the range
    np.testing.assert_allclose(sim.conductance, [[20e-6, 1e-6]], rtol=1e-12)


def test_table_chip() -> None:
    chip = SimulatedChip.from_jump_table(linear_table(), seed=3)
    a = chip.array("A", (2, 2))
    assert a.table is not None and a.config.model == "table"
    assert chip.describe()["jump_table"] is True


def test_table_errors() -> None:
    with pytest.raises(TypeError, match="JumpTable"):
        SimulatedCrossbar.from_jump_table("table.npz", (2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="builds the 'table' model"):
        SimulatedCrossbar.from_jump_table(linear_table(), (2, 2), model="soft-bounds")
    with pytest.raises(ValueError, match="not above the default threshold"):
        SimulatedCrossbar.from_jump_table(linear_table(Pulse(2.0, 1e-6)), (2, 2))
    low = SimulatedCrossbar.from_jump_table(linear_table(Pulse(2.0, 1e-6)), (2, 2), v_threshold=1.0)
    assert low.pulse_factor(Pulse(2.0, 1e-6)) == 1.0
