"""Property: whatever the caller does, no command on the wire leaves the bench limits.

Hypothesis draws sequences of calls on one virtual bench: HardwareCrossbar reads, pulses,
stochastic updates, VMMs and pulse-read trains; the drivers called directly (pulse generator,
SMU, switch matrix); short symmetry-point and jump-table runs. Parameters are drawn on both
sides of every limit. Calls outside the limits must raise (and are swallowed here); after every
call each message the virtual instruments received since the last check is parsed by
tests.safety.wire.WireChecker, which fails on any level outside the limits and on any command
it does not know. The simulated chip must record no stress (VirtualChip.violations), and the
bench must be safe again (outputs off, switches open).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.bench import HardwareBench
from drivers.errors import InstrumentError, PartialWriteError
from hil import LimitError, Pulse
from hil.benchconfig import BenchConfig
from protocols.jumptable import NoTableError, measure_jump_table
from protocols.symmetry import find_symmetry_point
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench
from tests.backends import hardware_bench, one_array_bench
from tests.hardware.conftest import is_safe
from tests.safety.wire import WireChecker

SHAPE = (2, 2)
MAX_WIDTH = 200e-9  # bench max_pulse_width: room for widths on both sides of both limits
ROLES = {"smu": "smu", "pulser": "pulse_generator", "matrix": "switch_matrix"}

# Refusals a random call may meet: a limit or an instrument window (ValueError, LimitError), a
# device outside the array (IndexError), a setting the instrument itself refused
# (InstrumentError; inside a pulse write a PartialWriteError, the bench made safe), a jump
# table with too few steps to bin.
REFUSED = (ValueError, IndexError, LimitError, InstrumentError, PartialWriteError, NoTableError)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[VirtualBench, BenchConfig, HardwareBench]]:
    """One virtual bench for the whole module, with the SMU -> generator trigger cable."""
    config = dataclasses.replace(one_array_bench(SHAPE, max_pulse_width=MAX_WIDTH), smu_to_pulser=1)
    with virtual_bench(config, seed=11) as (vb, live), hardware_bench(vb, live) as bench:
        yield vb, live, bench


# ---------------------------------------------------------------------- strategies
# Values inside the limits are drawn more often than values on or beyond them, so that most
# calls reach the wire and the rest test the refusals.
def mostly(inside: st.SearchStrategy[Any], edges: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`edges` one draw in EDGE_ONE_IN, `inside` otherwise."""
    return st.sampled_from(range(EDGE_ONE_IN)).flatmap(lambda k: edges if k == 0 else inside)


EDGE_ONE_IN = 6


amplitudes = mostly(st.floats(0.5, 6.0), st.sampled_from([6.0, 6.000001, 0.0, -1.0, 11.0]))
widths = mostly(st.floats(16e-9, MAX_WIDTH), st.sampled_from([16e-9, 15.9e-9, 5e-9, MAX_WIDTH, 201e-9, 1e-3]))
pulses = st.tuples(amplitudes, widths)
devices = mostly(st.tuples(st.integers(0, 1), st.integers(0, 1)), st.sampled_from([(-1, 0), (2, 0), (0, 2)]))
volts = mostly(st.floats(-0.1, 0.1), st.sampled_from([0.1, -0.1, 0.1000001, -0.15, 0.5]))
probabilities = mostly(st.floats(-1.0, 1.0), st.sampled_from([1.0, -1.0, 1.01, -1.2]))
counts = mostly(st.integers(-3, 3), st.sampled_from([1000, -1000, 1001, -1001, 400]))
windows = st.integers(2, 3).flatmap(lambda w: st.tuples(st.just(w), st.integers(2 * w - 1, 2 * w + 1)))

