"""SimulatedChip: named arrays, per-array seeds, description, closing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hil import BackendClosedError, Pulse
from hil.bench import Bench
from simulators.chip import SimulatedChip
from simulators.crossbar import SimulatedCrossbar


def test_arrays_are_created_once_and_shapes_must_match() -> None:
    with SimulatedChip(seed=1) as chip:
        assert isinstance(chip, Bench)
        a = chip.array("L0.A_main", (3, 4))
        assert isinstance(a, SimulatedCrossbar) and a.shape == (3, 4)
        assert chip.array("L0.A_main", (3, 4)) is a
        with pytest.raises(ValueError, match=r"exists with shape \(3, 4\); asked for \(4, 3\)"):
            chip.array("L0.A_main", (4, 3))
        with pytest.raises(ValueError, match="non-empty string"):
            chip.array("", (2, 2))


def test_per_array_seeds_depend_on_seed_and_name_only() -> None:
    one, two = SimulatedChip(seed=5), SimulatedChip(seed=5)
    a1 = one.array("A", (4, 4))
    b1 = one.array("B", (4, 4))
    b2 = two.array("B", (4, 4))  # asked for in the other order
    a2 = two.array("A", (4, 4))
    np.testing.assert_array_equal(a1.conductance, a2.conductance)
    np.testing.assert_array_equal(b1.conductance, b2.conductance)
    assert not np.array_equal(a1.conductance, b1.conductance)
    assert not np.array_equal(SimulatedChip(seed=6).array("A", (4, 4)).conductance, a1.conductance)
    # Same run on same-named arrays of same-seeded chips: identical.
    for arr in (a1, a2):
        arr.apply_pulses(np.full((4, 4), 30), arr.nominal_pulse)
        arr.stochastic_update(np.ones(4), np.full(4, -0.5), 10, Pulse(7.0, 5e-9))
    np.testing.assert_array_equal(a1.read(), a2.read())


def test_overrides_and_unknown_presets() -> None:
    chip = SimulatedChip(preset="protonic-near-symmetric", seed=0, read_noise=0.0, stuck_fraction=0.0)
    assert chip.config.model == "linear-step" and chip.config.read_noise == 0.0
    assert chip.array("x", (2, 2)).config == chip.config
    with pytest.raises(ValueError, match="known presets: ideal, protonic-asymmetric"):
        SimulatedChip(preset="protonic")
    with pytest.raises(TypeError, match="unknown DeviceConfig field"):
        SimulatedChip(readnoise=0.0)


def test_describe_is_json_and_records_seed_and_arrays() -> None:
    chip = SimulatedChip(seed=None)
    chip.array("L0.C_main", (2, 3))
    d = json.loads(json.dumps(chip.describe()))
    assert d["preset"] == "protonic-asymmetric" and d["seed"] == chip.seed
    assert d["arrays"] == {"L0.C_main": [2, 3]}
    assert d["config"]["model"] == "soft-bounds"
    again = SimulatedChip(seed=d["seed"]).array("L0.C_main", (2, 3))
    np.testing.assert_array_equal(again.conductance, chip.array("L0.C_main", (2, 3)).conductance)


def test_close_closes_every_array() -> None:
    chip = SimulatedChip(seed=0)
    arrays = [chip.array(n, (2, 2)) for n in ("a", "b")]
    chip.close()
    chip.close()
    assert all(a.closed for a in arrays)
    with pytest.raises(BackendClosedError):
        arrays[0].read()
    with pytest.raises(BackendClosedError, match="closed"):
        chip.array("c", (2, 2))
