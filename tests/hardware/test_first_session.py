"""What a first session at a real bench relies on, on the virtual bench: the instruments are put
into a known state at connect (they start in a randomised one), scan reads wait for the
matrix's Channel Ready, no reading is ever taken while relays settle or a gate pulse is on, and
a pulse that does not fit a train's gap is refused before anything is sent."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from drivers.bench import HardwareBench, check_bench
from drivers.crossbar import HardwareCrossbar
from drivers.errors import InstrumentError
from hil import Pulse
from hil.benchconfig import BenchConfig, BenchTiming, SwitchCable
from hil.pulses import LimitError
from simulators.virtual.bench import VirtualBench
from simulators.virtual.keithley707b import CONNECT_RULES, EVENT_CHANNEL_READY
from simulators.virtual.launch import virtual_bench
from tests.backends import QUIET, hardware_bench, one_array_bench
from tests.hardware.conftest import assert_safe

SHAPE = (3, 3)
PULSE = Pulse(4.75, 20e-9)
SCAN = SwitchCable(smu=2, switch=1)
READY = SwitchCable(smu=3, switch=2)
Rig = tuple[VirtualBench, HardwareBench, HardwareCrossbar]


def config(*, ready: bool, timing: BenchTiming | None = None) -> BenchConfig:
    """A 3 x 3 array with the pulser and scan cables, and the Channel Ready cable if `ready`."""
    return dataclasses.replace(
        one_array_bench(SHAPE),
        smu_to_pulser=1,
        smu_to_switch=SCAN,
        switch_ready=READY if ready else None,
        timing=timing or BenchTiming(),
    )


@contextmanager
def rig(bench_config: BenchConfig, state_seed: int | None = 0) -> Iterator[Rig]:
    with virtual_bench(bench_config, seed=2, **QUIET) as (vb, live):
        if state_seed != 0:  # the launcher randomises with seed 0; start again from another state
            for instrument in (vb.smu, vb.pulse_generator, vb.switch_matrix):
                instrument.transact("*RST")
            if state_seed is not None:
                rng = np.random.default_rng(state_seed)
                for instrument in (vb.smu, vb.pulse_generator, vb.switch_matrix):
                    instrument.randomise(rng)
        with hardware_bench(vb, live) as bench:
            yield vb, bench, bench.array("A", SHAPE)


# ---------------------------------------------------------------------- known state at connect
@pytest.mark.parametrize("state_seed", [0, 1, None])
def test_connecting_sets_every_relied_on_setting_and_reports_what_it_changed(state_seed) -> None:
    with rig(config(ready=True), state_seed) as (vb, bench, _):
        smu, awg, matrix = vb.smu.state, vb.pulse_generator.channels[0], vb.switch_matrix
        assert (smu.source, smu.sense, smu.count) == ("VOLT", "CURR", 1)
        assert not smu.senses["CURR"].average and smu.sources["VOLT"].delay_auto
        assert smu.sources["VOLT"].off_mode == "NORM"
        assert (awg.slope, awg.trigger_delay, awg.burst_mode, awg.hold) == ("NEG", 0.0, "TRIG", "WIDT")
        assert math.isinf(awg.load)  # the bench's gate is high impedance
        # Nothing from channel 2 on output 1, and no Ext Trig edge fires channel 2.
        assert (awg.combine, vb.pulse_generator.channels[1].trigger) == ("NONE", "BUS")
        assert matrix.connectrule == CONNECT_RULES["BREAK_BEFORE_MAKE"]
        assert set(matrix.digio_stimuli.values()) == {0.0}
        changed = {role: {c.setting for c in changes} for role, changes in bench.state_changes.items()}
        # The 33500B's *RST trigger slope is POSitive: it is changed whatever the start.
        assert "trigger slope" in changed["pulser"]
        if state_seed is None:  # from *RST the SMU and the matrix already hold what is relied on
            assert changed["smu"] == set() and changed["matrix"] == set()
        else:
            assert {"measure function", "readings per trigger", "current filter"} <= changed["smu"]
            assert "connect rule" in changed["matrix"]
        rows = bench.check()
        reported = {(r.instrument, r.check.removeprefix("known state: ")) for r in rows}
        assert {(role, s) for role, settings in changed.items() for s in settings} <= reported


def test_an_smu_running_the_tsp_command_set_is_refused_with_what_to_do() -> None:
    with virtual_bench(config(ready=True), seed=2, **QUIET) as (vb, live):
        vb.smu.command_set = "TSP"
        with pytest.raises(InstrumentError, match=r"command set is TSP.*Command Set.*power-cycle"):
            hardware_bench(vb, live).__enter__()
        sent = list(vb.smu.received)
        # It asked, configured nothing, and the failed connection still left the SMU safe.
        assert sent[1].startswith("*LANG?;:OUTP?;")
        assert not any(m.startswith((":SOUR:FUNC", ":SENS:FUNC", ":SOUR:VOLT:ILIM")) for m in sent)
        assert "OUTPUT OFF" in sent


def test_bench_check_lists_the_changed_settings_and_the_handshakes() -> None:
    with virtual_bench(config(ready=True), seed=2, **QUIET) as (_, live):
        rows = check_bench(live)
    assert all(r.status != "FAIL" for r in rows), [r for r in rows if r.status == "FAIL"]
    checks = {r.check: r for r in rows}
    assert "found POS, set to NEG" in checks["known state: trigger slope"].detail
    assert "Channel Ready" in checks["scan handshake"].detail
    assert "high impedance" in checks["gate load"].detail
    assert checks["alternating pairs"].detail.startswith("inside the instruments: up pulses on the falling")


# ---------------------------------------------------------------------- handshakes, not fixed delays
@pytest.mark.parametrize("ready", [True, False])
def test_no_reading_is_ever_taken_while_relays_settle_or_a_pulse_is_on(ready: bool) -> None:
    with rig(config(ready=ready)) as (vb, _, a):
        g0 = a.read()  # one scan
        a.apply_pulses(np.ones(SHAPE, dtype=np.int64), PULSE)
        a.pulse_read_train((1, 1), 20, +1, PULSE)  # inside the instruments, over the trigger cable
        g1 = a.read()
        assert vb.smu.disturbed_readings == 0
        assert np.all(g1 > g0)
        assert vb.chip.violations == []
        assert_safe(vb)


def test_scan_readings_wait_for_channel_ready_and_match_reads_device_by_device() -> None:
    with rig(config(ready=True)) as (vb, _, a):
        scanned = a.read()
        wait = [m for m in vb.smu.received if ":TRIG:BLOC:WAIT" in m]
        assert wait and ":TRIG:BLOC:WAIT 3, DIG3" in wait[-1]
        assert any("EVENT_CHANNEL_READY" in m for m in vb.switch_matrix.received)
        assert vb.switch_matrix.digio_stimuli[READY.switch] == EVENT_CHANNEL_READY
    plain = dataclasses.replace(config(ready=False), smu_to_switch=None)
    with rig(plain) as (vb, _, a):
        one_by_one = a.read()
        assert vb.smu.disturbed_readings == 0
    np.testing.assert_allclose(scanned, one_by_one, rtol=1e-6)


def test_a_scan_delay_shorter_than_the_real_settling_gives_wrong_readings() -> None:
    """A bench file that understates the matrix's settling (1 ms claimed, the relays take 4 ms)
    passes the checks, and every scan reading integrates an open circuit for its first 3 ms:
    the virtual 2450 shows what a real one would, readings about 18 % low."""
    understated = BenchTiming(matrix_settle=1e-3, scan_delay=1e-3)
    with rig(config(ready=False, timing=understated)) as (vb, _, a):
        wrong = a.read()
        assert vb.smu.disturbed_readings == SHAPE[0] * SHAPE[1]
    with rig(config(ready=True)) as (vb, _, a):
        right = a.read()
    np.testing.assert_allclose(wrong / right, 1 - 3e-3 / (1 / 60), rtol=1e-3)


def test_a_scan_delay_below_the_matrix_settling_is_refused_before_connecting() -> None:
    with virtual_bench(config(ready=False, timing=BenchTiming(scan_delay=1e-3)), **QUIET) as (vb, live):
        with pytest.raises(ValueError, match=r"scan_delay: 0.001 s is shorter than .* settling time 0.004 s"):
            HardwareBench(live, conductance_range=vb.conductance_range)
        assert vb.smu.transactions == 0


def test_a_pulse_that_does_not_fit_the_train_gap_is_refused_before_anything_is_sent() -> None:
    """1 us trigger latency + 20 ns + 10 us settling is more than a 5 us gap."""
    with rig(config(ready=True, timing=BenchTiming(train_gap=5e-6))) as (vb, bench, a):
        before = bench.transactions()
        with pytest.raises(LimitError, match=r"ends 1.02e-06 s after the SMU's trigger .* train_gap"):
            a.pulse_read_train((0, 0), 5, +1, PULSE)
        assert bench.transactions() == before
        assert vb.chip.pulse_log == []


def test_a_generator_delay_left_by_other_software_would_spoil_a_train() -> None:
    """The known state sets TRIGger:DELay 0; a delay behind the driver's back puts the pulse after
    the reading the train takes for it: every such reading is counted as taken before its pulse."""
    with rig(config(ready=True)) as (vb, _, a):
        a.pulse_read_train((0, 0), 3, +1, PULSE)
        assert vb.smu.disturbed_readings == 0
        vb.pulse_generator.channels[0].trigger_delay = 2e-3
        a.pulse_read_train((0, 0), 3, +1, PULSE)
        assert vb.smu.disturbed_readings == 3
