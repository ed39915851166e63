"""Bench benchmarks: the drivers on the virtual bench (2450, 33500B, 707B over loopback TCP).

bench.idn.*: one *IDN? query to the virtual 2450 (no added latency), bare pyvisa-py against our
driver (PyMeasure adapter, transaction counter), both to one virtual bench served by
`hil bench up` in a child process (as a real instrument is another machine); the goal is the
driver no more than 10 % above bare pyvisa, so that the framework never sets a bench's pace.
bench.*[1ms]: protocol steps with the virtual instruments' latency at 1 ms per transaction, so
the time shows the round trips: a read() of the 4 x 4 array, a symmetry-point pair (all 16
devices +1 pulse, read, -1 pulse, read, as protocols.symmetry does per pair), both as the shipped
bench runs them (each read call one 707B scan stepped by the 2450 over the [triggers]
smu_to_switch cable) and, in the .device_by_device rows, on the same bench without that cable
(one routing and one reading per device), and a 4 x 4 jump
table (all 16 devices of A_main, one cycle of P up + P down pulses, no noise reads) through
protocols.jumptable.measure_jump_table, BEFORE (trains=False: every pulse goes to all 16
devices at once, then all 16 are read) and AFTER (trains=True: per device one up and one down
pulse_read_train, run by the 2450's trigger model firing the 33500B over the trigger cable).
P = 10 (quick: 5), and P = 100 (quick: 30; one timed repeat): pulse by pulse a table costs ~14
transactions per pulse step (a pulse call on all 16, a scan read of all 16; ~46 when reads went
device by device), with trains a fixed ~477 (the first read of the 16 devices and 32 trains of
~14.6) whatever P. The notes give the transactions (messages to all instruments) per operation,
for reads and pairs the second call's and the first's (with the set-up done once), per table for
the jump tables.
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyvisa

from benchmarks.core import Benchmark, Case
from drivers.bench import HardwareBench
from drivers.crossbar import HardwareCrossbar
from drivers.registry import open_instrument
from hil import Pulse
from hil.bench import total_transactions
from hil.benchconfig import BenchConfig, load_bench_config
from protocols.jumptable import measure_jump_table
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import DEFAULT_CONFIG, start_virtual_bench

PULSE = Pulse(4.75, 20e-9)  # the shipped bench's pulse (the 33500B's 16 ns minimum, 6 V limit)
LATENCY = 1e-3  # seconds per transaction on every virtual instrument
DEVICES = [(r, c) for r in range(4) for c in range(4)]  # the jump table's: all of A_main
_stack = ExitStack()  # virtual benches and connections, closed when the process exits


def _close_at_exit(*callbacks: Callable[[], object]) -> None:
    """Close these (last first) at exit. atexit runs last-registered first, and pyvisa registers
    its own clean-up when its library is first loaded: registering after that closes our
    connections while they still work."""
    if not _stack._exit_callbacks:  # type: ignore[attr-defined]
        atexit.register(_stack.close)
    for callback in callbacks:
        _stack.callback(callback)


def _open_bench(
    latency: float, switch_cable: bool = True, time_scale: float = 0.0
) -> tuple[VirtualBench, HardwareBench, HardwareCrossbar]:
    """benches/virtual-bench.toml (4 x 4), or the same bench without the SMU -> 707B cable;
    time_scale: VirtualBench.time_scale (1.0: the instruments take as long as real ones)."""
    config = load_bench_config(DEFAULT_CONFIG)
    if not switch_cable:
        config = dataclasses.replace(config, smu_to_switch=None)
    vb, config = start_virtual_bench(config, seed=0, latency=latency, time_scale=time_scale)
    bench = HardwareBench(config, conductance_range=vb.conductance_range)
    _close_at_exit(vb.stop, bench.close)
    return vb, bench, bench.array("A_main", (4, 4))


def _transactions(bench: HardwareBench) -> int:
    return total_transactions(bench.transactions())


def _waited_for(vb: VirtualBench) -> float:
    """Instrument seconds the client has waited for (busy_total: work started over a trigger
    cable overlaps its sender's and is left out, so the instruments' times add up)."""
    return sum(inst.clock.busy_total for inst in vb.instruments.values())


def _counted(vb: VirtualBench, bench: HardwareBench, run: Callable[[], object], what: str) -> Case:
    """run() once (also the first warm-up), counting its transactions and, when the instruments
    take real time, the instrument seconds waited for."""
    transactions, seconds = _transactions(bench), _waited_for(vb)
    run()
    transactions, seconds = _transactions(bench) - transactions, _waited_for(vb) - seconds
    timed = f", {seconds:.3g} s instrument time" if vb.time_scale > 0 else ""
    return Case(run, info=f"{transactions} transactions{timed} per {what}")


def _counted_twice(bench: HardwareBench, run: Callable[[], object], what: str) -> Case:
    """The first call's transactions (with any set-up it does once) and the second's."""
    before = _transactions(bench)
    run()
    first = _transactions(bench) - before
    run()
    then = _transactions(bench) - before - first
    return Case(run, info=f"{then} transactions per {what} (the first: {first})")


# ---------------------------------------------------------------------- framework overhead
_served: list[BenchConfig] = []


def _bench_in_its_own_process() -> BenchConfig:
    """The live configuration of a virtual bench served by `hil bench up` in a child process,
    started once and stopped at exit. A server in this process would share the GIL with the
    client: its threads' hand-offs between the two cores made the query time bimodal (about
    200 or 800 us, depending on where the threads ran), whichever client asked."""
    if not _served:
        folder = Path(tempfile.mkdtemp(prefix="hil-bench-"))
        live, errors = folder / "live.toml", folder / "stderr.txt"
        argv = ["bench", "up", "--write", str(live)]
        code = f"import sys; from hil.cli import main; sys.exit(main({argv!r}))"
        with errors.open("wb") as stderr:
            server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=stderr)
        _close_at_exit(lambda: shutil.rmtree(folder, ignore_errors=True), server.wait, server.terminate)
        deadline = time.monotonic() + 120  # a first start on a machine compiles the simulator's kernels
        while not live.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hil bench up did not start: {errors.read_text()}")
            time.sleep(0.05)
        time.sleep(0.2)  # the file is written in one call; let it land
        _served.append(load_bench_config(live))
    return _served[0]


def _idn_pyvisa(quick: bool) -> Case:
    config = _bench_in_its_own_process()
    rm = pyvisa.ResourceManager("@py")
    smu = rm.open_resource(config.instrument("smu").address, read_termination="\n", write_termination="\n")
    _close_at_exit(smu.close)
    return Case(lambda: smu.query("*IDN?"), info="pyvisa-py query, 1 transaction (server in a child process)")


def _idn_driver(quick: bool) -> Case:
    config = _bench_in_its_own_process()
    smu = open_instrument(config.instrument("smu"), config.limits)  # visa_library "@py" by default
    _close_at_exit(smu.adapter.close)
    info = "Keithley2450SMU.ask, 1 transaction (server in a child process)"
    return Case(lambda: smu.ask("*IDN?"), info=info)


def _idn_interleaved(quick: bool) -> Case:
    """The driver's query time; the note gives its ratio to bare pyvisa measured in alternation
    (blocks of 50 queries each, 40 rounds; 10 with --quick), which a drifting machine cannot skew."""
    config = _bench_in_its_own_process()
    raw = pyvisa.ResourceManager("@py").open_resource(
        config.instrument("smu").address, read_termination="\n", write_termination="\n"
    )
    smu = open_instrument(config.instrument("smu"), config.limits)
    _close_at_exit(raw.close, smu.adapter.close)
    contenders = {"pyvisa": lambda: raw.query("*IDN?"), "driver": lambda: smu.ask("*IDN?")}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(10 if quick else 40):
        for name, query in contenders.items():
            start = time.perf_counter()
            for _ in range(50):
                query()
            times[name].append(time.perf_counter() - start)
    ratio = float(np.median(times["driver"]) / np.median(times["pyvisa"]))
    return Case(contenders["driver"], info=f"driver / bare pyvisa = {ratio:.3f} (interleaved medians)")


# ---------------------------------------------------------------------- protocol steps at 1 ms
def _read_4x4(quick: bool, switch_cable: bool = True) -> Case:
    _, bench, array = _open_bench(LATENCY, switch_cable)
    assert array.instrument_scans is switch_cable
    return _counted_twice(bench, array.read, "read of 16 devices")


def _read_4x4_devices(quick: bool) -> Case:
    return _read_4x4(quick, switch_cable=False)


def _symmetry_pair(quick: bool, switch_cable: bool = True) -> Case:
    _, bench, array = _open_bench(LATENCY, switch_cable)
    assert array.instrument_scans is switch_cable
    up = np.ones(array.shape, dtype=np.int64)

    def pair() -> None:
        array.apply_pulses(up, PULSE)
        array.read()
        array.apply_pulses(-up, PULSE)
        array.read()

    return _counted_twice(bench, pair, "pair")


def _symmetry_pair_devices(quick: bool) -> Case:
    return _symmetry_pair(quick, switch_cable=False)


def _jump_table(p: int, trains: bool, time_scale: float) -> Case:
    """The 4 x 4 jump table with P = p; one call is one table (the first, counted, is the warm-up)."""
    vb, bench, array = _open_bench(LATENCY, time_scale=time_scale)
    assert array.instrument_trains, "the shipped virtual bench has the SMU -> generator trigger cable"

    def table() -> float:
        t0 = time.perf_counter()
        measure_jump_table(array, PULSE, DEVICES, n_cycles=1, n_up=p, noise_reads=0, n_bins=4, n_quantiles=5,
                           trains=trains)  # fmt: skip
        return time.perf_counter() - t0

    how = "trains" if trains else "per pulse"
    case = _counted(vb, bench, table, f"4x4 table, {p} up + {p} down per device, {how}")
    return dataclasses.replace(case, self_timed=True)  # a table is long: no calibration call


def jump_table_benchmarks(tag: str, time_scale: float = 0.0) -> list[Benchmark]:
    """bench.jump_table.{before,after}[.long][tag]: pulse by pulse and by trains, P = 10 (quick: 5)
    and P = 100 (quick: 30). A long table runs one timed repeat after the counted one (two by
    trains without instrument time, where it takes seconds)."""

    def case(p: int, quick_p: int, trains: bool) -> Callable[[bool], Case]:
        return lambda quick: _jump_table(quick_p if quick else p, trains, time_scale)

    rows = []
    for name, trains in (("before", False), ("after", True)):
        rows.append(Benchmark(f"bench.jump_table.{name}[{tag}]", "4x4, P=10 (quick: 5)", case(10, 5, trains),
                              repeats=3 if time_scale else 5, quick_repeats=1 if time_scale else 2, warmup=0))
    for name, trains in (("before", False), ("after", True)):
        repeats = 2 if trains and not time_scale else 1
        rows.append(Benchmark(f"bench.jump_table.{name}.long[{tag}]", "4x4, P=100 (quick: 30)",
                              case(100, 30, trains), repeats=repeats, quick_repeats=1, warmup=0))
    return rows


BENCHMARKS: list[Benchmark] = [
    Benchmark("bench.idn.pyvisa", "1 query", _idn_pyvisa, repeats=15, quick_repeats=5),
    Benchmark("bench.idn.driver", "1 query", _idn_driver, repeats=15, quick_repeats=5),
    Benchmark("bench.idn.interleaved", "1 query", _idn_interleaved, repeats=15, quick_repeats=5),
    Benchmark("bench.read[1ms]", "4x4", _read_4x4, repeats=7, quick_repeats=3, warmup=1),
    Benchmark("bench.read.device_by_device[1ms]", "4x4", _read_4x4_devices, repeats=7, quick_repeats=3,
              warmup=1),
    Benchmark("bench.symmetry_pair[1ms]", "4x4", _symmetry_pair, repeats=7, quick_repeats=3, warmup=1),
    Benchmark("bench.symmetry_pair.device_by_device[1ms]", "4x4", _symmetry_pair_devices, repeats=7,
              quick_repeats=3, warmup=1),
    *jump_table_benchmarks("1ms"),
]
