"""HardwareCrossbar.alternating_pairs: up and down pulses on the whole array with whole-array
reads, sequenced by the 2450's trigger model over two trigger cables (to the 33500B and to the
707B), against the same pulses and reads as apply_pulses and read calls; its time estimate
against the virtual instruments' clocks; faults part-way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from drivers.errors import PartialWriteError
from hil import LimitError, Pulse, PulsePair
from hil.benchconfig import SwitchCable
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import assert_safe
from tests.hil.delegating import DelegatingBackend

SHAPE = (2, 2)
PAIR = PulsePair(Pulse(6.0, 20e-9), Pulse(5.5, 16e-9))
TO_SWITCH, READY = SwitchCable(smu=2, switch=1), SwitchCable(switch=2, smu=3)
Rig = tuple[VirtualBench, HardwareBench, HardwareCrossbar]


@contextmanager
def array(cables: bool = True, ready: bool = True, matrix: str = "keithley707b") -> Iterator[Rig]:
    """A 2 x 2 array of protonic devices (chip seed 4, read noise 0) on a bench with the SMU's
    cables to the generator and the matrix (and the matrix's Channel Ready back), or none."""
    config = dataclasses.replace(
        one_array_bench(SHAPE, matrix=matrix),
        smu_to_pulser=1 if cables else None,
        smu_to_switch=TO_SWITCH if cables and matrix == "keithley707b" else None,
        switch_ready=READY if cables and ready and matrix == "keithley707b" else None,
    )
    with virtual_bench(config, seed=4, **QUIET) as (vb, live), hardware_bench(vb, live) as bench:
        yield vb, bench, bench.array("A", SHAPE)


@pytest.fixture
def pause(mocker):
    """No waiting between retries."""
    return mocker.patch("drivers.retry.pause")


def total(bench: HardwareBench) -> int:
    return sum(sum(c.values()) for c in bench.transactions().values())


def busy(vb: VirtualBench) -> float:
    """Instrument seconds a client waited for, all instruments together (docs/virtual-timing.md)."""
    return sum(instrument.clock.busy_total for instrument in vb.instruments.values())


def pulses(vb: VirtualBench) -> list[tuple[int, int, int, float, float]]:
    return [(p.row, p.col, p.count, p.amplitude, p.width) for p in vb.chip.pulse_log]


# ---------------------------------------------------------------------- same results, fewer messages
def test_instrument_pairs_give_what_apply_pulses_and_reads_give() -> None:
    """Same chip seed, read noise 0, the same pulses and reads in the same order: the same
    conductances up to the 2450's 7 significant digits (relative 5e-7 of each reading), and
    the chip saw the same pulses, each polarity at its own level and width."""
    results, logs = {}, {}
    for cables in (True, False):
        with array(cables) as (vb, _, a):
            assert a.instrument_pairs is cables
            scheme = "inside the instruments" if cables else "apply_pulses and read calls"
            assert a.describe()["hardware"]["pairs"] == scheme
            results[cables] = a.alternating_pairs(6, read_every=3, pulses=PAIR)
            logs[cables] = pulses(vb)
            assert vb.chip.violations == [] and vb.chip.unrouted_pulses == 0
            assert vb.smu.disturbed_readings == 0  # no reading overlapped a pulse or moving relays
            assert_safe(vb)
    for instruments, calls in zip(results[True], results[False], strict=True):
        assert instruments.shape == (2, *SHAPE)
        np.testing.assert_allclose(instruments, calls, rtol=1e-6, atol=0)
    devices = [(r, c) for r in range(2) for c in range(2)]
    pair = [(*d, 1, 6.0, 20e-9) for d in devices] + [(*d, -1, 5.5, 16e-9) for d in devices]
    assert logs[True] == logs[False] == pair * 6
    up, down = results[True]
    assert np.all(up[1] > down[1]) and np.all(down[1] < up[1])  # after an up, after a down


def test_a_call_costs_the_same_transactions_whatever_its_length() -> None:
    with array() as (vb, bench, a):
        a.alternating_pairs(2, read_every=2, pulses=PAIR)  # first use: both generator channels
        costs = []
        for pairs in (4, 200):
            before = total(bench)
            a.alternating_pairs(pairs, read_every=2, pulses=PAIR)
            costs.append(total(bench) - before)
        before = total(bench)
        a.alternating_pairs(200, read_every=2, pulses=PAIR)  # the same call again: nothing to set up
        again = total(bench) - before
        assert_safe(vb)
    # A new length sends the SMU's trigger model again (2) and the matrix's passes (1).
    assert costs[0] == costs[1] == again + 3
    assert again <= 9 and costs[1] / 200 < 0.1  # transactions per pair
    assert a.operations["pair_calls"] == 4


def test_the_estimate_is_the_instrument_time_the_virtual_instruments_account() -> None:
    """alternating_pairs_seconds from the bench file's [timing], against busy_total: the
    instruments' own time (readings, delays, relay settling) within 1 % (what it leaves out:
    the pulses' microseconds and configuration commands, which take no instrument time here)."""
    cases = ((True, True, "keithley707b"), (True, False, "keithley707b"), (False, False, "keithley707b"),
             (True, False, "serialrelay"))  # fmt: skip
    for cables, ready, matrix in cases:
        with array(cables, ready, matrix) as (vb, _, a):
            a.alternating_pairs(2, read_every=2, pulses=PAIR)
            before = busy(vb)
            a.alternating_pairs(20, read_every=5, pulses=PAIR)
            spent = busy(vb) - before
            estimate = a.alternating_pairs_seconds(20, read_every=5)
            assert estimate == pytest.approx(spent, rel=0.01), (cables, ready, matrix)


def test_a_wrapping_backend_passes_the_pairs_to_the_instruments_as_one_write() -> None:
    with array() as (_, _, a):
        writes: list[int] = []
        wrapped = DelegatingBackend(a, around_write=lambda write: (writes.append(1), write()))
        assert wrapped.instrument_pairs
        assert wrapped.alternating_pairs_seconds(4, read_every=2) == a.alternating_pairs_seconds(
            4, read_every=2
        )
        up, down = wrapped.alternating_pairs(4, read_every=2, pulses=PAIR)
        assert up.shape == down.shape == (2, *SHAPE) and writes == [1]
        assert np.all(wrapped.pulses == 8)


# ---------------------------------------------------------------------- fallback
@pytest.mark.parametrize("matrix", ["keithley707b", "serialrelay"])
def test_without_the_cables_or_a_scanning_matrix_pairs_are_apply_pulses_and_reads(matrix: str) -> None:
    with array(cables=matrix == "serialrelay", matrix=matrix) as (vb, bench, a):
        assert not a.instrument_pairs
        (row,) = [r for r in bench.check() if r.check == "alternating pairs"]
        missing = "the matrix cannot scan" if matrix == "serialrelay" else "no [triggers] smu_to_pulser"
        assert row.detail.startswith("apply_pulses and read calls: ") and missing in row.detail
        up, _ = a.alternating_pairs(2, read_every=1, pulses=PAIR)
        assert up.shape == (2, *SHAPE) and a.operations["pair_calls"] == 0
        assert a.operations["pulse_calls"] == 4 and a.operations["read_calls"] == 4
        assert len(vb.chip.pulse_log) == 4 * 4
        assert_safe(vb)


# ---------------------------------------------------------------------- safety
def test_pulses_that_break_a_limit_or_the_gap_are_refused_before_anything_is_sent() -> None:
    with array() as (vb, bench, a):
        before = total(bench)
        with pytest.raises(LimitError, match="down pulse: pulse amplitude 7 V exceeds"):
            a.alternating_pairs(2, read_every=1, pulses=PulsePair(Pulse(6.0, 20e-9), Pulse(7.0, 20e-9)))
        with pytest.raises(ValueError, match="multiple of read_every"):
            a.alternating_pairs(5, read_every=2, pulses=PAIR)
        assert total(bench) == before and vb.chip.pulse_log == []
    config = dataclasses.replace(
        one_array_bench(SHAPE, max_pulse_width=1e-3), smu_to_pulser=1, smu_to_switch=TO_SWITCH
    )
    with virtual_bench(config, seed=4, **QUIET) as (vb, live), hardware_bench(vb, live) as bench:
        a = bench.array("A", SHAPE)
        before = total(bench)
        wide = PulsePair(Pulse(6.0, 20e-9), Pulse(5.0, 900e-6))  # ends and settles after 1.8 ms
        with pytest.raises(LimitError, match="train_gap"):
            a.alternating_pairs(2, read_every=1, pulses=wide)
        assert total(bench) == before and vb.chip.pulse_log == []


def test_a_fault_while_the_pairs_run_leaves_the_bench_safe_with_the_call_in_flight() -> None:
    with array() as (vb, bench, a):
        bench.drivers["smu"].adapter.connection.timeout = 300  # ms: a swallowed reply fails fast
        a.alternating_pairs(2, read_every=1, pulses=PAIR)
        vb.smu.faults.swallow_next = 1  # the run (model cached) executes, its reply never comes
        with pytest.raises(PartialWriteError) as info:
            a.alternating_pairs(2, read_every=1, pulses=PAIR)
        error = info.value
        assert error.stage == "firing" and error.applied == () and not error.safe_state_errors
        assert error.in_flight is not None and error.in_flight.count == 2
        assert "reached the devices or not (unknown)" in str(error)
        assert_safe(vb)
        assert vb.switch_matrix.scan.state != 2  # no scan left running (scan.RUNNING)
        before = len(vb.chip.pulse_log)
        up, _ = a.alternating_pairs(2, read_every=1, pulses=PAIR)  # the bench works again
        assert up.shape == (2, *SHAPE) and len(vb.chip.pulse_log) == before + 16


def test_a_refused_trigger_model_is_a_partial_write_with_nothing_fired() -> None:
    with array() as (vb, _, a):
        vb.smu.faults.inject_error = (-113, "Undefined header")  # on the trigger-model message
        with pytest.raises(PartialWriteError) as info:
            a.alternating_pairs(2, read_every=1, pulses=PAIR)
        assert info.value.stage == "configuring" and vb.chip.pulse_log == []
        assert_safe(vb)


def test_garbled_readings_are_fetched_again_from_the_buffer_not_fired_again(pause) -> None:
    results = []
    for garble in (True, False):
        with array() as (vb, bench, a):
            handle = vb.smu.handle

            def garble_the_run(line: str, garble: bool = garble, handle=handle) -> str | None:
                if garble and line.startswith(":INIT"):
                    vb.smu.faults.garble_next = 1
                return handle(line)

            vb.smu.handle = garble_the_run  # type: ignore[method-assign]
            results.append((a.alternating_pairs(4, read_every=2, pulses=PAIR), pulses(vb)))
            events = list(bench.retries.events)
            assert_safe(vb)
        if garble:
            (event,) = events
            assert event.operation.startswith("fetch of a train's 16 readings")
            assert event.fault == "unreadable reply"
    (garbled, log), (clean, clean_log) = results
    assert log == clean_log and len(log) == 4 * 2 * 4  # every pulse once
    for g, c in zip(garbled, clean, strict=True):
        np.testing.assert_array_equal(g, c)


def test_pairs_whose_readings_overflow_one_sequence_run_as_several_in_turn() -> None:
    results = {}
    for cables in (True, False):
        with array(cables) as (vb, bench, a):
            bench.drivers["smu"].max_triggered_reads = 16  # 2 whole-array reads of 4 devices
            estimate = a.alternating_pairs_seconds(6, read_every=1)
            before = busy(vb)
            results[cables] = a.alternating_pairs(6, read_every=1, pulses=PAIR)
            if cables:  # 3 sequences of 2 pairs, each with its own set-up and fetch
                assert busy(vb) - before == pytest.approx(estimate, rel=0.01)
                assert [m.startswith(":INIT") for m in vb.smu.received].count(True) == 3
            assert len(vb.chip.pulse_log) == 6 * 2 * 4
            assert_safe(vb)
    for instruments, calls in zip(results[True], results[False], strict=True):
        assert instruments.shape == (6, *SHAPE)
        np.testing.assert_allclose(instruments, calls, rtol=1e-6, atol=0)
