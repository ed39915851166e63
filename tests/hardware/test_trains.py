"""HardwareCrossbar.pulse_read_train: pulse-read cycles run by the instruments over a trigger
cable, against the same cycles done one pulse and one read at a time; the jump-table protocol
on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from drivers.errors import PartialWriteError
from hil import Pulse
from hil.backend import MAX_TRAIN
from hil.store import RunStore
from protocols.jumptable import measure_jump_table
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import SHAPE, assert_safe
from tests.hil.delegating import DelegatingBackend

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


def test_a_wrapping_backend_passes_a_train_to_the_instruments_as_one_write() -> None:
    """tests.hil.delegating.DelegatingBackend forwards instrument_trains and the train itself."""
    with array(cable=True) as (_, bench, a):
        writes: list[int] = []
        wrapped = DelegatingBackend(a, around_write=lambda write: (writes.append(1), write()))
        assert wrapped.instrument_trains
        a.pulse_read_train(DEVICE, 2, +1, PULSE)  # first use: the generator's full configuration
        before = total(bench)
        g = wrapped.pulse_read_train(DEVICE, 40, +1, PULSE)
        assert g.shape == (40,) and writes == [1] and wrapped.pulses[DEVICE] == 40
        assert total(bench) - before < 40  # in the instruments, not 40 pulse-and-read pairs
        assert a.operations["pulse_trains"] == 2


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


# ---------------------------------------------------------------------- the jump-table protocol
JUMP = {"n_cycles": 1, "noise_reads": 0, "n_bins": 4, "n_quantiles": 5}
CHOSEN = [(0, 0), (1, 2)]


def test_the_jump_table_runs_on_instrument_trains_at_a_cost_independent_of_their_length() -> None:
    with array(cable=True) as (vb, bench, a):
        costs, results = [], []
        for pulses in (15, 40):
            before = total(bench)
            results.append(measure_jump_table(a, PULSE, CHOSEN, n_up=pulses, **JUMP))  # trains: auto
            costs.append(total(bench) - before)
        before = total(bench)
        measure_jump_table(a, PULSE, CHOSEN, n_up=15, trains=False, **JUMP)
        per_pulse = total(bench) - before
        assert_safe(vb)
    assert all(r.parameters["trains"] for r in results)
    assert a.operations["pulse_trains"] == 8 and a.operations["pulse_calls"] == 30  # the last run's pulses
    # Each device got its up train, then its down train, one device after the other.
    log = [(p.row, p.col, p.count) for p in vb.chip.pulse_log]
    trains = [(*d, s) for n in (15, 40) for d in CHOSEN for s in (1, -1) for _ in range(n)]
    assert log[: len(trains)] == trains
    # A table is one read call (4 transactions + 2 per device) and 4 trains, each 11 transactions
    # and 5 more for a polarity flip (docs/hardware-backend.md), the first run also configuring
    # the generator: at most 25 per train, whatever the pulses per train.
    assert costs[0] <= 4 + 2 * len(CHOSEN) + 4 * 25
    assert costs[1] <= costs[0]
    # Pulse by pulse, every pulse costs a pulse call and a read call of both devices (>= 8).
    assert per_pulse >= 30 * 8 > 2 * costs[0]
    for r in results:
        assert np.all(np.isfinite(r.g)) and r.g.shape[1] == len(CHOSEN)


def test_a_train_refused_mid_run_is_not_sent_again_on_resume(tmp_path: Path) -> None:
    """The second train (device (0, 0) down) fails before it fires: recorded as lost, and the
    resumed run goes on with the next train instead of sending it again."""
    with array(cable=True) as (vb, _, a), RunStore(tmp_path / "runs.sqlite") as store:

        def refuse_the_next_trigger_model(done: int, total: int) -> None:
            if done == 10:
                vb.smu.faults.inject_error = (-113, "Undefined header")

        with pytest.raises(PartialWriteError), store.start_run("jump-table", {}, {}) as run:
            measure_jump_table(a, PULSE, CHOSEN, n_up=10, **JUMP, recorder=run,
                               progress=refuse_the_next_trigger_model)  # fmt: skip
        assert_safe(vb)
        (lost,) = store.points(run.uid, "jump_train_lost")
        assert (lost.step, lost.scalars["device"], lost.scalars["direction"]) == (11, 0, -1)
        assert "PartialWriteError" in lost.scalars["error"]
        with store.resume_run(run.uid) as resumed:
            result = measure_jump_table(a, PULSE, CHOSEN, n_up=10, **JUMP, recorder=resumed,
                                        resume_from=store.load_checkpoint(run.uid))  # fmt: skip
        assert_safe(vb)
    log = [(p.row, p.col, p.count) for p in vb.chip.pulse_log]
    assert log == [(0, 0, 1)] * 10 + [(1, 2, 1)] * 10 + [(1, 2, -1)] * 10
    assert np.all(np.isnan(result.g[11:, 0])) and np.all(np.isfinite(result.g[:11, 0]))
    assert np.all(np.isfinite(result.g[:, 1]))
    np.testing.assert_array_equal(result.resumed_at, [0])  # (1, 2) read again before its first train
    assert result.summary()["down"]["n_samples"] == 10  # device (0, 0) has no down steps
