"""Safety on the wire: limits before anything is sent, the safe state on every way out, no retries."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.bench import HardwareBench
from drivers.errors import InstrumentError, PartialWriteError, PulseGroup, SafeStateError
from hil import LimitError, Pulse
from protocols.symmetry import find_symmetry_point
from simulators.virtual.bench import VirtualBench
from tests.backends import hardware_bench
from tests.hardware.conftest import SHAPE, assert_safe

PULSE = Pulse(4.75, 20e-9)


def received(vb: VirtualBench) -> dict[str, list[str]]:
    return {name: list(inst.received) for name, inst in vb.instruments.items()}


def test_out_of_limit_pulses_raise_before_anything_is_sent(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    before = received(vb)  # opening ended with a query on every instrument: all of it was served
    ones = np.ones(SHAPE, dtype=np.int64)
    with pytest.raises(LimitError, match="amplitude"):
        a.apply_pulses(ones, Pulse(6.01, 20e-9))  # the bench's max_pulse_amplitude is 6 V
    with pytest.raises(LimitError, match="width"):
        a.apply_pulses(ones, Pulse(4.0, 2e-9))  # shorter than min_pulse_width (16 ns)
    with pytest.raises(LimitError, match="max_pulses_per_call"):
        a.apply_pulses(ones * 1001, PULSE)
    # The drivers enforce the limits themselves too, whoever calls them.
    with pytest.raises(LimitError, match="amplitude"):
        bench.instruments.pulser.configure_pulse(6.5, 20e-9, 1)
    with pytest.raises(LimitError):
        bench.instruments.smu.configure_read(0.15, 1e-5)  # max_read_voltage is 0.1 V
    with pytest.raises(LimitError):
        a.vmm(np.full(SHAPE[0], 0.11))
    assert received(vb) == before
    assert vb.chip.pulse_log == []


def test_safe_after_normal_close(virtual) -> None:
    vb, config = virtual
    with hardware_bench(vb, config) as bench:
        a = bench.array("A", SHAPE)
        a.apply_pulses(np.ones(SHAPE, dtype=np.int64), PULSE)
        a.read()
    assert_safe(vb)
    with pytest.raises(Exception, match="closed"):
        a.read()


def test_safe_after_an_exception_inside_a_protocol(virtual) -> None:
    vb, config = virtual

    def stop(done: int, total: int) -> None:
        if done == 3:
            raise RuntimeError("operator stopped the run")

    with pytest.raises(RuntimeError, match="operator stopped"), hardware_bench(vb, config) as bench:
        find_symmetry_point(bench.array("A", SHAPE), PULSE, max_pairs=20, window=5, progress=stop)
    assert_safe(vb)
    assert len(vb.chip.pulse_log) == 6 * 6  # 3 pairs of one pulse on each of the 6 devices


def test_safe_after_keyboard_interrupt_mid_update(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    pulser = bench.instruments.pulser
    fire = pulser.fire
    calls = []

    def interrupted_fire(count: int) -> None:
        calls.append(count)
        if len(calls) == 2:
            raise KeyboardInterrupt
        fire(count)

    pulser.fire = interrupted_fire
    counts = np.array([[2, 2, 0], [-1, 0, 3]])
    with pytest.raises(KeyboardInterrupt):
        bench.array("A", SHAPE).apply_pulses(counts, PULSE)
    assert_safe(vb)  # made safe by the backend itself, before the bench is closed
    assert {(p.row, p.col, p.count) for p in vb.chip.pulse_log} == {(0, 0, 2), (0, 1, 2)}


def test_dropped_connection_mid_burst_raises_partial_write_and_never_resends(virtual, bench) -> None:
    vb, _ = virtual
    pulser = bench.instruments.pulser
    pulser.adapter.connection.timeout = 300  # ms: pyvisa-py notices a closed socket by timing out
    generator = vb.pulse_generator
    fire = generator._fire
    bursts = []

    def fire_then_drop(index: int) -> None:
        bursts.append(index)
        fire(index)
        if len(bursts) == 2:  # the link drops right after the second burst went out
            generator.faults.drop_connection = True

    generator._fire = fire_then_drop
    counts = np.array([[1, 0, 2], [0, -3, 0]])
    with pytest.raises(PartialWriteError) as info:
        bench.array("A", SHAPE).apply_pulses(counts, PULSE)
    err = info.value
    assert err.applied == (PulseGroup(1, ((0, 0),)),)
    assert err.in_flight == PulseGroup(2, ((0, 2),)) and err.stage == "firing"
    assert err.not_applied == (PulseGroup(-3, ((1, 1),)),)
    assert err.safe_state_errors and all("pulse generator" in e for e in err.safe_state_errors)
    assert "Nothing was retried" in str(err) and isinstance(err.__cause__, Exception)
    # Each burst reached the chip once: the one in flight was not sent again, the last never.
    assert len(bursts) == 2
    assert [(p.row, p.col, p.count) for p in vb.chip.pulse_log] == [(0, 0, 1), (0, 2, 2)]
    # The generator could not be told to switch off, but the switch matrix disconnected it.
    assert vb.switch_matrix.closed == set() and not vb.smu.state.output
    with pytest.raises(SafeStateError, match="pulser shutdown"):
        bench.close()


def test_read_at_compliance_raises_and_leaves_the_bench_safe(virtual, bench: HardwareBench) -> None:
    vb, _ = virtual
    vb.smu.force_compliance = True
    with pytest.raises(InstrumentError, match="at the current compliance"):
        bench.array("A", SHAPE).read()
    assert_safe(vb)


def test_instrument_error_during_routing_is_a_partial_write_with_nothing_fired(virtual, bench) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    vb.switch_matrix.faults.inject_error = (-285, "TSP syntax error")  # on the next message
    with pytest.raises(PartialWriteError) as info:
        a.apply_pulses(np.array([[1, 0, 0], [0, 0, -1]]), PULSE)
    assert info.value.applied == () and info.value.stage == "routing"
    assert info.value.not_applied == (PulseGroup(-1, ((1, 2),)),)
    assert "its burst was not triggered" in str(info.value)
    assert vb.chip.pulse_log == []
    assert_safe(vb)
