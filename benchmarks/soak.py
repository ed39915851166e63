"""Soak: pulse-read cycles on the virtual bench with a transient fault every few seconds.

    python -m benchmarks.soak                      # 100,000 cycles, a fault every 3 s
    python -m benchmarks.soak --cycles 5000 --fault-every 0.5 --json soak.json

Each cycle pulses every device of the shipped virtual bench's array A_main once (+1 and -1 on
alternate cycles, one burst) and reads them all (one scan), storing the reading as a point of
a run in a temporary run store. A thread injects one transient fault on the virtual SMU every
`fault_every` seconds, in turn: a dropped connection (the server closes the socket on the next
message), a read timeout (the next reply is swallowed) and a garbled reply. The SMU only talks
during reads, so every fault lands in a read, which is retried (drivers.retry); each retry is
stored as a "retry" point (protocols.records.retry).

Checked at the end: every cycle's point is stored (none lost), the pulses the chip received
equal the pulses the cycles applied (none repeated, none lost), every injected fault was
retried, and the process's resident memory (VmRSS) and open file descriptors, sampled every 1 %
of the cycles, are reported from the sample at 10 % to the end. The servers run in this
process, so the figures cover the instruments' side too.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from drivers.bench import HardwareBench
from hil.pulses import Pulse
from hil.store import RunStore
from protocols.records.retry import RetryRecord
from simulators.virtual.bench import VirtualBench
from simulators.virtual.launch import virtual_bench

ARRAY = "A_main"
PULSE = Pulse(4.0, 20e-9)
#: the transient faults injected, in turn (simulators.virtual.server.Faults counters)
FAULTS = ("drop_next", "swallow_next", "garble_next")
#: VISA timeout (ms) of the soak's SMU connection: a swallowed reply costs this long
SMU_TIMEOUT_MS = 500.0


@dataclass
class Sample:
    """The process's state after `cycle` cycles: resident memory (kB) and open descriptors."""

    cycle: int
    rss_kb: int
    fds: int


@dataclass
class SoakResult:
    cycles: int
    seconds: float
    points_stored: int
    pulses_applied: int
    pulses_received: int
    faults_injected: dict[str, int]
    retries: dict[str, int]
    retry_points: int
    samples: list[Sample] = field(default_factory=list)

    @property
    def at_tenth(self) -> Sample:
        """The first sample at or after 10 % of the cycles."""
        return next(s for s in self.samples if s.cycle >= self.cycles // 10)

    @property
    def rss_growth_kb(self) -> int:
        """VmRSS at the end minus VmRSS at 10 % of the cycles."""
        return self.samples[-1].rss_kb - self.at_tenth.rss_kb

    @property
    def fd_growth(self) -> int:
        """Open file descriptors at the end minus at 10 % of the cycles."""
        return self.samples[-1].fds - self.at_tenth.fds

    def report(self) -> str:
        tenth, end = self.at_tenth, self.samples[-1]
        return "\n".join(
            [
                f"cycles {self.cycles} in {self.seconds:.0f} s "
                f"({1e3 * self.seconds / self.cycles:.2f} ms each)",
                f"points stored {self.points_stored} of {self.cycles}",
                f"pulses applied {self.pulses_applied}, received by the chip {self.pulses_received}",
                f"faults injected {self.faults_injected}",
                f"retries {self.retries}, stored as retry points {self.retry_points}",
                f"VmRSS {tenth.rss_kb} kB at cycle {tenth.cycle}, {end.rss_kb} kB at the end "
                f"({self.rss_growth_kb:+d} kB)",
                f"open fds {tenth.fds} at cycle {tenth.cycle}, {end.fds} at the end ({self.fd_growth:+d})",
            ]
        )


def process_sample(cycle: int) -> Sample:
    """VmRSS (kB, /proc/self/status) and the number of open descriptors (/proc/self/fd)."""
    rss = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return Sample(cycle, rss, len(os.listdir("/proc/self/fd")))


class FaultInjector:
    """A thread that arms one transient fault on the virtual SMU `every` seconds after the
    bench recovered from the previous one, in the order of FAULTS, until stop(). Waiting for
    the recovery (a cycle completed after the fault happened), not for a fixed time, keeps two
    faults from landing in one recovery however slow the machine is, which a fault every few
    seconds on a real bench would not do either. cycles_done: the cycles completed so far."""

    def __init__(self, vb: VirtualBench, every: float, cycles_done: Callable[[], int]):
        self._faults = vb.smu.faults
        self._every = every
        self._cycles_done = cycles_done
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)
        self.armed = 0

    def __enter__(self) -> FaultInjector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for name in FAULTS:  # one armed but not reached by the end is not a fault
            setattr(self._faults, name, 0)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            name = FAULTS[self.armed % len(FAULTS)]
            fired = self._faults.fired[name]
            setattr(self._faults, name, 1)
            self.armed += 1
            while self._faults.fired[name] == fired and not self._stop.wait(0.01):
                pass
            happened_at = self._cycles_done()
            while self._cycles_done() <= happened_at and not self._stop.wait(0.01):
                pass


