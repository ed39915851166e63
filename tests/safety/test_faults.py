"""Faults injected on the virtual bench during a stored symmetry-point run.

Each fault (a hung or disconnected instrument, garbled or truncated replies, an error-queue
entry, a compliance hit, a stuck device) must give a clear error or a recorded warning, leave
the bench safe (as far as the faulty instrument allows: the switch matrix always isolates the
chip), never re-send a pulse, and keep every point measured before it in the run store, with
the run marked failed and the error stored. A read is retried after a transient fault
(tests/hardware/test_retries.py); one whose instrument stays unreachable, or keeps answering
garbage, raises after the safe state and changes no device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pyvisa.errors import VisaIOError

from drivers.bench import HardwareBench
from drivers.errors import CommunicationError, InstrumentError, PartialWriteError, PulseGroup, SafeStateError
from hil import Pulse
from hil.benchconfig import BenchConfig
from hil.store import RunStore
from protocols.symmetry import find_symmetry_point
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import assert_safe

SHAPE = (2, 3)
PULSE = Pulse(4.75, 20e-9)
SHORT_MS = 300  # VISA timeout while a fault is on: a reply that will never come fails fast
ALL = tuple((r, c) for r in range(SHAPE[0]) for c in range(SHAPE[1]))


@pytest.fixture
def virtual() -> Iterator[tuple[VirtualBench, BenchConfig]]:
    with virtual_bench(one_array_bench(SHAPE), seed=3, **QUIET) as running:
        yield running


@pytest.fixture
def bench(virtual: tuple[VirtualBench, BenchConfig]) -> Iterator[HardwareBench]:
    vb, config = virtual
    with hardware_bench(vb, config) as b:
        yield b


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RunStore]:
    with RunStore(tmp_path / "runs.sqlite") as s:
        yield s


def run_symmetry(bench: HardwareBench, store: RunStore, after_pair: Callable[[int], None],
                 max_pairs: int = 20, window: int = 5) -> str:
    """A stored symmetry-point run; after_pair(pairs_done) runs between pairs. Returns the run uid."""
    run = store.start_run("symmetry_point", {"max_pairs": max_pairs, "window": window}, bench.describe())
    with run:
        result = find_symmetry_point(bench.array("A", SHAPE), PULSE, max_pairs=max_pairs, window=window,
                                     progress=lambda done, _: after_pair(done), recorder=run)  # fmt: skip
        run.finish("completed", summary=result.summary())
    return run.uid


def run_until_fault(bench: HardwareBench, store: RunStore, after_pair: Callable[[int], None],
                    error: type[BaseException] | tuple[type[BaseException], ...]
                    ) -> tuple[BaseException, str]:
    uids = []
    start = store.start_run

    def remember(*args: object, **kwargs: object):  # the uid of a run that raises
        run = start(*args, **kwargs)  # type: ignore[arg-type]
        uids.append(run.uid)
        return run

    store.start_run = remember  # type: ignore[method-assign]
    with pytest.raises(error) as info:
        run_symmetry(bench, store, after_pair)
    return info.value, uids[0]


def assert_stored_until_fault(store: RunStore, uid: str, pairs: int, error: BaseException) -> None:
    """The run is failed with the error, and holds exactly the pairs measured before the fault."""
    info = store.run(uid)
    assert info.status == "failed"
    assert info.error == f"{type(error).__name__}: {error}"
    points = list(store.points(uid, "pair"))
    assert [p.step for p in points] == list(range(1, pairs + 1))
    for p in points:
        assert p.arrays["g_up"].shape == SHAPE and np.all(p.arrays["g_up"] > 0)


def spy(driver: object) -> list[str]:
    """Every message the driver writes from now on, as sent (before any fault can swallow it)."""
    sent: list[str] = []
    adapter = driver.adapter  # type: ignore[attr-defined]
    write = adapter.write

    def recorded(command: str, **kwargs: object) -> None:
        sent.append(command)
        write(command, **kwargs)

    adapter.write = recorded
    return sent


def settle(bench: HardwareBench) -> None:
    """Wait until every instrument has carried out what it was sent (writes are not
    acknowledged), so that a fault switched on next hits the next command, not a late one."""
    for driver in bench.drivers.values():
        assert str(driver.ask("*OPC?")).strip() == "1"


def triggers(sent: list[str]) -> int:
    return sum("*TRG" in m for m in sent)


# ---------------------------------------------------------------------- lost instruments
def test_generator_hangs_mid_burst_the_run_stops_and_nothing_is_resent(virtual, bench, store) -> None:
    vb, _ = virtual
    bench.drivers["pulser"].adapter.connection.timeout = SHORT_MS
    sent = spy(bench.drivers["pulser"])
    fire, fired = vb.pulse_generator._fire, []

    def fire_then_hang(index: int) -> None:
        fired.append(index)
        fire(index)
        if len(fired) == 5:  # the up burst of pair 3 went out, then the generator stops answering
            vb.pulse_generator.faults.timeout = True

    vb.pulse_generator._fire = fire_then_hang
    err, uid = run_until_fault(bench, store, lambda done: None, PartialWriteError)
    # What may have been applied: the burst in flight, to every device, reached them or not.
    assert err.stage == "firing" and err.in_flight == PulseGroup(1, ALL)
    assert err.applied == () and err.not_applied == ()
    assert isinstance(err.cause, CommunicationError) and isinstance(err.cause.__cause__, VisaIOError)
    pulser_address = bench.describe()["instruments"]["pulser"]["address"]
    assert err.cause.last_command == "*OPC?" and err.cause.address == pulser_address
    assert "reached the devices or not (unknown)" in str(err) and "Nothing was retried" in str(err)
    assert any("pulse generator" in e for e in err.safe_state_errors)
    assert triggers(sent) == 5 == len(fired)  # the burst in flight was not sent again
    assert_stored_until_fault(store, uid, 2, err)
    # The generator cannot be told to switch off, but the matrix isolates the chip.
    assert vb.switch_matrix.closed == set() and not vb.smu.state.output
    # Once the generator answers again, closing the bench switches it off; still no burst.
    vb.pulse_generator.faults.timeout = False
    bench.close()
    assert_safe(vb)
    assert triggers(sent) == 5 and len(vb.chip.pulse_log) == 5 * len(ALL)


def test_smu_connection_drops_for_good_mid_run_the_read_fails_safely(virtual, bench, store) -> None:
    vb, _ = virtual
    bench.drivers["smu"].adapter.connection.timeout = SHORT_MS
    sent = spy(bench.drivers["pulser"])

    def drop(done: int) -> None:
        if done == 3:
            settle(bench)
            vb.smu.faults.drop_connection = True  # every connection, the reopened one too

    err, uid = run_until_fault(bench, store, drop, InstrumentError)
    # The read was retried once: the connection was reopened, and *IDN? got no answer on it.
    assert "reconnecting failed" in str(err) and "*IDN?" in str(err)
    assert err.instrument == "Keithley 2450 SourceMeter" and err.last_command is not None
    assert err.address == bench.describe()["instruments"]["smu"]["address"]
    notes = " ".join(getattr(err, "__notes__", []))
    assert "making the bench safe failed too" in notes and "SMU output off" in notes
    # Pair 4's up pulse went out before its read failed; no pulse came after the fault.
    assert triggers(sent) == 2 * 3 + 1
    assert_stored_until_fault(store, uid, 3, err)
    assert_safe(vb)  # the dropped "output on" never ran; the generator and matrix obeyed
    with pytest.raises(SafeStateError, match="smu shutdown"):
        bench.close()


# ---------------------------------------------------------------------- bad replies
@pytest.mark.parametrize(("fault", "message"), [
    ("garble", "unreadable SYST:ERR\\? reply"),  # the first SMU reply of the next read
    ("truncate", "corrupted reply"),  # '0,"No error"' cut in half still reads as no error; :READ? not
])  # fmt: skip
def test_bad_smu_replies_mid_run_give_a_clear_error(virtual, bench, store, fault: str, message: str) -> None:
    vb, _ = virtual
    sent = spy(bench.drivers["pulser"])

    def corrupt(done: int) -> None:
        if done == 2:
            settle(bench)
            setattr(vb.smu.faults, fault, True)

    err, uid = run_until_fault(bench, store, corrupt, InstrumentError)
    assert err.instrument == bench.drivers["smu"].name
    assert_stored_until_fault(store, uid, 2, err)
    assert triggers(sent) == 2 * 2 + 1
    # The SMU did switch off; only its confirmation came back unreadable, and the error says so.
    assert_safe(vb)
    notes = " ".join(err.__notes__)
    assert "making the bench safe failed too: SMU output off (confirmed)" in notes
    setattr(vb.smu.faults, fault, False)


def test_error_queue_entry_after_a_generator_command_stops_before_the_burst(virtual, bench, store) -> None:
    vb, _ = virtual
    sent = spy(bench.drivers["pulser"])

    def inject(done: int) -> None:
        if done == 2:  # queued after the next generator command: the polarity change's output off
            settle(bench)
            vb.pulse_generator.faults.inject_error = (-222, "Data out of range")

    err, uid = run_until_fault(bench, store, inject, PartialWriteError)
    assert err.stage == "configuring" and err.in_flight == PulseGroup(1, ALL) and err.applied == ()
    assert isinstance(err.cause, InstrumentError) and err.cause.errors == ((-222, "Data out of range"),)
    assert "its burst was not triggered" in str(err) and err.safe_state_errors == ()
    assert triggers(sent) == 2 * 2  # no burst after the error
    assert_stored_until_fault(store, uid, 2, err)
    assert_safe(vb)


# ---------------------------------------------------------------------- the devices
def test_compliance_hit_mid_run_raises_and_keeps_the_data(store) -> None:
    config = one_array_bench(SHAPE)
    with virtual_bench(config, seed=3, **QUIET) as (vb, live):
        array = vb.chip.arrays["A"]
        params = array.device_parameters()
        # A limit the devices stay under while they approach their symmetry points (mid-range),
        # and that device (1, 2) exceeds once it shorts to its upper bound.
        compliance = live.read_voltage * 0.9 * float(params.g_max.min())
        assert compliance > live.read_voltage * float(array.read().max())
        limits = dataclasses.replace(live.limits, current_compliance=compliance)
        live = dataclasses.replace(live, limits=limits)
        with hardware_bench(vb, live) as bench:
            sent = spy(bench.drivers["pulser"])

            def short(done: int) -> None:
                if done == 2:
                    g = array.conductance.copy()
                    g[1, 2] = params.g_max[1, 2]
                    array.set_conductance(g)

            err, uid = run_until_fault(bench, store, short, InstrumentError)
            assert "device (1, 2)" in str(err) and "at the current compliance" in str(err)
            assert "the bench is in its safe state" in " ".join(err.__notes__)
            assert triggers(sent) == 2 * 2 + 1
            assert_stored_until_fault(store, uid, 2, err)
            assert_safe(vb)


def test_a_stuck_device_is_reported_unresponsive_not_an_error(virtual, bench, store) -> None:
    vb, _ = virtual
    vb.chip.stuck.add(("A", 0, 1))
    uid = run_symmetry(bench, store, lambda done: None, max_pairs=40, window=10)
    info = store.run(uid)
    assert info.status == "completed" and info.error is None
    summary = info.summary
    assert summary["n_unresponsive"] == 1 and not summary["all_converged"]
    responsive = np.array(summary["per_device"]["responsive"])
    converged = np.array(summary["per_device"]["converged"])
    expected = np.ones(SHAPE, dtype=bool)
    expected[0, 1] = False
    np.testing.assert_array_equal(responsive, expected)
    assert not converged[0, 1]
    # Every pair was recorded, the stuck device's reads included (flat: it never moved).
    points = list(store.points(uid, "pair"))
    assert len(points) == summary["pairs_used"]
    stuck = np.array([p.arrays["g_up"][0, 1] for p in points] + [p.arrays["g_down"][0, 1] for p in points])
    assert np.ptp(stuck) == 0.0  # QUIET: no read noise, so a device that never moved reads the same
    assert_safe(vb)
