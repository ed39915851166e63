"""HardwareCrossbar.pulse_read_train: pulse-read cycles run by the instruments over a trigger
cable, against the same cycles done one pulse and one read at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.crossbar import MAX_TRAIN, HardwareCrossbar
from drivers.errors import PartialWriteError
from hil import Pulse
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import SHAPE, assert_safe

PULSE = Pulse(4.75, 20e-9)
DEVICE = (1, 2)


@contextmanager
def array(cable: bool, seed: int = 5) -> Iterator[tuple[VirtualBench, HardwareBench, HardwareCrossbar]]:
    config = dataclasses.replace(one_array_bench(SHAPE), smu_to_pulser=1 if cable else None)
    with virtual_bench(config, seed=seed, **QUIET) as (vb, live), hardware_bench(vb, live) as bench:
        yield vb, bench, bench.array("A", SHAPE)


def total(bench: HardwareBench) -> int:
    return sum(sum(c.values()) for c in bench.transactions().values())


def test_instrument_trains_read_what_pulse_by_pulse_cycles_read() -> None:
    results = {}
    for cable in (True, False):
        with array(cable) as (vb, _, a):
            assert a.instrument_trains is cable
            up = a.pulse_read_train(DEVICE, 12, +1, PULSE)
            down = a.pulse_read_train(DEVICE, 7, -1, PULSE)
            results[cable] = np.concatenate([up, down])
            log = [(p.row, p.col, p.count, p.amplitude, p.width) for p in vb.chip.pulse_log]
            assert log == [(*DEVICE, 1, 4.75, 20e-9)] * 12 + [(*DEVICE, -1, 4.75, 20e-9)] * 7
            assert vb.chip.violations == [] and vb.chip.unrouted_pulses == 0
            assert_safe(vb)
    # Same chip seed and the same pulses and reads in the same order: the same conductances, up
    # to the 2450's 7 significant digits (relative 5e-7 of each reading).
    np.testing.assert_allclose(results[True], results[False], rtol=1e-6, atol=0)
    assert np.all(np.diff(results[True][:12]) > 0) and np.all(np.diff(results[True][12:]) < 0)


def test_an_instrument_train_costs_the_same_transactions_whatever_its_length() -> None:
    with array(cable=True) as (_, bench, a):
        a.pulse_read_train(DEVICE, 2, +1, PULSE)  # first use: the generator's full configuration
        costs = []
        for count in (3, 60):
            before = total(bench)
            a.pulse_read_train(DEVICE, count, +1, PULSE)
            costs.append(total(bench) - before)
        assert costs[0] == costs[1] < 60  # fewer transactions than cycles (pulse by pulse: ~13 per cycle)
        assert a.operations["pulse_trains"] == 3


@pytest.mark.parametrize(
    ("device", "count", "sign", "match"),
    [((2, 0), 1, 1, "inside the 2 x 3 array"), ((0,), 1, 1, "pair"), ((0, 1.0), 1, 1, "integers"),
     ((0, 0), 0, 1, "from 1 to"), ((0, 0), MAX_TRAIN + 1, 1, "split longer trains"),
     ((0, 0), 1, 0, "pulse_sign"), ((0, 0), 1, True, "pulse_sign")],
)  # fmt: skip
def test_bad_trains_raise_before_anything_is_sent(device, count, sign, match) -> None:
    with array(cable=True) as (vb, bench, a):
        before = total(bench)
        with pytest.raises(ValueError, match=match):
            a.pulse_read_train(device, count, sign, PULSE)
        with pytest.raises(Exception, match="exceeds the limit"):
            a.pulse_read_train((0, 0), 1, 1, Pulse(7.0, 20e-9))
        assert total(bench) == before and vb.chip.pulse_log == []


def test_a_refused_trigger_model_is_a_partial_write_with_nothing_fired() -> None:
    with array(cable=True) as (vb, _, a):
        a.pulse_read_train(DEVICE, 1, +1, PULSE)
        vb.smu.faults.inject_error = (-113, "Undefined header")  # on the trigger-model message
        with pytest.raises(PartialWriteError) as info:
            a.pulse_read_train(DEVICE, 4, -1, PULSE)
        assert info.value.stage == "configuring" and info.value.applied == ()
        assert [p.count for p in vb.chip.pulse_log] == [1]
        assert_safe(vb)
        assert len(a.pulse_read_train(DEVICE, 4, -1, PULSE)) == 4  # the bench works again