steps = st.one_of(
    st.tuples(st.just("read"), st.none() | st.lists(devices, min_size=1, max_size=4, unique=True)),
    st.tuples(st.just("pulses"), st.lists(counts, min_size=4, max_size=4), pulses),
    st.tuples(st.just("stochastic"), st.lists(probabilities, min_size=2, max_size=2),
              st.lists(probabilities, min_size=2, max_size=2), mostly(st.integers(1, 10), st.just(0)),
              pulses),
    st.tuples(st.just("vmm"), st.booleans(), st.lists(volts, min_size=2, max_size=2)),
    st.tuples(st.just("train"), devices, mostly(st.integers(1, 5), st.just(0)),
              mostly(st.sampled_from([1, -1]), st.just(0)), pulses),
    st.tuples(st.just("pulser"), pulses, mostly(st.sampled_from([1, -1]), st.just(2)),
              mostly(st.integers(1, 50), st.sampled_from([0, -1, 1000, 1001]))),
    st.tuples(st.just("smu"), volts, mostly(st.floats(1e-9, 1e-4), st.sampled_from([1e-4, 1.01e-4, 1e-3])),
              volts),
    st.tuples(st.just("matrix"), st.lists(st.tuples(st.integers(0, 9), st.integers(0, 14)), max_size=4)),
    st.tuples(st.just("symmetry"), windows, pulses),
    st.tuples(st.just("jump"), st.lists(devices, min_size=1, max_size=2, unique=True), st.integers(1, 2),
              st.integers(1, 3), st.sampled_from([0, 2]), pulses),
)


# ---------------------------------------------------------------------- one step
def run_step(step: tuple[Any, ...], bench: HardwareBench, config: BenchConfig) -> None:
    """Carry out one drawn call; a refusal is fine, the wire check decides."""
    a = bench.array("A", SHAPE)
    inst = bench.instruments
    kind = step[0]
    try:
        if kind == "read":
            a.read(None if step[1] is None else np.array(step[1]))
        elif kind == "pulses":
            a.apply_pulses(np.reshape(step[1], SHAPE), Pulse(*step[2]))
        elif kind == "stochastic":
            a.stochastic_update(np.array(step[1]), np.array(step[2]), step[3], Pulse(*step[4]))
        elif kind == "vmm":
            (a.vmm_transposed if step[1] else a.vmm)(np.array(step[2]))
        elif kind == "train":
            a.pulse_read_train(step[1], step[2], step[3], Pulse(*step[4]))
        elif kind == "pulser":
            (amplitude, width), polarity, count = step[1:]
            inst.pulser.configure_pulse(amplitude, width, polarity)
            inst.pulser.output_on()
            inst.pulser.fire(count)  # the matrix is open: the burst reaches no pad
        elif kind == "smu":
            bias, compliance, other = step[1:]
            inst.smu.configure_read(bias, compliance)
            inst.smu.set_bias(other)
            inst.smu.output_on()  # the matrix is open: nothing is connected
            inst.smu.read_currents([bias, other])
        elif kind == "matrix":
            # Only crosspoints a routing of the bench may close, or ones the matrix must refuse.
            rows, cols = inst.matrix.size
            inside = [1 <= r <= rows and 1 <= c <= cols for r, c in step[1]]
            points = [p for p, ok in zip(step[1], inside, strict=True) if not ok or _routable(p, config)]
            inst.matrix.connect_exactly(points)
        elif kind == "symmetry":
            (window, max_pairs), pulse = step[1:]
            find_symmetry_point(a, Pulse(*pulse), max_pairs=max_pairs, window=window)
        elif kind == "jump":
            chosen, cycles, n_up, noise_reads, pulse = step[1:]
            measure_jump_table(a, Pulse(*pulse), chosen, n_cycles=cycles, n_up=n_up,
                               noise_reads=noise_reads, n_bins=2, n_quantiles=2)  # fmt: skip
    except REFUSED:
        pass
    finally:
        if kind in ("pulser", "smu", "matrix"):
            # Direct driver calls go behind the backend's back: safe state, and its caches reset.
            assert inst.make_safe() == []


def _routable(point: tuple[int, int], config: BenchConfig) -> bool:
    return point[1] in WireChecker(config).routes.get(point[0], set())


