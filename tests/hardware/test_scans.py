"""HardwareCrossbar reads as one 707B scan stepped by the 2450 over a trigger cable ([triggers]
smu_to_switch), against the same reads device by device; faults in the middle of a scan."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from drivers.errors import InstrumentError
from hil import Pulse
from hil.benchconfig import SwitchCable
from simulators.virtual.bench import VirtualBench
from simulators.virtual.keithley707b import ABORTED, RUNNING
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import assert_safe

SHAPE = (4, 4)
CABLE = SwitchCable(smu=2, switch=1)
PULSE = Pulse(4.75, 20e-9)
Rig = tuple[VirtualBench, HardwareBench, HardwareCrossbar]


@contextmanager
def array(cable: bool, matrix: str = "keithley707b") -> Iterator[Rig]:
    """A 4 x 4 array of protonic devices (chip seed 4, read noise 0) on a bench with both
    trigger cables, or only the one to the pulse generator."""
    config = dataclasses.replace(one_array_bench(SHAPE, matrix=matrix), smu_to_pulser=1,
                                 smu_to_switch=CABLE if cable else None)  # fmt: skip
    with virtual_bench(config, seed=4, **QUIET) as (vb, live), hardware_bench(vb, live) as bench:
        yield vb, bench, bench.array("A", SHAPE)


def total(bench: HardwareBench) -> int:
    return sum(sum(c.values()) for c in bench.transactions().values())


def cost(bench: HardwareBench, run) -> int:
    before = total(bench)
    run()
    return total(bench) - before


# ---------------------------------------------------------------------- same results, fewer messages
def test_scan_reads_give_what_device_reads_give_before_and_after_pulses() -> None:
    """Same chip seed, read noise 0, the same reads and pulses in the same order: the same
    conductances, up to the 2450's 7 significant digits (relative 5e-7 of each reading)."""
    results = {}
    for cable in (True, False):
        with array(cable) as (vb, _, a):
            assert a.instrument_scans is cable
            scheme = "one scan per read call" if cable else "device by device"
            assert a.describe()["hardware"]["reads"] == scheme
            ones = np.ones(SHAPE, dtype=np.int64)
            whole = [a.read()]
            a.apply_pulses(ones, PULSE)  # a symmetry-point pair: all +1, read, all -1, read
            whole.append(a.read())
            a.apply_pulses(-ones, PULSE)
            whole.append(a.read())
            some = a.read([(3, 0), (0, 2), (3, 0)])  # any order, a device twice
            masked = a.read(np.eye(4, dtype=bool))
            results[cable] = (np.stack(whole), some, masked)
            assert a.operations["read_calls"] == 5 and a.operations["device_reads"] == 3 * 16 + 3 + 4
            assert vb.chip.violations == [] and vb.chip.unrouted_pulses == 0
            assert_safe(vb)
    for scanned, one_by_one in zip(results[True], results[False], strict=True):
        np.testing.assert_allclose(scanned, one_by_one, rtol=1e-6, atol=0)
    whole, some, masked = results[True]
    assert np.all(whole[1] > whole[0]) and some[0] == some[2] == whole[2][3, 0]
    np.testing.assert_array_equal(masked, np.diag(whole[2]))


def test_a_whole_array_read_costs_a_small_fixed_number_of_transactions() -> None:
    with array(cable=True) as (vb, bench, a):
        first = cost(bench, a.read)  # the SMU's read set-up and the 707B's scan list, once
        again = cost(bench, a.read)
        four = cost(bench, lambda: a.read([(0, 0), (1, 1), (2, 2), (3, 3)]))  # a new list: set up once
        four_again = cost(bench, lambda: a.read([(0, 0), (1, 1), (2, 2), (3, 3)]))
        sixteen = cost(bench, a.read)
        assert_safe(vb)
    # Device by device a 4 x 4 read is 2 queries per device and 1 per call: 33 transactions.
    assert again < 16 and again == four_again
    assert first > again and four > four_again and sixteen > again  # only a new scan list costs more
    with array(cable=False) as (_, bench, a):
        a.read()
        assert cost(bench, a.read) == 2 * 16 + 1


def test_without_a_cable_or_a_matrix_that_scans_reads_go_device_by_device() -> None:
    with array(cable=True, matrix="serialrelay") as (vb, bench, a):
        assert not a.instrument_scans  # the relay board has no scans
        a.read()
        assert cost(bench, a.read) > 16
        assert vb.switch_matrix.scan.state == 0 and vb.switch_matrix.transactions == 0
        assert_safe(vb)


# ---------------------------------------------------------------------- faults in the middle of a scan
def test_an_error_the_matrix_queues_mid_scan_raises_after_the_bench_was_made_safe() -> None:
    with array(cable=True) as (vb, _, a):
        g = a.read()
        matrix = vb.switch_matrix
        link = vb.smu.trigger_links[CABLE.smu]
        pulses = []

        def step_then_fault(pulse):
            pulses.append(1)
            disturbances = link(pulse)
            if len(pulses) == 5:  # a relay fault in the middle of the scan, queued by the 707B
                matrix.faults.inject_error = (-286, "TSP Runtime error: relay fault on card 2")
            return disturbances

        vb.smu.trigger_links[CABLE.smu] = step_then_fault
        with pytest.raises(InstrumentError, match=r"error queue after a scan: -286 .*relay fault") as info:
            a.read()
        assert "the bench is in its safe state" in str(info.value.__notes__)
        assert len(pulses) == 16  # the scan ran to its end: the matrix reported the error afterwards
        assert_safe(vb)
        np.testing.assert_allclose(a.read(), g, rtol=1e-6)  # nothing was retried; reading again works


def test_a_scan_that_lost_its_trigger_cable_is_aborted_and_reported() -> None:
    with array(cable=True) as (vb, _, a):
        g = a.read()
        link = vb.smu.trigger_links[CABLE.smu]
        pulses = []

        def cable_comes_loose(pulse):
            pulses.append(1)
            return link(pulse) if len(pulses) <= 5 else []

        vb.smu.trigger_links[CABLE.smu] = cable_comes_loose
        with pytest.raises(InstrumentError, match=r"RUNNING after 5 of 16 steps.*smu_to_switch") as info:
            a.read()
        assert "the bench is in its safe state" in str(info.value.__notes__)
        assert vb.switch_matrix.scan.state == ABORTED  # the safe state stopped the scan
        assert_safe(vb)
        vb.smu.trigger_links[CABLE.smu] = link
        np.testing.assert_allclose(a.read(), g, rtol=1e-6)  # the scan list is set up again first


def test_an_interrupt_while_the_scan_waits_aborts_it() -> None:
    with array(cable=True) as (vb, bench, a):
        a.read()
        smu = bench.instruments.smu

        def interrupted() -> list[float]:
            assert vb.switch_matrix.scan.state == RUNNING  # started, waiting for its first trigger
            raise KeyboardInterrupt

        smu.run_triggered_reads = interrupted
        with pytest.raises(KeyboardInterrupt):
            a.read()
        assert vb.switch_matrix.scan.state == ABORTED
        assert_safe(vb)


def test_closing_the_bench_aborts_a_scan_left_running() -> None:
    with array(cable=True) as (vb, bench, a):
        a.read()
        bench.instruments.matrix.start_scan()  # behind the backend's back: then the bench is closed
        bench.close()
        assert vb.switch_matrix.scan.state == ABORTED
        assert_safe(vb)  # while the servers still run: the last writes may still be on their way
