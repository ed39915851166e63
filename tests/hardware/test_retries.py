"""Reads survive transient faults (a dropped connection, a swallowed reply, a garbled reply);
pulses never repeat. The backoff is observed through drivers.retry.pause, never waited."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.errors import InstrumentError, PartialWriteError, SafeStateError, UnreadableReply
from drivers.retry import RetryPolicy
from hil import Pulse
from hil.benchconfig import BenchConfig
from hil.faults import InstrumentFault
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import SHAPE, assert_safe

PULSE = Pulse(4.75, 20e-9)
SHORT_MS = 300  # VISA timeout: a swallowed reply fails fast
# What the client sees of each injected fault. pyvisa-py reads a closed socket as a timeout or
# a lost connection, whichever it notices first.
FAULTS = {
    "drop_next": {"dropped connection", "read timeout"},
    "swallow_next": {"read timeout"},
    "garble_next": {"unreadable reply"},
}


@pytest.fixture
def quiet() -> Iterator[tuple[VirtualBench, BenchConfig]]:
    """No read noise: two reads of unchanged devices agree exactly."""
    with virtual_bench(one_array_bench(SHAPE), seed=5, **QUIET) as running:
        yield running


@pytest.fixture
def bench(quiet: tuple[VirtualBench, BenchConfig]) -> Iterator[HardwareBench]:
    vb, config = quiet
    with hardware_bench(vb, config) as b:
        b.drivers["smu"].adapter.connection.timeout = SHORT_MS
        yield b


@pytest.fixture
def pause(mocker):
    return mocker.patch("drivers.retry.pause")


def smu_messages_since(vb: VirtualBench, mark: int) -> list[str]:
    return list(vb.smu.received)[mark:]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_read_survives_one_transient_fault(quiet, bench: HardwareBench, pause, fault: str) -> None:
    vb, config = quiet
    a = bench.array("A", SHAPE)
    expected = a.read()
    setattr(vb.smu.faults, fault, 1)
    np.testing.assert_array_equal(a.read(), expected)
    assert vb.smu.faults.fired[fault] == 1
    (event,) = bench.retries.events
    assert event.fault in FAULTS[fault] and event.attempt == 1
    assert event.instrument == bench.drivers["smu"].name
    assert event.address == config.instrument("smu").address and event.last_command
    assert event.reconnected is (fault != "garble_next")  # a garbled reply needs no new link
    pause.assert_called_once_with(RetryPolicy().delay(1))
    retries = bench.describe()["retries"]
    assert retries["total"] == 1 and retries["by_fault"] == {event.fault: 1}
    assert_safe_after_read(vb, a)


def assert_safe_after_read(vb: VirtualBench, a) -> None:
    a.read()  # the bench goes on as before
    assert_safe(vb)


def test_a_reopened_connection_is_verified_and_configured_again(quiet, bench, pause) -> None:
    vb, _ = quiet
    a = bench.array("A", SHAPE)
    a.read()
    old = bench.drivers["smu"]
    sessions = old.adapter.connection.visalib.sessions  # pyvisa-py's table of open sessions
    open_sessions = len(sessions)
    mark = len(vb.smu.received)
    vb.smu.faults.drop_next = 1
    a.read()
    new = bench.drivers["smu"]
    assert new is not old and bench.instruments.smu is new
    assert len(sessions) == open_sessions  # the closed one is not kept
    assert new.adapter.connection.timeout == SHORT_MS  # kept across the new connection
    sent = smu_messages_since(vb, mark)
    idn = sent.index("*IDN?")
    # Everything of the read configuration is sent again on the new connection, after *IDN?.
    after = sent[idn:]
    assert any(m.startswith(":SOUR:VOLT:ILIM") for m in after)
    assert any(m.startswith(":SOUR:VOLT:LEV") for m in after) and any(":READ?" in m for m in after)


def test_the_backoff_grows_and_the_retries_are_bounded(quiet, bench, pause, mocker) -> None:
    vb, _ = quiet
    a = bench.array("A", SHAPE)
    smu = bench.drivers["smu"]
    mocker.patch.object(
        smu, "read_current_switched", side_effect=UnreadableReply(smu.name, "unreadable :READ? reply")
    )
    with pytest.raises(UnreadableReply) as info:
        a.read()
    policy = RetryPolicy()
    assert [c.args[0] for c in pause.call_args_list] == [policy.delay(k) for k in (1, 2, 3)]
    assert policy.delay(1) < policy.delay(2) < policy.delay(3) <= policy.max_backoff_s
    assert [e.attempt for e in bench.retries.events] == [1, 2, 3]
    assert smu.read_current_switched.call_count == 1 + policy.retries
    # The error names where it came from and says the bench is safe.
    assert info.value.address == bench.describe()["instruments"]["smu"]["address"]
    assert "the bench is in its safe state" in " ".join(info.value.__notes__)
    assert_safe(vb)


def test_no_retry_policy_means_the_first_fault_ends_the_read(quiet, pause) -> None:
    vb, config = quiet
    with hardware_bench(vb, config, retry=RetryPolicy(retries=0)) as bench:
        a = bench.array("A", SHAPE)
        vb.smu.faults.garble_next = 1
        with pytest.raises(UnreadableReply):
            a.read()
        assert bench.retries.total == 0 and not pause.called


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_during_a_pulse_is_never_retried(quiet, bench, pause, fault: str) -> None:
    vb, _ = quiet
    a = bench.array("A", SHAPE)
    bench.drivers["pulser"].adapter.connection.timeout = SHORT_MS
    ones = np.ones(SHAPE, dtype=np.int64)
    a.apply_pulses(ones, PULSE)
    bursts = len(vb.chip.pulse_log)
    setattr(vb.pulse_generator.faults, fault, 1)
    with pytest.raises(PartialWriteError) as info:
        a.apply_pulses(ones, PULSE)
    assert isinstance(info.value.cause, InstrumentFault)
    assert bench.retries.total == 0 and not pause.called
    # At most the one burst in flight reached the devices; it was not sent again.
    assert len(vb.chip.pulse_log) - bursts in (0, len(ones.ravel()))
    if fault == "drop_next":  # nothing reopens a link lost during a pulse: closing says so
        with pytest.raises(SafeStateError, match="pulser shutdown"):
            bench.close()


def test_a_different_instrument_after_reconnecting_stops_the_run(quiet, bench, pause) -> None:
    vb, config = quiet
    a = bench.array("A", SHAPE)
    a.read()
    bench.identities["smu"] = "ACME,MODEL 1,0,0"  # as if another instrument had been at the address
    vb.smu.faults.drop_next = 1
    with pytest.raises(InstrumentError) as info:
        a.read()
    err = info.value
    assert "reconnecting failed" in str(err) and "instead of" in str(err) and "ACME" in str(err)
    assert err.address == config.instrument("smu").address and err.last_command is not None
    # Its identity was asked again up to the policy's retries; nothing was measured after.
    assert [e.operation for e in bench.retries.events] == ["*IDN? of the smu"] * RetryPolicy().retries
    assert vb.switch_matrix.closed == set()
    assert not any(ch.output for ch in vb.pulse_generator.channels)
    with pytest.raises(SafeStateError, match="smu shutdown"):  # its connection was given up
        bench.close()


def train(garble_its_reply: bool) -> tuple[np.ndarray, list, HardwareBench]:
    """A 9-pulse train on device (1, 2) over the trigger cable; optionally its one reply (the
    readings, sent after the train ran) is garbled."""
    config = dataclasses.replace(one_array_bench(SHAPE), smu_to_pulser=1)
    with virtual_bench(config, seed=5, **QUIET) as (vb, live), hardware_bench(vb, live) as bench:
        a = bench.array("A", SHAPE)
        handle = vb.smu.handle

        def garble_the_train(line: str) -> str | None:
            if garble_its_reply and line.startswith(":INIT"):
                vb.smu.faults.garble_next = 1
            return handle(line)

        vb.smu.handle = garble_the_train  # type: ignore[method-assign]
        g = a.pulse_read_train((1, 2), 9, +1, PULSE)
        assert_safe(vb)
        return g, list(vb.chip.pulse_log), bench


def test_a_train_whose_readings_came_back_garbled_is_fetched_again_not_fired_again(pause) -> None:
    g, log, bench = train(garble_its_reply=True)
    clean, clean_log, _ = train(garble_its_reply=False)
    assert (
        [(p.row, p.col, p.count) for p in log]
        == [(1, 2, 1)] * 9
        == [(p.row, p.col, p.count) for p in clean_log]
    )
    np.testing.assert_array_equal(g, clean)  # the same readings, from the SMU's buffer
    (event,) = bench.retries.events
    assert event.operation.startswith("fetch of a train's 9 readings") and event.fault == "unreadable reply"
    assert event.last_command.startswith(":INIT;*WAI;:TRAC:DATA?")