def soak(
    cycles: int = 100_000,
    *,
    fault_every: float = 3.0,
    seed: int = 0,
    smu_timeout_ms: float = SMU_TIMEOUT_MS,
    progress: Callable[[int, int], None] | None = None,
) -> SoakResult:
    """Run `cycles` pulse-read cycles with a fault every `fault_every` seconds (see the module);
    smu_timeout_ms: the SMU connection's VISA timeout (a reopened connection keeps it)."""
    sample_every = max(1, cycles // 100)
    with tempfile.TemporaryDirectory() as tmp, virtual_bench(seed=seed) as (vb, config):
        with (
            RunStore(Path(tmp) / "soak.sqlite") as store,
            HardwareBench(config, conductance_range=vb.conductance_range, seed=seed) as bench,
        ):
            array = bench.array(ARRAY, config.arrays[ARRAY].shape)
            run = store.start_run("soak", {"cycles": cycles, "fault_every_s": fault_every}, bench.describe())
            bench.retries.listeners.append(lambda event: RetryRecord(**event.to_dict()).write(run))
            bench.drivers["smu"].adapter.connection.timeout = smu_timeout_ms
            applied = received = 0
            done = [0]  # cycles completed, read by the fault injector's thread
            samples = [process_sample(0)]
            start = time.perf_counter()
            with run, FaultInjector(vb, fault_every, lambda: done[0]):
                for k in range(cycles):
                    counts = np.full(array.shape, 1 if k % 2 == 0 else -1, dtype=np.int64)
                    array.apply_pulses(counts, PULSE)
                    applied += int(np.abs(counts).sum())
                    received += _take_pulses(vb)
                    run.record("soak", k, g=array.read())
                    done[0] = k + 1
                    if (k + 1) % sample_every == 0:
                        samples.append(process_sample(k + 1))
                        if progress is not None:
                            progress(k + 1, cycles)
                run.finish("completed", summary={"retries": bench.retries.describe()})
            seconds = time.perf_counter() - start
            stored = sum(1 for _ in store.points(run.uid, "soak"))
            retry_points = sum(1 for _ in store.points(run.uid, "retry"))
            retries = dict(bench.retries.counts)
        fired = dict(vb.smu.faults.fired)
    return SoakResult(
        cycles=cycles,
        seconds=seconds,
        points_stored=stored,
        pulses_applied=applied,
        pulses_received=received,
        faults_injected=fired,
        retries=retries,
        retry_points=retry_points,
        samples=samples,
    )


def _take_pulses(vb: VirtualBench) -> int:
    """Device-pulses the chip received since the last call; its log is emptied so that it stays
    small. The burst's *OPC? has answered, so no pulse of this cycle is still on its way."""
    log = vb.chip.pulse_log
    n = sum(abs(p.count) for p in log if p.applied)
    log.clear()
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--fault-every", type=float, default=3.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the result and the samples")
    args = parser.parse_args(argv)

    def progress(done: int, total: int) -> None:
        if done % max(1, total // 10) == 0:
            print(f"{done} / {total} cycles", flush=True)

    result = soak(args.cycles, fault_every=args.fault_every, seed=args.seed, progress=progress)
    print(result.report())
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    ok = (
        result.points_stored == result.cycles
        and result.pulses_received == result.pulses_applied
        and result.retry_points == sum(result.retries.values())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
