"""The order of the safe-state steps on each way out of HardwareCrossbar and HardwareBench, and
the bench lock's release on each way out, observed as calls (pytest-mock)."""

from __future__ import annotations

from unittest.mock import call

import numpy as np
import pytest

import drivers.crossbar
from drivers.bench import HardwareBench
from drivers.errors import InstrumentError, PartialWriteError, SafeStateError
from drivers.registry import open_instrument
from hil import Pulse
from tests.backends import hardware_bench
from tests.hardware.conftest import SHAPE, assert_safe

PULSE = Pulse(4.75, 20e-9)
# HardwareCrossbar's way to the safe state (BenchInstruments.make_safe), in this order.
MAKE_SAFE = ["pulser_off", "matrix_open", "smu_off", "confirm_pulser", "confirm_smu"]


def watch_make_safe(mocker, bench: HardwareBench):
    """A mock whose mock_calls list the safe-state steps as they run (each still runs)."""
    order = mocker.Mock()
    inst = bench.instruments
    steps = {
        "pulser_off": (inst.pulser, "output_off"),
        "matrix_open": (inst.matrix, "open_all"),
        "smu_off": (inst.smu, "output_off"),
    }
    for name, (obj, attr) in steps.items():
        order.attach_mock(mocker.patch.object(obj, attr, wraps=getattr(obj, attr)), name)
    confirm = mocker.patch.object(drivers.crossbar, "_confirm", wraps=drivers.crossbar._confirm)
    order.attach_mock(confirm, "confirm")
    return order


def names(order) -> list[str]:
    """The step names of order.mock_calls; a confirmation is named by its instrument."""
    out = []
    for c in order.mock_calls:
        name = c[0]
        if name == "confirm":
            instrument = c.args[0]
            name = "confirm_pulser" if instrument.name.startswith("Keysight") else "confirm_smu"
        out.append(name)
    return out


def test_a_failed_read_ends_in_the_safe_state_steps_in_order(virtual, bench, mocker) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    a.read()
    order = watch_make_safe(mocker, bench)
    smu = bench.drivers["smu"]
    mocker.patch.object(smu, "read_current_switched", side_effect=InstrumentError(smu.name, "not transient"))
    with pytest.raises(InstrumentError, match="not transient"):
        a.read()
    # The read had switched the SMU on and routed a device; the failure then ran make_safe.
    assert names(order)[-len(MAKE_SAFE) :] == MAKE_SAFE
    assert names(order).count("pulser_off") == 1  # once: a non-transient fault is not retried
    assert_safe(vb)


def test_a_failed_pulse_write_ends_in_the_safe_state_steps_in_order(virtual, bench, mocker) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    order = watch_make_safe(mocker, bench)
    pulser = bench.instruments.pulser
    mocker.patch.object(pulser, "fire", side_effect=InstrumentError(pulser.name, "burst refused"))
    with pytest.raises(PartialWriteError):
        a.apply_pulses(np.ones(SHAPE, dtype=np.int64), PULSE)
    # The write had switched the generator on (output_off is a step of configure_pulse too).
    assert names(order)[-len(MAKE_SAFE) :] == MAKE_SAFE
    pulser.fire.assert_called_once()  # never repeated
    assert_safe(vb)


def test_an_interrupt_during_a_pulse_write_makes_safe_and_goes_on(virtual, bench, mocker) -> None:
    vb, _ = virtual
    a = bench.array("A", SHAPE)
    order = watch_make_safe(mocker, bench)
    mocker.patch.object(bench.instruments.pulser, "fire", side_effect=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        a.apply_pulses(np.ones(SHAPE, dtype=np.int64), PULSE)
    assert names(order)[-len(MAKE_SAFE) :] == MAKE_SAFE
    assert_safe(vb)


def test_closing_an_array_runs_the_safe_state_steps_in_order(virtual, bench, mocker) -> None:
    a = bench.array("A", SHAPE)
    order = watch_make_safe(mocker, bench)
    a.close()
    assert names(order) == MAKE_SAFE


def test_closing_the_bench_shuts_down_generator_first_then_disconnects(virtual, mocker) -> None:
    vb, config = virtual
    with hardware_bench(vb, config) as bench:
        order = mocker.Mock()
        for role, driver in bench.drivers.items():
            order.attach_mock(
                mocker.patch.object(driver, "shutdown", wraps=driver.shutdown), f"{role}_shutdown"
            )
            close = mocker.patch.object(driver.adapter, "close", wraps=driver.adapter.close)
            order.attach_mock(close, f"{role}_disconnect")
        order.attach_mock(
            mocker.patch.object(bench._lock, "release", wraps=bench._lock.release), "lock_release"
        )
    assert [c[0] for c in order.mock_calls] == [
        "pulser_shutdown",
        "smu_shutdown",
        "matrix_shutdown",
        "smu_disconnect",
        "pulser_disconnect",
        "matrix_disconnect",
        "lock_release",
    ]
    assert_safe(vb)


# ---------------------------------------------------------------------- the bench lock
@pytest.fixture
def lock(mocker):
    """The lock HardwareBench takes (hil.benchlock.BenchLock.acquire's result), as a mock."""
    return mocker.patch("drivers.bench.BenchLock").acquire.return_value


def test_the_lock_is_released_after_a_normal_close(virtual, lock) -> None:
    vb, config = virtual
    with hardware_bench(vb, config) as bench:
        bench.array("A", SHAPE).read()
        lock.release.assert_not_called()
    lock.release.assert_called_once_with()


def test_the_lock_is_released_when_an_error_leaves_the_with_block(virtual, lock) -> None:
    vb, config = virtual
    with pytest.raises(RuntimeError, match="protocol bug"), hardware_bench(vb, config):
        raise RuntimeError("protocol bug")
    lock.release.assert_called_once_with()
    assert_safe(vb)


@pytest.mark.parametrize("error", [ConnectionRefusedError("no route"), KeyboardInterrupt()])
def test_the_lock_is_released_when_opening_fails_part_way(virtual, lock, mocker, error) -> None:
    vb, config = virtual
    opened = []

    def opener(instrument, limits):
        if instrument.role == "pulser":  # the SMU is open by then
            raise error
        driver = open_instrument(instrument, limits)
        opened.append(mocker.patch.object(driver, "shutdown", wraps=driver.shutdown))
        return driver

    with pytest.raises(InstrumentError if isinstance(error, Exception) else KeyboardInterrupt):
        HardwareBench(config, conductance_range=vb.conductance_range, opener=opener)
    lock.release.assert_called_once_with()
    (smu_shutdown,) = opened
    smu_shutdown.assert_called_once_with()  # what was open was made safe before the lock went


def test_the_lock_is_released_even_when_the_shutdown_fails(virtual, lock, mocker) -> None:
    vb, config = virtual
    with pytest.raises(SafeStateError, match="smu shutdown"), hardware_bench(vb, config) as bench:
        mocker.patch.object(bench.drivers["smu"], "shutdown", side_effect=OSError("link down"))
    lock.release.assert_called_once_with()
    assert lock.mock_calls[-1] == call.release()
