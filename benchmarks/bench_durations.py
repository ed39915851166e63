"""Bench benchmarks with instrument time: the rows bench.*[1ms] of bench_instruments again, on a
virtual bench whose instruments also take the time their commands take on real instruments
(VirtualBench.time_scale = 1.0, simulators.virtual.timing): a 2450 reading integrates 1 NPLC at
60 Hz (16.7 ms), a trigger-model delay waits its delay, a 33500B burst lasts NCYCles x period, a
707B switching command waits 4 ms for its relays. On top, 1 ms per transaction as in [1ms].

bench.read[1ms+inst]: a read() of the 4 x 4 array. bench.jump_table.*[1ms+inst]: the 4 x 4 jump
table (all 16 devices of A_main, one cycle of P up + P down pulses, no noise reads) BEFORE
(trains=False, pulse by pulse) and AFTER (trains=True, one pulse_read_train per device and
direction, run by the 2450's trigger model firing the 33500B), P = 10 (quick: 5) and P = 100
(quick: 30). The notes give the transactions and the instrument seconds the client waited for
(InstrumentClock.busy_total over all instruments) per operation: trains save round trips, not
integration time, which now shows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from benchmarks.bench_instruments import DEVICES, LATENCY, PULSE, _close_at_exit, _transactions
from benchmarks.core import Benchmark, Case
from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from protocols.jumptable import measure_jump_table
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import start_virtual_bench

REAL_TIME = 1.0  # VirtualBench.time_scale: instruments busy for as long as real ones


def _open_timed_bench() -> tuple[VirtualBench, HardwareBench, HardwareCrossbar]:
    vb, config = start_virtual_bench(seed=0, latency=LATENCY, time_scale=REAL_TIME)  # virtual-bench.toml
    bench = HardwareBench(config, conductance_range=vb.conductance_range)
    _close_at_exit(vb.stop, bench.close)
    return vb, bench, bench.array("A_main", (4, 4))


def _waited_for(vb: VirtualBench) -> float:
    """Instrument seconds the client has waited for (busy_total: work started over a trigger
    cable overlaps its sender's and is left out, so the instruments' times add up)."""
    return sum(inst.clock.busy_total for inst in vb.instruments.values())


def _counted(vb: VirtualBench, bench: HardwareBench, run: Callable[[], object], what: str) -> Case:
    """run() once (the warm-up) counting transactions and the instrument seconds waited for."""
    transactions, seconds = _transactions(bench), _waited_for(vb)
    run()
    transactions, seconds = _transactions(bench) - transactions, _waited_for(vb) - seconds
    return Case(run, info=f"{transactions} transactions, {seconds:.3g} s instrument time per {what}")


def _read_4x4(quick: bool) -> Case:
    vb, bench, array = _open_timed_bench()
    return _counted(vb, bench, array.read, "read of 16 devices")


def _jump_table(p: int, trains: bool) -> Case:
    """The 4 x 4 jump table with P = p; one call is one table (the first, counted, is the warm-up)."""
    vb, bench, array = _open_timed_bench()
    assert array.instrument_trains, "the shipped virtual bench has the SMU -> generator trigger cable"

    def table() -> float:
        t0 = time.perf_counter()
        measure_jump_table(array, PULSE, DEVICES, n_cycles=1, n_up=p, noise_reads=0, n_bins=4, n_quantiles=5,
                           trains=trains)  # fmt: skip
        return time.perf_counter() - t0

    how = "trains" if trains else "per pulse"
    case = _counted(vb, bench, table, f"4x4 table, {p} up + {p} down per device, {how}")
    return dataclasses.replace(case, self_timed=True)  # a table is long: no calibration call


def _jump_before(quick: bool) -> Case:
    return _jump_table(5 if quick else 10, trains=False)


def _jump_after(quick: bool) -> Case:
    return _jump_table(5 if quick else 10, trains=True)


def _jump_before_long(quick: bool) -> Case:
    return _jump_table(30 if quick else 100, trains=False)


def _jump_after_long(quick: bool) -> Case:
    return _jump_table(30 if quick else 100, trains=True)


BENCHMARKS: list[Benchmark] = [
    Benchmark("bench.read[1ms+inst]", "4x4", _read_4x4, repeats=5, quick_repeats=3, warmup=1),
    Benchmark("bench.jump_table.before[1ms+inst]", "4x4, P=10 (quick: 5)", _jump_before, repeats=3,
              quick_repeats=1, warmup=0),
    Benchmark("bench.jump_table.after[1ms+inst]", "4x4, P=10 (quick: 5)", _jump_after, repeats=3,
              quick_repeats=1, warmup=0),
    # A table lasts about a minute at P = 100: one timed repeat after the counted one.
    Benchmark("bench.jump_table.before.long[1ms+inst]", "4x4, P=100 (quick: 30)", _jump_before_long,
              repeats=1, quick_repeats=1, warmup=0),
    Benchmark("bench.jump_table.after.long[1ms+inst]", "4x4, P=100 (quick: 30)", _jump_after_long,
              repeats=1, quick_repeats=1, warmup=0),
]
