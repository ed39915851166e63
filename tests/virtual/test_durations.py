"""Instrument time (simulators.virtual.timing): what each virtual instrument accounts for its
commands, against closed forms of its own settings, and the waits the server asks for.

No wall clock anywhere: the tests compare accounted seconds (InstrumentClock) and the waits a
LineServer requests from an injected sleep. Sums of k equal float terms are compared with their
closed form k x t at rel=1e-12: k <= a few hundred terms round off at most ~k ulp (~1e-14).
"""

from __future__ import annotations

import dataclasses
import math
import socket
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from hil import Pulse
from simulators.virtual import (
    Keithley707B,
    Keithley2450,
    Keysight33500B,
    RelayMatrix,
    VirtualBench,
    VirtualChip,
)
from simulators.virtual.keithley2450 import LINE_FREQUENCY
from simulators.virtual.launch import virtual_bench
from simulators.virtual.server import LineServer, VirtualInstrument
from simulators.virtual.timing import SETTLE_707B, SETTLE_RELAY_BOARD, InstrumentClock
from tests.backends import QUIET, hardware_bench, one_array_bench

TRAIN_SETTLE_S = 1e-3  # [timing] train_gap of a bench file that does not set it
EXACT = 1e-12  # relative: float round-off of a sum of equal terms (module docstring)
READ_V = 0.1


def busy(instrument: VirtualInstrument, line: str) -> float:
    """Instrument seconds one message took."""
    instrument.transact(line)
    return instrument.clock.busy


