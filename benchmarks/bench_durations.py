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

from benchmarks.bench_instruments import LATENCY, _counted, _open_bench, jump_table_benchmarks
from benchmarks.core import Benchmark, Case

REAL_TIME = 1.0  # VirtualBench.time_scale: instruments busy for as long as real ones


def _read_4x4(quick: bool) -> Case:
    vb, bench, array = _open_bench(LATENCY, time_scale=REAL_TIME)
    return _counted(vb, bench, array.read, "read of 16 devices")


BENCHMARKS: list[Benchmark] = [
    Benchmark("bench.read[1ms+inst]", "4x4", _read_4x4, repeats=5, quick_repeats=3, warmup=1),
    *jump_table_benchmarks("1ms+inst", REAL_TIME),
]