def flush_and_collect(vb: VirtualBench, bench: HardwareBench, seen: dict[str, int]) -> dict[str, list[str]]:
    """Messages each instrument processed since the last call. A query to each first: a write
    is not acknowledged, and the server has handled everything before a query it answers."""
    for role in ROLES:
        assert str(bench.drivers[role].ask("*OPC?")).strip() == "1"
    new = {}
    for name in ROLES.values():
        log = list(vb.instruments[name].received)
        new[name] = log[seen.get(name, 0):]
        seen[name] = len(log)
    return new


# ---------------------------------------------------------------------- the property
@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(sequence=st.lists(steps, min_size=1, max_size=5))
def test_no_command_ever_leaves_the_limits(rig, sequence: list[tuple[Any, ...]]) -> None:
    vb, config, bench = rig
    checker = WireChecker(config)
    for inst in vb.instruments.values():
        inst.received.clear()  # RECEIVED_LOG bounds it; each example starts from an empty log
    seen: dict[str, int] = {}
    for step in sequence:
        run_step(step, bench, config)
        new = flush_and_collect(vb, bench, seen)
        problems = [p for name, messages in new.items() for p in checker.problems(name, messages)]
        assert problems == [], f"after {step!r}"
        assert vb.chip.violations == [], f"after {step!r}"
        assert is_safe(vb), f"after {step!r} the bench is not safe"
    assert list(vb.relay_matrix.received) == []  # not part of this bench


def test_the_checker_catches_what_it_must() -> None:
    """The parser is not vacuous: levels beyond each limit, unknown commands, bad routes fail."""
    config = one_array_bench(SHAPE, max_pulse_width=MAX_WIDTH)
    checker = WireChecker(config)
    lim = config.limits
    bad = {
        "smu": [f":SOUR:VOLT:LEV {lim.max_read_voltage * 1.01:g}",
                f":SOUR:VOLT:ILIM {lim.current_compliance * 2:g}",
                ":SOUR:LIST:VOLT 0.01,-0.2", ":SOUR:FUNC CURR", ":SOUR:CURR:LEV 1e-3"],
        "pulse_generator": [f"SOUR1:VOLT:HIGH {lim.max_pulse_amplitude + 0.01:f}", "SOUR1:VOLT:LOW -6.500000",
                            "SOUR1:FUNC:PULS:WIDT 1.000000e-08", "SOUR1:FUNC:PULS:WIDT 2.100000e-07",
                            f"SOUR1:BURS:NCYC {lim.max_pulses_per_call + 1}", "OUTP1:LOAD 50",
                            "SOUR1:BURS:STAT 0", "TRIG1:SOUR IMM", "SOUR1:FUNC DC", "SOUR1:VOLT:OFFS 1"],
        "switch_matrix": ['channel.exclusiveclose("1C05,1D09") waitcomplete() print(errorqueue.count)',
                          'channel.close("1A01") waitcomplete() print(errorqueue.count)',
                          'channel.exclusiveclose("1E01") waitcomplete() print(errorqueue.count)',
                          "reset()"],
    }  # fmt: skip
    for name, messages in bad.items():
        for message in messages:
            assert checker.problems(name, [message]), f"{name}: {message!r} passed the checker"
    good = {
        "smu": [":SOUR:VOLT:LEV 0.1", ":SOUR:VOLT:ILIM 0.0001",
                ":SENS:FUNC 'CURR';:SENS:CURR:NPLC 1.000000;"],
        "pulse_generator": ["SOUR1:VOLT:LOW -6.000000", "SOUR1:FUNC:PULS:WIDT 1.600000e-08", "*TRG;*WAI"],
        "switch_matrix": ['channel.exclusiveclose("1C01,1D09") waitcomplete() print(errorqueue.count)'],
    }
    for name, messages in good.items():
        assert checker.problems(name, messages) == []



# Found by the property test: the width written first must also leave the 33500B's 16 ns gap.
def test_a_longer_pulse_after_a_short_one_is_accepted(rig) -> None:
    _, _, bench = rig
    pulser = bench.instruments.pulser
    try:
        pulser.configure_pulse(3.0, 18e-9, 1)
        pulser.configure_pulse(3.0, 20e-9, 1)
    finally:
        assert bench.instruments.make_safe() == []