# ---------------------------------------------------------------------- the clock itself
def test_clock_accumulates_per_message_and_in_total() -> None:
    clock = InstrumentClock()
    clock.spend(0.25)
    clock.start_message()
    clock.spend(0.5)
    clock.spend(0.0)
    assert (clock.elapsed, clock.busy, clock.busy_total) == (0.75, 0.5, 0.5)  # 0.25 before any message
    assert clock.wait == 0.0  # scale 0: no wait
    clock.scale = 2.0
    assert clock.wait == 1.0
    # Another thread (a trigger cable from another instrument) adds to the total only.
    other = threading.Thread(target=clock.spend, args=(0.125,))
    other.start()
    other.join()
    assert (clock.elapsed, clock.busy, clock.busy_total) == (0.875, 0.5, 0.5)
    clock.start_message()
    clock.spend(1.0)
    assert (clock.elapsed, clock.busy, clock.busy_total) == (1.875, 1.0, 1.5)
    for bad in (-1e-9, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite and >= 0"):
            clock.spend(bad)
    assert clock.elapsed == 1.875


# ---------------------------------------------------------------------- Keithley 2450
@pytest.fixture
def smu(chip: VirtualChip) -> Keithley2450:
    inst = Keithley2450(chip)
    inst.transact(f':SOUR:FUNC VOLT;:SOUR:VOLT {READ_V};:SENS:FUNC "CURR";:OUTP ON')
    return inst


@pytest.mark.parametrize(("nplc", "count"), [(1.0, 1), (0.01, 7), (2.5, 3)])
def test_a_reading_integrates_nplc_over_the_line_frequency_count_times(
    smu: Keithley2450, nplc: float, count: int
) -> None:
    assert busy(smu, f":SENS:CURR:NPLC {nplc};:SENS:COUN {count}") == 0.0  # settings take no time
    assert busy(smu, ":READ?") == pytest.approx(count * nplc / LINE_FREQUENCY, rel=EXACT)
    assert busy(smu, ":MEAS:CURR?") == pytest.approx(count * nplc / LINE_FREQUENCY, rel=EXACT)
    # A voltage reading integrates with the voltage function's own NPLC (default 1).
    assert busy(smu, ":MEAS:VOLT?") == pytest.approx(count * 1.0 / LINE_FREQUENCY, rel=EXACT)
    assert busy(smu, ":FETC?;*OPC?;:SYST:ERR?") == 0.0  # buffer and status queries take none


def test_a_trigger_model_takes_n_delays_and_integrations_and_timestamps_agree(smu: Keithley2450) -> None:
    n, delay, nplc = 12, 3e-3, 0.5
    smu.transact(f':SENS:CURR:NPLC {nplc};:TRIG:LOAD "Empty";:TRIG:BLOC:BUFF:CLE 1, "defbuffer1";'
                 f':TRIG:BLOC:NOT 2, 1;:TRIG:BLOC:DEL:CONS 3, {delay};:TRIG:BLOC:MEAS 4, "defbuffer1";'
                 f":TRIG:BLOC:BRAN:COUN 5, {n}, 2")  # fmt: skip
    before = smu.clock.elapsed
    integration = nplc / LINE_FREQUENCY
    assert busy(smu, ":INIT") == pytest.approx(n * (delay + integration), rel=EXACT)
    assert smu.clock.elapsed - before == pytest.approx(n * (delay + integration), rel=EXACT)
    # The fixture's 2450 has measured nothing before, so its relative clock starts at 0:
    # reading k starts after k + 1 delays and k integrations.
    stamps = [float(x) for x in smu.transact(f':TRAC:DATA? 1, {n}, "defbuffer1", REL').split(",")]
    expected = [(k + 1) * delay + k * integration for k in range(n)]
    assert stamps == pytest.approx(expected, rel=1e-6)  # the 2450's 7 significant digits


def test_reset_restarts_the_timestamps_not_the_accounted_time(smu: Keithley2450) -> None:
    smu.transact(":SENS:COUN 4;:READ?")
    spent = smu.clock.elapsed
    assert spent == pytest.approx(4 / LINE_FREQUENCY, rel=EXACT)
    smu.transact("*RST")
    first = smu.transact(f':SOUR:VOLT {READ_V};:OUTP ON;:READ? "defbuffer1", REL')
    assert first == "0.000000E+00"  # the first reading after *RST
    assert smu.clock.elapsed == pytest.approx(spent + 1 / LINE_FREQUENCY, rel=EXACT)


def test_a_list_sweep_takes_one_integration_per_point(smu: Keithley2450) -> None:
    smu.transact(":SENS:CURR:NPLC 0.2;:SOUR:LIST:VOLT 0.01,0.02,0.03,0.04;:SOUR:SWE:VOLT:LIST 1, 0, 2")
    assert busy(smu, ":INIT") == pytest.approx(4 * 2 * 0.2 / LINE_FREQUENCY, rel=EXACT)


# ---------------------------------------------------------------------- Keysight 33500B
def arm(awg: Keysight33500B, channel: int, ncycles: int, period: float, output: bool) -> None:
    # The width first: a tenth of the new period fits the default 1 ms period too.
    awg.transact(f":SOUR{channel}:FUNC PULS;:SOUR{channel}:FUNC:PULS:WIDT {period / 10};"
                 f":SOUR{channel}:FUNC:PULS:PER {period};:SOUR{channel}:BURS:MODE TRIG;"
                 f":SOUR{channel}:BURS:NCYC {ncycles};:TRIG{channel}:SOUR BUS;:SOUR{channel}:BURS:STAT 1;"
                 f":OUTP{channel} {int(output)}")  # fmt: skip
    assert awg.transact("SYST:ERR?") == '+0,"No error"'
    assert awg.clock.busy == 0.0  # configuring takes no instrument time


@pytest.mark.parametrize("output", [True, False])
def test_a_bus_triggered_burst_lasts_ncycles_periods(chip: VirtualChip, output: bool) -> None:
    awg = Keysight33500B(chip)
    arm(awg, 1, 25, 1e-3, output)
    assert busy(awg, "*TRG") == pytest.approx(25 * 1e-3, rel=EXACT)  # the output relay changes nothing
    assert busy(awg, "TRIG1") == pytest.approx(25 * 1e-3, rel=EXACT)
    assert busy(awg, "*OPC?") == 0.0
    assert awg.clock.elapsed == pytest.approx(2 * 25 * 1e-3, rel=EXACT)


def test_channels_triggered_together_take_the_longer_burst(chip: VirtualChip) -> None:
    awg = Keysight33500B(chip)
    arm(awg, 1, 4, 2e-3, output=False)
    arm(awg, 2, 100, 1e-4, output=False)
    assert busy(awg, "*TRG") == pytest.approx(max(4 * 2e-3, 100 * 1e-4), rel=EXACT)
    assert busy(awg, "TRIG2") == pytest.approx(100 * 1e-4, rel=EXACT)


def test_a_burst_fired_over_the_trigger_cable_keeps_only_the_smu_busy(
    chip: VirtualChip, smu: Keithley2450
) -> None:
    awg = Keysight33500B(chip)
    arm(awg, 1, 3, 1e-6, output=False)
    awg.transact(":TRIG1:SOUR EXT")  # the generator's last message, executed in this thread
    edges = []

    def cable(pulse):
        edges.append(1)
        return awg.external_trigger(pulse)

    smu.trigger_links[1] = cable
    n, delay = 5, 1e-3
    model = (f':DIG:LINE1:MODE TRIG, OUT;:TRIG:DIG1:OUT:STIM NOT1;:TRIG:LOAD "Empty";'
             f':TRIG:BLOC:NOT 1, 1;:TRIG:BLOC:DEL:CONS 2, {delay};:TRIG:BLOC:MEAS 3, "defbuffer1";'
             f":TRIG:BLOC:BRAN:COUN 4, {n}, 1;:INIT")  # fmt: skip
    smu_thread = threading.Thread(target=smu.transact, args=(model,))  # as its server thread would
    smu_thread.start()
    smu_thread.join()
    assert len(edges) == n
    assert smu.clock.busy == pytest.approx(n * (delay + 1 / LINE_FREQUENCY), rel=EXACT)
    # The bursts (3 cycles of 1 us each) count in the generator's total, and no client of the
    # generator waits for them: they ran during the 2450's delay blocks.
    assert awg.clock.elapsed == pytest.approx(n * 3 * 1e-6, rel=EXACT)
    assert awg.clock.busy == awg.clock.busy_total == 0.0


# ---------------------------------------------------------------------- switch matrices
def test_the_707b_settles_once_per_command_that_moves_relays(chip: VirtualChip) -> None:
    matrix = Keithley707B(chip)
    steps = [
        ('channel.close("1A01") waitcomplete()', SETTLE_707B),
        ('channel.close("1A01") waitcomplete()', 0.0),  # already closed: no relay moves
        ('channel.exclusiveclose("1A01,1B02,1C03") waitcomplete()', SETTLE_707B),  # together
        ('print(channel.getclose("allslots"))', 0.0),
        ('channel.close("1D04") channel.close("1E05") waitcomplete()', 2 * SETTLE_707B),  # two commands
        ('channel.close("9Z99")', 0.0),  # refused: nothing moves
        ('channel.open("allslots") waitcomplete()', SETTLE_707B),
        ('channel.open("allslots") reset()', 0.0),  # nothing closed: nothing moves
    ]
    for line, expected in steps:
        assert busy(matrix, line) == expected, line
    assert matrix.clock.elapsed == pytest.approx(5 * SETTLE_707B, rel=EXACT)  # five relay changes


def test_the_relay_board_settles_once_per_command_that_moves_relays(chip: VirtualChip) -> None:
    board = RelayMatrix(chip)
    steps = [
        ("CLOSE 1 1", SETTLE_RELAY_BOARD),
        ("CLOSE 1 1", 0.0),
        ("OPEN 2 2", 0.0),  # already open
        ("SET 1:1,2:3,3:4", SETTLE_RELAY_BOARD),
        ("SET 1:1,2:3,3:4", 0.0),
        ("SET 9:9", 0.0),  # ERR 3: nothing changes
        ("CLOSED?", 0.0),
        ("OPENALL", SETTLE_RELAY_BOARD),
        ("SET NONE", 0.0),
    ]
    for line, expected in steps:
        assert busy(board, line) == expected, line
    board.faults.inject_error = (4, "relay fault")
    assert busy(board, "CLOSE 2 2") == 0.0  # rejected unexecuted
    assert board.clock.elapsed == pytest.approx(3 * SETTLE_RELAY_BOARD, rel=EXACT)


# ---------------------------------------------------------------------- the server's waits
class Recorder:
    """A LineServer sleep that records the waits it is asked for and takes none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return False


@pytest.fixture
def served(smu: Keithley2450) -> Iterator[tuple[Callable[[str], str], Recorder, Keithley2450]]:
    recorder = Recorder()
    server = LineServer(smu, sleep=recorder)
    server.start()
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    stream = conn.makefile("rb")

    def query(line: str) -> str:
        conn.sendall(line.encode() + b"\n")
        return stream.readline().decode().rstrip("\n")

    try:
        yield query, recorder, smu
    finally:
        stream.close()
        conn.close()
        server.stop()


def test_with_durations_off_nothing_sleeps(served) -> None:
    query, recorder, smu = served
    assert smu.clock.scale == 0.0  # the library default
    query(':SENS:COUN 10;:TRIG:LOAD "Empty";:TRIG:BLOC:DEL:CONS 1, 5;:TRIG:BLOC:MEAS 2;*OPC?')
    assert query(":INIT;*OPC?") == "1"
    assert float(query(":READ?")) == 0.0  # nothing routed to the SMU
    assert recorder.waits == []
    assert smu.clock.elapsed == pytest.approx(5 + 11 / LINE_FREQUENCY, rel=EXACT)  # still accounted


def test_the_server_waits_busy_times_scale_and_latency_through_its_sleep(served) -> None:
    query, recorder, smu = served
    smu.clock.scale = 0.5
    assert query(":SENS:CURR:NPLC 2;:SENS:COUN 3;*OPC?") == "1"  # no instrument time: no wait
    assert recorder.waits == []
    query(":READ?")
    assert recorder.waits == [pytest.approx(0.5 * 3 * 2 / LINE_FREQUENCY, rel=EXACT)]
    smu.faults.latency = 0.004
    smu.clock.scale = 1.0
    query(":READ?")
    assert recorder.waits[1:] == [0.004, pytest.approx(3 * 2 / LINE_FREQUENCY, rel=EXACT)]


def test_the_reply_comes_after_the_instrument_time(smu: Keithley2450) -> None:
    """The server thread waits inside sleep() before it sends: while the wait is held open no
    reply can be on the socket; once released, it is."""
    asked, release = threading.Event(), threading.Event()

    def held(seconds: float) -> bool:
        asked.set()
        release.wait(5)
        return False

    smu.clock.scale = 1.0
    server = LineServer(smu, sleep=held)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b":READ?\n")
            assert asked.wait(5)
            conn.setblocking(False)
            with pytest.raises(BlockingIOError):
                conn.recv(100)
            release.set()
            conn.setblocking(True)
            assert conn.recv(100).endswith(b"\n")
    finally:
        release.set()
        server.stop()


def test_bench_time_scale_sets_every_instrument_and_refuses_bad_values(chip: VirtualChip) -> None:
    bench = VirtualBench(chip)
    assert bench.time_scale == 0.0
    bench.time_scale = 1.0
    assert [inst.clock.scale for inst in bench.instruments.values()] == [1.0] * 4
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="time_scale"):
            bench.time_scale = bad
    assert bench.time_scale == 1.0


# ---------------------------------------------------------------------- through the real drivers
PULSE = Pulse(4.75, 20e-9)
SHAPE = (2, 3)
DEVICE = (1, 2)
SCALE = 0.01  # durations on, at 1/100 of real time: the servers really wait, briefly


@pytest.mark.parametrize("cable", [True, False])
def test_a_pulse_read_train_costs_instrument_time_in_proportion_to_its_length(cable: bool) -> None:
    """Pulse-read trains of 10 and 30 cycles through HardwareCrossbar on a virtual bench with
    durations on. With the trigger cable the 2450 runs each cycle (delay TRAIN_SETTLE_S, one
    reading); without it each cycle is a *TRG burst of one period and one :READ?."""
    config = dataclasses.replace(one_array_bench(SHAPE), smu_to_pulser=1 if cable else None)
    with virtual_bench(config, seed=3, time_scale=SCALE, **QUIET) as (vb, live), \
            hardware_bench(vb, live) as bench:  # fmt: skip
        assert [inst.clock.scale for inst in vb.instruments.values()] == [SCALE] * 4
        array = bench.array("A", SHAPE)
        assert array.instrument_trains is cable
        nplc = bench.instruments.nplc
        spent, waited = {}, {}
        for n, sign in ((10, +1), (30, -1)):
            before = {name: inst.clock.elapsed for name, inst in vb.instruments.items()}
            generator_waits = vb.pulse_generator.clock.busy_total
            g = array.pulse_read_train(DEVICE, n, sign, PULSE)
            assert g.shape == (n,) and np.all(np.isfinite(g))
            spent[n] = {name: inst.clock.elapsed - before[name] for name, inst in vb.instruments.items()}
            waited[n] = vb.pulse_generator.clock.busy_total - generator_waits
        period = vb.pulse_generator.channels[0].period
        for n, used in spent.items():
            # One pulse per cycle either way; by *TRG its client waits for it, by cable nobody does.
            assert used["pulse_generator"] == pytest.approx(n * period, rel=EXACT)
            assert waited[n] == (0.0 if cable else pytest.approx(n * period, rel=EXACT))
            if cable:
                assert used["smu"] == pytest.approx(n * (TRAIN_SETTLE_S + nplc / LINE_FREQUENCY), rel=EXACT)
            else:
                assert used["smu"] == pytest.approx(n * nplc / LINE_FREQUENCY, rel=EXACT)
            settles = used["switch_matrix"] / SETTLE_707B  # whole relay changes, at least one
            assert settles >= 1 and settles == pytest.approx(round(settles), abs=1e-9)
        assert spent[30]["smu"] == pytest.approx(3 * spent[10]["smu"], rel=EXACT)
