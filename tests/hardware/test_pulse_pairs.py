"""A pulse pair through the real drivers: the generator sets each polarity's own level and width."""

from __future__ import annotations

import numpy as np

from drivers.bench import HardwareBench
from hil import Pulse, PulsePair
from tests.hardware.conftest import SHAPE, assert_safe

PAIR = PulsePair(Pulse(4.75, 20e-9), Pulse(4.5, 16e-9))


def test_each_polarity_group_is_fired_with_its_own_pulse(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    counts = np.array([[3, 0, -2], [3, 1, 0]])
    bench.array("A", SHAPE).apply_pulses(counts, PAIR)
    got = {(p.row, p.col): (p.count, p.amplitude, p.width) for p in vb.chip.pulse_log}
    assert got == {
        (0, 0): (3, 4.75, 20e-9),
        (1, 0): (3, 4.75, 20e-9),
        (1, 1): (1, 4.75, 20e-9),
        (0, 2): (-2, 4.5, 16e-9),
    }
    assert vb.chip.violations == [] and vb.chip.unrouted_pulses == 0
    assert_safe(vb)


def test_a_train_fires_the_pulse_of_its_sign(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    array = bench.array("A", SHAPE)
    array.pulse_read_train((1, 2), 3, -1, PAIR)
    array.pulse_read_train((0, 1), 2, 1, PAIR)
    fired = {(p.count > 0, p.amplitude, p.width) for p in vb.chip.pulse_log}
    assert fired == {(False, 4.5, 16e-9), (True, 4.75, 20e-9)}
    assert sum(abs(p.count) for p in vb.chip.pulse_log) == 5
    assert_safe(vb)
