"""A run's throughput with and without `hil watch` attached: python -m benchmarks.bench_watch.

Each trial is one `hil run symmetry-point` in a child process on a fresh store (the simulator by
default: pure Python and numpy, so the run competes for the CPU with anything beside it, which
makes it the workload a viewer could slow most). In a trial with the viewer, `hil watch` serves
that store from another child process and two clients stay attached for the whole run, as an
open browser tab does: the run list's event stream and the run page's event stream (every
point, as the page gets it). Throughput is the run's recorded pairs per second between its
first and last point (the start-up of Python, numba and the bench is left out). Trials
alternate without and with the viewer (ABAB..., so a drift of the machine's load falls on
both); the result is the ratio of the medians, with each pair's ratio for the spread.

This is not a timing Benchmark of benchmarks.core (it compares two states of the machine, not
an operation), so `python -m benchmarks` does not run it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hil.watch.reader import ReadOnlyStore

HIL = [sys.executable, "-c", "import sys; from hil.cli import main; sys.exit(main())"]
BENCHMARKS: list = []  # see the module docstring


def _attach(port: int, path: str, stop: threading.Event, received: list[int]) -> None:
    """Read an event stream until stop, reconnecting while it is refused (the run not started)."""
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            if response.status != 200:
                response.read()
                time.sleep(0.1)
                continue
            while not stop.is_set():
                chunk = response.fp.readline()
                if not chunk:
                    break
                received[0] += len(chunk)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            conn.close()


def _throughput(store: Path) -> tuple[float, int]:
    """Pairs per second between the first and the last recorded pair, and the pairs recorded."""
    with ReadOnlyStore(store) as s:
        rows = s._db.execute("SELECT t FROM points WHERE kind='pair' ORDER BY seq").fetchall()
    t = [row[0] for row in rows]
    return (len(t) - 1) / (t[-1] - t[0]), len(t)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def trial(folder: Path, run_argv: list[str], watch: bool) -> tuple[float, int, int, float | None]:
    """One run: (pairs per second, pairs, bytes the viewer sent its clients, the viewer's CPU
    seconds from the run's start to its end)."""
    store = folder / "runs.sqlite"
    viewer, stop, received, clients, cpu = None, threading.Event(), [0], [], None
    if watch:
        viewer = subprocess.Popen([*HIL, "watch", "--store", str(store)], stdout=subprocess.PIPE, text=True)
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", viewer.stdout.readline()).group(1))
        for path in ("/api/runs/events", "/api/runs/1/events?device=0"):
            client = threading.Thread(target=_attach, args=(port, path, stop, received), daemon=True)
            client.start()
            clients.append(client)
    try:
        command = [*HIL, *run_argv, "--store", str(store), "--out", str(folder / "out"), "--no-progress"]
        before = _cpu_seconds(viewer.pid) if viewer is not None else None
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        if viewer is not None and before is not None:
            cpu = _cpu_seconds(viewer.pid) - before
            time.sleep(1.0)  # the viewer's last updates reach the clients
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=5)
        if viewer is not None:
            viewer.terminate()
            viewer.wait(timeout=10)
    rate, pairs = _throughput(store)
    return rate, pairs, received[0], cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_watch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--pairs", type=int, default=4000, help="pulse pairs per run (default: 4000)")
    parser.add_argument("--shape", default="8x8", help="array shape (default: 8x8)")
    parser.add_argument("--bench", default="sim", help="sim or virtual (default: sim; virtual needs 4x4)")
    parser.add_argument(
        "--trials", type=int, default=6, help="runs without and with the viewer each (default: 6)"
    )
    args = parser.parse_args(argv)
    run_argv = [
        "run",
        "symmetry-point",
        "--bench",
        args.bench,
        "--shape",
        args.shape,
        "--max-pairs",
        str(args.pairs),
        "--window",
        str(args.pairs // 2),
    ]
    rates: dict[bool, list[float]] = {False: [], True: []}
    sent, cpu = [], []
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        for k in range(args.trials):
            for watch in (False, True) if k % 2 == 0 else (True, False):
                folder = Path(tmp) / f"{k}-{int(watch)}"
                folder.mkdir()
                rate, pairs, received, seconds = trial(folder, run_argv, watch)
                rates[watch].append(rate)
                if watch:
                    sent.append(received)
                    cpu.append(seconds)
                print(
                    f"  trial {k} {'with' if watch else 'without'} viewer: {rate:.1f} pairs/s, {pairs} pairs"
                )
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    pairs_ratio = sorted(b / a for a, b in zip(rates[False], rates[True], strict=True))
    print(f"symmetry-point {args.shape} on {args.bench}, {args.pairs} pairs, {args.trials} trials each")
    print(f"  without viewer: median {off:.1f} pairs/s  (all: {', '.join(f'{r:.1f}' for r in rates[False])})")
    print(f"  with viewer:    median {on:.1f} pairs/s  (all: {', '.join(f'{r:.1f}' for r in rates[True])})")
    print(
        f"  ratio with/without: {on / off:.3f} (per trial pair: {', '.join(f'{r:.3f}' for r in pairs_ratio)})"
    )
    print(f"  the viewer sent its two clients {statistics.median(sent) / 1e3:.0f} kB per run (median)")
    if None not in cpu:
        print(f"  the viewer's CPU time during a run: median {statistics.median(cpu):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
